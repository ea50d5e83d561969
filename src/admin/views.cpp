#include "views.hpp"

#include "http_util.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::admin {

boost::json::object client_json(const OnlineClient& c) {
  boost::json::object labels;
  for (const auto& l : c.labels) {
    labels[l.key] = l.value;
  }
  boost::json::object o{{"id", c.id},
                        {"online", true},
                        {"peer", c.remote},
                        {"transport", transport_name(c.transport)},
                        {"session", c.session},
                        {"since", format_time(c.since)},
                        {"last_seen", format_time(c.last_seen)},
                        {"interval_ms", c.heartbeat.interval.count()},
                        {"timeout_ms", c.heartbeat.timeout.count()},
                        {"labels", std::move(labels)}};
  if (c.rtt.count() != 0) {
    o["rtt_us"] = c.rtt.count();  // absent until measured
  }
  return o;
}

boost::json::object known_json(const KnownClient& c) {
  boost::json::object o{{"id", c.id}, {"online", false}};
  if (!c.peer.empty()) {
    o["peer"] = c.peer;
  }
  o["last_seen"] = format_time(c.last_seen);
  o["offline_at"] = format_time(c.offline_at);
  if (!c.reason_text.empty()) {
    o["reason"] = c.reason_text;
  } else if (c.reason != Reason::none) {
    o["reason"] = std::string(proto::to_string(c.reason));
  }
  return o;
}

boost::json::object event_json(const PresenceEvent& e) {
  boost::json::object o{{"v", 1},
                        {"seq", e.seq},
                        {"kind", std::string(proto::to_string(e.kind))},
                        {"at", format_time(e.at)},
                        {"instance", instance_text(e.instance)}};
  if (!e.id.empty()) {
    o["id"] = e.id;  // a gap names no client
  }
  if (!e.remote.empty()) {
    o["peer"] = e.remote;
  }
  if (e.kind == EventKind::offline) {
    o["reason"] = std::string(proto::to_string(e.reason));
    o["last_seen"] = format_time(e.last_seen);
  }
  return o;
}

}  // namespace lifeline::admin
