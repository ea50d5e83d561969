#pragma once
// A blocking Redis connection (hiredis) with a deadline on every call, for
// the cluster's two threads (docs/architecture.md "Cluster" says why blocking
// calls on threads of their own, not an event loop). Not thread-safe: one
// thread per connection.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace lifeline::cluster {

/// Where Redis is: parsed from "redis://[[user]:password@]host[:port][/db]".
struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  std::string text() const { return host + ":" + std::to_string(port); }
};
/// Throws std::invalid_argument naming what is wrong with `url`.
RedisAddress parse_redis_url(std::string_view url);

/// Any failure to talk to Redis: unreachable, timed out, connection lost, or
/// an error reply (what() says which).
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One reply, converted: strings (and integers, as text) in `str`, arrays in `items`.
struct Reply {
  enum class Kind { nil, string, integer, array, status } kind = Kind::nil;
  std::string str;
  long long integer = 0;
  std::vector<Reply> items;
  bool is_nil() const { return kind == Kind::nil; }
};

class RedisConnection {
 public:
  /// Connects, authenticates and selects the database, each within `timeout`,
  /// which then bounds every later call. Throws RedisError.
  RedisConnection(const RedisAddress& addr, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  /// One command; an error reply throws RedisError with Redis's message.
  Reply call(const std::vector<std::string>& argv);
  /// Several commands in one round trip; replies in order (error replies too,
  /// as status replies starting "ERR"), or RedisError if the connection failed.
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& commands);
  /// Changes the deadline of later calls (a blocking XREAD needs a longer one).
  void set_timeout(std::chrono::milliseconds timeout);

 private:
  struct Free {
    void operator()(redisContext* c) const;
  };
  std::unique_ptr<redisContext, Free> ctx_;
  std::string where_;
};

}  // namespace lifeline::cluster
