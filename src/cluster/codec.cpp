#include "codec.hpp"

#include <boost/json.hpp>
#include <charconv>

namespace lifeline::cluster {
namespace json = boost::json;
namespace {

std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::int64_t to_i64(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// cjson writes whole numbers as integers or in %.14g; both read as a number here.
std::int64_t number(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_int64()) {
    return v->as_int64();
  }
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  if (v->is_double()) {
    return static_cast<std::int64_t>(v->as_double());
  }
  return 0;
}

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string entry_json(const OnlineClient& c, const std::string& node) {
  json::array labels;
  for (const auto& l : c.labels) {
    labels.push_back(json::array{json::string(l.key), json::string(l.value)});
  }
  const json::object o{{"id", c.id},
                       {"node", node},
                       {"s", std::to_string(c.session)},
                       {"rem", c.remote},
                       {"t", transport_name(c.transport)},
                       {"since", unix_ms(c.since)},
                       {"iv", c.heartbeat.interval.count()},
                       {"to", c.heartbeat.timeout.count()},
                       {"rtt", c.rtt.count()},
                       {"lab", std::move(labels)}};
  return json::serialize(o);
}

namespace {
std::optional<OnlineClient> entry_from(const json::object& o) {
  OnlineClient c;
  c.id = text(o, "id");
  c.node = text(o, "node");
  c.session = to_u64(text(o, "s"));
  if (c.id.empty() || c.node.empty() || c.session == 0) {
    return std::nullopt;
  }
  c.remote = text(o, "rem");
  c.transport = transport_from_name(text(o, "t"));
  c.since = from_ms(number(o, "since"));
  c.last_seen = c.since;
  c.heartbeat.interval = std::chrono::milliseconds(number(o, "iv"));
  c.heartbeat.timeout = std::chrono::milliseconds(number(o, "to"));
  c.rtt = std::chrono::microseconds(number(o, "rtt"));
  // cjson turns an empty array into {}: no labels either way.
  if (const auto* lab = o.if_contains("lab"); lab != nullptr && lab->is_array()) {
    for (const auto& pair : lab->as_array()) {
      if (pair.is_array() && pair.as_array().size() == 2 && pair.as_array()[0].is_string() &&
          pair.as_array()[1].is_string()) {
        c.labels.push_back({std::string(pair.as_array()[0].as_string()), std::string(pair.as_array()[1].as_string())});
      }
    }
  }
  return c;
}
}  // namespace

std::optional<OnlineClient> parse_entry(const std::string& raw) {
  boost::system::error_code ec;
  const auto v = json::parse(raw, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return entry_from(v.as_object());
}

std::size_t parse_entry_list(const std::string& raw, std::vector<OnlineClient>& out) {
  boost::system::error_code ec;
  const auto v = json::parse(raw, ec);
  if (ec || !v.is_array()) {
    return 0;
  }
  std::size_t n = 0;
  for (const auto& e : v.as_array()) {
    if (e.is_object()) {
      if (auto c = entry_from(e.as_object())) {
        out.push_back(std::move(*c));
        ++n;
      }
    }
  }
  return n;
}

std::optional<StreamEvent> parse_stream_event(const Reply& fields) {
  StreamEvent ev;
  std::string entry;
  std::string session;
  std::int64_t at = 0;
  std::int64_t last_seen = 0;
  for (std::size_t i = 0; i + 1 < fields.items.size(); i += 2) {
    const auto& k = fields.items[i].str;
    const auto& v = fields.items[i + 1].str;
    if (k == "k") {
      ev.kind = v;
    } else if (k == "id") {
      ev.entry.id = v;
    } else if (k == "node") {
      ev.entry.node = v;
    } else if (k == "s") {
      session = v;
    } else if (k == "rem") {
      ev.entry.remote = v;
    } else if (k == "t") {
      ev.entry.transport = transport_from_name(v);
    } else if (k == "r") {
      ev.reason = proto::reason_from_string(v).value_or(Reason::closed);
    } else if (k == "at") {
      at = to_i64(v);
    } else if (k == "ls") {
      last_seen = to_i64(v);
    } else if (k == "e") {
      entry = v;
    } else if (k == "pn") {
      ev.prev_node = v;
    } else if (k == "ps") {
      ev.prev_session = to_u64(v);
    }
  }
  if (!entry.empty()) {
    auto parsed = parse_entry(entry);
    if (!parsed) {
      return std::nullopt;
    }
    ev.entry = std::move(*parsed);
  } else {
    ev.entry.session = to_u64(session);
  }
  ev.at = from_ms(at);
  ev.last_seen = last_seen != 0 ? from_ms(last_seen) : ev.at;
  if (ev.kind.empty() || ev.entry.id.empty() || ev.entry.node.empty()) {
    return std::nullopt;
  }
  return ev;
}

}  // namespace lifeline::cluster
