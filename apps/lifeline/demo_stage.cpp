#include "demo_stage.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "lifeline/duration.hpp"

namespace lifeline::app::demo {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// `lifeline --log-level info SUBCOMMAND --option value...`: the children log
// at info, so their log files tell what happened on their side.
std::vector<std::string> command(const std::string& subcommand,
                                 const std::vector<std::pair<std::string, std::string>>& options) {
  std::vector<std::string> args{"--log-level", "info", subcommand};
  for (const auto& [name, value] : options) {
    args.push_back(name);
    args.push_back(value);
  }
  return args;
}

// The server writes the port file once it listens, so its modification time
// says when the server became reachable, to the microsecond.
std::int64_t written_unix_ms(const std::filesystem::path& path) {
  const auto t = std::chrono::file_clock::to_sys(std::filesystem::last_write_time(path));
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::optional<std::uint16_t> read_port_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  unsigned port = 0;
  if (in >> port && port > 0 && port < 65536) {
    return static_cast<std::uint16_t>(port);
  }
  return std::nullopt;
}

std::string rtt_text(std::uint32_t rtt_us) {
  if (rtt_us == 0) {
    return "-";  // not measured yet
  }
  if (rtt_us < 1000) {
    return std::to_string(rtt_us) + " us";
  }
  return std::to_string(rtt_us / 1000) + "." + std::to_string(rtt_us % 1000 / 100) + " ms";
}

void print_event(Narrator& out, const proto::Event& e) {
  std::string line = "  event #" + std::to_string(e.seq) + " " + std::string(to_string(e.kind)) + " " + e.id;
  if (e.kind == proto::EventKind::offline) {
    line += " reason=" + std::string(to_string(e.reason));
  }
  out.say(line + " remote=" + e.remote, Tone::event);
}

void print_observer_state(Narrator& out, const StateChange& c) {
  if (c.to == ClientState::reconnecting) {
    out.say("  observer lost the server (" + c.reason + "); it retries by itself", Tone::event);
  } else if (c.to == ClientState::online) {
    out.say(
        "  observer connected to " + c.server + (c.attempts > 1 ? " (attempt " + std::to_string(c.attempts) + ")" : ""),
        Tone::event);
  }
}

}  // namespace

Stage::Stage(const Timing& timing, Narrator& out, Children& children) : t_(timing), out_(out), children_(children) {}

std::vector<std::string> Stage::server_args(std::uint16_t port, const std::filesystem::path& port_file) const {
  return command("serve", {{"--listen", "127.0.0.1:" + std::to_string(port)},
                           {"--interval", format_duration(t_.interval)},
                           {"--timeout", format_duration(t_.timeout)},
                           {"--min-interval", "50ms"},
                           {"--min-timeout", "150ms"},
                           {"--tick", format_duration(t_.tick)},
                           {"--port-file", port_file.string()}});
}

// Right after a kill the port can be briefly unavailable, so a server that
// exits at once is started again, until the deadline.
std::uint16_t Stage::start_server(std::uint16_t port) {
  const auto deadline = Clock::now() + 5s;
  for (;;) {
    const auto port_file = children_.log_dir() / ("server-" + std::to_string(++server_starts_) + ".port");
    children_.spawn("server", server_args(port, port_file));
    std::optional<std::uint16_t> bound;
    poll_until(deadline, [&] {
      bound = read_port_file(port_file);  // written once the server listens
      return bound || children_.exit_status("server");
    });
    if (bound) {
      port_ = *bound;
      server_listening_ms_ = written_unix_ms(port_file);
      return *bound;
    }
    const auto status = children_.exit_status("server");
    if (!status || Clock::now() >= deadline) {
      throw std::runtime_error("the server did not start within 5 s; see " + children_.log_file("server").string());
    }
    out_.say("the server could not listen yet (" + describe_wait_status(*status) + "); starting it again", Tone::note);
    pace(100ms);
  }
}

void Stage::start_agent(const std::string& id) {
  children_.spawn(id, command("agent", {{"--id", id},
                                        {"--server", server_address()},
                                        {"--interval", format_duration(t_.interval)},
                                        {"--timeout", format_duration(t_.timeout)},
                                        {"--backoff-base", format_duration(t_.backoff_base)},
                                        {"--backoff-cap", format_duration(t_.backoff_cap)}}));
  agents_.push_back(id);
}

void Stage::connect_observer() {
  observer_ = std::make_unique<Observer>(
      server_address(), [this](const proto::Event& e) { print_event(out_, e); },
      [this](const StateChange& c) { print_observer_state(out_, c); });
  // The reply to a LIST proves the server processed the SUBSCRIBE sent before
  // it, so no event of an agent started from now on can be missed.
  if (!observer_->fetch_list(Clock::now() + 3s)) {
    throw std::runtime_error("the observer could not reach the server: " + observer_->last_error());
  }
}

// Events alone cannot say who is online once the observer itself lost the
// server (it misses what happened meanwhile), so this asks the server again
// after each event, or every 100 ms.
std::optional<OnlineList> Stage::wait_listed(const std::vector<std::string>& ids, Clock::time_point deadline) {
  for (;;) {
    const auto mark = observer_->mark();
    auto list = observer_->fetch_list(deadline);
    if (list && std::all_of(ids.begin(), ids.end(), [&](const auto& id) { return list->find(id) != nullptr; })) {
      return list;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    observer_->wait_event(
        mark, [](const proto::Event&) { return true; }, std::min(deadline, Clock::now() + 100ms));
  }
}

std::optional<proto::Event> Stage::wait_offline(const std::string& id, std::size_t mark, Clock::time_point deadline) {
  return observer_->wait_event(
      mark, [&](const proto::Event& e) { return e.id == id && e.kind == proto::EventKind::offline; }, deadline);
}

std::vector<TableRow> Stage::rows(const OnlineList& list) const {
  std::vector<TableRow> rows;
  for (const auto& id : agents_) {
    const auto* e = list.find(id);
    if (e == nullptr) {
      const auto why = absence_.find(id);
      rows.push_back({id, "-", "-", "-", "-", why == absence_.end() ? "offline" : why->second, false});
      continue;
    }
    const auto seen = milliseconds(std::max<std::int64_t>(0, list.received_ms - e->last_seen_ms));
    rows.push_back(
        {id, e->remote, out_.demo_time(e->since_ms), to_text(seen) + " ago", rtt_text(e->rtt_us), "online", true});
  }
  return rows;
}

void Stage::show_table() {
  const auto list = observer_->fetch_list(Clock::now() + 2s);
  if (!list) {
    out_.say("(no online list: " + observer_->last_error() + ")", Tone::fail);
    return;
  }
  out_.say("online list (" + std::to_string(list->entries.size()) + " online):");
  out_.table(rows(*list));
}

}  // namespace lifeline::app::demo
