// lifeline demo: the whole story on loopback, with real processes.
//
// A server and five agents run as child processes (this same executable, as
// `lifeline serve` and `lifeline agent`); an in-process observer streams the
// server's presence events. The story breaks things the way deployments break
// and checks that each break is noticed with the right reason within its bound:
//
//   1. five agents come online
//   2. bob says goodbye (SIGTERM: he sends BYE)         -> offline(bye), at once
//   3. dave crashes (SIGKILL: the kernel closes)        -> offline(closed|reset), at once
//   4. carol freezes (SIGSTOP: connection open, silent) -> offline(timeout), after the timeout;
//      resumed (SIGCONT), she comes back as a new session
//   5. the server crashes and restarts on its port      -> every agent reconnects by itself
//   6. everyone leaves cleanly
//
// The exit status is 0 only if every expectation held.

#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "demo_output.hpp"
#include "demo_process.hpp"
#include "demo_stage.hpp"

namespace lifeline::app {
namespace {

using namespace std::chrono_literals;
using demo::Clock;
using demo::to_text;
using demo::Tone;
using proto::Reason;
using std::chrono::milliseconds;

struct DemoArgs {
  std::string pace = "1s";
  bool keep_logs = false;
};

const std::vector<std::string> kAgents{"alice", "bob", "carol", "dave", "erin"};

bool exited_cleanly(const std::optional<int>& status) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

class Story {
 public:
  Story(milliseconds pace, demo::Narrator& out, demo::Scorecard& score, demo::Children& children)
      : pace_(pace), out_(out), score_(score), children_(children), stage_(t_, out, children) {}

  void run() {
    introduce();
    everyone_online();
    goodbye("bob");
    crash("dave");
    freeze_and_resume("carol");
    server_restart();
    everyone_leaves();
  }

 private:
  void introduce();
  void everyone_online();
  void goodbye(const std::string& id);
  void crash(const std::string& id);
  void freeze_and_resume(const std::string& id);
  void server_restart();
  void everyone_leaves();

  void expect_offline(const std::string& id, const std::optional<proto::Event>& e, std::vector<Reason> reasons,
                      std::int64_t cause_ms, const std::string& cause, milliseconds bound,
                      const std::string& bound_text);
  void expect_new_session(const std::string& id, const std::optional<proto::Event>& back, const std::string& old_remote,
                          std::int64_t cont_ms);
  void expect_back_after_restart(const std::string& id, const proto::ListEntry* e);
  demo::Observer& observer() { return stage_.observer(); }
  void end_of_step() { demo::pace(pace_); }

