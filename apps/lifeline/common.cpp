#include "common.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "lifeline/duration.hpp"
#include "lifeline/log.hpp"

namespace lifeline::app {

std::string timestamp() { return timestamp(std::chrono::system_clock::now()); }

std::string timestamp(std::chrono::system_clock::time_point t) { return format_time(t); }

std::chrono::milliseconds duration_arg(const std::string& option, const std::string& value) {
  if (auto d = parse_duration(value)) {
    return *d;
  }
  throw UsageError("invalid duration '" + value + "' for " + option + " (use a number and a unit: 250ms, 1s, 2m)");
}

std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) {
        out.push_back(item);
      }
    }
  }
  return out;
}

std::vector<proto::Label> parse_labels(const std::vector<std::string>& values) {
  std::vector<proto::Label> out;
  for (const auto& v : values) {
    const auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("label '" + v + "' is not of the form key=value");
    }
    out.push_back({v.substr(0, eq), v.substr(eq + 1)});
  }
  return out;
}

#ifdef _WIN32
namespace {
// Windows has no sigwait: Ctrl-C, Ctrl-Break and a console close set a flag
// that the waiting thread polls. No SIGHUP, so no reload.
std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }
}  // namespace

int wait_for_termination_signal(const std::function<bool()>& done, const std::function<void()>& /*on_hangup*/) {
  for (;;) {
    if (const int sig = g_signal.load(); sig != 0) {
      return sig;
    }
    if (done && done()) {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a poll of the flag, as sigtimedwait's step
  }
}

void prepare_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGBREAK, on_signal);
}
#else
namespace {
// The signals main() blocks before any thread starts and this process takes
// only by waiting for them: no thread is ever interrupted by one.
sigset_t process_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

int wait_for_termination_signal(const std::function<bool()>& done, const std::function<void()>& on_hangup) {
  const auto set = process_signals();
  // Short waits, so that `done` is seen soon after it holds.
  const timespec step{0, 50'000'000};
  for (;;) {
    const int sig = sigtimedwait(&set, nullptr, &step);
    if (sig == SIGINT || sig == SIGTERM) {
      return sig;
    }
    if (sig == SIGHUP && on_hangup) {
      on_hangup();
    } else if (sig == SIGHUP) {
      logger()->warn("SIGHUP received and ignored: there is nothing to reload (SIGTERM or SIGINT stops)");
    }
    if (done && done()) {
      return 0;
    }
  }
}

#endif

// Bytes as text for a log line: printable ASCII as is, the rest as \xNN.
std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

// Written whole then renamed, so a reader never sees a partial file.
void write_port_file(const std::string& path, std::uint16_t port) {
  const auto tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    logger()->error("cannot write the port file '{}': {}", path, std::strerror(errno));
  }
}

void log_data_at_debug(Server& server) {
  if (!logger()->should_log(spdlog::level::debug)) {
    return;  // then no DATA handler is set at all
  }
  server.on_data([](const std::string& id, std::string_view payload) {
    constexpr std::size_t kShown = 200;
    logger()->debug("data from {}: {} bytes: {}", id, payload.size(), printable(payload.substr(0, kShown)));
  });
}

void add_tool_options(CLI::App& cmd, ToolOptions& o) {
  cmd.add_option("--server,-s", o.servers,
                 "server address HOST:PORT: a name, IPv4, or [IPv6] (comma-separated or repeated to try several)")
      ->capture_default_str();
  cmd.add_option("--connect-timeout", o.connect_timeout, "give up connecting after this long")->capture_default_str();
  cmd.add_flag(
      "--json", o.json,
      "JSON output (docs/json.md): ls prints one object for the whole list, watch one object per line and event");
  add_client_security_options(cmd, o.security);
  cmd.add_option("--admin", o.admin,
                 "ask the admin HTTP API at this URL (http://HOST:PORT or https://...) instead of the protocol port");
  cmd.add_option("--admin-token-file", o.admin_token_file, "bearer token for --admin (first line of the file)");
}

void add_client_security_options(CLI::App& cmd, ClientSecurityArgs& a) {
  cmd.add_flag("--tls", a.tls.enabled, "connect with TLS (the system's CAs unless --tls-ca)");
  cmd.add_option("--tls-ca", a.tls.ca_file,
                 "PEM file of the CAs that may sign the server's certificate (implies --tls)");
  cmd.add_option("--tls-server-name", a.tls.server_name,
                 "name the server's certificate must carry (default: the host of --server)");
  cmd.add_flag("--tls-no-verify-hostname", a.tls_no_verify_hostname,
               "accept any certificate a trusted CA signed, whatever name it carries (not recommended)");
  cmd.add_option("--tls-cert", a.tls.cert_file, "client certificate (PEM) for mutual TLS; with --tls-key");
  cmd.add_option("--tls-key", a.tls.key_file, "client private key (PEM) for mutual TLS");
  auto* token = cmd.add_option("--token", a.token, "authentication token (lifeline token issue)");
  cmd.add_option("--token-file", a.token_file, "file holding the token, read again before every connection attempt")
      ->excludes(token);
}

void apply_client_security(const ClientSecurityArgs& a, ClientOptions& o) {
  o.tls = a.tls;
  o.tls.enabled = a.tls.enabled || !a.tls.ca_file.empty() || !a.tls.cert_file.empty() || !a.tls.server_name.empty();
  o.tls.verify_hostname = !a.tls_no_verify_hostname;
  o.token = a.token;
  o.token_file = a.token_file;
}

#ifndef _WIN32
void prepare_signals() {
  const auto set = process_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}
#endif

namespace {
// The program's one logging setup, as the command line and a config file give it.
struct LogOptions {
  std::string format = "text";
  std::string level = "info";
};
LogOptions& log_options() {
  static LogOptions options;
  return options;
}
}  // namespace

void add_log_options(CLI::App& app) {
  auto& o = log_options();
  app.add_option("--log-format", o.format, "log line format (before or after the subcommand)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", o.level,
                 "trace, debug, info, warn, error, critical, off (before or after the subcommand)")
      ->capture_default_str();
  app.fallthrough();  // subcommands created after this pass these options up to `app`
  app.parse_complete_callback([] {
    try {
      apply_log_options();
    } catch (const UsageError& e) {
      throw CLI::ValidationError("--log-level", e.what());
    }
  });
}

std::pair<std::string, std::string> log_settings() { return {log_options().format, log_options().level}; }

void set_log_settings(const std::pair<std::string, std::string>& format_and_level) {
  log_options().format = format_and_level.first;
  log_options().level = format_and_level.second;
}

void apply_log_options() {
  const auto& o = log_options();
  if (!configure_logging(o.format == "json" ? LogFormat::json : LogFormat::text, o.level)) {
    throw UsageError("unknown log level '" + o.level + "' (trace, debug, info, warn, error, critical, off)");
  }
}

int parse_and_run(CLI::App& app, int argc, char** argv, std::string_view program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return app.exit(e);  // a subcommand's own exit code (a port in use: 1)
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other command-line error is a usage
    // error, exit 2, like a bad configuration value.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const UsageError& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << program << ": invalid configuration: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace lifeline::app
