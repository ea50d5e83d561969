#include "redis.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

namespace lifeline::cluster {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((d.count() % 1000) * 1000);
  return tv;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = Reply::Kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.kind = Reply::Kind::status;
      out.str.assign(r->str, r->len);
      if (r->type == REDIS_REPLY_ERROR && out.str.rfind("ERR", 0) != 0) {
        out.str = "ERR " + out.str;  // every error reads as one
      }
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::integer;
      out.integer = r->integer;
      out.str = std::to_string(r->integer);
      break;
    case REDIS_REPLY_ARRAY:  // RESP2: Debian's hiredis 0.14 has no RESP3 types
      out.kind = Reply::Kind::array;
      out.items.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) {
        out.items.push_back(convert(r->element[i]));
      }
      break;
    default: break;  // nil
  }
  return out;
}

int parse_int(std::string_view s, const char* what, std::string_view url) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) {
    throw std::invalid_argument("cluster URL '" + std::string(url) + "': bad " + what + " '" + std::string(s) + "'");
  }
  return v;
}

}  // namespace

RedisAddress parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind(kScheme, 0) != 0) {
    throw std::invalid_argument("cluster URL '" + std::string(url) +
                                "' must start with redis:// (TLS to Redis, rediss://, is not supported: Debian's "
                                "hiredis has no TLS)");
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress a;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto cred = rest.substr(0, at);
    const auto colon = cred.find(':');
    if (colon == std::string_view::npos) {
      a.password = std::string(cred);
    } else {
      a.user = std::string(cred.substr(0, colon));
      a.password = std::string(cred.substr(colon + 1));
    }
    rest = rest.substr(at + 1);
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (slash + 1 < rest.size()) {
      a.db = parse_int(rest.substr(slash + 1), "database number", url);
    }
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("cluster URL '" + std::string(url) + "': unclosed '[' in the host");
    }
    a.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
  } else {
    const auto colon = rest.find(':');
    a.host = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':') {
      throw std::invalid_argument("cluster URL '" + std::string(url) + "': expected ':port' after the host");
    }
    a.port = parse_int(rest.substr(1), "port", url);
    if (a.port == 0 || a.port > 65535) {
      throw std::invalid_argument("cluster URL '" + std::string(url) + "': port must be 1..65535");
    }
  }
  if (a.host.empty()) {
    throw std::invalid_argument("cluster URL '" + std::string(url) + "' has no host");
  }
  return a;
}

void RedisConnection::Free::operator()(redisContext* c) const { redisFree(c); }

RedisConnection::RedisConnection(const RedisAddress& addr, std::chrono::milliseconds timeout) : where_(addr.text()) {
  const auto tv = to_timeval(timeout);
  ctx_.reset(redisConnectWithTimeout(addr.host.c_str(), addr.port, tv));
  if (!ctx_) {
    throw RedisError("cannot allocate a Redis connection");
  }
  if (ctx_->err != 0) {
    throw RedisError("cannot connect to Redis at " + where_ + ": " + ctx_->errstr);
  }
  set_timeout(timeout);
  if (!addr.password.empty()) {
    call(addr.user.empty() ? std::vector<std::string>{"AUTH", addr.password}
                           : std::vector<std::string>{"AUTH", addr.user, addr.password});
  }
  if (addr.db != 0) {
    call({"SELECT", std::to_string(addr.db)});
  }
}

RedisConnection::~RedisConnection() = default;

void RedisConnection::set_timeout(std::chrono::milliseconds timeout) {
  if (redisSetTimeout(ctx_.get(), to_timeval(timeout)) != REDIS_OK) {
    throw RedisError("cannot set the Redis timeout");
  }
}

Reply RedisConnection::call(const std::vector<std::string>& argv) {
  auto replies = pipeline({argv});
  if (replies.front().kind == Reply::Kind::status && replies.front().str.rfind("ERR", 0) == 0) {
    throw RedisError("Redis at " + where_ + " answered " + argv.front() + ": " + replies.front().str);
  }
  return std::move(replies.front());
}

std::vector<Reply> RedisConnection::pipeline(const std::vector<std::vector<std::string>>& commands) {
  if (ctx_->err != 0) {
    throw RedisError("connection to Redis at " + where_ + " failed: " + ctx_->errstr);
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& argv : commands) {
    args.clear();
    lens.clear();
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_.get(), static_cast<int>(args.size()), args.data(), lens.data());
  }
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
      throw RedisError("connection to Redis at " + where_ +
                       " failed: " + (ctx_->err != 0 ? std::string(ctx_->errstr) : std::string("no reply")));
    }
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(convert(reply));
    freeReplyObject(reply);
  }
  return out;
}

}  // namespace lifeline::cluster
