#pragma once
// lifeline demo: what the viewer sees. Every line starts with the time since
// the demo began, so the delays the story measures can be checked by eye.
// ANSI colors only when stdout is a terminal (and NO_COLOR is not set).

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeline::app::demo {

enum class Tone { plain, note, heading, pass, fail, event };

/// One row of the online-list table; texts are already formatted.
struct TableRow {
  std::string id;
  std::string remote;
  std::string since;
  std::string last_seen;
  std::string rtt;
  std::string state;
  bool online = false;
};

/// "612 ms", "1.5 s": measured and configured durations read the same way.
std::string to_text(std::chrono::milliseconds d);

/// Wall-clock now in Unix milliseconds, the clock of EVENT.at_ms and LIST_REPLY times.
std::int64_t unix_ms_now();

class Narrator {
 public:
  Narrator();

  /// Prints "[ 1.234s] text" as one whole line: lines printed by the observer's
  /// thread never interleave with the story's.
  void say(std::string_view text, Tone tone = Tone::plain);
  /// A blank line, then the title of a step.
  void heading(std::string_view title);
  /// The online list, aligned under the time column.
  void table(const std::vector<TableRow>& rows);
  /// A Unix-ms time on the demo's clock ("1.234s"), to compare with the line prefixes.
  std::string demo_time(std::int64_t unix_ms) const;

 private:
  std::string paint(std::string_view text, Tone tone) const;
  std::string prefix() const;

  std::mutex mu_;
  bool color_;
  std::chrono::steady_clock::time_point start_;
  std::int64_t start_unix_ms_;
};

/// Every expectation of the story: printed when checked, and again at the end.
class Scorecard {
 public:
  explicit Scorecard(Narrator& out) : out_(out) {}
  /// Prints "PASS what" or "FAIL what"; returns `ok`.
  bool expect(bool ok, std::string what);
  /// Every expectation again and the count that held.
  void summary();
  bool all_passed() const;

 private:
  Narrator& out_;
  std::vector<std::pair<bool, std::string>> results_;
};

}  // namespace lifeline::app::demo
