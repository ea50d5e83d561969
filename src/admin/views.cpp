#include "views.hpp"

#include "http_util.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::admin {

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

}  // namespace lifeline::admin
