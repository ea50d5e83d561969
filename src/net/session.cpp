// The protocol session's life: bytes in, deadlines, sending, and ending.
// What it does with each frame is in session_frames.cpp.

#include "session.hpp"

#include <spdlog/spdlog.h>

#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "shard.hpp"

namespace lifeline::detail {
namespace {
// In the default mode the client pings and only the client learns the RTT; the
// server probes once after the handshake and then this rarely, so the online
// list shows an RTT at a negligible cost per heartbeat.
constexpr std::chrono::seconds kRttProbeEvery{30};
}  // namespace

Session::Session(Shard& shard, Fd socket, std::uint64_t number, std::string peer, bool counted, bool websocket)
    : decoder_(shard.ctx().frame_limits),
      conn_(shard, *this, std::move(socket), number, std::move(peer), counted, websocket) {
  assert_in_loop_thread(shard);
  const auto now = Clock::now();
  handshake_deadline_ = now + shard.ctx().options.handshake_timeout;
  last_tx_ = last_ping_ = now;
  stats_.last_rx_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

void Session::on_bytes(proto::Bytes bytes) {
  assert_in_loop_thread(shard());
  // Any byte counts as liveness: this store is the whole cost of a heartbeat's bookkeeping.
  stats_.last_rx_ns.store(now_ns(), std::memory_order_relaxed);
  // Lambdas, not std::function: the decoder's callbacks inline, nothing is allocated per frame.
  auto err = decoder_.feed(
      bytes, [this](const proto::Frame& f) { return on_frame(f); },
      [this](proto::FrameType type, std::uint32_t) { return screen_frame_type(type); });
  if (err) {
    end_with_error(err->code, err->message, Reason::protocol);
  }
}

void Session::on_eof(int err) {
  std::string cause = err == 0 ? "connection closed by peer" : "connection failed: " + conn_.error_text(err);
  if (decoder_.buffered() > 0) {
    cause += " in the middle of a frame (" + std::to_string(decoder_.missing()) + " bytes missing)";
  }
  end(err == 0 ? Reason::closed : Reason::reset, cause);
}

void Session::on_failed(Reason reason, std::string cause) { end(reason, cause); }

// WebSocket: each binary message carries whole frames (docs/protocol.md section 11).
void Session::on_message_end() {
  if (decoder_.buffered() > 0) {
    end_with_error(proto::ErrorCode::malformed,
                   "a WebSocket message ended inside a lifeline frame (" + std::to_string(decoder_.missing()) +
                       " bytes missing): each message must hold whole frames",
                   Reason::protocol);
  }
}

void Session::on_overflow(std::size_t limit) {
  end_with_error(proto::ErrorCode::slow_consumer,
                 "peer does not read: more than " + std::to_string(limit) + " bytes unsent", Reason::reset);
}

std::optional<Session::Clock::time_point> Session::on_wheel(Clock::time_point now) {
  assert_in_loop_thread(shard());
  switch (conn_.state()) {
    case Connection::State::closed: return std::nullopt;
    case Connection::State::draining: return conn_.check_drain(now);  // the drain deadline
    case Connection::State::open: break;
  }
  return state_ == State::handshaking ? check_handshake_deadline(now) : check_heartbeat(now);
}

// Handshaking: the handshake deadline (TLS and HELLO) is the only one.
std::optional<Session::Clock::time_point> Session::check_handshake_deadline(Clock::time_point now) {
  if (now >= handshake_deadline_) {
    const auto limit = std::to_string(shard().ctx().options.handshake_timeout.count()) + " ms";
    end_with_error(proto::ErrorCode::handshake_timeout,
                   conn_.tls_pending()  ? "TLS handshake not done within " + limit
                   : conn_.ws_pending() ? "WebSocket upgrade request not complete within " + limit
                                        : "no HELLO within " + limit,
                   Reason::protocol);
    return conn_.check_drain(now);  // now the drain deadline
  }
  // Re-check at least every half min-timeout, so that once the handshake
  // completes the first heartbeat deadline is picked up in time.
  const auto soon = now + shard().ctx().options.heartbeat.min_timeout / 2;
  return std::min(handshake_deadline_, soon);
}

// Online: the heartbeat expiry (last byte received + timeout) and, when the
// server pings, the next PING due; otherwise the next RTT probe.
std::optional<Session::Clock::time_point> Session::check_heartbeat(Clock::time_point now) {
  const auto last_rx = Clock::time_point(Clock::duration(stats_.last_rx_ns.load(std::memory_order_relaxed)));
  const auto expiry = last_rx + hb_.timeout;
  if (now >= expiry) {
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx);
    shard().metrics().detection.observe(std::chrono::duration_cast<std::chrono::microseconds>(now - last_rx));
    end_with_bye(Reason::timeout, "nothing received for " + std::to_string(silent.count()) + " ms (timeout " +
                                      std::to_string(hb_.timeout.count()) + " ms)");
    return conn_.check_drain(now);  // now the drain deadline
  }
  if ((flags_ & proto::kFlagServerPings) == 0) {
    if (now >= last_ping_ + kRttProbeEvery) {
      send_ping(now);
    }
    const auto probe_due = last_ping_ + kRttProbeEvery;
    return std::min(expiry, probe_due);
  }
  auto ping_due = next_ping_due(last_tx_, last_rx, last_ping_, hb_.interval);
  if (now >= ping_due) {
    send_ping(now);
    // The wheel runs this up to a tick after the PING was due. Counting the
    // PING as sent when it was due, not when the tick carried it, keeps that
    // lateness from adding up: otherwise a 200 ms interval at a 50 ms tick
    // pings every 250 ms. A PING overdue by a whole interval (a stalled loop)
    // starts the rhythm afresh instead of bursting to catch up.
    if (now - ping_due < hb_.interval) {
      last_ping_ = last_tx_ = ping_due;
    }
    ping_due = next_ping_due(last_tx_, last_rx, last_ping_, hb_.interval);
  }
  return std::min(expiry, ping_due);
}

proto::TimestampFrame Session::ping_frame(Clock::time_point now) {
  last_ping_ = now;
  return proto::encode_timestamp(proto::FrameType::ping, timestamp_us(now));
}

void Session::send_ping(Clock::time_point now) {
  const auto frame = ping_frame(now);
  send(std::string_view(reinterpret_cast<const char*>(frame.data()), frame.size()));
}

void Session::send(std::string_view frame) { send_at(frame, Clock::now()); }

void Session::send_at(std::string_view frame, Clock::time_point now) {
  assert_in_loop_thread(shard());
  if (ended()) {
    return;
  }
  last_tx_ = now;
  conn_.send(frame);
}

void Session::send_data(std::string_view payload) {
  std::string frame;
  proto::encode_data(payload, frame);
  send(frame);
}

void Session::end(Reason reason, std::string_view cause) { end_with(reason, {}, Drain::no, cause); }

void Session::end_with_error(proto::ErrorCode code, const std::string& message, Reason reason) {
  if (!ended()) {
    shard().metrics().error_sent(code);
  }
  std::string frame;
  proto::encode(proto::Error{code, message}, frame);
  end_with(reason, frame, Drain::yes, std::string(proto::to_string(code)) + ": " + message);
}

void Session::end_with_bye(Reason reason, std::string_view text) {
  std::string frame;
  proto::encode(proto::Bye{reason, std::string(text)}, frame);
  end_with(reason, frame, reason != Reason::shutdown ? Drain::yes : Drain::no, text);
}

void Session::end_with(Reason reason, const std::string& final_frame, Drain drain, std::string_view cause) {
  assert_in_loop_thread(shard());
  if (ended()) {
    return;
  }
  const bool was_online = state_ == State::online;
  state_ = State::ended;
  // The final frame goes out first; with Drain::no the socket is closed here
  // too (the object lives on until the shard's next posted task).
  // A WebSocket close frame's code: the final frame says the rest. An upgrade
  // still unanswered gets an HTTP status instead: 408 for a slow one, 503
  // for a server that is full or shutting down.
  const std::uint16_t ws_code = reason == Reason::protocol ? 1002 : reason == Reason::shutdown ? 1001 : 1000;
  const int ws_status = reason == Reason::protocol ? 408 : 503;
  conn_.close(drain, final_frame, ws_code, ws_status, cause);
  const bool observer = (flags_ & proto::kFlagObserver) != 0;
  const auto level = reason == Reason::protocol ? spdlog::level::warn
                     : observer                 ? spdlog::level::debug
                                                : spdlog::level::info;
  if (was_online && observer) {
    logger()->log(level, "observer closed peer={} reason={} ({})", peer(), proto::to_string(reason), cause);
  } else if (was_online && !id_.empty()) {
    logger()->log(level, "offline id={} peer={} reason={} ({})", id_, peer(), proto::to_string(reason), cause);
  } else {
    logger()->log(level, "closed peer={} reason={} ({})", peer(), proto::to_string(reason), cause);
  }
  leave_registry(reason);
}

void Session::leave_registry(Reason reason) {
  unsubscribe_events();
  if (registered_) {
    registered_ = false;
    shard().metrics().disconnected(reason);
    shard().ctx().registry.release(id_, number(), reason);
  }
}

}  // namespace lifeline::detail
