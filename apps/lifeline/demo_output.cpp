#include "demo_output.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace lifeline::app::demo {
namespace {

bool want_color() {
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr &&
         (term == nullptr || std::string_view(term) != "dumb");
}

// Width of "[12.345s] ": table lines are indented by it.
constexpr std::size_t kPrefixWidth = 10;

std::string pad(std::string s, std::size_t width) {
  s.resize(std::max(width, s.size()), ' ');
  return s;
}

}  // namespace

std::string to_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + " s";
  }
  if (ms < 10'000) {
    return std::to_string(ms) + " ms";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Narrator::Narrator() : color_(want_color()), start_(std::chrono::steady_clock::now()), start_unix_ms_(unix_ms_now()) {}

std::string Narrator::paint(std::string_view text, Tone tone) const {
  if (!color_ || tone == Tone::plain) {
    return std::string(text);
  }
  std::string_view code;
  switch (tone) {
    case Tone::note: code = "\033[2m"; break;
    case Tone::heading: code = "\033[1m"; break;
    case Tone::pass: code = "\033[32m"; break;
    case Tone::fail: code = "\033[1;31m"; break;
    case Tone::event: code = "\033[36m"; break;
    case Tone::plain: break;
  }
  return std::string(code) + std::string(text) + "\033[0m";
}

std::string Narrator::prefix() const {
  const std::chrono::duration<double> t = std::chrono::steady_clock::now() - start_;
  char buf[32];
  std::snprintf(buf, sizeof buf, "[%6.3fs] ", t.count());
  return paint(buf, Tone::note);
}

void Narrator::say(std::string_view text, Tone tone) {
  const std::lock_guard lock(mu_);
  std::cout << prefix() << paint(text, tone) << std::endl;
}

void Narrator::heading(std::string_view title) {
  const std::lock_guard lock(mu_);
  std::cout << "\n" << prefix() << paint("== " + std::string(title) + " ==", Tone::heading) << std::endl;
}

void Narrator::table(const std::vector<TableRow>& rows) {
  const TableRow header{"ID", "PEER", "SINCE", "LAST SEEN", "RTT", "STATE", true};
  const auto cells = [](const TableRow& r) {
    return std::array<const std::string*, 6>{&r.id, &r.remote, &r.since, &r.last_seen, &r.rtt, &r.state};
  };
  std::array<std::size_t, 6> width{};
  for (std::size_t i = 0; i < width.size(); ++i) {
    width[i] = cells(header)[i]->size();
  }
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < width.size(); ++i) {
      width[i] = std::max(width[i], cells(r)[i]->size());
    }
  }
  const auto line = [&](const TableRow& r) {
    std::string s(kPrefixWidth, ' ');
    for (std::size_t i = 0; i < width.size(); ++i) {
      s += i + 1 < width.size() ? pad(*cells(r)[i], width[i] + 2) : *cells(r)[i];
    }
    return s;
  };
  const std::lock_guard lock(mu_);
  std::cout << paint(line(header), Tone::heading) << "\n";
  for (const auto& r : rows) {
    std::cout << paint(line(r), r.online ? Tone::plain : Tone::note) << "\n";
  }
  std::cout << std::flush;
}

std::string Narrator::demo_time(std::int64_t unix_ms) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(unix_ms - start_unix_ms_) / 1000.0);
  return buf;
}

bool Scorecard::expect(bool ok, std::string what) {
  out_.say((ok ? "PASS  " : "FAIL  ") + what, ok ? Tone::pass : Tone::fail);
  results_.emplace_back(ok, std::move(what));
  return ok;
}

void Scorecard::summary() {
  std::size_t held = 0;
  for (const auto& [ok, what] : results_) {
    out_.say((ok ? "PASS  " : "FAIL  ") + what, ok ? Tone::pass : Tone::fail);
    held += ok ? 1 : 0;
  }
  out_.say(std::to_string(held) + " of " + std::to_string(results_.size()) + " expectations held",
           all_passed() ? Tone::pass : Tone::fail);
}

bool Scorecard::all_passed() const {
  return !results_.empty() && std::all_of(results_.begin(), results_.end(), [](const auto& r) { return r.first; });
}

}  // namespace lifeline::app::demo
