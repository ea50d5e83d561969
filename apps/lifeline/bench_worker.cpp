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

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <sstream>

#include "bench.hpp"
#include "bench_tls.hpp"
#include "bytes.hpp"
#include "common.hpp"
#include "lifeline/frame_decoder.hpp"

namespace lifeline::app::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

enum class State : std::uint8_t { idle, connecting, tls, upgrading, handshaking, online, closed };

// --transport ws: the upgrade every connection sends (RFC 6455's sample key),
// and its frames' parts. Client frames carry the mask bit with a zero key:
// legal, and the server unmasks exactly as it would a random one.
constexpr std::string_view kUpgrade =
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
  explicit Worker(const WorkerArgs& a)
      : a_(a),
        proto_(a.protocol == "mqtt" ? Protocol::mqtt : Protocol::lifeline),
        ws_(a.transport == "ws"),
        tls_(a.tls ? std::make_unique<TlsClientContext>(a.tls_ca, a.tls_resume) : nullptr),
        tick_(tick_for(a.interval_ms)),
        timer_(io_),
        in_(io_, ::dup(0)),
        rng_(std::random_device{}()) {
    for (const auto& s : split_list({a.server})) {
      servers_.push_back(resolve_server(s));
    }
    for (unsigned i = 0; i < a.count; ++i) {
      conns_.push_back(std::make_unique<Conn>(io_));
      conns_.back()->index = i;
    }
  }

  int run() {
    start_us_ = now_us();
    next_slot_us_ = start_us_ + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(tick_));
    read_command();
    schedule();
    io_.run();
    return 0;
  }

 private:
  static std::int64_t tick_for(unsigned interval_ms) {
    // About 100 slots per interval, 1..10 ms each: sends are spread evenly.
    return std::clamp<std::int64_t>(std::int64_t{interval_ms} * 10, 1000, 10000);
  }
  std::int64_t slots() const { return std::max<std::int64_t>(1, std::int64_t{a_.interval_ms} * 1000 / tick_); }

  // ---- connecting ---------------------------------------------------------
  void connect(Conn& c) {
    error_code ec;
    c.sock.open(tcp::v4(), ec);
    if (!ec) {
      // Pick the port at connect(), from the full 4-tuple: bind() alone would
      // reserve one port per connection across all destinations.
      const int one = 1;
      ::setsockopt(c.sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      const unsigned g = a_.base + c.index;
      const asio::ip::address_v4 src(0x7F000001U + g % a_.sources);
      c.sock.bind(tcp::endpoint(src, 0), ec);
    }
    ++stat_.attempts;
    c.state = State::connecting;
    c.phase_start_us = now_us();
    c.dec = proto::FrameDecoder{};
    c.mdec = mqtt::Decoder{};
    c.hello.clear();
    c.response.clear();
    c.ws_head_n = 0;
    c.ws_left = 0;
    if (ec) {
      fail(c);
      return;
    }
    c.sock.async_connect(servers_[c.ep], [this, &c, gen = c.gen](error_code e) {
      if (gen != c.gen) return;
      if (e) {
        fail(c);
        return;
      }
      error_code ignore;
      c.sock.non_blocking(true, ignore);
      c.sock.set_option(tcp::no_delay(true), ignore);
      if (tls_) {
        c.ssl = tls_->make(c.sock.native_handle(), &c.session);
        if (!c.ssl) {
          fail(c);
          return;
        }
        c.state = State::tls;
        tls_handshake(c);
        return;
      }
      on_connected(c);
    });
  }

  // --tls: drives the handshake on socket readiness; then as over TCP.
  void tls_handshake(Conn& c) {
    const int r = SSL_do_handshake(c.ssl.get());
    const auto want = r == 1 ? TlsWant::done : tls_want(c.ssl.get(), r);
    if (want == TlsWant::read || want == TlsWant::write) {
      c.sock.async_wait(want == TlsWant::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                        [this, &c, gen = c.gen](error_code ec) {
                          if (gen != c.gen) return;
                          if (ec) {
                            fail(c);
                            return;
                          }
                          tls_handshake(c);
                        });
      return;
    }
    if (want != TlsWant::done) {
      fail(c);
      return;
    }
    ++stat_.tls_handshakes;
    stat_.tls_resumed += SSL_session_reused(c.ssl.get()) == 1 ? 1 : 0;
    on_connected(c);
  }

  // TCP (and TLS) up: the upgrade request or HELLO/CONNECT, then reading.
  void on_connected(Conn& c) {
    {
      std::string hello;
      const std::string id = "b" + std::to_string(a_.index) + "-" + std::to_string(c.index);
      if (proto_ == Protocol::lifeline) {
        proto::Hello h;
        h.interval = std::chrono::milliseconds(a_.interval_ms);
        h.timeout = std::chrono::milliseconds(a_.timeout_ms);
        h.id = id;
        proto::encode(h, hello);
      } else {
        mqtt::encode_connect(id, mqtt::keepalive_for(a_.timeout_ms), hello);
      }
      if (ws_) {
        c.hello = std::move(hello);  // HELLO waits for the 101
        c.state = State::upgrading;
        if (send(c, kUpgrade.data(), kUpgrade.size(), false)) read(c);
        return;
      }
      c.state = State::handshaking;
      if (send(c, hello.data(), hello.size())) read(c);
    }
  }

  // ws: reads the 101, then sends HELLO and hands on what follows the response.
  void on_upgrade(Conn& c, std::size_t n) {
    c.response.append(reinterpret_cast<const char*>(c.buf.data()), n);
    const auto end = c.response.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.response.size() > 4096) server_closed(c, "upgrade-refused");
      return;
    }
    if (!c.response.starts_with("HTTP/1.1 101")) {
      server_closed(c, "upgrade-refused");
      return;
    }
    const std::string rest = c.response.substr(end + 4);
    std::string().swap(c.response);
    c.state = State::handshaking;
    const std::string hello = std::move(c.hello);
    std::string().swap(c.hello);
    if (!send(c, hello.data(), hello.size())) return;
    if (!rest.empty()) on_ws(c, reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size());
  }

  // ws: unwraps server frames (unmasked binary messages) into lifeline bytes.
  void on_ws(Conn& c, const std::uint8_t* p, std::size_t n) {
    while (n > 0 && c.state != State::closed) {
      if (c.ws_left == 0 && c.ws_head_n < 2) {
        c.ws_head[c.ws_head_n++] = *p++;
        --n;
        continue;
      }
      if (c.ws_left == 0) {
        const auto len7 = c.ws_head[1] & 0x7FU;
        const std::size_t need = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
        while (c.ws_head_n < need && n > 0) {
          c.ws_head[c.ws_head_n++] = *p++;
          --n;
        }
        if (c.ws_head_n < need) return;
        std::uint64_t len = len7;
        if (len7 == 126) len = (std::uint64_t{c.ws_head[2]} << 8U) | c.ws_head[3];
        if (len7 == 127) {
          len = 0;
          for (int i = 2; i < 10; ++i) len = (len << 8U) | c.ws_head[i];
        }
        if ((c.ws_head[0] & 0x0FU) == 0x8) {  // close frame: the server ended it
          server_closed(c, "ws-close");
          return;
        }
        c.ws_head_n = 0;
        c.ws_left = static_cast<std::uint32_t>(len);
        if (len == 0) continue;
      }
      const auto take = std::min<std::size_t>(n, c.ws_left);
      on_lifeline(c, p, take);
      p += take;
      n -= take;
      c.ws_left -= static_cast<std::uint32_t>(take);
    }
  }

  // A failed attempt: final in capacity mode, retried with backoff in storm mode.
  void fail(Conn& c) {
    ++stat_.failed;
    close(c);
    if (a_.reconnect) retry_later(c);
  }

  void retry_later(Conn& c) {
    // Several servers (a cluster): the next attempt goes to another one, at
    // random, so a dead node's connections spread over the survivors.
    if (servers_.size() > 1) {
      c.ep = static_cast<std::uint8_t>((c.ep + 1 + rng_() % (servers_.size() - 1)) % servers_.size());
    }
    // Full jitter: uniform in [0, min(cap 5 s, 500 ms * 2^attempts)].
    const std::int64_t window = std::min<std::int64_t>(5'000'000, 500'000LL << std::min<int>(c.attempts, 4));
    c.attempts = static_cast<std::uint8_t>(std::min(c.attempts + 1, 30));
    retries_.push({now_us() + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(window + 1)), c.index});
  }

  void close(Conn& c) {
    if (c.state == State::online) --stat_.online;
    ++c.gen;
    c.ssl.reset();  // no close_notify: the storm's clients vanish, and the server must cope
    error_code ignore;
    c.sock.close(ignore);
    c.state = State::closed;
    c.ping_pending = false;
  }

  // The server ended a connection (EOF, RST, BYE or ERROR).
  void server_closed(Conn& c, const char* how) {
    const bool was_online = c.state == State::online;
    if (c.silent) {
      emit({{"type", "detect"}, {"delay_us", now_us() - c.last_send_us}, {"how", how}});
    } else if (was_online && !stopping_) {
      ++stat_.server_closed;  // a live, heartbeating connection declared dead: false offline
      if (stat_.server_closed <= 3 && !a_.reconnect)
        std::cerr << "worker " << a_.index << ": server closed a live connection (" << how << ")\n";
    } else if (!was_online) {
      ++stat_.failed;
    }
    close(c);
    if (a_.reconnect && !c.silent) retry_later(c);
  }

  void online(Conn& c) {
    c.state = State::online;
    ++stat_.online;
    ++stat_.established;
    last_online_us_ = now_us();
    if (c.was_online) ++reconnected_[last_online_us_ / 100'000];
    c.was_online = true;
    c.attempts = 0;
  }

  // ---- I/O ----------------------------------------------------------------
  // Non-blocking send straight from the caller: a heartbeat is 2 or 13 bytes
  // into an almost empty socket buffer, so no async operation is needed.
  bool send(Conn& c, const void* p, std::size_t n, bool frame = true) {
    std::array<std::uint8_t, 256> ws{};
    if (ws_ && frame) {
      // One binary message, masked with a zero key: header and payload in one send.
      std::size_t h = 0;
      ws[h++] = 0x82;
      if (n < 126) {
        ws[h++] = static_cast<std::uint8_t>(0x80U | n);
      } else {
        ws[h++] = 0x80U | 126U;
        ws[h++] = static_cast<std::uint8_t>(n >> 8U);
        ws[h++] = static_cast<std::uint8_t>(n & 0xFFU);
      }
      h += 4;  // the zero masking key
      if (h + n > ws.size()) {
        fail(c);
        return false;
      }
      std::memcpy(ws.data() + h, p, n);
      p = ws.data();
      n += h;
    }
    error_code ec;
    const std::size_t w = c.ssl ? static_cast<std::size_t>(std::max(0, SSL_write(c.ssl.get(), p, static_cast<int>(n))))
                                : c.sock.send(asio::buffer(p, n), 0, ec);
    if (ec || w != n) {
      ++stat_.send_errors;  // a short write would break framing: drop the connection
      fail(c);
      return false;
    }
    c.last_send_us = now_us();
    return true;
  }

  void read(Conn& c) {
    if (c.ssl) {
      read_tls(c);
      return;
    }
    c.sock.async_read_some(asio::buffer(c.buf), [this, &c, gen = c.gen](error_code ec, std::size_t n) {
      if (gen != c.gen) return;
      if (ec) {
        server_closed(c, ec == asio::error::eof ? "eof" : "reset");
        return;
      }
      const auto g = c.gen;
      on_bytes(c, n);
      if (g == c.gen) read(c);
    });
  }

  // --tls: on readiness, decrypts until OpenSSL wants more from the socket
  // (records it has buffered would raise no further readiness).
  void read_tls(Conn& c) {
    c.sock.async_wait(tcp::socket::wait_read, [this, &c, gen = c.gen](error_code ec) {
      if (gen != c.gen) return;
      if (ec) {
        server_closed(c, "reset");
        return;
      }
      for (;;) {
        const int n = SSL_read(c.ssl.get(), c.buf.data(), static_cast<int>(c.buf.size()));
        if (n <= 0) {
          const auto want = tls_want(c.ssl.get(), n);
          if (want == TlsWant::read || want == TlsWant::write) break;
          server_closed(c, want == TlsWant::closed ? "eof" : "reset");
          return;
        }
        on_bytes(c, static_cast<std::size_t>(n));
        if (gen != c.gen) return;
      }
      read_tls(c);
    });
  }

  void on_bytes(Conn& c, std::size_t n) {
    if (c.state == State::upgrading) {
      on_upgrade(c, n);
    } else if (ws_) {
      on_ws(c, c.buf.data(), n);
    } else if (proto_ == Protocol::lifeline) {
      on_lifeline(c, c.buf.data(), n);
    } else {
      on_mqtt(c, n);
    }
  }

  void on_lifeline(Conn& c, const std::uint8_t* data, std::size_t n) {
    const char* closed_by = nullptr;
    const auto err = c.dec.feed(proto::Bytes(data, n), [&](const proto::Frame& f) {
      switch (f.type) {
        case proto::FrameType::welcome:
          if (c.state == State::handshaking) online(c);
          break;
        case proto::FrameType::pong: {
          const auto rtt = now_us() - static_cast<std::int64_t>(proto::read_u64(f.payload));
          if (rtt >= 0 && c.ping_pending) {
            ++stat_.answered;
            hist_.add(static_cast<std::uint64_t>(rtt));
          }
          c.ping_pending = false;
          break;
        }
        case proto::FrameType::ping:
          if (!c.silent) {
            const auto pong = proto::encode_timestamp(proto::FrameType::pong, proto::read_u64(f.payload));
            if (!send(c, pong.data(), pong.size())) return false;
          }
          break;
        case proto::FrameType::bye: closed_by = "bye"; return false;
        case proto::FrameType::error: closed_by = "error"; return false;
        default: break;
      }
      return true;
    });
    if (err) closed_by = "protocol";
    if (closed_by != nullptr && c.state != State::closed) server_closed(c, closed_by);
  }

  void on_mqtt(Conn& c, std::size_t n) {
    bool bad = false;
    const bool ok = c.mdec.feed(c.buf.data(), n, [&](const mqtt::Decoder::Packet& p) {
      if (p.type == 2 && c.state == State::handshaking) {
        if (p.length >= 2 && p.head[1] == 0) {
          online(c);
        } else {
          bad = true;
        }
      } else if (p.type == 13 && c.ping_pending) {
        ++stat_.answered;
        hist_.add(static_cast<std::uint64_t>(now_us() - c.ping_sent_us));
        c.ping_pending = false;
      }
    });
    if ((!ok || bad) && c.state != State::closed) server_closed(c, "connack-refused");
  }

  // ---- the one timer ------------------------------------------------------
  // Slot k of the interval holds connections k, k + S, k + 2S...; each tick
  // sends the due slot's PINGs, starts new connections at the ramp rate,
  // retries due reconnects and silences due connections.
  void schedule() {
    timer_.expires_at(asio::steady_timer::time_point(std::chrono::microseconds(next_slot_us_)));
    timer_.async_wait([this](error_code ec) {
      if (!ec) on_tick();
    });
  }

  void on_tick() {
    const std::int64_t now = now_us();
    const std::int64_t s = slots();
    for (int done = 0; next_slot_us_ <= now && done < s; ++done) {
      heartbeat_slot(static_cast<std::size_t>(slot_seq_++ % static_cast<std::uint64_t>(s)));
      next_slot_us_ += tick_;
    }
    if (next_slot_us_ <= now) next_slot_us_ = now + tick_;  // more than a whole interval late: skip ahead
    // Ramp: start as many connections as the rate allows by now.
    const auto allowed = static_cast<std::size_t>(a_.rate * static_cast<double>(now - start_us_) / 1e6) + 1;
    while (started_ < conns_.size() && started_ < allowed) connect(*conns_[started_++]);
    while (!retries_.empty() && retries_.top().first <= now && !stopping_) {
      const auto idx = retries_.top().second;
      retries_.pop();
      if (conns_[idx]->state == State::closed) connect(*conns_[idx]);
    }
    while (!silence_.empty() && silence_.back().first <= now) {
      conns_[silence_.back().second]->silent = true;
      silence_.pop_back();
    }
    if (now - last_sweep_us_ >= 250'000) sweep(now);
    schedule();
  }

  void heartbeat_slot(std::size_t slot) {
    const auto s = static_cast<std::size_t>(slots());
    for (std::size_t i = slot; i < conns_.size(); i += s) {
      Conn& c = *conns_[i];
      if (c.state != State::online || c.silent) continue;
      const std::int64_t t = now_us();
      bool ok = false;
      if (proto_ == Protocol::lifeline) {
        const auto ping = proto::encode_timestamp(proto::FrameType::ping, static_cast<std::uint64_t>(t));
        ok = send(c, ping.data(), ping.size());
      } else {
        ok = send(c, mqtt::kPingreq.data(), mqtt::kPingreq.size());
      }
      if (ok) {
        ++stat_.sent;
        c.ping_sent_us = t;
        c.ping_pending = true;
      }
    }
  }

  // Every 250 ms: give up on slow handshakes, and report the counters.
  void sweep(std::int64_t now) {
    last_sweep_us_ = now;
    const std::int64_t limit = std::int64_t{a_.connect_timeout_ms} * 1000;
    for (auto& c : conns_) {
      if ((c->state == State::connecting || c->state == State::tls || c->state == State::upgrading ||
           c->state == State::handshaking) &&
          now - c->phase_start_us > limit) {
        fail(*c);
      }
    }
    emit(counters("stat"));
  }

  // ---- commands and reports -----------------------------------------------
  void read_command() {
    asio::async_read_until(in_, cmd_buf_, '\n', [this](error_code ec, std::size_t) {
      if (ec) {
        finish();
        return;
      }
      std::istream is(&cmd_buf_);
      std::string line;
      std::getline(is, line);
      std::istringstream words(line);
      std::string cmd;
      words >> cmd;
      if (cmd == "snap") {
        auto o = counters("snap");
        o["hist"] = hist_.to_json();
        hist_.clear();
        emit(o);
      } else if (cmd == "silent") {
        unsigned k = 0;
        unsigned spread_ms = 0;
        words >> k >> spread_ms;
        const std::int64_t now = now_us();
        // Stored latest first so the tick pops due entries from the back.
        for (unsigned j = std::min<unsigned>(k, a_.count); j-- > 0;) {
          silence_.emplace_back(now + (2 * j + 1) * std::int64_t{spread_ms} * 500 / std::max(k, 1U), j);
        }
      } else if (cmd == "interval") {
        words >> a_.interval_ms;
        a_.interval_ms = std::max(a_.interval_ms, 1U);
        tick_ = tick_for(a_.interval_ms);
      } else if (cmd == "stop") {
        finish();
        return;
      }
      read_command();
    });
  }

  void finish() {
    stopping_ = true;
    auto o = counters("final");
    boost::json::array buckets;
    for (const auto& [b, n] : reconnected_) buckets.push_back(boost::json::array{b, n});
    o["reconnected_100ms"] = buckets;
    emit(o);
    io_.stop();
  }

  boost::json::object counters(const char* type) const {
    return {{"type", type},
            {"worker", a_.index},
            {"t_us", now_us()},
            {"attempts", stat_.attempts},
            {"established", stat_.established},
            {"online", stat_.online},
            {"failed", stat_.failed},
            {"sent", stat_.sent},
            {"answered", stat_.answered},
            {"server_closed", stat_.server_closed},
            {"send_errors", stat_.send_errors},
            {"tls_handshakes", stat_.tls_handshakes},
            {"tls_resumed", stat_.tls_resumed},
            {"last_online_us", last_online_us_}};
  }

  static void emit(const boost::json::object& o) {
    const std::string line = boost::json::serialize(o) + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

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

}  // namespace

int run_worker(const WorkerArgs& a) {
  // Each connection is a descriptor: raise the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (a.count + 64 > rl.rlim_cur) {
    throw UsageError("worker: " + std::to_string(a.count) + " connections need more than the " +
                     std::to_string(rl.rlim_cur) + " descriptors allowed: use more --workers");
  }
  Worker w(a);
  return w.run();
}

}  // namespace lifeline::app::bench
