#pragma once
// lifeline-bench worker: one process, one thread, up to 18,000 raw Asio
// connections. Deliberately not lifeline::Client (a strand, timers and a
// backoff generator per connection): here a connection is a socket, a 64-byte
// read buffer and a few integers, and one timer drives every send, so the
// generator costs far less CPU than the server it measures.
//
// Counters go to stdout as JSON lines; commands come on stdin (one per line):
//   snap               -> a "snap" line with the counters and the RTT histogram (then reset)
//   silent K SPREAD_MS -> K connections stop sending, staggered over SPREAD_MS, without closing
//   interval MS        -> new heartbeat interval (saturate)
//   stop               -> a "final" line, then exit
// EOF on stdin (the parent died) also ends the worker.
//
// Internal to the worker, whose code is in three files: bench_worker.cpp
// (connecting, TLS, the WebSocket upgrade, closing, sending),
// bench_worker_io.cpp (reading and the one timer) and bench_worker_report.cpp
// (stdin commands, the JSON lines, run_worker).

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench.hpp"
#include "bench_tls.hpp"
#include "lifeline/frame_decoder.hpp"

namespace lifeline::app::bench::worker {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

enum class State : std::uint8_t { idle, connecting, tls, upgrading, handshaking, online, closed };

// --transport ws: the upgrade every connection sends (RFC 6455's sample key),
// and its frames' parts. Client frames carry the mask bit with a zero key:
// legal, and the server unmasks exactly as it would a random one.
inline constexpr std::string_view kUpgrade =
    "GET /lifeline HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

struct Conn {
  explicit Conn(asio::io_context& io) : sock(io) {}
  tcp::socket sock;
  SslPtr ssl;             // --tls: this connection's TLS, null before the TCP connect and after close
  SslSessionPtr session;  // --tls: the last session the server gave, offered on the next connection
  proto::FrameDecoder dec;
  mqtt::Decoder mdec;
  std::array<std::uint8_t, 64> buf{};
  std::string hello;                       // ws: HELLO, sent once the 101 has come
  std::string response;                    // ws: the 101 response, until it is whole
  std::array<std::uint8_t, 10> ws_head{};  // ws: a server frame header being read
  std::uint8_t ws_head_n = 0;
  std::uint32_t ws_left = 0;        // ws: payload bytes of the current server frame
  std::int64_t phase_start_us = 0;  // start of the current connect + handshake
  std::int64_t last_send_us = 0;    // last byte written: the server's "last seen"
  std::int64_t ping_sent_us = 0;    // MQTT: PINGRESP carries no timestamp
  std::uint32_t gen = 0;            // bumped on close: stale completions are ignored
  std::uint32_t index = 0;
  State state = State::idle;
  std::uint8_t attempts = 0;  // failed attempts since the last online (backoff window)
  std::uint8_t ep = 0;        // which of the worker's servers it connects to
  bool silent = false;
  bool ping_pending = false;
  bool was_online = false;
};

class Worker {
 public:
  explicit Worker(const WorkerArgs& a);
  int run();

 private:
  static std::int64_t tick_for(unsigned interval_ms) {
    // About 100 slots per interval, 1..10 ms each: sends are spread evenly.
    return std::clamp<std::int64_t>(std::int64_t{interval_ms} * 10, 1000, 10000);
  }
  std::int64_t slots() const { return std::max<std::int64_t>(1, std::int64_t{a_.interval_ms} * 1000 / tick_); }

  // ---- connecting (bench_worker.cpp) ---------------------------------------
  void connect(Conn& c);
  void tls_handshake(Conn& c);
  void on_connected(Conn& c);
  void on_upgrade(Conn& c, std::size_t n);
  void on_ws(Conn& c, const std::uint8_t* p, std::size_t n);
  void fail(Conn& c);
  void retry_later(Conn& c);
  void close(Conn& c);
  void server_closed(Conn& c, const char* how);
  void online(Conn& c);
  bool send(Conn& c, const void* p, std::size_t n, bool frame = true);

  // ---- reading (bench_worker_io.cpp) ---------------------------------------
  void read(Conn& c);
  void read_tls(Conn& c);
  void on_bytes(Conn& c, std::size_t n);
  void on_lifeline(Conn& c, const std::uint8_t* data, std::size_t n);
  void on_mqtt(Conn& c, std::size_t n);

  // ---- the one timer (bench_worker_io.cpp) ---------------------------------
  void schedule();
  void on_tick();
  void heartbeat_slot(std::size_t slot);
  void sweep(std::int64_t now);

  // ---- commands and reports (bench_worker_report.cpp) ----------------------
  void read_command();
  void finish();
  boost::json::object counters(const char* type) const;
  static void emit(const boost::json::object& o);

  struct Stats {
    std::uint64_t attempts = 0, established = 0, failed = 0, sent = 0, answered = 0, server_closed = 0, send_errors = 0,
                  tls_handshakes = 0, tls_resumed = 0;
    std::int64_t online = 0;
  };

  WorkerArgs a_;
  Protocol proto_;
  bool ws_;                                // --transport ws
  std::unique_ptr<TlsClientContext> tls_;  // --tls
  std::int64_t tick_;
  asio::io_context io_{1};
  asio::steady_timer timer_;
  asio::posix::stream_descriptor in_;
  asio::streambuf cmd_buf_;
  std::vector<tcp::endpoint> servers_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::mt19937_64 rng_;
  Stats stat_;
  Histogram hist_;
  std::int64_t start_us_ = 0, next_slot_us_ = 0, last_sweep_us_ = 0, last_online_us_ = 0;
  std::uint64_t slot_seq_ = 0;
  std::size_t started_ = 0;
  bool stopping_ = false;
  using Due = std::pair<std::int64_t, std::uint32_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> retries_;
  std::vector<Due> silence_;
  std::map<std::int64_t, std::uint32_t> reconnected_;  // 100 ms bucket (monotonic) -> reconnections
};

}  // namespace lifeline::app::bench::worker
