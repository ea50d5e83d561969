// What a connection does with each frame from the server. A frame that ends
// the connection closes it with its reason and returns false, which stops the
// decoder.

#include "client_connection.hpp"
#include "bytes.hpp"
#include "ping_policy.hpp"
#include "socket_options.hpp"

namespace lifeline {

bool Client::Impl::Connection::on_frame(const proto::Frame& f) {
  using proto::FrameType;
  proto::ParseError err;
  if (!welcomed_ && f.type != FrameType::welcome && f.type != FrameType::error && f.type != FrameType::bye) {
    close("server sent " + std::string(proto::to_string(f.type)) + " before WELCOME");
    return false;
  }
  switch (f.type) {
    case FrameType::welcome:
      if (welcomed_) {
        close("server sent a second WELCOME");
        return false;
      }
      on_welcome(f.payload);
      return !closed_;
    case FrameType::ping: {
      const auto pong = proto::encode_timestamp(FrameType::pong, proto::read_u64(f.payload));
      send(std::string_view(reinterpret_cast<const char*>(pong.data()), pong.size()));
      return true;
    }
    case FrameType::pong: {
      const auto sent = proto::read_u64(f.payload);
      const auto now = timestamp_us(Clock::now());
      if (sent <= now) {
        const std::lock_guard lock(client_.mu);
        client_.rtt = std::chrono::microseconds(now - sent);
      }
      return true;
    }
    case FrameType::data:
      if (client_.data_handler && !client_.silenced) {
        client_.data_handler(std::string_view(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
      }
      return true;
    case FrameType::bye:
    case FrameType::error: return on_bye_or_error(f);
    case FrameType::list_reply:
      if (auto r = proto::parse_list_reply(f.payload, err)) {
        if (client_.list_handler && !client_.silenced) {
          client_.list_handler(*r);
        }
        return true;
      }
      close("malformed LIST_REPLY: " + err.message);
      return false;
    case FrameType::event:
      if (auto e = proto::parse_event(f.payload, err)) {
        if (client_.event_handler && !client_.silenced) {
          client_.event_handler(*e);
        }
        return true;
      }
      close("malformed EVENT: " + err.message);
      return false;
    default:
      close("server sent a " + std::string(proto::to_string(f.type)) + " frame, which only clients send");
      return false;
  }
}

bool Client::Impl::Connection::on_bye_or_error(const proto::Frame& f) {
  proto::ParseError err;
  if (f.type == proto::FrameType::bye) {
    if (auto bye = proto::parse_bye(f.payload, err)) {
      replaced_ = bye->reason == proto::Reason::replaced;
      close("server said BYE (" + std::string(proto::to_string(bye->reason)) +
            (bye->text.empty() ? "" : ": " + bye->text) + ")");
    } else {
      close("malformed BYE from the server: " + err.message);
    }
    return false;
  }
  refused_ = true;
  if (auto e = proto::parse_error(f.payload, err)) {
    close("server error " + std::string(proto::to_string(e->code)) + ": " + e->message);
  } else {
    close("malformed ERROR from the server: " + err.message);
  }
  return false;
}

void Client::Impl::Connection::on_welcome(proto::Bytes payload) {
  proto::ParseError err;
  const auto w = proto::parse_welcome(payload, err);
  if (!w || w->interval.count() <= 0 || w->timeout.count() <= 0) {
    close("malformed WELCOME: " + (w ? std::string("zero heartbeat") : err.message));
    return;
  }
  hb_ = Heartbeat{w->interval, w->timeout};
  welcomed_ = true;
  last_ping_ = Clock::now();
  client_.backoff.reset();
  detail::apply_socket_options(socket_.native_handle(), hb_, opts_.tcp_keepalive);
  {
    const std::lock_guard lock(client_.mu);
    client_.id = w->id;
  }
  if (client_.want_subscribe) {
    std::string frame;
    proto::encode_subscribe(frame);
    send(frame);
  }
  StateChange c;
  c.server = name_;
  c.interval = hb_.interval;
  c.timeout = hb_.timeout;
  c.attempts = client_.attempts;
  client_.set_state(ClientState::online, c);
  // The state handler may have stopped us or sent data; both are fine here.
  watchdog_timer_.cancel();  // let the watchdog re-plan with the heartbeat deadlines
}

}  // namespace lifeline