  const demo::Timing t_{};
  const milliseconds pace_;
  demo::Narrator& out_;
  demo::Scorecard& score_;
  demo::Children& children_;
  demo::Stage stage_;
};

void Story::introduce() {
  out_.say("lifeline demo: one server and five agents, each a real process on 127.0.0.1, and an observer");
  out_.say("heartbeat: interval " + to_text(t_.interval) + ", timeout " + to_text(t_.timeout) + ", server tick " +
               to_text(t_.tick) + "; agents reconnect with jittered backoff from " + to_text(t_.backoff_base) +
               " up to " + to_text(t_.backoff_cap),
           Tone::note);
}

// ---- 1 ----------------------------------------------------------------------

void Story::everyone_online() {
  out_.heading("1. A server and five agents come online");
  stage_.start_server(0);
  out_.say("server started (pid " + std::to_string(children_.pid("server")) + ") on " + stage_.server_address() +
           ", a port the kernel chose; the restart in step 5 reuses it");
  stage_.connect_observer();
  out_.say(
      "observer subscribed: an in-process lifeline::Client in observer mode, like `lifeline watch`; "
      "the server's presence events appear as they arrive",
      Tone::note);

  const auto started = Clock::now();
  std::string pids;
  for (const auto& id : kAgents) {
    stage_.start_agent(id);
    pids += (pids.empty() ? "" : ", ") + id + " (pid " + std::to_string(children_.pid(id)) + ")";
  }
  out_.say("started 5 agents: " + pids);
  const auto list = stage_.wait_listed(kAgents, started + 5s);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  score_.expect(list.has_value(), list ? "all 5 agents online, " + to_text(took) + " after they were started"
                                       : "not all 5 agents came online within 5 s");
  out_.say("the heartbeat runs for a second: an agent pings after " + to_text(t_.interval) +
               " of quiet, so LAST SEEN stays around that or less; the server has measured each RTT",
           Tone::note);
  demo::pace(1s);
  stage_.show_table();
  end_of_step();
}

// ---- 2 ----------------------------------------------------------------------

void Story::goodbye(const std::string& id) {
  out_.heading("2. " + id + " says goodbye");
  out_.say(id + " is asked to stop (SIGTERM): an agent says BYE before it exits");
  const auto mark = observer().mark();
  const auto cause_ms = demo::unix_ms_now();
  children_.signal(id, SIGTERM);
  expect_offline(id, stage_.wait_offline(id, mark, Clock::now() + 3s), {Reason::bye}, cause_ms, "SIGTERM", t_.immediate,
                 to_text(t_.immediate) + ", immediate: a BYE needs no timer");
  const auto status = children_.wait_exit(id, Clock::now() + 3s);
  score_.expect(exited_cleanly(status),
                id + "'s process " + (status ? demo::describe_wait_status(*status) : "did not exit within 3 s"));
  stage_.set_absence(id, "offline (bye), exited");
  stage_.show_table();
  end_of_step();
}

// ---- 3 ----------------------------------------------------------------------

void Story::crash(const std::string& id) {
  out_.heading("3. " + id + " crashes");
  out_.say(id +
           " is killed with SIGKILL: no BYE, but the kernel closes a dead process's connections, "
           "so the server sees the end at once");
  const auto mark = observer().mark();
  const auto cause_ms = demo::unix_ms_now();
  children_.signal(id, SIGKILL);
  const auto e = stage_.wait_offline(id, mark, Clock::now() + 3s);
  expect_offline(id, e, {Reason::closed, Reason::reset}, cause_ms, "SIGKILL", t_.immediate,
                 to_text(t_.immediate) + ", immediate: no timer involved");
  if (const auto status = children_.wait_exit(id, Clock::now() + 3s)) {
    out_.say(id + "'s process " + demo::describe_wait_status(*status), Tone::note);
  }
  stage_.set_absence(id, "offline (" + (e ? std::string(to_string(e->reason)) : "?") + "), killed");
  stage_.show_table();
  end_of_step();
}

// ---- 4 ----------------------------------------------------------------------

void Story::freeze_and_resume(const std::string& id) {
  out_.heading("4. " + id + " freezes");
  const auto before = observer().fetch_list(Clock::now() + 2s);
  const auto* entry = before ? before->find(id) : nullptr;
  const std::string old_remote = entry != nullptr ? entry->remote : "?";

  out_.say(id +
           " is frozen with SIGSTOP: the process and its connection stay open, it just goes silent. "
           "Only the heartbeat can notice this.");
  auto mark = observer().mark();
  const auto stop_ms = demo::unix_ms_now();
  children_.signal(id, SIGSTOP);
  const auto bound = t_.timeout + t_.tick + t_.slack;
  expect_offline(id, stage_.wait_offline(id, mark, Clock::now() + t_.timeout + 3s), {Reason::timeout}, stop_ms,
                 "SIGSTOP", bound,
                 to_text(bound) + " = timeout " + to_text(t_.timeout) + " + tick " + to_text(t_.tick) + " + " +
                     to_text(t_.slack) + " scheduling slack");
  out_.say("the server counts from " + id + "'s last byte, not from the freeze: " + id + " pinged after every " +
               to_text(t_.interval) + " of quiet, so from SIGSTOP the delay is about " +
               to_text(t_.timeout - t_.interval) + " to " + to_text(t_.timeout + t_.tick),
           Tone::note);
  stage_.set_absence(id, "offline (timeout), frozen");
  stage_.show_table();
  end_of_step();

  out_.say(id + " is resumed (SIGCONT). The server declared that session dead and never revives it: " + id +
           " finds its connection closed and has to come back as a new session");
  mark = observer().mark();
  const auto cont_ms = demo::unix_ms_now();
  children_.signal(id, SIGCONT);
  const auto back = observer().wait_event(
      mark, [&](const proto::Event& e) { return e.id == id; }, Clock::now() + t_.backoff_cap + 3s);
  expect_new_session(id, back, old_remote, cont_ms);
  stage_.show_table();
  end_of_step();
}

// ---- 5 ----------------------------------------------------------------------

void Story::server_restart() {
  out_.heading("5. The server crashes and comes back");
  std::vector<std::string> survivors;
  for (const auto& id : kAgents) {
    if (!children_.exit_status(id)) {
      survivors.push_back(id);
    }
  }
  out_.say(
      "the server is killed with SIGKILL: no BYE(shutdown), every connection just drops. "
      "The agents and the observer see their connection closed and retry with jittered backoff");
  children_.signal("server", SIGKILL);
  if (!children_.wait_exit("server", Clock::now() + 3s)) {
    throw std::runtime_error("the server did not die of SIGKILL within 3 s");
  }
  observer().wait_state(ClientState::reconnecting, Clock::now() + 2s);
  out_.say("the server stays down for " + to_text(t_.server_down) + "; every client keeps retrying on its own",
           Tone::note);
  demo::pace(t_.server_down);

  const auto port = stage_.start_server(stage_.port());
  out_.say("server restarted (pid " + std::to_string(children_.pid("server")) + ") on the same port " +
           std::to_string(port) + ", listening since " + out_.demo_time(stage_.server_listening_ms()) +
           "; nothing is told to the agents");
  const auto list = stage_.wait_listed(survivors, Clock::now() + t_.backoff_cap + t_.reconnect_slack + 3s);
  for (const auto& id : survivors) {
    expect_back_after_restart(id, list ? list->find(id) : nullptr);
  }
  out_.say(
      "a new server process numbers its events from #1 again, and the observer only sees what happens "
      "after it is back: the online list, not the event stream, says who is online",
      Tone::note);
  stage_.show_table();
  end_of_step();
}

// ---- 6 ----------------------------------------------------------------------

void Story::everyone_leaves() {
  out_.heading("6. Everyone leaves");
  out_.say("the agents are asked to stop (SIGTERM) and say BYE; then the server is asked to stop (SIGTERM)");
  std::vector<std::string> agents;
  for (const auto& name : children_.running()) {
    if (name != "server") {
      agents.push_back(name);
    }
  }
  const auto mark = observer().mark();
  for (const auto& id : agents) {
    children_.signal(id, SIGTERM);
  }
  bool clean = true;
  std::string report;
  const auto deadline = Clock::now() + 2s;
  for (const auto& id : agents) {
    stage_.wait_offline(id, mark, deadline);  // lets the observer show each BYE before it leaves
    const auto status = children_.wait_exit(id, deadline);
    clean = clean && exited_cleanly(status);
    report += id + " " + (status ? demo::describe_wait_status(*status) : "still running") + ", ";
  }
  observer().stop();
  children_.signal("server", SIGTERM);
  const auto status = children_.wait_exit("server", Clock::now() + 2s);
  clean = clean && exited_cleanly(status);
  report += "server " + (status ? demo::describe_wait_status(*status) : "still running after 2 s");
  score_.expect(clean, "every child stopped cleanly on SIGTERM: " + report);
}

// ---- helpers ----------------------------------------------------------------

// One verdict per detection: the reason, and the delay from the cause to the
// server's event (its at_ms) next to the bound (`bound_text` explains it).
void Story::expect_offline(const std::string& id, const std::optional<proto::Event>& e, std::vector<Reason> reasons,
                           std::int64_t cause_ms, const std::string& cause, milliseconds bound,
                           const std::string& bound_text) {
  if (!e) {
    score_.expect(false, id + " was not reported offline after " + cause);
    return;
  }
  const bool reason_ok = std::find(reasons.begin(), reasons.end(), e->reason) != reasons.end();
  std::string expected;
  for (const auto r : reasons) {
    expected += (expected.empty() ? "" : " or ") + std::string(to_string(r));
  }
  const auto delay = milliseconds(std::max<std::int64_t>(0, e->at_ms - cause_ms));
  score_.expect(reason_ok && delay <= bound, id + " offline, reason " + std::string(to_string(e->reason)) +
                                                 (reason_ok ? "" : " (expected " + expected + ")") + ", noticed " +
                                                 to_text(delay) + " after " + cause + "  [bound: " + bound_text + "]");
}

// The first event of `id` after SIGCONT must be a new online, on a new connection.
void Story::expect_new_session(const std::string& id, const std::optional<proto::Event>& back,
                               const std::string& old_remote, std::int64_t cont_ms) {
  if (!back) {
    score_.expect(false, id + " did not come back after SIGCONT");
    return;
  }
  const bool is_new = back->kind == proto::EventKind::online && back->remote != old_remote;
  const auto delay = milliseconds(std::max<std::int64_t>(0, back->at_ms - cont_ms));
  const auto limit = t_.backoff_cap + t_.reconnect_slack;
  score_.expect(is_new && delay <= limit,
                id + " back by itself as a new session: " + std::string(to_string(back->kind)) + " event #" +
                    std::to_string(back->seq) + " from " + back->remote + " (the frozen one was " + old_remote + "), " +
                    to_text(delay) + " after SIGCONT  [bound: " + to_text(limit) + " = backoff, at most " +
                    to_text(t_.backoff_cap) + ", + " + to_text(t_.reconnect_slack) + " to connect]");
}

// `e` is the agent's entry in the new server's list: its SINCE is when it got back.
void Story::expect_back_after_restart(const std::string& id, const proto::ListEntry* e) {
  if (e == nullptr) {
    score_.expect(false, id + " did not reconnect after the restart");
    return;
  }
  const auto delay = milliseconds(std::max<std::int64_t>(0, e->since_ms - stage_.server_listening_ms()));
  const auto limit = t_.backoff_cap + t_.reconnect_slack;
  const bool same_process = !children_.exit_status(id);
  score_.expect(same_process && delay <= limit,
                id + " reconnected by itself " + to_text(delay) + " after the server was back, same process (pid " +
                    std::to_string(children_.pid(id)) + ")  [bound: " + to_text(limit) + " = backoff cap " +
                    to_text(t_.backoff_cap) + " + " + to_text(t_.reconnect_slack) + " to connect]");
}

std::filesystem::path make_log_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "lifeline-demo.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "demo: cannot create a log directory");
  }
  return pattern;
}

