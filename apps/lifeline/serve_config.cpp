#include "serve_config.hpp"

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <sstream>

#include "common.hpp"
#include "lifeline/files.hpp"
#include "lifeline/log.hpp"
#include "lifeline/token.hpp"

namespace lifeline::app {

void apply_config(CLI::App& cmd, const std::string& path) {
  std::string text;
  try {
    text = read_text_file(path, "config file");
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  apply_config_text(cmd, text, "config file " + path);
}

void apply_config_text(CLI::App& cmd, std::string_view text, const std::string& origin) {
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    throw UsageError(origin + ": " + std::string(e.description()) + " at " + where.str());
  }
  for (const auto& [key, value] : table) {
    const std::string name(key.str());
    CLI::Option* opt = name == "config" ? nullptr : cmd.get_option_no_throw("--" + name);
    if (opt == nullptr && (name == "log-format" || name == "log-level") && cmd.get_parent() != nullptr) {
      opt = cmd.get_parent()->get_option_no_throw("--" + name);  // global options, keys of the file too
    }
    if (opt == nullptr) {
      std::string msg = origin;
      msg += ": unknown key '" + name + "' (see lifeline serve --help)";
      throw UsageError(msg);
    }
    if (opt->count() > 0) {
      continue;
    }
    std::vector<std::string> items;
    const auto add = [&](const toml::node& n) {
      if (auto s = n.value<std::string>()) {
        items.push_back(*s);
      } else if (auto i = n.value<std::int64_t>()) {
        items.push_back(std::to_string(*i));
      } else if (auto b = n.value<bool>()) {
        items.emplace_back(*b ? "true" : "false");
      } else {
        std::string msg = origin;
        msg += ": key '" + name + "' must be a string, integer or boolean";
        throw UsageError(msg);
      }
    };
    if (const auto* arr = value.as_array()) {
      for (const auto& n : *arr) {
        add(n);
      }
    } else {
      add(value);
    }
    opt->clear();
    for (auto& item : items) {
      opt->add_result(item);
    }
    opt->run_callback();
  }
}

namespace {
// A password file: its first line, without surrounding whitespace.
std::string read_first_line(const std::string& path) {
  const auto text = read_text_file(path, "password file", 4096);
  auto line = std::string_view(text).substr(0, text.find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())) != 0) {
    line.remove_suffix(1);
  }
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())) != 0) {
    line.remove_prefix(1);
  }
  if (line.empty()) {
    throw std::invalid_argument("password file '" + path + "' has no password on its first line");
  }
  return std::string(line);
}
}  // namespace

ClusterOptions cluster_options(const ServeArgs& a) {
  ClusterOptions c;
  c.redis = a.cluster;
  c.node_id = a.node_id;
  c.key_prefix = a.cluster_prefix;
  c.lease_ttl = duration_arg("--cluster-lease", a.cluster_lease);
  c.offline_grace = duration_arg("--offline-grace", a.offline_grace);
  c.stream_length = a.cluster_stream_length;
  c.required = a.cluster_required;
  if (!c.enabled()) {
    if (c.offline_grace.count() != 0 || a.cluster_required || !a.node_id.empty()) {
      throw UsageError("--offline-grace, --node-id and --cluster-required need --cluster redis://HOST:PORT");
    }
    return c;
  }
  if (a.node_id.empty()) {
    throw UsageError("--cluster needs --node-id NAME: this node's name, unique in the cluster");
  }
  if (!a.cluster_password_file.empty()) {
    try {
      c.password = read_first_line(a.cluster_password_file);
    } catch (const std::exception& e) {
      throw UsageError(std::string("--cluster-password-file: ") + e.what());
    }
  }
  return c;
}

