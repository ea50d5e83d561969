// What a connection does with each frame from the server. A frame that ends
// the connection closes it with its reason and returns false, which stops the
// decoder.

#include "bytes.hpp"
#include "client_connection.hpp"
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
    case FrameType::list_reply: return on_list_reply(f.payload);
    case FrameType::event: return on_event(f.payload);
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
    if (e->code == proto::ErrorCode::unsupported_version && client_.hello_version > proto::kMinVersion) {
      // A server older than this client: the next attempt speaks the
      // version before (version 2 lacks sessions and transports in lists
      // and events, version 1 resumable event streams as well).
      --client_.hello_version;
      refused_ = false;
    } else if (!welcomed_) {
      refusal_ = e->code;
    }
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
  if (w->version < proto::kMinVersion || w->version > client_.hello_version) {
    close("server answered in protocol version " + std::to_string(w->version) + " to a HELLO in version " +
          std::to_string(client_.hello_version));
    return;
  }
  version_ = w->version;
  hb_ = Heartbeat{w->interval, w->timeout};
  welcomed_ = true;
  last_ping_ = Clock::now();
  client_.backoff.reset();
  detail::apply_socket_options(socket_.native_handle(), hb_, opts_.tcp_keepalive);
  {
    const std::lock_guard lock(client_.mu);
    client_.id = w->id;
  }
  if (client_.subscribed) {
    send_subscribe();
  }
  StateChange c;
  c.server = name_;
  c.interval = hb_.interval;
  c.timeout = hb_.timeout;
  c.attempts = client_.attempts;
  c.tls_resumed = tls_resumed_;
  client_.set_state(ClientState::online, c);
  // The state handler may have stopped us or sent data; both are fine here.
  watchdog_timer_.cancel();  // let the watchdog re-plan with the heartbeat deadlines
}

void Client::Impl::Connection::send_subscribe() {
  std::string frame;
  const auto& want = client_.subscription;
  proto::Subscribe s{want.request_id, 0, 0, 0};
  if (version_ >= 2 && client_.stream_known) {
    s.flags |= proto::kSubscribeResume;
    s.instance = client_.stream_instance;
    s.after_seq = client_.stream_seq;
  }
  if (version_ >= 2 && want.snapshot) {
    s.flags |= proto::kSubscribeSnapshot;
    awaiting_snapshot_ = true;
  }
  if (s.flags == 0) {
    proto::encode_subscribe(frame);  // live events from now on, in either version
  } else {
    proto::encode(s, frame);
  }
  send(frame);
}

bool Client::Impl::Connection::on_event(proto::Bytes payload) {
  proto::ParseError err;
  const auto e = proto::parse_event(payload, version_, err);
  if (!e) {
    close("malformed EVENT: " + err.message);
    return false;
  }
  if (version_ >= 2) {
    client_.stream_known = true;
    client_.stream_instance = e->instance;
    client_.stream_seq = e->seq;
    // A resume that worked sends events, not the snapshot; after a gap the snapshot follows.
    awaiting_snapshot_ = awaiting_snapshot_ && e->kind == proto::EventKind::gap;
  }
  if (client_.event_handler && !client_.silenced) {
    client_.event_handler(*e);
  }
  return true;
}

bool Client::Impl::Connection::on_list_reply(proto::Bytes payload) {
  proto::ParseError err;
  const auto r = proto::parse_list_reply(payload, version_, err);
  if (!r) {
    close("malformed LIST_REPLY: " + err.message);
    return false;
  }
  if (awaiting_snapshot_ && r->request_id == client_.subscription.request_id && r->last) {
    // The subscription's snapshot: the stream now stands at its seq.
    awaiting_snapshot_ = false;
    client_.stream_known = true;
    client_.stream_instance = r->instance;
    client_.stream_seq = r->seq;
  }
  if (client_.take_list_reply(*r)) {
    return true;  // list(timeout)'s, not the application's on_list()
  }
  if (client_.list_handler && !client_.silenced) {
    client_.list_handler(*r);
  }
  return true;
}

}  // namespace lifeline
