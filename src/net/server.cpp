#include "lifeline/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <future>
#include <iterator>
#include <random>
#include <stdexcept>
#include <system_error>

#include "address.hpp"
#ifndef _WIN32
#include "cluster/cluster.hpp"
#endif
#include "event_dispatcher.hpp"
#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "shard.hpp"
#include "sys.hpp"

namespace lifeline {
using detail::Fd;
using detail::Shard;

namespace {
// Linux: rebind at once after a restart, while old connections sit in
// TIME_WAIT. Windows' SO_REUSEADDR would instead let another process take the
// port from under a running server; its exclusive option is the safe one.
#ifdef _WIN32
constexpr int kReuseOption = SO_EXCLUSIVEADDRUSE;
#else
constexpr int kReuseOption = SO_REUSEADDR;
#endif

// A non-blocking listening socket on `addr`; throws std::system_error naming `text`.
Fd listen_at(const detail::SocketAddress& addr, const std::string& text) {
  Fd fd(detail::sys::socket_nonblocking(addr.family()));
  const int one = 1;
  // IPv6 sockets take IPv6 only, so "[::]:7000" and "0.0.0.0:7000" can both
  // be listed, and a name's IPv4 and IPv6 addresses bind side by side.
  const bool v6_only =
      addr.family() != AF_INET6 || detail::sys::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, one) == 0;
  if (!fd || !v6_only || detail::sys::setsockopt(fd.get(), SOL_SOCKET, kReuseOption, one) != 0 ||
      ::bind(fd.get(), addr.data(), addr.size) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) {
    throw std::system_error(detail::sys::last_socket_error(), std::generic_category(),
                            "cannot listen on " + text + " (" + detail::to_string(addr) + ")");
  }
  return fd;
}

// The address a listening socket is bound to (port 0 resolved).
detail::SocketAddress local_endpoint(const Fd& fd) {
  detail::SocketAddress a;
  if (::getsockname(fd.get(), a.data(), &a.size) != 0) {
    a = {};
  }
  return a;
}

// One listening socket per address `text` resolves to ("localhost" is often
// 127.0.0.1 and ::1). With port 0 they all take the port the first one got, so
// a name has one port. Throws std::invalid_argument (no address) or
// std::system_error (cannot bind), naming `text`.
std::vector<Fd> listen_on(const std::string& text) {
  std::vector<Fd> out;
  std::uint16_t port = 0;
  for (auto addr : detail::resolve_address(text)) {
    if (port != 0) {
      addr.set_port(port);
    }
    out.push_back(listen_at(addr, text));
    port = local_endpoint(out.back()).port();
  }
  return out;
}

// A server run's id: random, so a reader can tell a restarted server from the
// one whose seqs it holds; never 0, which version 1 frames imply.
std::uint64_t new_instance_id() {
  std::random_device rd;
  std::uint64_t id = 0;
  while (id == 0) {
    id = (std::uint64_t{rd()} << 32U) | rd();
  }
  return id;
}

}  // namespace

