// What a server session does with each frame it receives (docs/protocol.md).

#include <spdlog/spdlog.h>

#include <cstdio>

#include "bytes.hpp"
#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "session.hpp"
#include "shard.hpp"

namespace lifeline::detail {
namespace {
// LIST_REPLY frames are cut well under the 1 MiB limit so one big list never
// monopolizes a socket buffer.
constexpr std::size_t kListChunkBytes = 60'000;

std::string assigned_id(std::uint64_t session_no) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "anon-%llx", static_cast<unsigned long long>(session_no));
  return buf;
}
}  // namespace

std::optional<proto::ParseError> Session::screen_frame_type(proto::FrameType type) const {
  using proto::FrameType;
  switch (type) {
    case FrameType::welcome:
    case FrameType::error:
    case FrameType::list_reply:
    case FrameType::event:
      return proto::ParseError{proto::ErrorCode::unknown_type,
                               "frame type " + std::string(proto::to_string(type)) + " is never sent to a server"};
    default: break;
  }
  if (state_ == State::handshaking && type != FrameType::hello) {
    return proto::ParseError{proto::ErrorCode::handshake_required,
                             "first frame must be HELLO, got " + std::string(proto::to_string(type))};
  }
  return std::nullopt;
}

bool Session::on_frame(const proto::Frame& f) {
  using proto::FrameType;
  shard().metrics().frames_in.add();
  // screen_frame_type() has let through only what this state accepts.
  if (state_ == State::handshaking) {
    return on_hello(f.payload);
  }
  switch (f.type) {
    case FrameType::ping: {
      // The arrival time on_bytes() has just stored: no second clock read per heartbeat.
      const auto arrival = stats_.last_rx_ns.load(std::memory_order_relaxed);
      if (!ping_budget_.allow(arrival)) {
        end_with_error(proto::ErrorCode::flood,
                       "too many pings: faster than " + std::to_string(ping_budget_.per_second()) + "/s (burst " +
                           std::to_string(ping_budget_.burst()) + ")",
                       Reason::protocol);
        return false;
      }
      const auto pong = proto::encode_timestamp(FrameType::pong, proto::read_u64(f.payload));
      send_at(std::string_view(reinterpret_cast<const char*>(pong.data()), pong.size()),
              Clock::time_point(Clock::duration(arrival)));
      return !ended();
    }
    case FrameType::pong: {
      const auto sent_us = static_cast<std::int64_t>(proto::read_u64(f.payload));
      const auto now_us = static_cast<std::int64_t>(timestamp_us(Clock::now()));
      if (sent_us > 0 && sent_us <= now_us && now_us - sent_us < (std::int64_t{1} << 32)) {
        stats_.rtt_us.store(static_cast<std::uint32_t>(now_us - sent_us), std::memory_order_relaxed);
        shard().metrics().rtt.observe(std::chrono::microseconds(now_us - sent_us));
      }
      return true;
    }
    case FrameType::data:
      if (shard().ctx().on_data && registered_) {
        shard().ctx().on_data(id_, std::string_view(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
      }
      return true;
    case FrameType::bye: {
      proto::ParseError err;
      const auto bye = proto::parse_bye(f.payload, err);
      if (!bye) {
        end_with_error(err.code, err.message, Reason::protocol);
        return false;
      }
      end(Reason::bye, bye->text.empty() ? "BYE" : "BYE: " + bye->text);
      return false;
    }
    case FrameType::list: send_list(proto::read_u32(f.payload), shard().ctx().view->view_snapshot()); return !ended();
    case FrameType::subscribe: on_subscribe(f.payload); return !ended();
    case FrameType::hello:
      end_with_error(proto::ErrorCode::handshake_required, "second HELLO on an established session", Reason::protocol);
      return false;
    default: return true;  // unreachable: the decoder rejects unknown types
  }
}

bool Session::on_hello(proto::Bytes payload) {
  auto& ctx = shard().ctx();
  proto::ParseError err;
  auto hello = proto::parse_hello(payload, err);
  if (!hello) {
    end_with_error(err.code, err.message, Reason::protocol);
    return false;
  }
  if (ctx.stopping.load()) {
    end_with_error(proto::ErrorCode::shutting_down, "server is shutting down", Reason::shutdown);
    return false;
  }
  if (!bind_identity(hello->id, hello->token, hello->labels)) {
    return false;
  }
  flags_ = hello->flags;
  version_ = hello->version;
  hb_ = negotiate(ctx.options.heartbeat, hello->interval, hello->timeout);
  ping_budget_ = PingBudget(hb_.interval);
  id_ = hello->id.empty() ? assigned_id(number()) : hello->id;
  conn_.set_heartbeat(hb_);

  // A client whose handshake timed out (say, while this server was frozen)
  // has closed already; its stale HELLO must not take over its live session.
  if (conn_.peer_has_closed()) {
    end(Reason::closed, "peer closed before its HELLO was processed");
    return false;
  }
  const bool observer = (flags_ & proto::kFlagObserver) != 0;
  if (!observer) {
    Registration reg{id_, peer(), std::move(hello->labels), hb_, number(), shard().index(), conn_.transport(), &stats_};
    const auto max_sessions = ctx.options.max_sessions_per_id;
    const auto claim = ctx.registry.claim(std::move(reg), ctx.options.duplicates, max_sessions);
    if (!claim.accepted) {
      const std::string id = std::move(id_);
      id_.clear();
      end_with_error(proto::ErrorCode::rejected,
                     ctx.options.duplicates == DuplicatePolicy::multi
                         ? "client id '" + id + "' has " + std::to_string(claim.sessions) +
                               " sessions already, the most allowed (--max-sessions-per-id " +
                               std::to_string(max_sessions) + ")"
                         : "client id '" + id + "' is already online",
                     Reason::rejected);
      return false;
    }
    registered_ = true;
    if (claim.displaced) {
      // The old connection may live on another shard: its shard closes it there.
      shard().close_displaced(*claim.displaced);
    }
  }
  state_ = State::online;
  // Logged before WELCOME goes out, so a failing write logs after it.
  if (observer) {
    logger()->debug("observer connected peer={}", peer());
  } else {
    logger()->info("online id={} peer={} interval={}ms timeout={}ms{}{}", id_, peer(), hb_.interval.count(),
                   hb_.timeout.count(), (flags_ & proto::kFlagServerPings) != 0 ? " server-pings" : "",
                   !conn_.is_tls()       ? ""
                   : conn_.tls_resumed() ? " tls=resumed"
                                         : " tls=full");
  }
  proto::Welcome w;
  w.version = version_;  // the client's: this connection speaks it from now on
  w.flags = flags_;
  w.interval = hb_.interval;
  w.timeout = hb_.timeout;
  w.session = number();
  w.id = id_;
  w.instance = ctx.view->view_log().instance();
  std::string frame;
  proto::encode(w, frame);
  // The first RTT probe rides in the same write as WELCOME: one syscall, and a
  // client that reads WELCOME has the PING too (a later segment left unread
  // would turn the client's close into a reset).
  const auto ping = ping_frame(Clock::now());
  frame.append(reinterpret_cast<const char*>(ping.data()), ping.size());
  send(frame);
  return !ended();
}

// Mutual TLS binds the id to the certificate's common name and a token binds
// it to the token's id: an empty HELLO id takes theirs, another id is refused.
bool Session::bind_identity(std::string& id, const std::string& token, std::vector<proto::Label>& labels) {
  auto& ctx = shard().ctx();
  std::string why;
  if (ctx.tls && ctx.tls->requires_client_cert()) {
    const auto cert_id = conn_.tls_peer_name().value_or(std::string());
    if (cert_id.empty()) {
      why = "client certificate has no subject common name to bind the id to";
    } else if (id.empty()) {
      id = cert_id;
    } else if (id != cert_id) {
      why = "client certificate is for '" + cert_id + "', not '" + id + "'";
    }
  }
  if (const auto verifier = ctx.verifier.load(); why.empty() && verifier) {
    auto verdict = verifier->verify(token, id, std::chrono::system_clock::now());
    if (verdict.ok) {
      id = std::move(verdict.claims.id);
      // The token's labels are the server's word: they replace the client's own.
      for (auto& trusted : verdict.claims.labels) {
        std::erase_if(labels, [&](const proto::Label& l) { return l.key == trusted.key; });
        labels.push_back(std::move(trusted));
      }
    } else {
      why = std::move(verdict.error);
    }
  }
  if (why.empty()) {
    return true;
  }
  logger()->warn("unauthorized peer={} id={}: {}", peer(), id.empty() ? "-" : id, why);
  end_with_error(proto::ErrorCode::unauthorized, why, Reason::rejected);
  return false;
}

void Session::send_list(std::uint32_t request_id, const PresenceSnapshot& snapshot) {
  const auto& clients = snapshot.clients;
  const auto to_ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  proto::ListReply reply;
  reply.request_id = request_id;
  // Ids, not sessions: under `multi` one id may be listed once per session.
  std::size_t ids = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    ids += i == 0 || clients[i].id != clients[i - 1].id ? 1 : 0;
  }
  reply.online = static_cast<std::uint32_t>(ids);
  reply.seq = snapshot.seq;
  reply.instance = snapshot.instance;
  reply.node = shard().ctx().view->view_node();
  reply.degraded = shard().ctx().view->view_degraded();
  std::size_t bytes = 0;
  std::string frame;
  const auto flush_chunk = [&](bool last) {
    reply.last = last;
    frame.clear();
    proto::encode(reply, version_, frame);
    send(frame);
    reply.entries.clear();
    bytes = 0;
  };
  for (const auto& c : clients) {
    proto::ListEntry e{c.id,
                       c.remote,
                       to_ms(c.since),
                       to_ms(c.last_seen),
                       static_cast<std::uint32_t>(c.rtt.count()),
                       static_cast<std::uint32_t>(c.heartbeat.interval.count()),
                       static_cast<std::uint32_t>(c.heartbeat.timeout.count()),
                       c.labels,
                       c.session,
                       c.transport,
                       c.node};
    const auto size = proto::encoded_size(e, version_);
    if (!reply.entries.empty() && (bytes + size > kListChunkBytes || reply.entries.size() == 65535)) {
      flush_chunk(false);
    }
    bytes += size;
    reply.entries.push_back(std::move(e));
  }
  flush_chunk(true);
}

}  // namespace lifeline::detail
