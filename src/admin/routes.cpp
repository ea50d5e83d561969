#include "routes.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>
#include <variant>

#include "assets.hpp"
#include "lifeline/duration.hpp"
#include "prometheus.hpp"
#include "views.hpp"

namespace lifeline::admin {
namespace {

constexpr std::size_t kDefaultPage = 100;
constexpr std::size_t kMaxPage = 1000;
constexpr auto kDefaultHistoryWindow = std::chrono::hours(24);

Reply json_reply(const boost::json::object& o, http::status status = http::status::ok) {
  Reply r;
  r.status = status;
  r.body = boost::json::serialize(o);
  return r;
}

Reply not_found(std::string_view what) { return error_reply(http::status::not_found, "not_found", what); }

Reply method_not_allowed(std::string_view method, std::string_view path, std::string_view allow) {
  auto r = error_reply(
      http::status::method_not_allowed, "method_not_allowed",
      std::string(method) + " is not allowed on " + std::string(path) + " (allowed: " + std::string(allow) + ")");
  r.headers.emplace_back("Allow", allow);
  return r;
}

Reply bad_request(const std::string& message) { return error_reply(http::status::bad_request, "bad_request", message); }

// The filters of GET /v1/clients, checked.
struct ListQuery {
  std::string prefix;
  std::vector<std::pair<std::string, std::optional<std::string>>> labels;  // key, value (any if absent)
  bool online = true;
  bool offline = false;
  std::size_t limit = kDefaultPage;
  std::optional<std::string> after;
};

std::variant<ListQuery, Reply> parse_list_query(const Target& t) {
  ListQuery q;
  q.prefix = t.param("prefix").value_or("");
  for (const auto& l : t.params("label")) {
    const auto eq = l.find('=');
    if (l.empty() || eq == 0) {
      return bad_request("label must be KEY=VALUE or KEY, got '" + l + "'");
    }
    q.labels.emplace_back(l.substr(0, eq),
                          eq == std::string::npos ? std::nullopt : std::optional<std::string>(l.substr(eq + 1)));
  }
  if (const auto state = t.param("state")) {
    if (*state != "online" && *state != "offline" && *state != "all") {
      return bad_request("state must be online, offline or all, got '" + *state + "'");
    }
    q.online = *state != "offline";
    q.offline = *state != "online";
  }
  if (const auto limit = t.param("limit")) {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc() || end != limit->data() + limit->size() || n == 0 || n > kMaxPage) {
      return bad_request("limit must be a number from 1 to " + std::to_string(kMaxPage) + ", got '" + *limit + "'");
    }
    q.limit = n;
  }
  if (const auto cursor = t.param("cursor")) {
    q.after = decode_cursor(*cursor);
    if (!q.after) {
      return bad_request("cursor '" + *cursor + "' is not one this server gave out");
    }
  }
  return q;
}

bool labels_match(const ListQuery& q, const std::vector<Label>& labels) {
  return std::all_of(q.labels.begin(), q.labels.end(), [&](const auto& want) {
    return std::any_of(labels.begin(), labels.end(), [&](const Label& l) {
      return l.key == want.first && (!want.second || l.value == *want.second);
    });
  });
}

// Offline clients the server knows: its own memory and, beyond it, the history store.
std::vector<KnownClient> known_offline(const Context& ctx, const PresenceSnapshot& snap) {
  auto mine = ctx.offline.all();
  if (!ctx.known_all) {
    return mine;
  }
  auto stored = ctx.known_all();
  std::vector<KnownClient> out;
  std::merge(mine.begin(), mine.end(), stored.begin(), stored.end(), std::back_inserter(out),
             [](const auto& a, const auto& b) { return a.id < b.id; });
  // One entry per id (memory first: it is the newer), none that is online.
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id == b.id; }), out.end());
  std::unordered_set<std::string_view> online;
  for (const auto& c : snap.clients) {
    online.insert(c.id);
  }
  std::erase_if(out, [&](const KnownClient& k) { return online.contains(k.id); });
  return out;
}

