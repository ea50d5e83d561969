#pragma once
// The admin API's request/response routes (docs/api.md), all but the event
// stream (event_stream.hpp): the online list, one client, kick, DATA,
// history, metrics, health, the OpenAPI document and the dashboard page.
// Runs on the admin thread.

#include <boost/beast/http.hpp>
#include <string>
#include <utility>
#include <vector>

#include "context.hpp"
#include "http_util.hpp"

namespace lifeline::admin {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

struct Reply {
  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A JSON error reply.
Reply error_reply(http::status status, std::string_view code, std::string_view message);

/// Null if `req` may proceed, else the 401 reply (every path but /healthz needs the token).
std::optional<Reply> check_auth(const Context& ctx, const Request& req, const Target& t);

/// Answers one request (not /v1/events).
Reply route(Context& ctx, const Request& req, const Target& t);

}  // namespace lifeline::admin
