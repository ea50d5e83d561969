// lifeline-bench storm: kill the server under N connections, restart it, and
// measure how the crowd comes back (workers reconnect with full jitter, base
// 500 ms, cap 5 s). lifeline-bench saturate: raise the heartbeat rate step by
// step until the server falls behind, once per server thread count.

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "bench.hpp"
#include "common.hpp"

namespace lifeline::app::bench {
namespace {

// True once every worker has reported after `since_us` and all N are online.
bool all_back(const Fleet& fleet, std::int64_t since_us) {
  for (const auto& w : fleet.workers()) {
    if (num(w.stat, "t_us") < since_us) return false;
  }
  return fleet.sum("online") >= fleet.connections();
}

// A TcpExt counter of this network namespace (/proc/net/netstat), or -1.
std::int64_t tcp_ext(const std::string& name) {
  std::ifstream in("/proc/net/netstat");
  std::string header;
  std::string values;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (header.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream h(header);
    std::istringstream v(values);
    std::string key;
    std::string value;
    while (h >> key && v >> value) {
      if (key == name) return std::stoll(value);
    }
  }
  return -1;
}

// The server's full and resumed TLS handshakes, from its admin API's
// /metrics (lifeline_tls_handshakes_total), or nullopt if it cannot be read.
// The admin API of a TLS server speaks HTTPS with the same certificate: the
// bench reads its own server's counters, so the certificate is not checked.
std::optional<std::pair<std::int64_t, std::int64_t>> tls_handshake_counts(const std::string& admin) {
  try {
    namespace asio = boost::asio;
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
    const auto colon = admin.rfind(':');
    asio::connect(stream.next_layer(),
                  asio::ip::tcp::resolver(io).resolve(admin.substr(0, colon), admin.substr(colon + 1)));
    stream.handshake(asio::ssl::stream_base::client);
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: " + admin + "\r\nConnection: close\r\n\r\n";
    asio::write(stream, asio::buffer(req));
    std::string body;
    boost::system::error_code ec;
    asio::read(stream, asio::dynamic_buffer(body), ec);  // Connection: close: until the server closes
    const auto count = [&](const std::string& kind) -> std::int64_t {
      const std::string key = "lifeline_tls_handshakes_total{kind=\"" + kind + "\"} ";
      const auto at = body.find(key);
      return at == std::string::npos ? -1 : std::stoll(body.substr(at + key.size()));
    };
    const auto full = count("full");
    const auto resumed = count("resumed");
    if (full < 0 || resumed < 0) return std::nullopt;
    return std::make_pair(full, resumed);
  } catch (const std::exception& e) {
    std::cerr << "storm: cannot read the server's metrics at " << admin << ": " << e.what() << std::endl;
    return std::nullopt;
  }
}

}  // namespace

void run_storm(const Options& o) {
  if (o.server_cmd.empty()) throw UsageError("storm needs --server-cmd to restart the server it kills");
  const unsigned iv = ms_arg("--interval", o.interval);
  int pid = o.server_pid;
  if (pid == 0) {
    pid = start_server(o.server_cmd);
    wait_listening(o.server, pid);
  }
  Fleet fleet(o, true);
  ramp_up(fleet, o);
  fleet.pump_for(std::int64_t{iv} * 1000);
  Histogram ignore;
  const auto s0 = fleet.snap(ignore);

  const std::int64_t overflows0 = tcp_ext("ListenOverflows");
  const std::int64_t drops0 = tcp_ext("ListenDrops");
  const std::int64_t t_kill = now_us();
  kill_server(pid, SIGKILL);
  // The clients notice at once (EOF) and retry against a closed port until the restart.
  fleet.pump_for(std::int64_t{ms_arg("--restart-after", o.restart_after)} * 1000);
  const std::int64_t t_start = now_us();
  pid = start_server(o.server_cmd);
  const ProcSample p0 = read_proc(pid);  // just started: what it cost before the first connection
  const std::int64_t limit_us = std::int64_t{ms_arg("--storm-limit", o.storm_limit)} * 1000;
  Progress bar;
  // Reports older than the restart still count the dead connections as online:
  // wait for fresh ones (workers report every 250 ms).
  fleet.pump_until(t_start + limit_us, [&] {
    bar.show("storm", fleet.sum("online"), fleet.connections(),
             "online, failed attempts " +
                 std::to_string(fleet.sum("failed") - static_cast<std::uint64_t>(num(s0, "failed"))));
    return all_back(fleet, t_start + 300'000);
  });
  bar.end();
  const bool back = all_back(fleet, t_start + 300'000);
  std::int64_t t_all = 0;
  for (const auto& w : fleet.workers()) t_all = std::max(t_all, num(w.stat, "last_online_us"));
  const auto s1 = fleet.snap(ignore);
  const ProcSample p1 = read_proc(pid);
  const auto server_tls = o.server_metrics.empty() ? std::nullopt : tls_handshake_counts(o.server_metrics);
  const std::int64_t overflows = tcp_ext("ListenOverflows") - overflows0;
  const std::int64_t drops = tcp_ext("ListenDrops") - drops0;
  fleet.stop();
  kill_server(pid, SIGTERM);

  // Merge the workers' reconnections per 100 ms bucket, relative to the restart.
  std::map<std::int64_t, std::int64_t> buckets;
  std::int64_t reconnects = 0;
  for (const auto& w : fleet.workers()) {
    if (!w.final) continue;
    for (const auto& b : w.final->at("reconnected_100ms").as_array()) {
      const auto at = b.as_array().at(0).to_number<std::int64_t>() * 100'000 - t_start;
      buckets[at / 100'000] += b.as_array().at(1).to_number<std::int64_t>();
      reconnects += b.as_array().at(1).to_number<std::int64_t>();
    }
  }
  boost::json::array series;
  std::int64_t peak = 0;
  std::string per_second;
  std::map<std::int64_t, std::int64_t> seconds;
  for (const auto& [b, n] : buckets) {
    series.push_back(boost::json::array{b * 100, n});
    peak = std::max(peak, n);
    seconds[b >= 0 ? b / 10 : -1] += n;
  }
  for (const auto& [s, n] : seconds) per_second += (per_second.empty() ? "" : " ") + std::to_string(n);

  Report r;
  r.title = "lifeline-bench storm: " + o.protocol + (o.tls ? " over TLS " : " ") + o.server + ", " +
            std::to_string(o.connections) + " connections, server SIGKILLed and restarted";
  r.json["scenario"] = "storm";
  r.json["protocol"] = o.protocol;
  r.json["tls"] = o.tls;
  r.add("all_back", "all back online", boost::json::value(back), back ? "yes" : "NO (gave up after --storm-limit)");
  r.add("back_after_restart_ms", "all online, after the restart", static_cast<double>(t_all - t_start) / 1000, 0, "ms");
  r.add("back_after_kill_ms", "all online, after the kill", static_cast<double>(t_all - t_kill) / 1000, 0, "ms");
  r.add("restart_ms", "kill to restart", static_cast<double>(t_start - t_kill) / 1000, 0, "ms");
  r.add("reconnects", "reconnections", boost::json::value(reconnects), std::to_string(reconnects));
  r.add("failed_attempts", "failed attempts", boost::json::value(num(s1, "failed") - num(s0, "failed")),
        std::to_string(num(s1, "failed") - num(s0, "failed")));
  r.add("peak_per_100ms", "peak reconnections per 100 ms", boost::json::value(peak),
        std::to_string(peak) + " (" + std::to_string(reconnects == 0 ? 0 : peak * 100 / reconnects) + " % of all)");
  r.add("listen_overflows", "listen queue overflows (TcpExtListenOverflows)", boost::json::value(overflows),
        std::to_string(overflows));
  r.add("listen_drops", "listen drops (TcpExtListenDrops)", boost::json::value(drops), std::to_string(drops));
  r.add("reconnects_per_s", "reconnections per second after restart", boost::json::value(per_second), per_second);
  if (p0.ok && p1.ok && reconnects > 0) {
    // Everything the restarted server did until all were back, per client:
    // accept, TLS handshake, HELLO, and the first heartbeats.
    r.add("server_cpu_us_per_reconnect", "server CPU per reconnection (restart until all back)",
          (p1.user_s + p1.sys_s - p0.user_s - p0.sys_s) * 1e6 / static_cast<double>(reconnects), 0, "us");
  }
  if (o.tls) {
    const auto hs = num(s1, "tls_handshakes") - num(s0, "tls_handshakes");
    const auto resumed = num(s1, "tls_resumed") - num(s0, "tls_resumed");
    r.add("tls_resumed_clients", "TLS handshakes resumed, clients' count", boost::json::value(resumed),
          std::to_string(resumed) + " of " + std::to_string(hs) + " (" +
              fmt(hs > 0 ? static_cast<double>(resumed) * 100 / static_cast<double>(hs) : 0, 1) + " %)");
    r.json["tls_handshakes_clients"] = hs;
    if (server_tls) {
      const auto [full, res] = *server_tls;
      r.add("tls_resumed_server", "TLS handshakes resumed, server's count", boost::json::value(res),
            std::to_string(res) + " of " + std::to_string(full + res) + " (" +
                fmt(full + res > 0 ? static_cast<double>(res) * 100 / static_cast<double>(full + res) : 0, 1) + " %)");
      r.json["tls_handshakes_server"] = full + res;
    }
  }
  r.json["reconnects_per_100ms"] = series;  // [ms after restart, count]
  r.print(o.json);
}

void run_saturate(const Options& o) {
  if (o.server_cmd.empty()) throw UsageError("saturate needs --server-cmd (with {threads} for the thread count)");
  const unsigned iv = ms_arg("--interval", o.interval);
  const std::int64_t step_us = std::int64_t{ms_arg("--step", o.step)} * 1000;
  // lifeline allows max(20, 4000 / interval_ms) PINGs/s per connection (flood
  // limit): stay under 20/s. mosquitto has no such limit; 10 ms is our floor.
  const unsigned floor_ms = o.protocol == "lifeline" ? 55 : 10;
  const auto thread_counts = o.protocol == "mqtt" ? std::vector<unsigned>{1} : o.threads;
  Report r;
  r.title = "lifeline-bench saturate: " + o.protocol + ", " + std::to_string(o.connections) +
            " connections, steps of " + o.step + " (sustained = answered/sent >= 0.99 and RTT p99 <= 100 ms)";
  r.json["scenario"] = "saturate";
  r.json["protocol"] = o.protocol;
  boost::json::array runs;
  for (const unsigned threads : thread_counts) {
    std::string cmd = o.server_cmd;
    if (const auto at = cmd.find("{threads}"); at != std::string::npos) cmd.replace(at, 9, std::to_string(threads));
    const int pid = start_server(cmd);
    wait_listening(o.server, pid);
    Fleet fleet(o, false);
    ramp_up(fleet, o);
    fleet.pump_for(std::int64_t{iv} * 1000);
    double best = 0;
    bool capped = true;  // stays true if the generator ran out of steps before the server fell behind
    boost::json::array steps;
    unsigned interval_ms = iv;
    for (int step = 0; step < 12 && interval_ms >= floor_ms; ++step) {
      fleet.send_all("interval " + std::to_string(interval_ms) + "\n");
      fleet.pump_for(std::max<std::int64_t>(std::int64_t{interval_ms} * 2000, 500'000));  // settle at the new rate
      Histogram ignore;
      Histogram hist;
      const auto s0 = fleet.snap(ignore);
      const ProcSample p0 = read_proc(pid);
      const std::int64_t t0 = now_us();
      fleet.pump_for(step_us);
      const auto s1 = fleet.snap(hist);
      const ProcSample p1 = read_proc(pid);
      const double secs = static_cast<double>(now_us() - t0) / 1e6;
      const double sent = static_cast<double>(num(s1, "sent") - num(s0, "sent")) / secs;
      const double answered = static_cast<double>(num(s1, "answered") - num(s0, "answered")) / secs;
      const double cpu = (p1.user_s + p1.sys_s - p0.user_s - p0.sys_s) / secs * 100;
      const auto p99 = hist.percentile(0.99);
      const bool ok = sent > 0 && answered / sent >= 0.99 && p99 <= 100'000 && num(s1, "online") == o.connections;
      std::cerr << "saturate threads=" << threads << " interval=" << interval_ms
                << "ms sent=" << static_cast<long>(sent) << "/s answered=" << static_cast<long>(answered)
                << "/s p99=" << p99 << "us server_cpu=" << static_cast<int>(cpu) << "% " << (ok ? "ok" : "FALLS BEHIND")
                << std::endl;
      steps.push_back({{"interval_ms", interval_ms},
                       {"sent_per_s", sent},
                       {"answered_per_s", answered},
                       {"rtt_p99_us", p99},
                       {"server_cpu_pct", cpu},
                       {"sustained", ok}});
      if (!ok) {
        capped = false;
        break;
      }
      best = answered;
      interval_ms = interval_ms * 2 / 3;  // +50 % rate per step
    }
    fleet.stop();
    kill_server(pid, SIGTERM);
    r.add("max_rate_threads_" + std::to_string(threads),
          "highest sustained rate, " + std::to_string(threads) + " thread(s)", best, 0,
          capped ? "heartbeats/s or more (generator limit reached: raise --connections)" : "heartbeats/s");
    runs.push_back({{"threads", threads}, {"max_rate", best}, {"generator_limited", capped}, {"steps", steps}});
  }
  r.json["runs"] = runs;
  r.print(o.json);
}

}  // namespace lifeline::app::bench
