#pragma once
// lifeline-bench: a load generator, a developer tool of its own beside the
// lifeline program (bench_main.cpp; docs/architecture.md, "Decisions"). The
// parent (bench.cpp) forks worker processes (bench_worker.cpp) that each hold up to 18,000 raw connections and
// report counters as JSON lines on their stdout; the parent reads the server's
// CPU and RSS from /proc and prints the result (bench_report.cpp).
// Workers speak the lifeline protocol or minimal MQTT 3.1.1 (bench_mqtt.cpp).

#include <CLI/CLI.hpp>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::app::bench {

enum class Protocol { lifeline, mqtt };

/// Microseconds on CLOCK_MONOTONIC: comparable between the parent and its
/// workers (same machine), so event times need no translation.
inline std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What the parent tells one worker on its command line.
struct WorkerArgs {
  unsigned index = 0;    // worker number, used in client ids "b<index>-<i>"
  unsigned base = 0;     // global number of this worker's first connection (picks the source address)
  unsigned count = 0;    // connections owned by this worker
  unsigned sources = 1;  // connection g binds to 127.0.0.(1 + g % sources)
  std::string server;    // HOST:PORT[,HOST:PORT...]: a connection moves to another after each failure
  std::string protocol = "lifeline";
  std::string transport = "tcp";  // lifeline only: tcp, or ws (RFC 6455 binary messages, masked)
  unsigned interval_ms = 1000;
  unsigned timeout_ms = 3000;
  unsigned connect_timeout_ms = 5000;
  double rate = 1000;      // new connections per second, this worker's share of --ramp
  bool reconnect = false;  // storm: reconnect with full-jitter backoff instead of counting a failure
  bool tls = false;        // TLS under the protocol (and under WebSocket)
  std::string tls_ca;      // verify the server against this CA ("" = no verification)
  bool tls_resume = true;  // offer each connection's last session on its next one
};
int run_worker(const WorkerArgs& a);
/// The hidden subcommand the parent re-executes its own binary (/proc/self/exe) with.
inline constexpr const char* kWorkerCommand = "worker";

/// RTT histogram with log-linear buckets: exact below 64 µs, then 32 buckets per
/// power of two (<= 3 % error), so workers ship a few hundred numbers and the
/// parent merges them into exact-enough percentiles.
class Histogram {
 public:
  static constexpr std::size_t kBuckets = 64 + 40 * 32;
  void add(std::uint64_t us);
  void merge(const Histogram& o);
  void clear() { *this = Histogram{}; }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  /// Smallest bucket value with at least q of the samples at or below it (q in 0..1).
  std::uint64_t percentile(double q) const;
  /// Sparse [[bucket, count], ...] and back.
  boost::json::object to_json() const;
  static Histogram from_json(const boost::json::value& v);

 private:
  static std::size_t bucket(std::uint64_t us);
  static std::uint64_t value(std::size_t bucket);
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

/// Minimal MQTT 3.1.1 client framing: only what a heartbeat needs.
namespace mqtt {
/// mosquitto drops a client after 1.5 x keepalive of silence; the keepalive that
/// gives the same bound as a lifeline timeout is ceil(timeout / 1.5 s), >= 1 s.
std::uint16_t keepalive_for(unsigned timeout_ms);
void encode_connect(std::string_view client_id, std::uint16_t keepalive_s, std::string& out);
inline constexpr std::array<std::uint8_t, 2> kPingreq{0xC0, 0x00};

/// Incremental decoder of server packets; hands out the packet type and the
/// first payload bytes (enough for CONNACK's return code), skips the rest.
class Decoder {
 public:
  struct Packet {
    std::uint8_t type;  // high nibble of the fixed header: 2 CONNACK, 13 PINGRESP
    std::uint8_t head[2];
    std::uint32_t length;
  };
  /// Calls on_packet(const Packet&) per complete packet; false = malformed stream.
  template <class F>
  bool feed(const std::uint8_t* p, std::size_t n, F&& on_packet);

 private:
  enum class St : std::uint8_t { type, length, body };
  St st_ = St::type;
  std::uint8_t shift_ = 0;
  std::uint32_t got_ = 0;
  Packet cur_{};
};

template <class F>
bool Decoder::feed(const std::uint8_t* p, std::size_t n, F&& on_packet) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = p[i];
    switch (st_) {
      case St::type:
        cur_ = Packet{static_cast<std::uint8_t>(b >> 4), {0, 0}, 0};
        shift_ = 0;
        st_ = St::length;
        break;
      case St::length:
        cur_.length |= static_cast<std::uint32_t>(b & 0x7F) << shift_;
        shift_ += 7;
        if (b & 0x80) {
          if (shift_ > 21) return false;  // remaining length has at most 4 bytes
          break;
        }
        got_ = 0;
        st_ = St::body;
        if (cur_.length == 0) {
          st_ = St::type;
          on_packet(cur_);
        }
        break;
      case St::body:
        if (got_ < 2) cur_.head[got_] = b;
        if (++got_ == cur_.length) {
          st_ = St::type;
          on_packet(cur_);
        }
        break;
    }
  }
  return true;
}
}  // namespace mqtt

/// CPU (seconds) and RSS of a process from /proc/<pid>/stat and status.
struct ProcSample {
  bool ok = false;
  double user_s = 0;
  double sys_s = 0;
  long rss_kb = 0;
};
ProcSample read_proc(int pid);

