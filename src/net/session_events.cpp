// SUBSCRIBE: a session as a reader of the presence event log (docs/protocol.md
// SUBSCRIBE and EVENT; docs/architecture.md "The presence event log"). The log
// only wakes the session through a post to its shard; the session reads from
// its own cursor, and only while its output is small, so a subscriber that
// reads slowly holds at most that output and the log's ring, and falls into a
// gap instead of growing the server.

#include <spdlog/spdlog.h>

#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "session.hpp"
#include "shard.hpp"

namespace lifeline::detail {
namespace {
// Events encoded per read of the log: small enough to check the output limit often.
constexpr std::size_t kPumpBatch = 64;
// A subscriber is sent events only while less than this is unsent.
constexpr std::size_t kSubscriberOutput = std::size_t{256} * 1024;
}  // namespace

void Session::on_subscribe(proto::Bytes payload) {
  proto::ParseError err;
  const auto sub = proto::parse_subscribe(payload, err);
  if (!sub || (version_ < 2 && !payload.empty())) {
    end_with_error(proto::ErrorCode::malformed, sub ? "SUBSCRIBE with a payload needs protocol version 2" : err.message,
                   Reason::protocol);
    return;
  }
  if (subscribed()) {
    return;  // subscribing twice is harmless
  }
  auto& view = *shard().ctx().view;
  auto& log = view.view_log();
  auto feed = std::make_unique<EventFeed>();
  feed->cursor = log.last_seq();  // live events from now on, unless asked otherwise
  bool need_snapshot = (sub->flags & proto::kSubscribeSnapshot) != 0;
  if ((sub->flags & proto::kSubscribeResume) != 0) {
    const auto from = log.resume_point(sub->instance, sub->after_seq);
    feed->cursor = from.cursor;
    need_snapshot = need_snapshot && from.gap;
    if (from.gap) {
      send_event(log.gap_marker(from.cursor));
    }
  }
  if (need_snapshot) {
    auto snapshot = view.view_snapshot();
    feed->cursor = snapshot.seq;
    send_list(sub->request_id, snapshot);
  }
  // The wake-up runs on whichever thread appended; it touches only the flag,
  // which lives until unwatch() (leave_registry), after which it is never called.
  feed->watch = log.watch([shard = &shard(), no = number(), posted = &feed->pump_posted] {
    // One pump in flight per session however many events arrive meanwhile.
    if (!posted->exchange(true)) {
      shard->with_session(no, [](Session& s) { s.pump_events(); });
    }
  });
  feed_ = std::move(feed);
  pump_events();  // events appended before the watch began
}

void Session::pump_events(bool everything) {
  if (!subscribed() || ended()) {
    return;
  }
  feed_->pump_posted.store(false);
  const auto& log = shard().ctx().view->view_log();
  const auto limit = std::min(kSubscriberOutput, shard().ctx().options.max_outbound / 4);
  std::vector<PresenceEvent> batch;
  // Stops while output is queued: on_drained() calls again once the socket has taken it.
  while (everything || conn_.unsent() < limit) {
    batch.clear();
    feed_->cursor = log.read_after(feed_->cursor, kPumpBatch, batch);
    if (batch.empty()) {
      return;
    }
    for (const auto& ev : batch) {
      if (ev.kind == EventKind::gap && version_ < 2) {
        end_with_error(proto::ErrorCode::slow_consumer,
                       "subscriber fell more than " + std::to_string(log.capacity()) +
                           " events behind (event buffer) and protocol version 1 has no gap event",
                       Reason::reset);
        return;
      }
      if ((ev.kind == EventKind::join || ev.kind == EventKind::leave) && version_ < 3) {
        continue;  // per-session events are version 3's; older readers see the id's online and offline only
      }
      if ((ev.kind == EventKind::moved || ev.kind == EventKind::resumed) && version_ < 4) {
        continue;  // the id stayed online: a reader of ids has nothing to change
      }
      send_event(ev);
      if (ended()) {
        return;
      }
    }
  }
}

void Session::on_drained() { pump_events(); }

void Session::send_event(const PresenceEvent& ev) {
  proto::Event e;
  e.seq = ev.seq;
  e.kind = ev.kind;
  // `node_lost` is version 4's; to older readers the session timed out.
  e.reason = ev.reason == Reason::node_lost && version_ < 4 ? Reason::timeout : ev.reason;
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ev.at.time_since_epoch()).count();
  e.id = ev.id;
  e.remote = ev.remote;
  e.instance = ev.instance;
  e.session = ev.session;
  e.transport = ev.transport;
  e.node = ev.node;
  std::string frame;
  proto::encode(e, version_, frame);
  send(frame);
}

// Part of leaving the registry (session.cpp): once, on the session's end.
void Session::unsubscribe_events() {
  if (subscribed()) {
    shard().ctx().view->view_log().unwatch(feed_->watch);
    feed_.reset();
  }
}

}  // namespace lifeline::detail
