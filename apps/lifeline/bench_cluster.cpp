// lifeline-bench cluster: N clients spread over the nodes of a cluster
// (docs/cluster.md), each client listing every node, its own first. It
// measures what a cluster adds: how soon the cluster-wide count is exact, how
// long an event takes from one node to another's watchers, what Redis spends
// per client, and, with --kill, how long a killed node's clients take to be
// back elsewhere with the count exact again. bench/cluster.sh starts Redis and
// the nodes.

#include <csignal>
#include <future>
#include <iostream>
#include <map>
#include <mutex>

#include "bench.hpp"
#include "common.hpp"
#include "lifeline/client.hpp"

namespace lifeline::app::bench {
namespace {

// The ids online in the cluster as `node` answers LIST (an observer connection), or -1.
std::int64_t cluster_count(const std::string& node) {
  ClientOptions co;
  co.servers = {node};
  co.observer = true;
  co.connect_timeout = std::chrono::seconds(2);
  Client client(co);
  std::promise<std::int64_t> got;
  std::once_flag once;
  client.on_state([&](const StateChange& c) {
    if (c.to == ClientState::online) client.list(1);
  });
  client.on_list([&](const proto::ListReply& r) {
    if (r.last) std::call_once(once, [&] { got.set_value(r.online); });
  });
  client.start();
  auto f = got.get_future();
  const auto n = f.wait_for(std::chrono::seconds(5)) == std::future_status::ready ? f.get() : -1;
  client.stop();
  return n;
}

// Redis's INFO field `key` (an integer), read with redis-cli; -1 if unknown.
std::int64_t redis_info(const std::string& redis, const std::string& key) {
  const auto colon = redis.rfind(':');
  const std::string cmd =
      "redis-cli -h " + redis.substr(0, colon) + " -p " + redis.substr(colon + 1) + " info 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::int64_t v = -1;
  char line[512];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    const std::string l(line);
    if (l.rfind(key + ":", 0) == 0) v = std::stoll(l.substr(key.size() + 1));
  }
  ::pclose(p);
  return v;
}

double seconds(std::int64_t us) { return static_cast<double>(us) / 1e6; }

double cpu_s(int pid) {
  const auto s = read_proc(pid);
  return s.user_s + s.sys_s;
}

// Times `probes` online events from node k to the watchers on node k+1:
// from the probe's own online (WELCOME received) to the event's arrival.
Histogram propagation(const std::vector<std::string>& nodes, unsigned probes, Fleet& fleet) {
  std::mutex mu;
  std::map<std::string, std::int64_t> seen_us;  // id -> arrival at a watcher
  std::vector<std::unique_ptr<Client>> watchers;
  for (std::size_t j = 0; j < nodes.size(); ++j) {
    ClientOptions co;
    co.servers = {nodes[j]};
    co.observer = true;
    watchers.push_back(std::make_unique<Client>(co));
    watchers.back()->on_event([&mu, &seen_us, j](const proto::Event& e) {
      if (e.kind == proto::EventKind::online && e.id.rfind("probe-", 0) == 0) {
        const std::lock_guard lock(mu);
        seen_us.emplace(e.id + "@" + std::to_string(j), now_us());
      }
    });
    watchers.back()->subscribe(SubscribeOptions{});
    watchers.back()->start();
  }
  fleet.pump_for(1'000'000);  // the watchers subscribe
  Histogram h;
  for (unsigned i = 0; i < probes; ++i) {
    const auto& home = nodes[i % nodes.size()];
    ClientOptions co;
    co.servers = {home};
    co.id = "probe-" + std::to_string(i);
    Client probe(co);
    std::promise<std::int64_t> online;
    std::once_flag once;
    probe.on_state([&](const StateChange& c) {
      if (c.to == ClientState::online) std::call_once(once, [&] { online.set_value(now_us()); });
    });
    probe.start();
    auto f = online.get_future();
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) continue;
    const auto t0 = f.get();
    // Timed at the watcher of the next node.
    const auto key = co.id + "@" + std::to_string((i + 1) % nodes.size());
    fleet.pump_until(now_us() + 2'000'000, [&] {
      const std::lock_guard lock(mu);
      return seen_us.contains(key);
    });
    probe.stop();
    const std::lock_guard lock(mu);
    if (auto it = seen_us.find(key); it != seen_us.end()) {
      h.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->second - t0)));
    }
  }
  for (auto& w : watchers) w->stop();
  return h;
}

}  // namespace

