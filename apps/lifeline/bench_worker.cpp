// lifeline-bench worker (bench_worker.hpp): construction and run(), and a
// connection's way online and out: connect, TLS, the WebSocket upgrade, HELLO
// or CONNECT, failure and retry backoff, close, and the send every write uses.

#include "bench_worker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "common.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::app::bench::worker {

Worker::Worker(const WorkerArgs& a)
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

int Worker::run() {
  start_us_ = now_us();
  next_slot_us_ = start_us_ + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(tick_));
  read_command();
  schedule();
  io_.run();
  return 0;
}

// ---- connecting ---------------------------------------------------------
void Worker::connect(Conn& c) {
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
void Worker::tls_handshake(Conn& c) {
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
void Worker::on_connected(Conn& c) {
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
void Worker::on_upgrade(Conn& c, std::size_t n) {
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
void Worker::on_ws(Conn& c, const std::uint8_t* p, std::size_t n) {
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
void Worker::fail(Conn& c) {
  ++stat_.failed;
  close(c);
  if (a_.reconnect) retry_later(c);
}

void Worker::retry_later(Conn& c) {
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

void Worker::close(Conn& c) {
  if (c.state == State::online) --stat_.online;
  ++c.gen;
  c.ssl.reset();  // no close_notify: the storm's clients vanish, and the server must cope
  error_code ignore;
  c.sock.close(ignore);
  c.state = State::closed;
  c.ping_pending = false;
}

// The server ended a connection (EOF, RST, BYE or ERROR).
void Worker::server_closed(Conn& c, const char* how) {
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

void Worker::online(Conn& c) {
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
bool Worker::send(Conn& c, const void* p, std::size_t n, bool frame) {
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

}  // namespace lifeline::app::bench::worker