/// `v` with `decimals` digits after the point ("%.*f").
std::string fmt(double v, int decimals);
/// An integer counter of a worker's JSON line; 0 when absent.
std::int64_t num(const boost::json::object& o, const char* key);

/// One printed result: ordered (label, value) rows for the table, and the same
/// values as a JSON object.
struct Report {
  std::string title;
  std::vector<std::pair<std::string, std::string>> rows;
  boost::json::object json;
  void add(const std::string& key, const std::string& label, const boost::json::value& v, const std::string& text);
  void add(const std::string& key, const std::string& label, double v, int decimals, const std::string& unit = "");
  void print(bool as_json) const;
};

/// Options of `lifeline-bench SCENARIO`.
struct Options {
  std::string scenario;
  std::string server = "127.0.0.1:7000";
  int server_pid = 0;
  std::string server_cmd;  // shell command line that (re)starts the server (storm, saturate)
  unsigned connections = 1000;
  std::string interval = "1s";
  std::string timeout = "3s";
  std::string connect_timeout = "5s";
  double ramp = 5000;  // connections per second
  std::string window = "20s";
  unsigned workers = 0;  // 0 = one per 18,000 connections
  unsigned sources = 4;
  std::string protocol = "lifeline";
  std::string transport = "tcp";
  bool tls = false;
  std::string tls_ca;
  bool no_resume = false;
  std::string server_metrics;  // storm: HOST:PORT of the server's admin API, for its TLS handshake counts
  bool json = false;
  // detect
  unsigned silent = 100;
  std::string server_tick = "50ms";
  // storm
  std::string storm_limit = "60s";
  std::string restart_after = "2s";
  // saturate
  std::vector<unsigned> threads{1, 2};
  std::string step = "5s";
  // cluster
  std::string node_pids;  // the nodes' processes, in the order of --server's addresses
  std::string redis;      // HOST:PORT of the cluster's Redis
  int redis_pid = 0;
  unsigned probes = 200;  // online events timed from one node to another
  bool kill = false;      // kill the last node under load
  /// Per worker, its --server (empty: every worker gets --server): set by scenarios.
  std::vector<std::string> worker_servers;
};

/// The parent's view of its worker processes.
class Fleet {
 public:
  struct Worker {
    int pid = -1;
    int to = -1;    // its stdin
    int from = -1;  // its stdout
    std::string pending;
    boost::json::object stat;  // latest "stat" line
    std::optional<boost::json::object> snap, final;
    bool exited = false;
  };
  /// Starts the workers for o.connections with o's --interval, --timeout and
  /// --connect-timeout; `reconnect`: retry with backoff (storm).
  Fleet(const Options& o, bool reconnect);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  /// Reads worker lines until `deadline_us` (or until `done()` is true), at most 100 ms per poll.
  template <class Done>
  void pump_until(std::int64_t deadline_us, Done&& done) {
    while (!done() && now_us() < deadline_us && !all_exited())
      pump_once(std::min<std::int64_t>(deadline_us - now_us(), 100'000));
  }
  void pump_for(std::int64_t us) {
    pump_until(now_us() + us, [] { return false; });
  }
  void send_all(const std::string& line);
  void send(std::size_t worker, const std::string& line);
  /// Sum of one counter over the latest stat lines.
  std::uint64_t sum(const char* key) const;
  /// Asks every worker for a snapshot; returns the summed counters and the merged histogram.
  boost::json::object snap(Histogram& hist);
  /// Stops every worker (bounded wait, then SIGKILL); fills final lines.
  void stop();
  const std::vector<Worker>& workers() const { return workers_; }
  std::vector<boost::json::object> detects;  // "detect" lines in arrival order
  unsigned connections() const { return total_; }

 private:
  void pump_once(std::int64_t timeout_us);
  bool all_exited() const;
  std::vector<Worker> workers_;
  unsigned total_ = 0;
};

/// Shows a progress line on stderr: a bar if it is a terminal, else a line every 5 s.
class Progress {
 public:
  void show(const std::string& what, std::uint64_t done, std::uint64_t total, const std::string& extra);
  void end();

 private:
  std::int64_t last_us_ = 0;
  bool drawn_ = false;
};

unsigned ms_arg(const std::string& option, const std::string& value);
/// Opens the fleet's connections at --ramp with a progress line; returns the seconds it took.
double ramp_up(Fleet& fleet, const Options& o);
void add_rtt(Report& r, const Histogram& h);
void run_capacity(const Options& o);
void run_detect(const Options& o);
void run_storm(const Options& o);
void run_saturate(const Options& o);
void run_cluster(const Options& o);
/// Runs `sh -c "exec CMD"` in the background; returns the pid (the server's own, thanks to exec).
int start_server(const std::string& cmd);
/// `server` (HOST:PORT, [V6]:PORT, or a name) as its first resolved address; throws UsageError naming it.
boost::asio::ip::tcp::endpoint resolve_server(const std::string& server);
/// Waits (up to 5 s) until `server` (HOST:PORT) accepts a TCP connection;
/// throws if the server process `pid` exits first or the time runs out.
void wait_listening(const std::string& server, int pid);
/// Sends `sig` to pid and waits (up to 5 s) until it is gone, then SIGKILLs it.
void kill_server(int pid, int sig);

}  // namespace lifeline::app::bench

namespace lifeline::app {
/// The scenarios (capacity, detect, storm, saturate) as subcommands of `app`,
/// and the hidden worker subcommand.
void register_bench(CLI::App& app);
}  // namespace lifeline::app
