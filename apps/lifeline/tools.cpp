// lifeline ls / lifeline watch: observer connections that query the online
// list or stream presence events (docs/protocol.md LIST, SUBSCRIBE).

#include "tools.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <mutex>

#include "common.hpp"
#include "lifeline/client.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::app {
namespace {

ClientOptions observer_options(const ToolOptions& t) {
  ClientOptions o;
  o.servers = split_list(t.servers);
  o.observer = true;
  o.connect_timeout = duration_arg("--connect-timeout", t.connect_timeout);
  o.backoff.base = std::chrono::milliseconds(200);
  o.backoff.cap = std::chrono::milliseconds(2000);
  apply_client_security(t.security, o);
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError(err);
  }
  return o;
}

std::chrono::system_clock::time_point unix_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string ago(std::int64_t then_ms) {
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return format_duration(std::chrono::milliseconds(std::max<std::int64_t>(0, now_ms - then_ms))) + " ago";
}

}  // namespace

void print_list(const ListResult& list, bool json) {
  const auto& entries = list.entries;
  const auto online = list.online;
  if (json) {
    boost::json::array arr;
    for (const auto& e : entries) {
      boost::json::object labels;
      for (const auto& l : e.labels) {
        labels[l.key] = l.value;
      }
      boost::json::object client{{"id", e.id},
                                 {"peer", e.remote},
                                 {"transport", transport_name(e.transport)},
                                 {"since", timestamp(unix_ms(e.since_ms))},
                                 {"last_seen", timestamp(unix_ms(e.last_seen_ms))},
                                 {"interval_ms", e.interval_ms},
                                 {"timeout_ms", e.timeout_ms},
                                 {"labels", labels}};
      if (e.rtt_us != 0) {
        client["rtt_us"] = e.rtt_us;  // absent until measured
      }
      if (e.session != 0) {
        client["session"] = e.session;  // absent from a server before protocol version 3
      }
      if (!e.node.empty()) {
        client["node"] = e.node;  // a cluster's entry
      }
      arr.push_back(std::move(client));
    }
    boost::json::object out{{"v", kJsonVersion},
                            {"online", online},
                            {"seq", list.seq},
                            {"instance", instance_text(list.instance)},
                            {"clients", arr}};
    if (!list.node.empty()) {
      out["cluster"] = boost::json::object{{"node", list.node}, {"degraded", list.degraded}};
    }
    std::cout << boost::json::serialize(out) << std::endl;
    return;
  }
  // Columns as wide as their widest cell: a long id or an IPv6 peer never
  // pushes the rest of its row out of line.
  // A cluster's list names each entry's node; a server alone's has no such column.
  const bool cluster = !list.node.empty();
  std::vector<std::array<std::string, 9>> rows{
      {"ID", "NODE", "PEER", "VIA", "SINCE", "LAST SEEN", "RTT", "HEARTBEAT", "LABELS"}};
  for (const auto& e : entries) {
    std::string labels;
    for (const auto& l : e.labels) {
      labels += (labels.empty() ? "" : ",") + l.key + "=" + l.value;
    }
    rows.push_back({e.id, e.node, e.remote, transport_name(e.transport),
                    timestamp(std::chrono::system_clock::time_point(std::chrono::milliseconds(e.since_ms))),
                    ago(e.last_seen_ms), e.rtt_us == 0 ? "-" : std::to_string(e.rtt_us) + "us",
                    format_duration(std::chrono::milliseconds(e.interval_ms)) + "/" +
                        format_duration(std::chrono::milliseconds(e.timeout_ms)),
                    labels});
  }
  std::array<std::size_t, 9> width{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c + 1 < row.size(); ++c) {
      if (c == 1 && !cluster) {
        continue;
      }
      line += row[c] + std::string(width[c] - row[c].size() + 2, ' ');
    }
    line += row.back();
    std::printf("%s\n", line.substr(0, line.find_last_not_of(' ') + 1).c_str());
  }
  if (cluster) {
    std::printf("%u online in the cluster (as node %s sees it)\n", online, list.node.c_str());
    if (list.degraded) {
      std::printf("degraded: node %s cannot reach the cluster; its own clients are live, the others' as last seen\n",
                  list.node.c_str());
    }
  } else {
    std::printf("%u online\n", online);
  }
  std::fflush(stdout);
}

namespace {

void run_ls(const ToolOptions& t) {
  if (!t.admin.empty()) {
    run_ls_admin(t);
    return;
  }
  Client client(observer_options(t));
  std::mutex mu;
  bool done = false;
  std::string refused;  // the server refused the handshake for good: no point waiting
  ListResult list;
  client.on_state([&](const StateChange& c) {
    if (c.to == ClientState::online) {
      client.list(1);
    } else if (c.to == ClientState::stopped && c.refused) {
      const std::lock_guard lock(mu);
      refused = c.reason;
    }
  });
  client.on_list([&](const proto::ListReply& r) {
    const std::lock_guard lock(mu);
    done = list.add(r) || done;
  });
  client.start();
  const auto limit = duration_arg("--connect-timeout", t.connect_timeout) + std::chrono::seconds(1);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // Waited for like every program's work: SIGINT and SIGTERM end it at once.
  const int sig = wait_for_termination_signal([&] {
    const std::lock_guard lock(mu);
    return done || !refused.empty() || std::chrono::steady_clock::now() >= deadline;
  });
  const std::lock_guard lock(mu);
  if (sig != 0) {
    std::cerr << "lifeline ls: stopped by signal " << sig << " before an answer\n";
    throw CLI::RuntimeError(1);
  }
  if (!done && !refused.empty()) {
    std::cerr << "lifeline ls: refused: " << refused << "\n";
    throw CLI::RuntimeError(kExitRefused);
  }
  if (!done) {
    std::cerr << "lifeline ls: no answer from " << t.servers.front() << " within "
              << format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(limit)) << ": "
              << (client.last_error().empty() ? "no reply" : client.last_error()) << "\n";
    throw CLI::RuntimeError(1);
  }
  print_list(list, t.json);
}

}  // namespace

