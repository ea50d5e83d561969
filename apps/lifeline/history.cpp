// lifeline history ID: a client's sessions and availability from a data
// directory's history database (docs/operations.md, "History"), read-only,
// so it works while the server writes.

#include "lifeline/history.hpp"

#include <iostream>

#include "common.hpp"
#include "history_view.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::app {
namespace {

struct HistoryArgs {
  std::string id;
  std::string data_dir;
  std::string since;
  std::string until;
  bool json = false;
};

// RFC 3339, or "-DURATION" for that long before now ("-2h").
SystemTime time_arg(const std::string& option, const std::string& text, SystemTime now) {
  if (text.starts_with('-')) {
    if (const auto d = parse_duration(text.substr(1))) {
      return now - *d;
    }
  } else if (const auto t = parse_time(text)) {
    return *t;
  }
  throw UsageError(option + ": '" + text + "' is neither an RFC 3339 time (2026-12-03T17:20:01Z) nor -DURATION (-2h)");
}

void print_text(const ClientRecord& c, const ClientHistory& h) {
  std::cout << "id           " << c.id << (c.online ? " (online)" : "") << "\n"
            << "first seen   " << format_time(c.first_seen) << "\n"
            << "last seen    " << format_time(c.last_seen) << "\n";
  if (c.last_offline_at) {
    std::cout << "last offline " << format_time(*c.last_offline_at) << " (" << c.last_offline_reason << ")\n";
  }
  std::cout << "\nsessions from " << format_time(h.since) << " to " << format_time(h.until) << ":\n";
  for (const auto& s : h.sessions) {
    std::cout << "  " << format_time(s.since) << "  " << (s.until ? format_time(*s.until) : std::string("(open)"))
              << "  " << (s.until ? s.reason : "") << "  " << s.peer << "\n";
  }
  char line[120];
  std::snprintf(line, sizeof line, "online %s of %s: %.2f %%\n", format_duration(h.online).c_str(),
                format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(h.until - h.since)).c_str(),
                h.availability * 100);
  std::cout << "\n" << line;
}

void run_history(const HistoryArgs& a) {
  const auto now = std::chrono::system_clock::now();
  const auto until = a.until.empty() ? now : time_arg("--until", a.until, now);
  const auto since = a.since.empty() ? until - std::chrono::hours(24) : time_arg("--since", a.since, now);
  if (since >= until) {
    throw UsageError("--since must be before --until");
  }
  const HistoryReader reader(a.data_dir);
  const auto client = reader.client(a.id);
  const auto h = reader.history(a.id, since, until);
  if (!client || !h) {
    std::cerr << "lifeline history: no history for id '" << a.id << "' in " << a.data_dir << "\n";
    throw CLI::RuntimeError(1);
  }
  if (a.json) {
    std::cout << boost::json::serialize(history_json(*client, *h)) << std::endl;
  } else {
    print_text(*client, *h);
  }
}

}  // namespace

void register_history(CLI::App& app) {
  auto* cmd = app.add_subcommand("history", "a client's sessions and availability, from serve --data-dir");
  auto args = std::make_shared<HistoryArgs>();
  cmd->add_option("id", args->id, "client id")->required();
  cmd->add_option("--data-dir,-d", args->data_dir, "the server's --data-dir")->required();
  cmd->add_option("--since", args->since,
                  "window start: RFC 3339, or -DURATION before now (default: 24 h before --until)");
  cmd->add_option("--until", args->until, "window end: RFC 3339, or -DURATION before now (default: now)");
  cmd->add_flag("--json", args->json, "one JSON object, as GET /v1/clients/{id}/history answers");
  cmd->callback([args] { run_history(*args); });
}

}  // namespace lifeline::app
