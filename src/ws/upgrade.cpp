#include "upgrade.hpp"

#include <algorithm>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <string_view>

#include "hmac.hpp"

namespace lifeline::ws {
namespace http = boost::beast::http;

struct Upgrade::Parser {
  http::request_parser<http::empty_body> p;
};

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(std::span<const std::uint8_t> in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{in[i]} << 16U) | (i + 1 < in.size() ? std::uint32_t{in[i + 1]} << 8U : 0U) |
                            (i + 2 < in.size() ? std::uint32_t{in[i + 2]} : 0U);
    out += kAlphabet[(n >> 18U) & 63U];
    out += kAlphabet[(n >> 12U) & 63U];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6U) & 63U] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63U] : '=';
  }
  return out;
}

// A Sec-WebSocket-Key is 16 random bytes in base64: 22 characters and "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || !key.ends_with("==")) {
    return false;
  }
  return std::all_of(key.begin(), key.end() - 2, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// True if the comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
  const http::token_list list(value);
  return std::any_of(list.begin(), list.end(),
                     [&](const auto& t) { return iequals(std::string_view(t.data(), t.size()), token); });
}

std::string status_line(int status) {
  switch (status) {
    case 400: return "400 Bad Request";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 408: return "408 Request Timeout";
    case 426: return "426 Upgrade Required";
    case 431: return "431 Request Header Fields Too Large";
    default: return "503 Service Unavailable";
  }
}

std::string plain_response(int status, const std::string& body, const std::string& extra_headers) {
  return "HTTP/1.1 " + status_line(status) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size() + 1) +
         "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body + "\n";
}

}  // namespace

Upgrade::Upgrade(const UpgradeRules& rules) : rules_(rules) {}

std::string Upgrade::accept_key(std::string_view key) {
  std::string text(key);
  text += kGuid;
  const auto digest = auth::detail::sha1(text);
  return base64(digest);
}

std::string Upgrade::refusal(int status, std::string_view text) {
  return plain_response(status, std::string(text), {});
}

Upgrade::Status Upgrade::refuse(int status, std::string problem, const std::string& extra_headers) {
  problem_ = std::move(problem);
  response_ = plain_response(status, problem_, extra_headers);
  return Status::refused;
}

Upgrade::Status Upgrade::feed(std::span<const std::uint8_t> in, std::size_t& used) {
  // Counted here, not only by Beast's header limit: the parser may take
  // complete lines and leave the rest (found by fuzz/websocket_fuzz.cpp).
  seen_ += in.size();
  // A request that arrives whole (the usual case) is parsed where it lies.
  // One split across reads is kept from its first byte and parsed afresh
  // each time; it is at most max_request_bytes, so that stays cheap.
  const std::size_t before = pending_.size();
  std::string_view whole(reinterpret_cast<const char*>(in.data()), in.size());
  if (before > 0) {
    pending_.append(whole);
    whole = pending_;
  }
  // The parser lives on the stack, for this call only: what it allocates is
  // freed before any other connection allocates, so an upgrade leaves no
  // holes in the heap between long-lived sessions.
  Parser parser;
  parser.p.header_limit(static_cast<std::uint32_t>(rules_.max_request_bytes));
  parser.p.body_limit(0);
  std::size_t consumed = 0;
  boost::beast::error_code ec;
  while (!parser.p.is_header_done()) {
    const auto n = parser.p.put(boost::asio::const_buffer(whole.data() + consumed, whole.size() - consumed), ec);
    consumed += n;
    if (ec == http::error::header_limit || (ec == http::error::need_more && seen_ > rules_.max_request_bytes)) {
      return refuse(431, "upgrade request larger than " + std::to_string(rules_.max_request_bytes) + " bytes");
    }
    if (ec == http::error::need_more || (!ec && n == 0)) {
      if (before == 0) {
        pending_.assign(whole);
      }
      used = in.size();
      return Status::need_more;
    }
    if (ec == http::error::body_limit) {
      return refuse(400, "a WebSocket upgrade request has no body");
    }
    if (ec) {
      return refuse(400, "malformed HTTP request: " + ec.message());
    }
  }
  used = consumed - before;
  const auto status = decide(parser);
  std::string().swap(pending_);
  return status;
}

Upgrade::Status Upgrade::decide(const Parser& parser) {
  const auto& req = parser.p.get();
  constexpr std::string_view kUpgradeHeaders = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  const std::string_view target(req.target().data(), req.target().size());
  const auto path = target.substr(0, target.find('?'));
  if (path != rules_.path) {
    return refuse(404, "no WebSocket endpoint at " + std::string(path) + " (it is " + rules_.path + ")");
  }
  if (req.method() != http::verb::get) {
    return refuse(405, "a WebSocket upgrade is a GET, not " + std::string(req.method_string()), "Allow: GET\r\n");
  }
  if (req.version() < 11) {
    return refuse(400, "a WebSocket upgrade needs HTTP/1.1");
  }
  if (req.has_content_length() || req.chunked()) {
    return refuse(400, "a WebSocket upgrade request has no body");
  }
  if (!lists_token(req[http::field::upgrade], "websocket") || !lists_token(req[http::field::connection], "upgrade")) {
    return refuse(426, "this is a WebSocket endpoint: send Upgrade: websocket and Connection: Upgrade",
                  std::string(kUpgradeHeaders));
  }
  if (req[http::field::sec_websocket_version] != "13") {
    return refuse(426, "Sec-WebSocket-Version must be 13", std::string(kUpgradeHeaders));
  }
  const auto key = req[http::field::sec_websocket_key];
  if (!valid_key(std::string_view(key.data(), key.size()))) {
    return refuse(400, "Sec-WebSocket-Key missing or not 16 bytes in base64");
  }
  if (const auto origin = req.find(http::field::origin); origin != req.end()) {
    const std::string_view o(origin->value().data(), origin->value().size());
    const auto& allowed = rules_.allowed_origins;
    if (std::none_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return a == "*" || iequals(a, o); })) {
      return refuse(403, "origin " + std::string(o) + " is not allowed (--ws-allowed-origin)");
    }
  }
  response_ =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
      accept_key(std::string_view(key.data(), key.size())) + "\r\n\r\n";
  return Status::accepted;
}

}  // namespace lifeline::ws