ServerOptions to_options(const ServeArgs& a) {
  ServerOptions o;
  o.listen = split_list(a.listen);
  o.threads = a.threads;
  o.heartbeat.default_interval = duration_arg("--interval", a.interval);
  o.heartbeat.default_timeout = duration_arg("--timeout", a.timeout);
  o.heartbeat.min_interval = duration_arg("--min-interval", a.min_interval);
  o.heartbeat.max_interval = duration_arg("--max-interval", a.max_interval);
  o.heartbeat.min_timeout = duration_arg("--min-timeout", a.min_timeout);
  o.heartbeat.max_timeout = duration_arg("--max-timeout", a.max_timeout);
  o.tick = duration_arg("--tick", a.tick);
  o.handshake_timeout = duration_arg("--handshake-timeout", a.handshake_timeout);
  o.duplicates = a.duplicates == "reject"  ? DuplicatePolicy::reject
                 : a.duplicates == "multi" ? DuplicatePolicy::multi
                                           : DuplicatePolicy::takeover;
  o.max_sessions_per_id = a.max_sessions_per_id;
  o.websocket.listen = split_list(a.ws_listen);
  o.websocket.path = a.ws_path;
  o.websocket.allowed_origins = split_list(a.ws_allowed_origins);
  o.websocket.max_upgrade_bytes = a.ws_max_upgrade_bytes;
  o.max_data = a.max_data;
  o.max_hello = a.max_hello;
  o.max_bye = a.max_bye;
  o.max_connections = a.max_connections;
  o.max_connections_per_address = a.max_per_address;
  o.max_outbound = a.max_outbound;
  o.event_buffer = a.event_buffer;
  o.tcp_keepalive = !a.no_keepalive;
  o.tls = a.tls;
  if (!a.auth_secret_file.empty()) {
    try {
      o.auth_secrets = auth::load_secrets(a.auth_secret_file);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--auth-secret-file: ") + e.what());
    }
  }
  if (!a.tls_ticket_key_file.empty()) {
    try {
      o.tls.ticket_secrets = auth::load_secrets(a.tls_ticket_key_file);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--tls-ticket-key-file: ") + e.what());
    }
  }
  o.cluster = cluster_options(a);
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError("invalid configuration: " + err);
  }
  return o;
}