void print_event(const proto::Event& e, bool json) {
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(e.at_ms));
  if (json) {
    boost::json::object o{{"v", kJsonVersion},
                          {"seq", e.seq},
                          {"kind", std::string(to_string(e.kind))},
                          {"at", timestamp(at)},
                          {"instance", instance_text(e.instance)}};
    if (!e.id.empty()) {
      o["id"] = e.id;  // a gap names no client
    }
    if (!e.remote.empty()) {
      o["peer"] = e.remote;
    }
    if (e.session != 0) {
      o["session"] = e.session;  // absent from a server before protocol version 3
      o["transport"] = transport_name(e.transport);
    }
    if (!e.node.empty()) {
      o["node"] = e.node;  // a cluster's event
    }
    if (e.kind == proto::EventKind::offline || e.kind == proto::EventKind::leave) {
      o["reason"] = std::string(to_string(e.reason));  // only an ending has one
    }
    std::cout << boost::json::serialize(o) << std::endl;
    return;
  }
  if (e.kind == proto::EventKind::gap) {
    std::cout << timestamp(at) << " #" << e.seq << " gap: the events up to here were missed" << std::endl;
    return;
  }
  std::cout << timestamp(at) << " #" << e.seq << " " << to_string(e.kind) << " id=" << e.id << " remote=" << e.remote;
  if (e.session != 0) {
    std::cout << " via=" << transport_name(e.transport);
  }
  if (!e.node.empty()) {
    std::cout << " node=" << e.node;
  }
  if (e.kind == proto::EventKind::offline || e.kind == proto::EventKind::leave) {
    std::cout << " reason=" << to_string(e.reason);
  }
  std::cout << std::endl;
}

namespace {

void run_watch(const ToolOptions& t, std::uint64_t exit_after, bool snapshot) {
  if (!t.admin.empty()) {
    run_watch_admin(t, exit_after, snapshot);
    return;
  }
  Client client(observer_options(t));
  ListResult list;  // the snapshot being received (client thread)
  client.on_list([&](const proto::ListReply& r) {
    if (list.add(r)) {
      if (!t.json) {
        std::cout << "online as of #" << list.seq << " (server run " << instance_text(list.instance) << "):\n";
      }
      print_list(list, t.json);
      list = ListResult{};
    }
  });
  std::atomic<bool> refused{false};
  client.on_state([&refused](const StateChange& c) {
    std::cerr << timestamp() << " watch: " << to_string(c.to) << (c.server.empty() ? "" : " " + c.server)
              << (c.reason.empty() ? "" : " (" + c.reason + ")") << std::endl;
    if (c.to == ClientState::stopped && c.refused) {
      refused = true;
    }
  });
  std::atomic<std::uint64_t> seen{0};
  client.on_event([&](const proto::Event& e) {
    print_event(e, t.json);
    ++seen;
  });
  client.subscribe(SubscribeOptions{.snapshot = snapshot, .request_id = 0});
  client.start();
  // Signals end the wait in both modes: with --exit-after too, SIGINT and SIGTERM stop it.
  wait_for_termination_signal([&] { return refused.load() || (exit_after > 0 && seen.load() >= exit_after); });
  client.stop();
  if (refused) {
    std::cerr << "lifeline watch: refused by the server: " << client.last_error() << "\n";
    throw CLI::RuntimeError(kExitRefused);
  }
}

}  // namespace

void register_tools(CLI::App& app) {
  auto* ls = app.add_subcommand("ls", "print the online list");
  auto ls_args = std::make_shared<ToolOptions>();
  add_tool_options(*ls, *ls_args);
  ls->callback([ls_args] { run_ls(*ls_args); });

  auto* watch = app.add_subcommand("watch", "stream presence events as they happen (reconnects by itself)");
  auto watch_args = std::make_shared<ToolOptions>();
  auto exit_after = std::make_shared<std::uint64_t>(0);
  auto snapshot = std::make_shared<bool>(false);
  add_tool_options(*watch, *watch_args);
  watch->add_option("--exit-after", *exit_after, "exit after this many events (0 = run until SIGINT/SIGTERM)")
      ->capture_default_str();
  watch->add_flag("--snapshot", *snapshot,
                  "print the online list first, then every event after it (nothing missed or doubled); again "
                  "after a reconnect the server could not resume");
  watch->callback([watch_args, exit_after, snapshot] { run_watch(*watch_args, *exit_after, *snapshot); });
}

}  // namespace lifeline::app
