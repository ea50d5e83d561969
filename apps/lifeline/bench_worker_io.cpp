// lifeline-bench worker (bench_worker.hpp): what the servers send (plain TCP
// or TLS; lifeline frames or MQTT packets) and the one timer that sends the
// heartbeats, starts and retries connections and gives up on slow handshakes.

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "bench_worker.hpp"
#include "bytes.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline::app::bench::worker {

// ---- reading ------------------------------------------------------------
void Worker::read(Conn& c) {
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
void Worker::read_tls(Conn& c) {
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

void Worker::on_bytes(Conn& c, std::size_t n) {
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

void Worker::on_lifeline(Conn& c, const std::uint8_t* data, std::size_t n) {
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

void Worker::on_mqtt(Conn& c, std::size_t n) {
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
void Worker::schedule() {
  timer_.expires_at(asio::steady_timer::time_point(std::chrono::microseconds(next_slot_us_)));
  timer_.async_wait([this](error_code ec) {
    if (!ec) on_tick();
  });
}

void Worker::on_tick() {
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

void Worker::heartbeat_slot(std::size_t slot) {
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
void Worker::sweep(std::int64_t now) {
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

}  // namespace lifeline::app::bench::worker
