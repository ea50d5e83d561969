// SUBSCRIBE: a session's feed of presence events (docs/protocol.md). Kept in
// this one file, apart from the rest of the protocol session, because the
// registry's event delivery is being replaced (a sequenced event log read
// through cursors): on_subscribe, send_event and unsubscribe_events are all
// that touches it.

#include "server_context.hpp"
#include "session.hpp"
#include "shard.hpp"

namespace lifeline::detail {

void Session::on_subscribe() {
  if (subscription_ != 0) {
    return;
  }
  // Events arrive on whatever thread caused them; hop to this session's thread.
  // Posts to one shard run in order, so the subscriber sees seq order.
  subscription_ = shard_.ctx().registry.subscribe([shard = &shard_, no = number()](const PresenceEvent& ev) {
    shard->with_session(no, [ev](Session& s) { s.send_event(ev); });
  });
}

void Session::send_event(const PresenceEvent& ev) {
  proto::Event e;
  e.seq = ev.seq;
  e.kind = ev.kind;
  e.reason = ev.reason;
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ev.at.time_since_epoch()).count();
  e.id = ev.id;
  e.remote = ev.remote;
  std::string frame;
  proto::encode(e, frame);
  send(frame);
}

// Part of leaving the registry (session.cpp): once, on the session's end.
void Session::unsubscribe_events() {
  if (subscription_ != 0) {
    shard_.ctx().registry.unsubscribe(subscription_);
    subscription_ = 0;
  }
}

}  // namespace lifeline::detail
