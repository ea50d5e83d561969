#include "serve_admin.hpp"

#include "common.hpp"
#include "lifeline/files.hpp"

namespace lifeline::app {
namespace {
constexpr const char* kDefaultAdminListen = "127.0.0.1:7001";
constexpr std::size_t kMinTokenBytes = 16;
}  // namespace

void add_admin_options(CLI::App& cmd, AdminArgs& args) {
  cmd.add_option("--admin-listen", args.listen,
                 std::string("serve the admin HTTP API, event stream, /metrics and the dashboard on HOST:PORT (") +
                     kDefaultAdminListen + " when given without a value; off by default)")
      ->expected(0, 1);
  cmd.add_option("--admin-token-file", args.token_file,
                 "bearer token every admin route but /healthz requires (first line of the file, at least 16 bytes)");
  cmd.add_flag("--insecure-admin", args.insecure, "serve the admin API without a token (trusted networks only)");
  cmd.add_option("--admin-port-file", args.port_file, "write the admin port to this file once listening");
  cmd.add_option("--admin-keepalive", args.keepalive, "an idle event stream gets a comment this often")
      ->capture_default_str();
  cmd.add_option("--admin-request-timeout", args.request_timeout,
                 "an admin request must arrive whole within this (else 408); also the idle limit of a connection")
      ->capture_default_str();
  cmd.add_option("--admin-max-connections", args.max_connections,
                 "admin connections beyond this are answered 503 (event streams count)")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
}

std::string read_admin_token(const std::string& path) {
  auto text = read_text_file(path, "admin token file", 64 * 1024);
  const auto end = text.find_first_of("\r\n");
  auto token = text.substr(0, end);
  const auto first = token.find_first_not_of(" \t");
  const auto last = token.find_last_not_of(" \t");
  token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
  if (token.size() < kMinTokenBytes) {
    throw UsageError("--admin-token-file: the token in '" + path + "' is shorter than " +
                     std::to_string(kMinTokenBytes) + " bytes");
  }
  return token;
}

#ifndef _WIN32  // the admin API is not part of the Windows build: serve refuses its options
std::optional<AdminOptions> to_admin_options(const AdminArgs& a, const ServerTlsOptions& tls) {
  const bool wanted = !a.listen.empty() || !a.token_file.empty() || a.insecure;
  if (!wanted) {
    return std::nullopt;
  }
  AdminOptions o;
  o.listen = a.listen.empty() || a.listen == "-" ? kDefaultAdminListen : a.listen;
  o.insecure = a.insecure;
  if (!a.token_file.empty()) {
    try {
      o.token = read_admin_token(a.token_file);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--admin-token-file: ") + e.what());
    }
  }
  o.tls_cert_file = tls.cert_file;
  o.tls_key_file = tls.key_file;
  o.sse_keepalive = duration_arg("--admin-keepalive", a.keepalive);
  o.request_timeout = duration_arg("--admin-request-timeout", a.request_timeout);
  o.max_connections = a.max_connections;
  if (o.sse_keepalive.count() == 0 || o.request_timeout.count() == 0) {
    throw UsageError("--admin-keepalive and --admin-request-timeout must be more than 0");
  }
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError(err);
  }
  return o;
}
#endif  // _WIN32

}  // namespace lifeline::app
