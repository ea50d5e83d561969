#include "event_stream.hpp"

#include <boost/asio/post.hpp>

#include "views.hpp"

namespace lifeline::admin {

std::string sse_message(const PresenceEvent& e) {
  return "id: " + instance_text(e.instance) + "-" + std::to_string(e.seq) +
         "\nevent: " + std::string(proto::to_string(e.kind)) + "\ndata: " + boost::json::serialize(event_json(e)) +
         "\n\n";
}

std::string EventFeed::snapshot_message(const PresenceSnapshot& snap) const {
  boost::json::array clients;
  for (const auto& c : snap.clients) {
    clients.push_back(client_json(c));
  }
  const auto id = instance_text(snap.instance) + "-" + std::to_string(snap.seq);
  const boost::json::object o{{"v", 1},
                              {"instance", instance_text(snap.instance)},
                              {"seq", snap.seq},
                              {"online", snap.clients.size()},
                              {"clients", std::move(clients)}};
  return "id: " + id + "\nevent: snapshot\ndata: " + boost::json::serialize(o) + "\n\n";
}

void EventFeed::start(Server& server, const StreamStart& start) {
  auto self = shared_from_this();
  auto handler = [self, &server](const PresenceEvent& e) { self->on_event(server, e); };
  if (start.resume) {
    snapshot_on_gap_ = start.snapshot;
    token_ = server.subscribe_view(handler, start.resume->first, start.resume->second);
  } else if (start.snapshot) {
    const auto snap = server.view_snapshot();
    push(snapshot_message(snap));
    token_ = server.subscribe_view(handler, snap.instance, snap.seq);
  } else {
    token_ = server.subscribe_view(handler);
  }
}

void EventFeed::stop(Server& server) {
  if (token_ != 0) {
    server.unsubscribe(token_);
    token_ = 0;
  }
}

void EventFeed::on_event(Server& server, const PresenceEvent& e) {
  if (e.kind == EventKind::gap && snapshot_on_gap_) {
    // The resume point is gone: say so, then give the list as it is now and
    // only the events after it.
    snapshot_on_gap_ = false;
    push(sse_message(e));
    const auto snap = server.view_snapshot();
    skip_through_ = snap.instance == e.instance ? snap.seq : 0;
    push(snapshot_message(snap));
    return;
  }
  snapshot_on_gap_ = false;
  if (e.seq <= skip_through_) {
    return;
  }
  push(sse_message(e));
}

void EventFeed::push(std::string message) {
  {
    const std::lock_guard lock(mu_);
    if (queue_.size() >= backlog_) {
      overflow_ = true;
    } else {
      queue_.push_back(std::move(message));
    }
  }
  // One wake-up per batch: the writer takes everything queued at once.
  if (!wake_posted_.exchange(true)) {
    boost::asio::post(wake_.get_executor(), [self = shared_from_this()] {
      self->wake_posted_ = false;
      self->wake_.cancel();
    });
  }
}

std::string EventFeed::take() {
  const std::lock_guard lock(mu_);
  std::string out;
  for (auto& m : queue_) {
    out += m;
  }
  queue_.clear();
  return out;
}

}  // namespace lifeline::admin
