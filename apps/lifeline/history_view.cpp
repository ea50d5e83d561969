#include "history_view.hpp"

#include <cmath>

#include "lifeline/duration.hpp"

namespace lifeline::app {

boost::json::object history_json(const ClientRecord& client, const ClientHistory& h) {
  boost::json::array sessions;
  for (const auto& s : h.sessions) {
    boost::json::object o{{"since", format_time(s.since)}};
    if (s.until) {
      o["until"] = format_time(*s.until);
      o["reason"] = s.reason;
    }
    if (!s.peer.empty()) {
      o["peer"] = s.peer;
    }
    sessions.push_back(std::move(o));
  }
  boost::json::object o{{"v", 1},
                        {"id", h.id},
                        {"online", client.online},
                        {"first_seen", format_time(client.first_seen)},
                        {"last_seen", format_time(client.last_seen)},
                        {"since", format_time(h.since)},
                        {"until", format_time(h.until)},
                        {"online_ms", h.online.count()},
                        {"availability", std::round(h.availability * 1e6) / 1e6},
                        {"sessions", std::move(sessions)}};
  if (client.last_offline_at) {
    o["offline_at"] = format_time(*client.last_offline_at);
    o["reason"] = client.last_offline_reason;
  }
  return o;
}

KnownClient known_client(const ClientRecord& c) {
  KnownClient k;
  k.id = c.id;
  k.peer = c.last_peer;
  k.last_seen = c.last_seen;
  k.offline_at = c.last_offline_at.value_or(c.last_seen);
  if (const auto r = proto::reason_from_string(c.last_offline_reason)) {
    k.reason = *r;
  } else {
    k.reason_text = c.last_offline_reason;  // the history's own: server_lost
  }
  return k;
}

void append_history_metrics(std::string& out, const HistoryStats& s) {
  const auto put = [&](const char* name, const char* type, const char* help, double v) {
    append_metric(out, name, type, help, v);
  };
  put("lifeline_history_events_written_total", "counter", "Presence events committed to the history database.",
      static_cast<double>(s.events_written));
  put("lifeline_history_write_errors_total", "counter", "Failed opens and writes of the history database.",
      static_cast<double>(s.write_errors));
  put("lifeline_history_dropped_total", "counter", "Events the history's full queue had to drop.",
      static_cast<double>(s.dropped));
  put("lifeline_history_queued", "gauge", "Events waiting for the history writer.", static_cast<double>(s.queued));
  put("lifeline_history_degraded", "gauge", "1 while the history database is unusable (memory only).",
      s.degraded ? 1 : 0);
}

}  // namespace lifeline::app