// Returns true if every expectation held. The children are stopped and reaped
// before it returns, whichever way it returns.
bool play(milliseconds pace, demo::Narrator& out, const std::filesystem::path& logs) {
  demo::Scorecard score(out);
  {
    demo::Children children(std::filesystem::read_symlink("/proc/self/exe"), logs);
    Story story(pace, out, score, children);  // after `children`: its observer goes first
    story.run();
  }
  out.heading("Summary");
  score.summary();
  return score.all_passed();
}

void run_demo(const DemoArgs& args) {
  const auto pace = duration_arg("--pace", args.pace);
  const demo::InterruptWatcher interrupts;
  demo::Narrator out;
  const auto logs = make_log_dir();
  bool passed = false;
  try {
    passed = play(pace, out, logs);
  } catch (const demo::Interrupted&) {
    out.say("interrupted: every child was stopped; their logs are in " + logs.string(), Tone::fail);
    throw CLI::RuntimeError(130);
  } catch (const std::exception& e) {
    out.say(std::string("the demo could not go on: ") + e.what() + "; child logs are in " + logs.string(), Tone::fail);
    throw CLI::RuntimeError(1);
  }
  if (passed && !args.keep_logs) {
    std::filesystem::remove_all(logs);
  } else {
    out.say("child logs (server and agents): " + logs.string(), Tone::note);
  }
  if (!passed) {
    throw CLI::RuntimeError(1);
  }
}

}  // namespace

void register_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo",
                                 "the whole story on loopback: agents join, leave, crash, freeze; the server "
                                 "restarts (exit status 0 if every expectation held)");
  auto args = std::make_shared<DemoArgs>();
  cmd->add_option("--pace", args->pace, "pause between steps, for the reader (0ms: as fast as it goes)")
      ->capture_default_str();
  cmd->add_flag("--keep-logs", args->keep_logs, "keep the children's logs even if every expectation held");
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace lifeline::app