std::string ServerOptions::validate() const {
  if (listen.empty()) {
    return "at least one listen address is required";
  }
  if (auto err = detail::check_endpoints(listen, "listen"); !err.empty()) {
    return err;
  }
  if (threads > 255) {
    return "threads must be at most 255";
  }
  if (auto hb = heartbeat.validate(); !hb.empty()) {
    return hb;
  }
  if (tick.count() <= 0) {
    return "tick must be positive";
  }
  if (tick > heartbeat.min_timeout) {
    return "tick (" + std::to_string(tick.count()) + " ms) is above min-timeout (" +
           std::to_string(heartbeat.min_timeout.count()) + " ms): detection could never be that precise";
  }
  if (handshake_timeout.count() <= 0) {
    return "handshake-timeout must be positive";
  }
  if (max_data > (16U << 20U)) {
    return "max-data must be at most 16 MiB";
  }
  if (max_hello < 64 || max_hello > proto::kMaxHelloLength) {
    return "max-hello must be 64.." + std::to_string(proto::kMaxHelloLength) + " bytes";
  }
  if (max_bye < 16 || max_bye > proto::kMaxByeLength) {
    return "max-bye must be 16.." + std::to_string(proto::kMaxByeLength) + " bytes";
  }
  if (max_outbound < 65536) {
    return "max-outbound must be at least 64 KiB";
  }
  if (event_buffer < 16 || event_buffer > 10'000'000) {
    return "event-buffer must be 16..10000000 events";
  }
  if (auto err = detail::check_endpoints(websocket.listen, "ws-listen"); !err.empty()) {
    return err;
  }
  if (!websocket.path.starts_with('/') || websocket.path.find_first_of(" ?#\r\n") != std::string::npos) {
    return "ws-path must start with / and hold no space, ? or #: " + websocket.path;
  }
  for (const auto& o : websocket.allowed_origins) {
    if (o != "*" && !o.starts_with("http://") && !o.starts_with("https://")) {
      return "ws-allowed-origin must be * or scheme://host[:port], not " + o;
    }
  }
  if (websocket.max_upgrade_bytes < 512 || websocket.max_upgrade_bytes > 65536) {
    return "ws-max-upgrade-bytes must be 512..65536";
  }
  if (max_sessions_per_id < 1 || max_sessions_per_id > 1000) {
    return "max-sessions-per-id must be 1..1000";
  }
  if (tls.enabled() != !tls.key_file.empty()) {
    return "tls-cert and tls-key go together";
  }
  if (!tls.client_ca_file.empty() && !tls.enabled()) {
    return "tls-client-ca needs tls-cert and tls-key";
  }
  for (const auto& secret : auth_secrets) {
    if (auto problem = auth::secret_problem(secret); !problem.empty()) {
      return "auth secret: " + problem;
    }
  }
#ifdef _WIN32
  if (cluster.enabled()) {
    return "cluster is not part of the Windows build";
  }
#else
  if (auto err = cluster.validate(); !err.empty()) {
    return err;
  }
#endif
  if (!tls.ticket_secrets.empty() && !tls.enabled()) {
    return "tls-ticket-key-file needs tls-cert and tls-key";
  }
  for (const auto& secret : tls.ticket_secrets) {
    if (auto problem = auth::secret_problem(secret); !problem.empty()) {
      return "TLS ticket key: " + problem;
    }
  }
  return {};
}

struct Server::Impl {
  explicit Impl(ServerOptions o)
      : ctx(std::move(o), new_instance_id()), events(ctx.registry.log()), current(ctx.options) {}

  detail::ServerContext ctx;
  detail::EventDispatcher events;  // runs subscribe() handlers
  std::vector<std::uint16_t> ports;
  std::vector<std::uint16_t> ws_ports;
  std::mutex mu;  // start/stop
  bool started = false;
  bool stopped = false;
  std::atomic<std::size_t> shards_ready{0};  // ctx.shards entries metrics() may read (never shrinks)
  ServerOptions current;                     // the reloadable settings as reload() left them (under mu)
  std::atomic<bool> stop_requested{false};
#ifndef _WIN32
  std::unique_ptr<cluster::Cluster> cluster;  // with ServerOptions::cluster
#endif
  std::unique_ptr<detail::EventDispatcher> view_events;  // subscribe_view() handlers, on a cluster node
  // On a cluster node the view exists from construction, so that
  // subscribe_view() before start() is already the cluster's; Redis is
  // contacted from start() on.
  void make_cluster();
};