void run_cluster(const Options& o) {
  const auto nodes = split_list({o.server});
  const auto pid_texts = split_list({o.node_pids});
  if (nodes.size() < 2 || pid_texts.size() != nodes.size()) {
    throw UsageError("cluster needs --server with every node's address and --node-pids with their pids, in order");
  }
  std::vector<int> pids;
  pids.reserve(pid_texts.size());
  for (const auto& p : pid_texts) pids.push_back(std::stoi(p));
  Options fo = o;
  // Two workers per node (at most 18,000 connections each); each lists every node, its own first.
  fo.workers = static_cast<unsigned>(nodes.size()) * 2;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::string list;
    for (std::size_t j = 0; j < nodes.size(); ++j) list += (j != 0 ? "," : "") + nodes[(i + j) % nodes.size()];
    fo.worker_servers.push_back(list);
  }
  Fleet fleet(fo, true);
  const std::int64_t t0 = now_us();
  ramp_up(fleet, fo);
  const auto n = static_cast<std::int64_t>(o.connections);
  std::int64_t t_exact = -1;
  fleet.pump_until(now_us() + 60'000'000, [&] {
    if (cluster_count(nodes.front()) == n && cluster_count(nodes.back()) == n) t_exact = now_us();
    return t_exact > 0;
  });
  Report r;
  r.title = "cluster: " + std::to_string(n) + " clients on " + std::to_string(nodes.size()) + " nodes";
  r.add("connections", "clients", static_cast<double>(n), 0);
  r.add("count_exact_after_ramp_s", "cluster count exact, after the ramp started", seconds(t_exact - t0), 1, "s");

  // Steady state: what Redis and the nodes spend.
  const auto window_us = std::int64_t{ms_arg("--window", o.window)} * 1000;
  const double redis0 = cpu_s(o.redis_pid);
  double nodes0 = 0;
  for (int p : pids) nodes0 += cpu_s(p);
  fleet.pump_for(window_us);
  const double redis_cpu = cpu_s(o.redis_pid) - redis0;
  double nodes_cpu = -nodes0;
  for (int p : pids) nodes_cpu += cpu_s(p);
  const auto used = redis_info(o.redis, "used_memory");
  r.add("redis_cpu_percent", "Redis CPU, steady state", 100.0 * redis_cpu / seconds(window_us), 2, "%");
  r.add("nodes_cpu_percent", "all nodes' CPU, steady state", 100.0 * nodes_cpu / seconds(window_us), 1, "%");
  r.add("redis_memory_bytes_per_client", "Redis memory per client", static_cast<double>(used) / static_cast<double>(n),
        0, "B");
  r.add("redis_memory_bytes", "Redis memory", static_cast<double>(used), 0, "B");

  const auto h = propagation(nodes, o.probes, fleet);
  r.add("propagation_p50_us", "event node to node, p50", static_cast<double>(h.percentile(0.50)), 0, "us");
  r.add("propagation_p99_us", "event node to node, p99", static_cast<double>(h.percentile(0.99)), 0, "us");
  r.add("propagation_samples", "probes timed", static_cast<double>(h.count()), 0);

  if (o.kill) {
    const std::int64_t t_kill = now_us();
    kill_server(pids.back(), SIGKILL);
    std::vector<std::string> survivors(nodes.begin(), nodes.end() - 1);
    std::int64_t t_clients = -1;
    std::int64_t t_count = -1;
    fleet.pump_until(t_kill + 120'000'000, [&] {
      bool fresh = true;
      for (const auto& w : fleet.workers()) fresh = fresh && num(w.stat, "t_us") > t_kill + 300'000;
      if (t_clients < 0 && fresh && fleet.sum("online") >= fleet.connections()) t_clients = now_us();
      if (t_clients > 0 && cluster_count(survivors.front()) == n && cluster_count(survivors.back()) == n) {
        t_count = now_us();
      }
      return t_count > 0;
    });
    r.add("kill_clients_back_s", "killed node: its clients all online elsewhere", seconds(t_clients - t_kill), 2, "s");
    r.add("kill_count_exact_s", "killed node: cluster count exact again", seconds(t_count - t_kill), 2, "s");
  }
  fleet.stop();
  r.print(o.json);
}

}  // namespace lifeline::app::bench
