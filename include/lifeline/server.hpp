#pragma once
/// lifeline::Server: accepts clients, runs the heartbeat, keeps the online list.
///
/// Threading: the server runs N I/O threads ("shards"), each with its own
/// event loop, sessions and timing wheel, and one event thread that runs the
/// presence-event handlers. Every public member function is thread-safe and
/// may be called from any thread, including from inside a handler (stop()
/// from a handler returns without waiting for the calling thread itself,
/// which ends when the handler returns). Data handlers run on an I/O thread
/// and must not block. The destructor must not run on a thread of the server.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/cluster.hpp"
#include "lifeline/heartbeat.hpp"
#include "lifeline/metrics.hpp"
#include "lifeline/presence.hpp"

namespace lifeline {

/// TLS on the client protocol. PEM files, read once at construction.
struct ServerTlsOptions {
  /// Certificate chain and private key; TLS is on when cert_file is set.
  std::string cert_file;
  std::string key_file;
  /// Mutual TLS: clients must present a certificate signed by this CA, and a
  /// client's id must equal its certificate's subject common name (an empty
  /// HELLO id takes it).
  std::string client_ca_file;
  /// Secrets for session-ticket keys (`--tls-ticket-key-file`: one per line,
  /// at least 32 bytes each). The first encrypts new tickets, every one
  /// decrypts, so tickets outlive a restart, a rotation, and the node that
  /// issued them (give a fleet the same file). Empty: random keys made at
  /// startup, so resumption works until the server restarts. Reloadable.
  std::vector<std::string> ticket_secrets;
  bool enabled() const { return !cert_file.empty(); }
};

/// Where and how the server accepts WebSocket clients (browsers). Each
/// session on them is a session like any other, listed with transport `ws`
/// (`wss` when ServerOptions::tls is set: TLS applies to every listener).
struct WebSocketOptions {
  /// "host:port" addresses, as ServerOptions::listen; empty = no WebSocket.
  std::vector<std::string> listen;
  /// The one path upgrade requests must ask for; others get 404.
  std::string path = "/lifeline";
  /// Origins a browser may connect from, exactly ("https://app.example.com"),
  /// or "*" for any. Empty: no browser at all. A request without an Origin
  /// header (not a browser) is always accepted.
  std::vector<std::string> allowed_origins;
  /// Largest upgrade request (request line and headers); larger gets 431.
  /// It must arrive within handshake_timeout, or it gets 408.
  std::size_t max_upgrade_bytes = 8192;
};

struct ServerOptions {
  /// "host:port" addresses to listen on: IPv4 literals, "[v6]:port", or names
  /// resolved at start() ("localhost:7000" listens on each address the name
  /// has). Port 0 picks a free port, the same for all of a name's addresses (see ports()).
  std::vector<std::string> listen{"127.0.0.1:7000"};
  /// I/O threads; 0 = one per hardware thread.
  unsigned threads = 0;
  /// Allowed heartbeat ranges and defaults; client proposals are clamped into them.
  HeartbeatLimits heartbeat{};
  /// Timing wheel resolution: a dead client is reported at most one tick late.
  std::chrono::milliseconds tick{50};
  /// A connection must complete HELLO within this time.
  std::chrono::milliseconds handshake_timeout{5000};
  DuplicatePolicy duplicates = DuplicatePolicy::takeover;
  /// With DuplicatePolicy::multi: the most sessions one id may hold at once;
  /// one more is answered ERROR `rejected`.
  std::size_t max_sessions_per_id = 8;
  /// WebSocket listeners for browsers (docs/protocol.md section 11).
  WebSocketOptions websocket;
  /// Largest DATA payload accepted, bytes.
  std::uint32_t max_data = 65536;
  /// Largest HELLO and BYE payloads accepted, bytes: caps at or below the
  /// protocol's limits (4096 and 1024), checked from the frame header before
  /// any payload is kept (ERROR too_large). A lower max_hello lowers what each
  /// connection can make the server hold before its handshake.
  std::uint32_t max_hello = 4096;
  std::uint32_t max_bye = 1024;
  /// A peer whose unsent output exceeds this is closed as a slow consumer.
  std::size_t max_outbound = 4U << 20U;
  /// Connections beyond these are answered ERROR `too_many_connections` and
  /// closed at once; 0 = no limit (the process's descriptor limit still is one).
  std::size_t max_connections = 0;
  /// Per source address; counts every connection, handshake or not.
  std::size_t max_connections_per_address = 0;
  /// Presence events kept in memory for readers that fall behind or resume
  /// (SUBSCRIBE with a resume point, subscribe() after a seq); a reader
  /// further behind gets a `gap` event instead. About 150 bytes each.
  std::size_t event_buffer = 4096;
  /// Set SO_KEEPALIVE and TCP_USER_TIMEOUT from each session's heartbeat.
  bool tcp_keepalive = true;
  /// Token authentication (lifeline/token.hpp): with secrets set, every HELLO
  /// must carry an unexpired token made with one of them for the id it asks
  /// for, or it is answered ERROR `unauthorized`; no one can take over an id
  /// without its token. Two secrets during a rotation. Empty = no tokens.
  std::vector<std::string> auth_secrets;
  ServerTlsOptions tls;
  /// Several servers, one online list, through Redis (docs/cluster.md). Linux only.
  ClusterOptions cluster;