#ifdef _WIN32
std::string ClusterOptions::validate() const { return enabled() ? "cluster is not part of the Windows build" : ""; }
void Server::Impl::make_cluster() {}
#else
void Server::Impl::make_cluster() {
  if (!ctx.options.cluster.enabled()) {
    return;
  }
  cluster::ServerHooks hooks;
  hooks.end_session = [this](std::uint64_t no, Reason reason, const std::string& text) {
    const auto shard = detail::shard_of(no);
    if (shard >= ctx.shards.size() || ctx.stopping.load()) {
      return;
    }
    ctx.shards[shard]->with_session(no, [reason, text](detail::Session& s) {
      if (reason == Reason::rejected) {
        s.end_with_error(proto::ErrorCode::rejected, text, Reason::rejected);
      } else {
        s.end_with_bye(reason, text);
      }
    });
  };
  hooks.drop_all = [this](const std::string& text) {
    for (auto& shard : ctx.shards) {
      shard->post([s = shard.get(), text] { s->close_clients(Reason::shutdown, text); });
    }
  };
  cluster = std::make_unique<cluster::Cluster>(ctx.options, ctx.registry, new_instance_id(), std::move(hooks));
  ctx.view = &cluster->view();
  view_events = std::make_unique<detail::EventDispatcher>(ctx.view->view_log());
}
#endif

Server::Server(ServerOptions options) {
  if (auto err = options.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  if (options.threads == 0) {
    options.threads = std::max(1U, std::thread::hardware_concurrency());
  }
  impl_ = std::make_unique<Impl>(std::move(options));
  impl_->make_cluster();
}

Server::~Server() {
  try {
    stop();
  } catch (const std::exception& e) {
    logger()->error("stopping the server failed: {}", e.what());  // a destructor must not throw
  }
}

void Server::start() {
  const std::lock_guard lock(impl_->mu);
  if (impl_->started) {
    return;
  }
  auto& ctx = impl_->ctx;
  // Listen first: a port in use fails start() before any thread exists.
  std::vector<Fd> listeners;
  std::vector<std::uint16_t> ports;
  for (const auto& text : ctx.options.listen) {
    auto fds = listen_on(text);
    ports.push_back(local_endpoint(fds.front()).port());
    std::move(fds.begin(), fds.end(), std::back_inserter(listeners));
  }
  impl_->ports = std::move(ports);
  // WebSocket listeners come after the TCP ones: shard 0 tells them apart by index.
  const std::size_t ws_first = listeners.size();
  for (const auto& text : ctx.options.websocket.listen) {
    auto fds = listen_on(text);
    impl_->ws_ports.push_back(local_endpoint(fds.front()).port());
    std::move(fds.begin(), fds.end(), std::back_inserter(listeners));
  }
  for (unsigned i = 0; i < ctx.options.threads; ++i) {
    ctx.shards.push_back(std::make_unique<Shard>(ctx, i));
  }
#ifndef _WIN32
  // Before any shard runs, and before "listening" is logged: its first Redis
  // attempt decides --cluster-required. After the shards exist: its hooks read ctx.shards.
  if (impl_->cluster) {
    impl_->cluster->start();
  }
#endif
  // What protects the port, said once at startup so an operator sees it in the log.
  const std::string security =
      std::string(ctx.tls ? (ctx.tls->requires_client_cert() ? ", mutual TLS" : ", TLS") : ", plain TCP") +
      (ctx.verifier.load() ? ", tokens required" : "");
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const auto where = detail::to_string(local_endpoint(listeners[i]));
    if (i < ws_first) {
      logger()->info("listening on {} ({} I/O threads, tick {} ms{})", where, ctx.shards.size(),
                     ctx.options.tick.count(), security);
    } else {
      logger()->info("listening for WebSocket on {}{} ({}{})", ctx.tls ? "wss://" : "ws://", where,
                     ctx.options.websocket.path, security);
    }
  }
  // Shard 0 accepts on every listening socket and hands connections out round-robin.
  ctx.shards[0]->listen_on(std::move(listeners), ws_first);
  for (auto& shard : ctx.shards) {
    shard->start();
  }
  impl_->shards_ready.store(ctx.shards.size(), std::memory_order_release);
  impl_->started = true;
}

