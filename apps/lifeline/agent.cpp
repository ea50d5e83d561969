// lifeline agent: stays connected, heartbeats, reconnects, and prints every
// state change. --count N runs N clients on one I/O thread (load and tests).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "common.hpp"
#include "lifeline/client.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::app {
namespace {

struct AgentArgs {
  std::string id;
  std::vector<std::string> servers{"127.0.0.1:7000"};
  std::string interval = "0ms";
  std::string timeout = "0ms";
  bool server_pings = false;
  std::vector<std::string> labels;
  std::string backoff_base = "500ms";
  std::string backoff_cap = "30s";
  double backoff_factor = 2.0;
  std::string connect_timeout = "5s";
  unsigned count = 1;
  bool json = false;
  bool quiet = false;
  ClientSecurityArgs security;
};

std::mutex g_out;

void print_change(const AgentArgs& args, const std::string& id, const StateChange& c) {
  if (args.quiet && c.to != ClientState::online && c.to != ClientState::reconnecting) {
    return;
  }
  std::string line;
  if (args.json) {
    boost::json::object o{{"v", kJsonVersion},
                          {"at", timestamp()},
                          {"id", id},
                          {"state", std::string(to_string(c.to))},
                          {"from", std::string(to_string(c.from))}};
    if (!c.server.empty()) {
      o["server"] = c.server;
    }
    if (!c.reason.empty()) {
      o["reason"] = c.reason;
    }
    if (c.to == ClientState::online) {
      o["interval_ms"] = c.interval.count();
      o["timeout_ms"] = c.timeout.count();
      o["attempts"] = c.attempts;
      if (c.tls_resumed) {
        o["tls"] = *c.tls_resumed ? "resumed" : "full";
      }
    }
    line = boost::json::serialize(o);
  } else {
    line = timestamp() + " id=" + id + " state=" + std::string(to_string(c.to));
    if (!c.server.empty()) {
      line += " server=" + c.server;
    }
    if (c.to == ClientState::online) {
      line += " interval=" + format_duration(c.interval) + " timeout=" + format_duration(c.timeout) +
              " attempts=" + std::to_string(c.attempts);
      if (c.tls_resumed) {
        line += *c.tls_resumed ? " tls=resumed" : " tls=full";
      }
    }
    if (!c.reason.empty()) {
      line += " reason=\"" + c.reason + "\"";
    }
  }
  const std::lock_guard lock(g_out);
  std::cout << line << std::endl;
}

ClientOptions to_options(const AgentArgs& a, std::string id) {
  ClientOptions o;
  o.servers = split_list(a.servers);
  o.id = std::move(id);
  o.labels = parse_labels(a.labels);
  o.interval = duration_arg("--interval", a.interval);
  o.timeout = duration_arg("--timeout", a.timeout);
  o.server_pings = a.server_pings;
  o.backoff.base = duration_arg("--backoff-base", a.backoff_base);
  o.backoff.cap = duration_arg("--backoff-cap", a.backoff_cap);
  o.backoff.factor = a.backoff_factor;
  o.connect_timeout = duration_arg("--connect-timeout", a.connect_timeout);
  apply_client_security(a.security, o);
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError("invalid agent option: " + err);
  }
  return o;
}

void run_agent(const AgentArgs& args) {
  if (args.count == 0 || args.count > 20000) {
    throw UsageError("--count must be in 1..20000");
  }
  if (args.count > 1 && args.id.empty()) {
    throw UsageError("--count needs --id as a prefix (ids become PREFIX-0 .. PREFIX-N-1)");
  }
  if (args.count > 1 && (!args.security.token.empty() || !args.security.token_file.empty())) {
    throw UsageError("a token is bound to one id: --token and --token-file need --count 1");
  }
  boost::asio::io_context io(1);
  auto work = boost::asio::make_work_guard(io);
  std::vector<std::unique_ptr<Client>> clients;
  // A client stops by itself only when another connection took its id over
  // (BYE replaced) or the server refused it for good; once all have, nothing
  // is left to do: exit and say so.
  std::atomic<unsigned> replaced{0};
  std::atomic<unsigned> refused{0};
  for (unsigned i = 0; i < args.count; ++i) {
    const std::string id = args.count == 1 ? args.id : args.id + "-" + std::to_string(i);
    auto client = std::make_unique<Client>(io.get_executor(), to_options(args, id));
    Client* raw = client.get();
    client->on_state([&args, &replaced, &refused, id, raw](const StateChange& c) {
      print_change(args, id.empty() ? raw->id() : id, c);
      if (c.to == ClientState::stopped) {
        ++(c.refused ? refused : replaced);  // before any stop() of ours: the only other ways to stop
      }
    });
    clients.push_back(std::move(client));
  }
  for (auto& c : clients) {
    c->start();
  }
  std::thread io_thread([&io] { io.run(); });
  const int sig = wait_for_termination_signal([&] { return replaced.load() + refused.load() == clients.size(); });

  // Say BYE on every connection, then leave once all are written (bounded wait).
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = clients.size();
  for (auto& c : clients) {
    c->stop([&] {
      const std::lock_guard lock(mu);
      if (--pending == 0) {
        cv.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return pending == 0; });
  }
  work.reset();
  io.stop();
  io_thread.join();
  clients.clear();
  if (sig == 0 && refused.load() > 0) {
    std::cerr << "lifeline agent: the server refused "
              << (args.count == 1 ? "the id" : std::to_string(refused.load()) + " ids")
              << " for good (see above); exiting with status " << kExitRefused << "\n";
    throw CLI::RuntimeError(kExitRefused);
  }
  if (sig == 0) {
    std::cerr << "lifeline agent: another connection took over " << (args.count == 1 ? "the id" : "every id")
              << "; exiting with status " << kExitReplaced << "\n";
    throw CLI::RuntimeError(kExitReplaced);
  }
}

}  // namespace

void register_agent(CLI::App& app) {
  auto* cmd = app.add_subcommand("agent", "stay connected to a server, heartbeat, reconnect, print state changes");
  auto args = std::make_shared<AgentArgs>();
  cmd->add_option("--id,-i", args->id, "client id (empty: the server assigns one); with --count, the id prefix");
  cmd->add_option("--server,-s", args->servers,
                  "server HOST:PORT (a name, IPv4, or [IPv6]); several (comma-separated or repeated) are tried in turn")
      ->capture_default_str();
  cmd->add_option("--interval", args->interval, "proposed heartbeat interval (0ms = server default)")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "proposed liveness timeout (0ms = server default)")
      ->capture_default_str();
  cmd->add_flag("--server-pings", args->server_pings, "let the server drive the heartbeat; only answer its PINGs");
  cmd->add_option("--label", args->labels, "label key=value shown in the online list (repeatable)");
  cmd->add_option("--backoff-base", args->backoff_base, "first reconnect window")->capture_default_str();
  cmd->add_option("--backoff-cap", args->backoff_cap, "largest reconnect window")->capture_default_str();
  cmd->add_option("--backoff-factor", args->backoff_factor, "window growth per failed attempt")->capture_default_str();
  cmd->add_option("--connect-timeout", args->connect_timeout, "limit on each connect + handshake")
      ->capture_default_str();
  cmd->add_option("--count,-n", args->count, "run this many clients (ids PREFIX-0..N-1) on one thread")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "one JSON object per state change");
  cmd->add_flag("--quiet,-q", args->quiet, "print only online and reconnecting transitions");
  add_client_security_options(*cmd, args->security);
  cmd->callback([args] { run_agent(*args); });
}

}  // namespace lifeline::app