Reply list_clients(const Context& ctx, const Target& t) {
  auto parsed = parse_list_query(t);
  if (auto* r = std::get_if<Reply>(&parsed)) {
    return *r;
  }
  const auto& q = std::get<ListQuery>(parsed);
  const auto snap = ctx.server.view_snapshot();
  std::vector<std::pair<std::string, boost::json::object>> rows;  // id, view
  const auto wanted = [&](const std::string& id) { return id.starts_with(q.prefix) && (!q.after || id > *q.after); };
  if (q.online) {
    for (const auto& c : snap.clients) {
      if (wanted(c.id) && labels_match(q, c.labels)) {
        rows.emplace_back(c.id, client_json(c));
      }
    }
  }
  if (q.offline && q.labels.empty()) {  // offline clients carry no labels: a label filter excludes them
    for (const auto& k : known_offline(ctx, snap)) {
      if (wanted(k.id)) {
        rows.emplace_back(k.id, known_json(k));
      }
    }
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  boost::json::array page;
  for (std::size_t i = 0; i < rows.size() && i < q.limit; ++i) {
    page.push_back(std::move(rows[i].second));
  }
  boost::json::object o{{"v", 1},
                        {"instance", instance_text(snap.instance)},
                        {"seq", snap.seq},
                        {"online", snap.clients.size()},
                        {"clients", std::move(page)}};
  if (rows.size() > q.limit) {
    o["next"] = encode_cursor(rows[q.limit - 1].first);
  }
  return json_reply(o);
}

// Kick and DATA reach this node's own clients: one online on another cluster
// node is named as such, not reported as offline.
Reply not_here(const Context& ctx, const std::string& id) {
  if (const auto node = ctx.server.other_node_of(id)) {
    return not_found("client '" + id + "' is online on node " + *node +
                     ", not on this one: kick and DATA reach a node's own clients only");
  }
  return not_found("client '" + id + "' is not online");
}

Reply get_client(const Context& ctx, const std::string& id) {
  // On a cluster node the client may be on another node: the view is the cluster's.
  if (const auto c = ctx.server.view_find(id)) {
    boost::json::object o{{"v", 1}};
    for (auto& kv : client_json(*c)) {
      o.insert(kv);
    }
    return json_reply(o);
  }
  auto known = ctx.offline.find(id);
  if (!known && ctx.known_one) {
    known = ctx.known_one(id);
  }
  if (!known) {
    return not_found("client '" + id + "' is not online and not known to this server");
  }
  boost::json::object o{{"v", 1}};
  for (auto& kv : known_json(*known)) {
    o.insert(kv);
  }
  return json_reply(o);
}

Reply history(const Context& ctx, const std::string& id, const Target& t) {
  if (!ctx.history) {
    return error_reply(http::status::not_found, "history_off",
                       "history is off: start lifeline serve with --data-dir to keep it");
  }
  const auto now = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point until = now;
  std::chrono::system_clock::time_point since = now - kDefaultHistoryWindow;
  for (auto [name, out] : {std::pair{"since", &since}, std::pair{"until", &until}}) {
    if (const auto text = t.param(name)) {
      const auto parsed = parse_time(*text);
      if (!parsed) {
        return bad_request(std::string(name) + " must be an RFC 3339 time such as 2026-12-03T17:20:01Z, got '" + *text +
                           "'");
      }
      *out = *parsed;
    }
  }
  if (since >= until) {
    return bad_request("since must be before until");
  }
  auto body = ctx.history(id, since, until);
  if (!body) {
    return not_found("no history for client '" + id + "'");
  }
  Reply r;
  r.body = std::move(*body);
  return r;
}

Reply metrics(const Context& ctx) {
  Reply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  append_metrics(r.body, ctx.server.metrics(),
                 AdminGauges{ctx.connections.load(), ctx.streams.load(), ctx.requests.load()});
  append_process_metrics(r.body);
  append_cluster_metrics(r.body, ctx.server.cluster_status());
  for (const auto& fn : ctx.metrics) {
    fn(r.body);
  }
  return r;
}

Reply client_routes(Context& ctx, const Request& req, const Target& t) {
  const auto& seg = t.segments;  // "v1", "clients", id[, "data" | "history"]
  const auto& id = seg[2];
  const auto method = req.method();
  if (seg.size() == 3) {
    if (method == http::verb::get) {
      return get_client(ctx, id);
    }
    if (method == http::verb::delete_) {
      if (!ctx.server.kick(id)) {
        return not_here(ctx, id);
      }
      return json_reply({{"v", 1}, {"id", id}, {"kicked", true}});
    }
    return method_not_allowed(req.method_string(), t.path, "GET, DELETE");
  }
  if (seg.size() == 4 && seg[3] == "data") {
    if (method != http::verb::post) {
      return method_not_allowed(req.method_string(), t.path, "POST");
    }
    if (const auto max = ctx.server.options().max_data; req.body().size() > max) {
      return error_reply(
          http::status::payload_too_large, "too_large",
          "DATA is " + std::to_string(req.body().size()) + " bytes; the server's limit is " + std::to_string(max));
    }
    const auto size = req.body().size();
    if (!ctx.server.send(id, req.body())) {
      return not_here(ctx, id);
    }
    return json_reply({{"v", 1}, {"id", id}, {"sent", size}});
  }
  if (seg.size() == 4 && seg[3] == "history") {
    if (method != http::verb::get) {
      return method_not_allowed(req.method_string(), t.path, "GET");
    }
    return history(ctx, id, t);
  }
  return not_found("no route " + t.path);
}

Reply static_routes(Context& ctx, const Request& req, const Target& t) {
  static const std::unordered_set<std::string_view> kPaths{"/",        "/healthz",         "/readyz",
                                                           "/metrics", "/v1/openapi.json", "/v1/clients"};
  if (!kPaths.contains(t.path)) {
    return not_found("no route " + t.path);
  }
  if (req.method() != http::verb::get) {
    return method_not_allowed(req.method_string(), t.path, "GET");
  }
  if (t.path == "/v1/clients") {
    return list_clients(ctx, t);
  }
  if (t.path == "/metrics") {
    return metrics(ctx);
  }
  Reply r;
  if (t.path == "/") {
    r.body = std::string(kDashboardHtml);
    r.content_type = "text/html; charset=utf-8";
  } else if (t.path == "/healthz") {
    r.body = R"({"v":1,"status":"ok"})";
  } else if (t.path == "/readyz") {
    // A degraded cluster node is ready: it serves its clients (docs/cluster.md);
    // the body says what it cannot do.
    const bool ready = ctx.server.running();
    const auto cluster = ctx.server.cluster_status();
    r.status = ready ? http::status::ok : http::status::service_unavailable;
    if (!ready) {
      r.body = error_body("unavailable", "the presence server is not running");
    } else if (cluster.enabled) {
      boost::json::object o{{"v", 1}, {"status", "ready"}, {"cluster", cluster.synced ? "synced" : "degraded"}};
      if (!cluster.synced) {
        o["cluster_error"] = cluster.last_error.empty() ? std::string("joining") : cluster.last_error;
      }
      r.body = boost::json::serialize(o);
    } else {
      r.body = R"({"v":1,"status":"ready"})";
    }
  } else {
    r.body = std::string(kOpenApiJson);
  }
  return r;
}

}  // namespace