void Server::stop(Reason reason) {
  auto& ctx = impl_->ctx;
  const bool on_server_thread =
      impl_->events.on_this_thread() ||
      std::any_of(ctx.shards.begin(), ctx.shards.end(), [](const auto& s) { return s->on_this_thread(); });
  // From a handler, a stop already under way on another thread may be
  // waiting for this very thread: return instead of queueing behind it.
  if (impl_->stop_requested.exchange(true) && on_server_thread) {
    return;
  }
  const std::lock_guard lock(impl_->mu);
  if (!impl_->started || impl_->stopped) {
    impl_->stop_requested = impl_->stopped;
    return;
  }
  impl_->stopped = true;
  ctx.stopping.store(true);
  // Runs `fn` on a shard's thread and waits for it; inline when already there
  // (stop() called from a handler).
  const auto on_shard = [](Shard& shard, const std::function<void()>& fn) {
    if (shard.on_this_thread()) {
      fn();
      return;
    }
    std::promise<void> done;
    shard.post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  };
  // Stop accepting first. Then every client gets BYE and goes offline, each
  // shard on its own thread; once all have, every offline event is in the
  // log, so a subscriber is sent all of them before its own BYE.
  on_shard(*ctx.shards[0], [&] { ctx.shards[0]->close_listeners(); });
  for (auto& shard : ctx.shards) {
    on_shard(*shard, [&] { shard->close_clients(reason); });
  }
  for (auto& shard : ctx.shards) {
    on_shard(*shard, [&] { shard->close_all(reason); });
  }
  for (auto& shard : ctx.shards) {
    shard->join();  // skips the calling thread's own shard; the destructor reaps it
  }
  impl_->events.drain();  // handlers get every event; from a handler, the thread ends after it
#ifndef _WIN32
  if (impl_->cluster) {
    impl_->cluster->stop();  // after the shards: it publishes their clients' ends, then leaves
  }
#endif
  if (impl_->view_events) {
    impl_->view_events->drain();
  }
  logger()->info("server stopped");
}

bool Server::running() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->started && !impl_->stopped;
}

std::vector<std::uint16_t> Server::ports() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->ports;
}

std::vector<std::uint16_t> Server::ws_ports() const {
  const std::lock_guard lock(impl_->mu);
  return impl_->ws_ports;
}

std::uint64_t Server::subscribe(EventHandler handler) {
  return impl_->events.add(std::move(handler), impl_->ctx.registry.log().last_seq(), std::nullopt);
}

namespace {
// A reader of `log` from just after `after_seq` of `instance`, or from a gap marker.
std::uint64_t add_resuming(detail::EventDispatcher& events, const detail::EventLog& log, Server::EventHandler handler,
                           std::uint64_t instance, std::uint64_t after_seq) {
  const auto from = log.resume_point(instance, after_seq);
  return events.add(std::move(handler), from.cursor,
                    from.gap ? std::optional(log.gap_marker(from.cursor)) : std::nullopt);
}
}  // namespace

std::uint64_t Server::subscribe(EventHandler handler, std::uint64_t instance, std::uint64_t after_seq) {
  return add_resuming(impl_->events, impl_->ctx.registry.log(), std::move(handler), instance, after_seq);
}

namespace {
// subscribe_view() tokens of a cluster node carry this bit: they name a handler of the view's dispatcher.
constexpr std::uint64_t kViewToken = std::uint64_t{1} << 63U;
}  // namespace

void Server::unsubscribe(std::uint64_t token) {
  if ((token & kViewToken) != 0 && impl_->view_events) {
    impl_->view_events->remove(token & ~kViewToken);
  } else {
    impl_->events.remove(token);
  }
}

PresenceSnapshot Server::view_snapshot() const { return impl_->ctx.view->view_snapshot(); }

std::optional<OnlineClient> Server::view_find(std::string_view id) const { return impl_->ctx.view->view_find(id); }

std::optional<std::string> Server::other_node_of(std::string_view id) const {
  const auto c = view_find(id);
  if (!c || c->node.empty() || c->node == impl_->ctx.view->view_node()) {
    return std::nullopt;
  }
  return c->node;
}

std::uint64_t Server::subscribe_view(EventHandler handler) {
  if (!impl_->view_events) {
    return subscribe(std::move(handler));
  }
  return impl_->view_events->add(std::move(handler), impl_->ctx.view->view_log().last_seq(), std::nullopt) | kViewToken;
}

