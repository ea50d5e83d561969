#include "lifeline/presence_json.hpp"

#include "lifeline/duration.hpp"

namespace lifeline {

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
  if (!c.node.empty()) {
    o["node"] = c.node;  // a cluster's entry
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
  if (e.kind != EventKind::gap) {
    o["session"] = e.session;
    o["transport"] = transport_name(e.transport);
  }
  if (e.kind == EventKind::offline || e.kind == EventKind::leave) {
    o["reason"] = std::string(proto::to_string(e.reason));
    o["last_seen"] = format_time(e.last_seen);
  }
  if (!e.node.empty()) {
    o["node"] = e.node;  // a cluster's event
  }
  return o;
}

}  // namespace lifeline