Reply error_reply(http::status status, std::string_view code, std::string_view message) {
  Reply r;
  r.status = status;
  r.body = error_body(code, message);
  return r;
}

bool Context::token_ok(std::string_view presented) const {
  const std::lock_guard lock(token_mu);
  if (options.token.empty()) {
    return options.insecure;
  }
  return presented.size() == options.token.size() &&
         CRYPTO_memcmp(presented.data(), options.token.data(), presented.size()) == 0;
}

std::optional<Reply> check_auth(const Context& ctx, const Request& req, const Target& t) {
  if (t.path == "/healthz") {
    return std::nullopt;
  }
  std::string presented;
  const auto header = req[http::field::authorization];
  if (header.starts_with("Bearer ")) {
    presented = std::string(header.substr(7));
  } else if (const auto q = t.param("access_token")) {
    presented = *q;
  }
  if (ctx.token_ok(presented)) {
    return std::nullopt;
  }
  auto r = error_reply(
      http::status::unauthorized, "unauthorized",
      presented.empty() ? "this route needs the admin token: Authorization: Bearer TOKEN" : "the admin token is wrong");
  r.headers.emplace_back("WWW-Authenticate", presented.empty() ? R"(Bearer realm="lifeline")"
                                                               : R"(Bearer realm="lifeline", error="invalid_token")");
  return r;
}

Reply route(Context& ctx, const Request& req, const Target& t) {
  const auto& seg = t.segments;
  if (seg.size() >= 3 && seg[0] == "v1" && seg[1] == "clients" && !seg[2].empty()) {
    return client_routes(ctx, req, t);
  }
  return static_routes(ctx, req, t);
}

}  // namespace lifeline::admin