std::uint64_t Server::subscribe_view(EventHandler handler, std::uint64_t instance, std::uint64_t after_seq) {
  if (!impl_->view_events) {
    return subscribe(std::move(handler), instance, after_seq);
  }
  return add_resuming(*impl_->view_events, impl_->ctx.view->view_log(), std::move(handler), instance, after_seq) |
         kViewToken;
}
PresenceSnapshot Server::snapshot() const { return impl_->ctx.registry.stamped_snapshot(); }
std::uint64_t Server::instance() const { return impl_->ctx.registry.log().instance(); }
void Server::on_data(DataHandler handler) { impl_->ctx.on_data = std::move(handler); }

std::vector<OnlineClient> Server::online() const { return impl_->ctx.registry.snapshot(); }
std::size_t Server::online_count() const { return impl_->ctx.registry.count(); }
std::optional<OnlineClient> Server::find(std::string_view id) const { return impl_->ctx.registry.find(id); }
const ServerOptions& Server::options() const { return impl_->ctx.options; }

namespace {
std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// The settings reload() cannot apply, named as the options are, where `a` and `b` differ.
std::vector<std::string> restart_only_changes(const ServerOptions& a, const ServerOptions& b) {
  std::vector<std::string> out;
  const auto note = [&](bool differs, const char* name, const std::string& from, const std::string& to) {
    if (differs) {
      out.push_back(std::string(name) + " " + from + " -> " + to);
    }
  };
  const auto& ha = a.heartbeat;
  const auto& hb = b.heartbeat;
  note(a.listen != b.listen, "listen", "(" + std::to_string(a.listen.size()) + " addresses)",
       "(" + std::to_string(b.listen.size()) + " addresses)");
  note(a.threads != b.threads && b.threads != 0, "threads", std::to_string(a.threads), std::to_string(b.threads));
  note(ha.default_interval != hb.default_interval, "interval", ms_text(ha.default_interval),
       ms_text(hb.default_interval));
  note(ha.default_timeout != hb.default_timeout, "timeout", ms_text(ha.default_timeout), ms_text(hb.default_timeout));
  note(ha.min_interval != hb.min_interval, "min-interval", ms_text(ha.min_interval), ms_text(hb.min_interval));
  note(ha.max_interval != hb.max_interval, "max-interval", ms_text(ha.max_interval), ms_text(hb.max_interval));
  note(ha.min_timeout != hb.min_timeout, "min-timeout", ms_text(ha.min_timeout), ms_text(hb.min_timeout));
  note(ha.max_timeout != hb.max_timeout, "max-timeout", ms_text(ha.max_timeout), ms_text(hb.max_timeout));
  note(a.tick != b.tick, "tick", ms_text(a.tick), ms_text(b.tick));
  note(a.handshake_timeout != b.handshake_timeout, "handshake-timeout", ms_text(a.handshake_timeout),
       ms_text(b.handshake_timeout));
  note(a.duplicates != b.duplicates, "duplicates", "", "(changed)");
  note(a.max_sessions_per_id != b.max_sessions_per_id, "max-sessions-per-id", std::to_string(a.max_sessions_per_id),
       std::to_string(b.max_sessions_per_id));
  note(a.websocket.listen != b.websocket.listen || a.websocket.path != b.websocket.path ||
           a.websocket.allowed_origins != b.websocket.allowed_origins ||
           a.websocket.max_upgrade_bytes != b.websocket.max_upgrade_bytes,
       "ws-listen/ws-path/ws-allowed-origin/ws-max-upgrade-bytes", "", "(changed)");
  note(a.max_data != b.max_data, "max-data", std::to_string(a.max_data), std::to_string(b.max_data));
  note(a.max_hello != b.max_hello, "max-hello", std::to_string(a.max_hello), std::to_string(b.max_hello));
  note(a.max_bye != b.max_bye, "max-bye", std::to_string(a.max_bye), std::to_string(b.max_bye));
  note(a.max_outbound != b.max_outbound, "max-outbound", std::to_string(a.max_outbound),
       std::to_string(b.max_outbound));
  note(a.event_buffer != b.event_buffer, "event-buffer", std::to_string(a.event_buffer),
       std::to_string(b.event_buffer));
  note(a.tcp_keepalive != b.tcp_keepalive, "keepalive", a.tcp_keepalive ? "on" : "off", b.tcp_keepalive ? "on" : "off");
  note(a.tls.cert_file != b.tls.cert_file || a.tls.key_file != b.tls.key_file ||
           a.tls.client_ca_file != b.tls.client_ca_file,
       "tls", "(files)", "(other files)");
  return out;
}
}  // namespace

ReloadResult Server::reload(const ServerOptions& next) {
  if (auto err = next.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  auto verifier = next.auth_secrets.empty() ? nullptr : std::make_shared<const auth::TokenVerifier>(next.auth_secrets);
  const std::lock_guard lock(impl_->mu);
  auto& ctx = impl_->ctx;
  auto& cur = impl_->current;  // what reload() applied last (starts as the constructed options)
  ReloadResult r;
  r.need_restart = restart_only_changes(ctx.options, next);
  if (next.auth_secrets != cur.auth_secrets) {
    r.changed.push_back("auth secrets: " + std::to_string(cur.auth_secrets.size()) + " -> " +
                        std::to_string(next.auth_secrets.size()) + (next.auth_secrets.empty() ? " (tokens off)" : ""));
    ctx.verifier.store(std::move(verifier));
    cur.auth_secrets = next.auth_secrets;
  }
  if (ctx.tls && next.tls.ticket_secrets != cur.tls.ticket_secrets) {
    r.changed.push_back("TLS ticket keys: " + std::to_string(cur.tls.ticket_secrets.size()) + " -> " +
                        std::to_string(next.tls.ticket_secrets.size()) +
                        (next.tls.ticket_secrets.empty() ? " (random keys: earlier tickets no longer resume)" : ""));
    ctx.tls->set_ticket_secrets(next.tls.ticket_secrets);
    cur.tls.ticket_secrets = next.tls.ticket_secrets;
  }
  if (next.max_connections != cur.max_connections ||
      next.max_connections_per_address != cur.max_connections_per_address) {
    r.changed.push_back("max-connections " + std::to_string(cur.max_connections) + " -> " +
                        std::to_string(next.max_connections) + ", max-per-address " +
                        std::to_string(cur.max_connections_per_address) + " -> " +
                        std::to_string(next.max_connections_per_address));
    ctx.limits.set(next.max_connections, next.max_connections_per_address);
    cur.max_connections = next.max_connections;
    cur.max_connections_per_address = next.max_connections_per_address;
  }
  return r;
}

ClusterStatus Server::cluster_status() const {
#ifndef _WIN32
  if (impl_->cluster) {
    return impl_->cluster->status();
  }
#endif
  return {};
}

ServerMetrics Server::metrics() const {
  const auto& ctx = impl_->ctx;
  ServerMetrics m;
  m.instance = ctx.registry.log().instance();
  m.seq = ctx.registry.log().last_seq();
  m.online = ctx.registry.count();
  const auto n = impl_->shards_ready.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    ctx.shards[i]->metrics().add_to(m);
  }
  if (n == 0) {
    detail::ShardMetrics().add_to(m);  // every series, at zero
  }
  return m;
}

bool Server::send(std::string_view id, std::string payload) {
  const auto addrs = impl_->ctx.registry.addresses_of(id);
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    // Each session of the id (several only under `multi`) gets a copy; the last one the original.
    std::string mine = i + 1 == addrs.size() ? std::move(payload) : payload;
    impl_->ctx.shards.at(addrs[i].shard)->with_session(addrs[i].session, [p = std::move(mine)](detail::Session& s) {
      s.send_data(p);
    });
  }
  return !addrs.empty();
}

bool Server::kick(std::string_view id) {
  const auto addrs = impl_->ctx.registry.addresses_of(id);
  for (const auto& addr : addrs) {
    impl_->ctx.shards.at(addr.shard)->with_session(addr.session, [](detail::Session& s) {
      s.end_with_bye(Reason::kicked, "closed by the server");
    });
  }
  return !addrs.empty();
}

}  // namespace lifeline
