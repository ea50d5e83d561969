#include "http_session.hpp"

namespace lifeline::admin {

http::response<http::string_body> make_response(Reply reply, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{reply.status, version};
  res.set(http::field::server, "lifeline");
  res.set(http::field::content_type, reply.content_type);
  res.set(http::field::cache_control, "no-store");
  for (auto& [name, value] : reply.headers) {
    res.set(name, value);
  }
  res.body() = std::move(reply.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

std::optional<Reply> read_error_reply(const Context& ctx, boost::system::error_code ec, bool got_some) {
  if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return error_reply(http::status::payload_too_large, "too_large",
                       "request larger than " + std::to_string(ctx.options.max_request) + " bytes");
  }
  if (ec == beast::error::timeout) {
    if (!got_some) {
      return std::nullopt;  // an idle kept-alive connection: just close it
    }
    return error_reply(
        http::status::request_timeout, "timeout",
        "request not received whole within " + std::to_string(ctx.options.request_timeout.count()) + " ms");
  }
  // Beast's parse errors (not the peer closing, before or inside a request) are malformed requests.
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return error_reply(http::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;
}

std::variant<StreamStart, Reply> parse_stream_start(const Request& req, const Target& t) {
  StreamStart s;
  if (const auto snap = t.param("snapshot")) {
    if (*snap != "1" && *snap != "0" && *snap != "true" && *snap != "false") {
      return error_reply(http::status::bad_request, "bad_request", "snapshot must be 1 or 0, got '" + *snap + "'");
    }
    s.snapshot = *snap == "1" || *snap == "true";
  }
  // EventSource sends the header on a reconnect; the query form is for readers that cannot set headers.
  std::string last{req["Last-Event-ID"]};
  if (last.empty()) {
    last = t.param("last_event_id").value_or("");
  }
  if (!last.empty()) {
    s.resume = parse_event_id(last);
    if (!s.resume) {
      return error_reply(http::status::bad_request, "bad_request",
                         "Last-Event-ID must be <instance>-<seq> as the stream's ids are, got '" + last + "'");
    }
  }
  return s;
}

}  // namespace lifeline::admin