void add_serve_options(CLI::App& cmd_ref, ServeArgs& args_ref) {
  auto* cmd = &cmd_ref;
  auto* args = &args_ref;
  cmd->add_option("--listen,-l", args->listen,
                  "address HOST:PORT to listen on: IPv4, [IPv6], or a name (every address it has) (repeatable; port 0 "
                  "= any free port)")
      ->capture_default_str();
  cmd->add_option("--threads,-t", args->threads,
                  "I/O threads, each with its own sessions and timing wheel (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--interval", args->interval, "default heartbeat interval (clients may propose their own)")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "default liveness timeout: silent this long = offline")
      ->capture_default_str();
  cmd->add_option("--min-interval", args->min_interval, "smallest interval a client may get")->capture_default_str();
  cmd->add_option("--max-interval", args->max_interval, "largest interval a client may get")->capture_default_str();
  cmd->add_option("--min-timeout", args->min_timeout, "smallest timeout a client may get")->capture_default_str();
  cmd->add_option("--max-timeout", args->max_timeout, "largest timeout a client may get")->capture_default_str();
  cmd->add_option("--tick", args->tick, "timing wheel resolution: deaths are reported at most one tick late")
      ->capture_default_str();
  cmd->add_option("--handshake-timeout", args->handshake_timeout, "a connection must send HELLO within this time")
      ->capture_default_str();
  cmd->add_option("--duplicates", args->duplicates,
                  "a second connection with an online id: takeover, reject, or multi (the id holds several "
                  "sessions: tabs, devices)")
      ->check(CLI::IsMember({"takeover", "reject", "multi"}))
      ->capture_default_str();
  cmd->add_option("--max-sessions-per-id", args->max_sessions_per_id,
                  "with --duplicates multi: sessions one id may hold at once (1..1000); one more gets ERROR rejected")
      ->capture_default_str();
  cmd->add_option("--ws-listen", args->ws_listen,
                  "also accept WebSocket clients (browsers) on HOST:PORT (repeatable; wss with --tls-cert)");
  cmd->add_option("--ws-path", args->ws_path, "the path WebSocket upgrade requests must ask for")
      ->capture_default_str();
  cmd->add_option("--ws-allowed-origin", args->ws_allowed_origins,
                  "a web page origin (https://app.example.com) allowed to connect, or * for any (repeatable; "
                  "default: no browser; requests without Origin are always allowed)");
  cmd->add_option("--ws-max-upgrade-bytes", args->ws_max_upgrade_bytes,
                  "largest WebSocket upgrade request, bytes (512..65536; larger gets 431)")
      ->capture_default_str();
  cmd->add_option("--ws-port-file", args->ws_port_file, "write the first bound WebSocket port to this file");
  cmd->add_option("--max-data", args->max_data, "largest DATA payload accepted, bytes")->capture_default_str();
  cmd->add_option("--max-hello", args->max_hello,
                  "largest HELLO payload accepted, bytes (64..4096; bounds memory before the handshake)")
      ->capture_default_str();
  cmd->add_option("--max-bye", args->max_bye, "largest BYE payload accepted, bytes (16..1024)")->capture_default_str();
  cmd->add_option("--max-connections", args->max_connections,
                  "connections beyond this get ERROR too_many_connections (0 = no limit)")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
  cmd->add_option("--max-per-address", args->max_per_address,
                  "connections per source address beyond this get ERROR too_many_connections (0 = no limit)")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
  cmd->add_flag("--no-keepalive", args->no_keepalive, "do not set TCP keepalive / TCP_USER_TIMEOUT");
  cmd->add_option("--max-outbound", args->max_outbound,
                  "unsent bytes a peer may hold before it is closed as a slow consumer (at least 65536)")
      ->capture_default_str();
  cmd->add_option("--event-buffer", args->event_buffer,
                  "presence events kept for subscribers that fall behind or resume (16..10000000); one further "
                  "behind gets a gap")
      ->capture_default_str();
  cmd->add_option("--tls-cert", args->tls.cert_file, "serve TLS with this certificate chain (PEM); with --tls-key");
  cmd->add_option("--tls-key", args->tls.key_file, "private key (PEM) of --tls-cert");
  cmd->add_option("--tls-client-ca", args->tls.client_ca_file,
                  "mutual TLS: require client certificates signed by this CA (PEM); a client's id must be its "
                  "certificate's common name");
  cmd->add_option("--tls-ticket-key-file", args->tls_ticket_key_file,
                  "seal TLS session tickets with keys from the secrets in this file (one per line, the first "
                  "seals, all open), so clients resume after a restart and across nodes sharing the file");
  cmd->add_option("--auth-secret-file", args->auth_secret_file,
                  "require tokens (lifeline token issue) made with a secret in this file (one per line, the first "
                  "signs; two during a rotation)");
  cmd->add_option("--port-file", args->port_file, "write the first bound port to this file once listening");
  cmd->add_option("--config,-c", args->config, "TOML file with any of these options as keys (flags win)");
  cmd->add_option("--data-dir", args->data_dir,
                  "keep presence history (every client ever seen, sessions, events) in DIR/history.sqlite3");
  cmd->add_option("--history-retention", args->history_retention,
                  "history events and sessions older than this are deleted (clients stay)")
      ->capture_default_str();
  cmd->add_option("--cluster", args->cluster,
                  "be one node of a cluster that shares its online list and events through Redis at "
                  "redis://[[user]:password@]HOST:PORT[/DB] (docs/cluster.md)");
  cmd->add_option("--node-id", args->node_id, "with --cluster: this node's name, unique in the cluster");
  cmd->add_option("--cluster-password-file", args->cluster_password_file,
                  "with --cluster: Redis's password, the first line of this file");
  cmd->add_option("--cluster-lease", args->cluster_lease,
                  "with --cluster: a node silent this long loses its clients (node_lost); renewed every third")
      ->capture_default_str();
  cmd->add_option("--offline-grace", args->offline_grace,
                  "with --cluster: delay an id's offline event this long; if it comes back meanwhile (any node) the "
                  "cluster reports moved or resumed instead of offline and online (0 = off)")
      ->capture_default_str();
  cmd->add_option("--cluster-prefix", args->cluster_prefix,
                  "with --cluster: prefix of every Redis key ({braces} make it a Redis Cluster hash tag)")
      ->capture_default_str();
  cmd->add_option("--cluster-stream-length", args->cluster_stream_length,
                  "with --cluster: events kept in the cluster's Redis stream (at least 1000)")
      ->capture_default_str();
  cmd->add_flag("--cluster-required", args->cluster_required,
                "with --cluster: exit at startup if Redis is unreachable (default: serve this node's clients and "
                "retry)");
  add_admin_options(*cmd, args->admin);
  add_hook_options(*cmd, args->hooks);
}

ServerOptions options_from_toml(std::string_view text) {
  CLI::App app;
  ServeArgs args;
  add_serve_options(app, args);
  app.parse(std::vector<std::string>{});
  apply_config_text(app, text, "config");
  return to_options(args);
}

void start_server(Server& server) {
  try {
    server.start();
  } catch (const std::exception& e) {  // cannot bind, or a listen name that does not resolve
    logger()->critical("{}", e.what());
    throw CLI::RuntimeError(1);
  }
}

void stop_server(Server& server, int sig) {
  logger()->info("signal {} received: saying BYE(shutdown) to {} clients", sig, server.online_count());
  server.stop(Reason::shutdown);
}

}  // namespace lifeline::app