  /// Empty if usable, else a message naming the offending option.
  std::string validate() const;
};

/// What Server::reload() did: one line per setting it changed ("max_connections
/// 100 -> 200"), and one per setting that differs but needs a restart.
struct ReloadResult {
  std::vector<std::string> changed;
  std::vector<std::string> need_restart;
};

class Server {
 public:
  using EventHandler = std::function<void(const PresenceEvent&)>;
  using DataHandler = std::function<void(const std::string& id, std::string_view payload)>;

  /// Throws std::invalid_argument naming the bad option (a TLS file that
  /// cannot be loaded, a secret that is too short, ...).
  explicit Server(ServerOptions options);
  /// Stops (as stop(Reason::shutdown)) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Resolves every listen address (a name binds each of its addresses),
  /// binds them and starts the I/O threads. Throws std::invalid_argument
  /// naming the address if a name does not resolve, std::system_error if an
  /// address cannot be bound, or if ClusterOptions::required and Redis cannot
  /// be reached (else a cluster node starts alone and keeps trying).
  void start();
  /// Sends BYE(reason) to every client, and once every resulting offline
  /// event has reached every subscriber (SUBSCRIBE sessions and handlers),
  /// closes the rest and joins the threads. Idempotent; returns once all
  /// threads have stopped (but the calling one, from a handler).
  void stop(Reason reason = Reason::shutdown);
  bool running() const;

  /// Bound ports, in the order of ServerOptions::listen (valid after start()).
  std::vector<std::uint16_t> ports() const;
  /// Bound WebSocket ports, in the order of WebSocketOptions::listen (valid after start()).
  std::vector<std::uint16_t> ws_ports() const;

  /// Presence events (online, offline with reason, takeover) from now on, in
  /// sequence order, one at a time, on the server's event thread: never on an
  /// I/O thread and never under a lock, so a handler may call any member
  /// function, subscribe(), unsubscribe() and stop() included. It should not
  /// block for long: handlers share the thread. A handler that falls more than
  /// `event_buffer` events behind gets one `gap` event in place of what it
  /// missed. Returns a token for unsubscribe().
  std::uint64_t subscribe(EventHandler handler);
  /// The same, from just after `after_seq` of the run `instance` (both from an
  /// event or a snapshot() seen before): exactly the events after it, or, when
  /// this run no longer has them (too old, or another run's), first a `gap`
  /// event, then the events from now on.
  std::uint64_t subscribe(EventHandler handler, std::uint64_t instance, std::uint64_t after_seq);
  /// Never waits for a handler: after it returns, the handler is not called
  /// again, but for a call already running on the event thread. So what a
  /// handler uses must outlive that call: keep it alive until stop() has
  /// returned (the event thread has ended then) or the Server is destroyed.
  void unsubscribe(std::uint64_t token);
  /// Application DATA from clients, on the I/O thread of the sending client. Set before start().
  void on_data(DataHandler handler);

  /// The online list at this moment (sorted by id), its size, one entry.
  std::vector<OnlineClient> online() const;
  /// The online list with the seq of the last event it reflects: a reader that
  /// takes it and then subscribe(handler, instance, seq) misses and doubles nothing.
  PresenceSnapshot snapshot() const;
  /// This server run's id, random, in every event and snapshot (never 0).
  std::uint64_t instance() const;
  std::size_t online_count() const;
  std::optional<OnlineClient> find(std::string_view id) const;

  /// The cluster this server is a node of (ServerOptions::cluster); `enabled`
  /// is false on a server alone. online(), snapshot(), subscribe() and the
  /// rest stay this server's own (hooks and history read them); what the
  /// server shows its readers (LIST, SUBSCRIBE, the admin API) is the view:
  ClusterStatus cluster_status() const;
  /// The online list readers see: on a cluster node the whole cluster's, each
  /// entry naming its node (ClusterStatus::synced says whether it is
  /// current); on a server alone, snapshot().
  PresenceSnapshot view_snapshot() const;
  /// One id's entry of view_snapshot() without copying the list (with the
  /// `multi` policy, its first session); on a server alone, find().
  std::optional<OnlineClient> view_find(std::string_view id) const;
  /// The cluster node holding `id` when it is online on another node than
  /// this one (where send() and kick() cannot reach it); nullopt otherwise.
  std::optional<std::string> other_node_of(std::string_view id) const;
  /// subscribe() to the events of view_snapshot()'s list: on a cluster node the
  /// cluster's, numbered by this node's view; on a server alone, subscribe().
  /// unsubscribe() ends either kind.
  std::uint64_t subscribe_view(EventHandler handler);
  std::uint64_t subscribe_view(EventHandler handler, std::uint64_t instance, std::uint64_t after_seq);

  /// Counters and histograms summed over the I/O threads (lifeline/metrics.hpp).
  /// Reads relaxed atomics the threads own: never waits for, or slows, one.
  ServerMetrics metrics() const;

  /// Sends DATA to an online client; false if the id is not online.
  bool send(std::string_view id, std::string payload);
  /// Closes a client's session with reason `kicked`; false if not online.
  bool kick(std::string_view id);

  /// The options as constructed (reload() does not change them).
  const ServerOptions& options() const;

  /// Applies what can change while every client stays connected: the auth
  /// secrets (checked from the next HELLO on; sessions already online stay)
  /// and the connection limits (for connections from now on). Every other
  /// difference from the running options is reported in need_restart and
  /// left as it is. Throws std::invalid_argument naming the option if `next`
  /// is invalid; nothing changes then. Thread-safe.
  ReloadResult reload(const ServerOptions& next);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeline
