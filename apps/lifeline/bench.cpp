// lifeline-bench: the command line, and the capacity and detect scenarios.
// Storm and saturate are in bench_storm.cpp, the workers in bench_worker.cpp.

#include "bench.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <iostream>

#include "common.hpp"

namespace lifeline::app {
namespace bench {

/// Opens every connection at the --ramp rate, with a progress line; returns
/// when all are established or failed (bounded by the ramp time + connect timeout + 10 s).
double ramp_up(Fleet& fleet, const Options& o) {
  const std::int64_t t0 = now_us();
  const auto n = fleet.connections();
  const auto deadline = t0 + static_cast<std::int64_t>(n / o.ramp * 1e6) +
                        std::int64_t{ms_arg("--connect-timeout", o.connect_timeout)} * 1000 + 10'000'000;
  Progress bar;
  fleet.pump_until(deadline, [&] {
    const auto est = fleet.sum("online");
    const auto failed = fleet.sum("failed");
    const double secs = static_cast<double>(now_us() - t0) / 1e6;
    bar.show("ramp", est, n,
             fmt(static_cast<double>(est) / std::max(secs, 1e-3), 0) + "/s failed " + std::to_string(failed));
    return est + failed >= n;
  });
  bar.end();
  return static_cast<double>(now_us() - t0) / 1e6;
}

void add_rtt(Report& r, const Histogram& h) {
  r.add("rtt_p50_us", "RTT p50", boost::json::value(h.percentile(0.50)), std::to_string(h.percentile(0.50)) + " us");
  r.add("rtt_p99_us", "RTT p99", boost::json::value(h.percentile(0.99)), std::to_string(h.percentile(0.99)) + " us");
  r.add("rtt_max_us", "RTT max", boost::json::value(h.max()), std::to_string(h.max()) + " us");
}

void run_capacity(const Options& o) {
  const unsigned iv = ms_arg("--interval", o.interval);
  int pid = o.server_pid;
  const bool own_server = pid == 0 && !o.server_cmd.empty();
  if (own_server) {
    pid = start_server(o.server_cmd);
    wait_listening(o.server, pid);
  }
  // RSS baseline before any connection exists.
  const ProcSample base = pid > 0 ? read_proc(pid) : ProcSample{};
  Fleet fleet(o, false);
  const double ramp_s = ramp_up(fleet, o);
  const auto established = fleet.sum("established");
  const auto failed = fleet.sum("failed");
  const ProcSample ramped = pid > 0 ? read_proc(pid) : ProcSample{};
  // One interval so every connection has sent its first heartbeat before measuring.
  fleet.pump_for(std::int64_t{iv} * 1000);

  Histogram ignore;
  Histogram hist;
  const auto s0 = fleet.snap(ignore);
  const ProcSample p0 = pid > 0 ? read_proc(pid) : ProcSample{};
  const std::int64_t t0 = now_us();
  const std::int64_t window_us = std::int64_t{ms_arg("--window", o.window)} * 1000;
  Progress bar;
  fleet.pump_until(t0 + window_us, [&] {
    const auto secs = static_cast<std::uint64_t>((now_us() - t0) / 1'000'000);
    bar.show("window", secs, static_cast<std::uint64_t>(window_us / 1'000'000),
             "s online " + std::to_string(fleet.sum("online")) + " false offlines " +
                 std::to_string(fleet.sum("server_closed") - static_cast<std::uint64_t>(num(s0, "server_closed"))));
    return false;
  });
  bar.end();
  const auto s1 = fleet.snap(hist);
  const ProcSample p1 = pid > 0 ? read_proc(pid) : ProcSample{};
  const double secs = static_cast<double>(now_us() - t0) / 1e6;
  fleet.stop();
  if (own_server) kill_server(pid, SIGTERM);

  const auto sent = static_cast<double>(num(s1, "sent") - num(s0, "sent"));
  const auto answered = static_cast<double>(num(s1, "answered") - num(s0, "answered"));
  Report r;
  r.title = "lifeline-bench capacity: " + o.protocol + (o.transport == "ws" ? " over WebSocket" : "") +
            (o.tls ? " over TLS " : " ") + o.server + ", " + std::to_string(o.connections) + " connections, interval " +
            o.interval + ", window " + fmt(secs, 1) + " s, " + std::to_string(fleet.workers().size()) + " workers";
  r.json["scenario"] = "capacity";
  r.json["protocol"] = o.protocol;
  r.json["transport"] = o.transport;
  r.json["tls"] = o.tls;
  r.json["interval_ms"] = iv;
  r.json["window_s"] = secs;
  r.add("connections", "connections requested", boost::json::value(o.connections), std::to_string(o.connections));
  r.add("established", "established", boost::json::value(established),
        std::to_string(established) + " in " + fmt(ramp_s, 1) + " s");
  r.add("failed", "failed", boost::json::value(failed), std::to_string(failed));
  r.add("online_end", "online at the end", boost::json::value(num(s1, "online")), std::to_string(num(s1, "online")));
  r.add("sent_per_s", "heartbeats sent", sent / secs, 0, "/s");
  r.add("answered_per_s", "heartbeats answered", answered / secs, 0, "/s");
  add_rtt(r, hist);
  if (p0.ok && p1.ok) {
    const double user = p1.user_s - p0.user_s;
    const double sys = p1.sys_s - p0.sys_s;
    const double per_m = answered > 0 ? 1e6 / answered : NAN;
    r.add("cpu_s_per_million", "server CPU per million heartbeats", (user + sys) * per_m, 2,
          "s (user " + fmt(user * per_m, 2) + ", sys " + fmt(sys * per_m, 2) + ")");
    r.json["cpu_user_s_per_million"] = user * per_m;
    r.json["cpu_sys_s_per_million"] = sys * per_m;
    r.add("cpu_pct_core", "server CPU, % of one core", (user + sys) / secs * 100, 1,
          "% (user " + fmt(user / secs * 100, 1) + ", sys " + fmt(sys / secs * 100, 1) + ")");
    r.json["cpu_user_pct"] = user / secs * 100;
    r.json["cpu_sys_pct"] = sys / secs * 100;
    const auto online = std::max<std::int64_t>(num(s1, "online"), 1);
    r.add("rss_kb", "server RSS", boost::json::value(p1.rss_kb),
          std::to_string(p1.rss_kb) + " kB (baseline " + std::to_string(base.rss_kb) + " kB)");
    r.json["rss_baseline_kb"] = base.rss_kb;
    r.add("rss_per_connection_b", "server RSS per connection",
          static_cast<double>(p1.rss_kb - base.rss_kb) * 1024.0 / static_cast<double>(online), 0, "B");
    // The ramp's CPU per connection made: accept, (TLS handshake,) HELLO, the
    // first heartbeats. With --tls it is mostly the handshake.
    r.add("ramp_cpu_us_per_connection", "server CPU per connection during the ramp",
          (ramped.user_s + ramped.sys_s - base.user_s - base.sys_s) * 1e6 /
              static_cast<double>(std::max<std::uint64_t>(established, 1)),
          0, "us");
  } else {
    r.rows.emplace_back("server CPU / RSS", "not measured (no --server-pid)");
  }
  const auto false_off = num(s1, "server_closed") - num(s0, "server_closed");
  r.add("false_offlines", "false offlines (window)", boost::json::value(false_off),
        std::to_string(false_off) + " (whole run " + std::to_string(num(s1, "server_closed")) + ")");
  r.add("send_errors", "send errors", boost::json::value(num(s1, "send_errors")),
        std::to_string(num(s1, "send_errors")));
  r.print(o.json);
}

void run_detect(const Options& o) {
  const unsigned iv = ms_arg("--interval", o.interval);
  const unsigned to = ms_arg("--timeout", o.timeout);
  Fleet fleet(o, false);
  ramp_up(fleet, o);
  fleet.pump_for(std::int64_t{iv} * 1000);
  // Spread the K silent connections over the workers, staggered over one interval.
  const auto k = std::min(o.silent, o.connections);
  const auto w = fleet.workers().size();
  for (std::size_t i = 0; i < w; ++i) {
    const auto share = k / w + (i < k % w ? 1 : 0);
    fleet.send(i, "silent " + std::to_string(share) + " " + std::to_string(iv) + "\n");
  }
  const double bound_ms =
      o.protocol == "mqtt" ? 1.5 * 1000 * mqtt::keepalive_for(to) : to + ms_arg("--server-tick", o.server_tick) + 50.0;
  const std::int64_t deadline =
      now_us() + std::int64_t{iv} * 1000 + static_cast<std::int64_t>(bound_ms * 2000) + 5'000'000;
  Progress bar;
  fleet.pump_until(deadline, [&] {
    bar.show("detect", fleet.detects.size(), k, "detected");
    return fleet.detects.size() >= k;
  });
  bar.end();
  Histogram ignore;
  const auto s1 = fleet.snap(ignore);
  fleet.stop();

  std::vector<double> ms;
  for (const auto& d : fleet.detects) ms.push_back(static_cast<double>(num(d, "delay_us")) / 1000.0);
  std::sort(ms.begin(), ms.end());
  const auto at = [&ms](double q) {
    return ms.empty() ? NAN
                      : ms[std::min(ms.size() - 1,
                                    static_cast<std::size_t>(std::lround(q * static_cast<double>(ms.size() - 1))))];
  };
  const auto within = std::count_if(ms.begin(), ms.end(), [&](double v) { return v <= bound_ms; });
  Report r;
  r.title = "lifeline-bench detect: " + o.protocol + " " + o.server + ", " + std::to_string(k) + " of " +
            std::to_string(o.connections) + " connections go silent, timeout " + o.timeout;
  r.json["scenario"] = "detect";
  r.json["protocol"] = o.protocol;
  r.add("silent", "connections silenced", boost::json::value(k), std::to_string(k));
  r.add("detected", "detected (closed by the server)", boost::json::value(ms.size()), std::to_string(ms.size()));
  r.add("bound_ms", "configured bound", bound_ms, 0, "ms");
  r.add("delay_min_ms", "delay min", at(0), 1, "ms");
  r.add("delay_p50_ms", "delay p50", at(0.5), 1, "ms");
  r.add("delay_p99_ms", "delay p99", at(0.99), 1, "ms");
  r.add("delay_max_ms", "delay max", ms.empty() ? NAN : ms.back(), 1, "ms");
  r.add("within_bound", "within the bound", boost::json::value(within),
        std::to_string(within) + " of " + std::to_string(ms.size()));
  r.add("false_offlines", "false offlines (others closed)", boost::json::value(num(s1, "server_closed")),
        std::to_string(num(s1, "server_closed")));
  boost::json::array delays;
  for (const double v : ms) delays.push_back(v);
  r.json["delays_ms"] = std::move(delays);  // sorted, for the distribution plot
  r.print(o.json);
}

}  // namespace bench

namespace {

// Every scenario takes the same options; the ones that name a scenario in
// their help only matter there.
void add_scenario_options(CLI::App& cmd, bench::Options& o) {
  cmd.add_option("--server,-s", o.server, "server HOST:PORT")->capture_default_str();
  cmd.add_option("--server-pid", o.server_pid, "server process to read CPU and RSS from (/proc/PID)");
  cmd.add_option("--server-cmd", o.server_cmd,
                 "shell command that starts the server (storm restarts it; saturate: {threads} is replaced)");
  cmd.add_option("--connections,-n", o.connections, "client connections")->capture_default_str();
  cmd.add_option("--interval", o.interval, "heartbeat interval")->capture_default_str();
  cmd.add_option("--timeout", o.timeout, "liveness timeout proposed (MQTT: keepalive = ceil(timeout / 1.5 s))")
      ->capture_default_str();
  cmd.add_option("--connect-timeout", o.connect_timeout, "limit on connect + handshake")->capture_default_str();
  cmd.add_option("--ramp", o.ramp, "new connections per second (all workers)")->capture_default_str();
  cmd.add_option("--window", o.window, "measurement window")->capture_default_str();
  cmd.add_option("--workers,-w", o.workers, "worker processes (0 = one per 18,000 connections)")->capture_default_str();
  cmd.add_option("--sources", o.sources, "source addresses 127.0.0.1..N (about 28,000 connections each)")
      ->check(CLI::Range(1, 254))
      ->capture_default_str();
  cmd.add_option("--protocol", o.protocol, "lifeline or mqtt (3.1.1: CONNECT, PINGREQ)")
      ->check(CLI::IsMember({"lifeline", "mqtt"}))
      ->capture_default_str();
  cmd.add_option("--transport", o.transport,
                 "lifeline over tcp, or over ws (WebSocket: --server is then the server's --ws-listen address)")
      ->check(CLI::IsMember({"tcp", "ws"}))
      ->capture_default_str();
  cmd.add_flag("--tls", o.tls, "TLS under the protocol (connections keep their session and resume with it)");
  cmd.add_option("--tls-ca", o.tls_ca, "with --tls: verify the server's certificate against this CA");
  cmd.add_flag("--no-resume", o.no_resume, "with --tls: a full handshake on every connection, no session resumption");
  cmd.add_option("--server-metrics", o.server_metrics,
                 "storm, with --tls: HOST:PORT of the server's admin API (HTTPS), to count its full and resumed TLS "
                 "handshakes");
  cmd.add_flag("--json", o.json, "print the result as one JSON object");
  cmd.add_option("--silent", o.silent, "detect: connections that go silent")->capture_default_str();
  cmd.add_option("--server-tick", o.server_tick, "detect: the server's --tick, part of the bound")
      ->capture_default_str();
  cmd.add_option("--restart-after", o.restart_after, "storm: how long the server stays dead before its restart")
      ->capture_default_str();
  cmd.add_option("--storm-limit", o.storm_limit, "storm: give up waiting for all to be back after this")
      ->capture_default_str();
  cmd.add_option("--threads", o.threads, "saturate: server thread counts to try")->capture_default_str();
  cmd.add_option("--step", o.step, "saturate: measurement time per rate step")->capture_default_str();
  cmd.add_option("--node-pids", o.node_pids, "cluster: the nodes' pids, in the order of --server's addresses");
  cmd.add_option("--redis", o.redis, "cluster: HOST:PORT of the cluster's Redis");
  cmd.add_option("--redis-pid", o.redis_pid, "cluster: Redis's pid (its CPU)");
  cmd.add_option("--probes", o.probes, "cluster: online events timed from one node to the next")->capture_default_str();
  cmd.add_flag("--kill", o.kill, "cluster: then SIGKILL the last node and time its clients' return");
}

}  // namespace

void register_bench(CLI::App& app) {
  struct Scenario {
    const char* name;
    const char* about;
    void (*run)(const bench::Options&);
  };
  static constexpr Scenario kScenarios[] = {
      {"capacity", "server CPU and RSS at N connections heartbeating", bench::run_capacity},
      {"detect", "how soon silent connections are declared offline", bench::run_detect},
      {"storm", "kill and restart the server under N connections; time until all are back", bench::run_storm},
      {"saturate", "raise the heartbeat rate until the server falls behind", bench::run_saturate},
      {"cluster", "N clients over the nodes of a cluster: count, propagation, Redis cost, a node killed",
       bench::run_cluster},
  };
  for (const auto& s : kScenarios) {
    auto* cmd = app.add_subcommand(s.name, s.about);
    auto o = std::make_shared<bench::Options>();
    o->scenario = s.name;
    add_scenario_options(*cmd, *o);
    cmd->callback([o, run = s.run] {
      if (o->connections == 0 || o->ramp <= 0) throw UsageError("--connections and --ramp must be positive");
      run(*o);
    });
  }

  // The worker processes the parent starts: hidden from --help.
  auto* worker = app.add_subcommand(bench::kWorkerCommand, "")->group("");
  auto w = std::make_shared<bench::WorkerArgs>();
  worker->add_option("--index", w->index);
  worker->add_option("--base", w->base);
  worker->add_option("--count", w->count)->required();
  worker->add_option("--sources", w->sources);
  worker->add_option("--server", w->server)->required();
  worker->add_option("--protocol", w->protocol);
  worker->add_option("--transport", w->transport);
  worker->add_option("--interval-ms", w->interval_ms);
  worker->add_option("--timeout-ms", w->timeout_ms);
  worker->add_option("--connect-timeout-ms", w->connect_timeout_ms);
  worker->add_option("--rate", w->rate);
  worker->add_flag("--reconnect", w->reconnect);
  worker->add_flag("--tls", w->tls);
  worker->add_option("--tls-ca", w->tls_ca);
  worker->add_flag("!--no-resume", w->tls_resume);
  worker->callback([w] { bench::run_worker(*w); });
}

}  // namespace lifeline::app
