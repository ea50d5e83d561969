#pragma once
// The admin HTTP API seen from `lifeline ls --admin URL` and `watch --admin
// URL`: one GET, and an event stream read message by message. Blocking
// calls with a deadline each, for the tools' own threads (not thread-safe:
// one client per thread).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "lifeline/client.hpp"

namespace lifeline::app {

/// "http://host:port" or "https://host:port" (a path prefix is allowed).
struct AdminUrl {
  bool https = false;
  std::string host;
  std::string port;
  std::string base;  // "" or "/prefix"
};
/// Throws UsageError naming the URL and what is wrong with it.
AdminUrl parse_admin_url(const std::string& url);

/// One message of an event stream.
struct SseMessage {
  std::string event;
  std::string id;
  std::string data;
};

class AdminClient {
 public:
  /// `tls`: ca_file and hostname checks for https (the system's CAs by default).
  AdminClient(AdminUrl url, std::string token, ClientTlsOptions tls, std::chrono::milliseconds timeout);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  /// GET `target` (after the URL's base): the body of a 200 reply. Throws
  /// std::runtime_error with the server's error message or the network's.
  std::string get(const std::string& target);
  /// GET an event stream and hands each message to `on_message` until it
  /// returns false, the stream ends (returns why), or `stop()` is called.
  /// Throws like get() when the stream cannot be opened.
  /// `on_open` runs once the server has accepted the stream.
  std::string stream(const std::string& target, const std::string& last_event_id, const std::function<void()>& on_open,
                     const std::function<bool(const SseMessage&)>& on_message);
  /// Any thread: ends a stream() in progress.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeline::app
