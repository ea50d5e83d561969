#pragma once
/// lifeline::AdminServer: the HTTP face of a Server (docs/api.md): the online
/// list, one client, kick, DATA, Server-Sent Events with resume, Prometheus
/// metrics, health, and the dashboard page.
///
/// Threading: it runs on one thread of its own with its own Asio io_context,
/// never on an I/O thread of the Server: it reads the Server's snapshots,
/// metrics() and event stream (as one more subscriber), so nothing it does
/// slows a heartbeat. start(), stop(), port() and set_token() are thread-safe.
/// The hooks (history, extra_metrics) are called on the admin thread and
/// must be set before start().

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/server.hpp"

namespace lifeline {

struct AdminOptions {
  /// "host:port" (IPv4, "[v6]:port" or a name); port 0 picks a free one.
  std::string listen = "127.0.0.1:7001";
  /// Bearer token every route but /healthz requires; empty with `insecure`
  /// only. Given as "Authorization: Bearer TOKEN" or "?access_token=TOKEN".
  std::string token;
  bool insecure = false;
  /// HTTPS with this certificate chain and key (PEM) when cert_file is set.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Connections beyond this are answered 503 `too_many_connections`.
  std::size_t max_connections = 64;
  /// Largest request (head and body), bytes; past it: 413.
  std::size_t max_request = std::size_t{1} << 20U;
  /// A request must arrive whole within this (else 408); also the idle limit
  /// of a kept-alive connection.
  std::chrono::milliseconds request_timeout{10000};
  /// An event stream sends a comment this often when idle, so proxies keep it open.
  std::chrono::milliseconds sse_keepalive{15000};
  /// Events a slow event-stream reader may have unsent before it is closed (it
  /// resumes with Last-Event-ID).
  std::size_t sse_backlog = 10000;
  /// Offline clients remembered in memory for GET /v1/clients/{id} (the
  /// history store, when set, remembers every one).
  std::size_t remember_offline = 10000;

  /// Empty if usable, else a message naming the offending option.
  std::string validate() const;
};

/// A client that is not online, as the admin API shows it.
struct KnownClient {
  std::string id;
  std::string peer;
  std::chrono::system_clock::time_point last_seen;
  std::chrono::system_clock::time_point offline_at;
  Reason reason = Reason::none;
  /// Overrides `reason` when set: a reason of the history's own (`server_lost`).
  std::string reason_text;
};

/// Appends one Prometheus series (HELP and TYPE lines, then its sample) to
/// `out`: what an AdminServer::MetricsFn adds. `type` is counter or gauge.
void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, double value);

class AdminServer {
 public:
  /// GET /v1/clients/{id}/history: a JSON body, or nullopt for "no history
  /// for this id". Unset: the route answers 404 `history_off`.
  using HistoryFn = std::function<std::optional<std::string>(
      std::string_view id, std::chrono::system_clock::time_point since, std::chrono::system_clock::time_point until)>;
  /// Offline clients known beyond the admin server's own memory (a history
  /// store): one by id, and every one (sorted by id).
  using KnownFn = std::function<std::optional<KnownClient>(std::string_view id)>;
  using KnownListFn = std::function<std::vector<KnownClient>()>;
  /// Appends Prometheus text (complete series with HELP and TYPE) to /metrics.
  using MetricsFn = std::function<void(std::string& out)>;

  /// Throws std::invalid_argument naming a bad option or an unreadable TLS file.
  AdminServer(Server& server, AdminOptions options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void set_history(HistoryFn fn);
  void set_known(KnownFn one, KnownListFn all);
  void add_metrics(MetricsFn fn);

  /// Binds and starts the admin thread. Throws std::system_error (cannot
  /// bind) or std::invalid_argument (bad address), naming the address.
  void start();
  /// Closes every connection, event streams included, and joins the thread.
  /// Idempotent; a stopped AdminServer does not start again.
  void stop();
  /// The bound port (after start()).
  std::uint16_t port() const;
  /// Replaces the bearer token (SIGHUP reload); requests from now on need the new one.
  void set_token(std::string token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeline
