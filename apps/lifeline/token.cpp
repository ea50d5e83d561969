// lifeline token issue / verify: authentication tokens from a secret file
// (include/lifeline/token.hpp).

#include "lifeline/token.hpp"

#include <iostream>

#include "common.hpp"
#include "lifeline/duration.hpp"

namespace lifeline::app {
namespace {

struct TokenArgs {
  std::string id;
  std::string ttl = "24h";
  std::vector<std::string> labels;
  std::string secret_file;
  std::string token;
};

std::vector<std::string> secrets_of(const std::string& file) {
  try {
    return auth::load_secrets(file);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--secret-file: ") + e.what());
  }
}

void run_issue(const TokenArgs& a) {
  const auto ttl = duration_arg("--ttl", a.ttl);
  if (ttl.count() <= 0) {
    throw UsageError("--ttl must be positive");
  }
  auth::TokenClaims claims{a.id, std::chrono::system_clock::now() + ttl, parse_labels(a.labels)};
  try {
    std::cout << auth::issue_token(claims, secrets_of(a.secret_file).front()) << "\n";
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

void run_verify(const TokenArgs& a) {
  const auth::TokenVerifier verifier(secrets_of(a.secret_file));
  const auto v = verifier.verify(a.token, a.id, std::chrono::system_clock::now());
  if (!v.ok) {
    std::cerr << "lifeline: token rejected: " << v.error << "\n";
    throw CLI::RuntimeError(1);
  }
  std::cout << "id=" << v.claims.id << " expires=" << timestamp(v.claims.expires);
  for (const auto& l : v.claims.labels) {
    std::cout << " " << l.key << "=" << l.value;
  }
  std::cout << "\n";
}

}  // namespace

void register_token(CLI::App& app) {
  auto* cmd = app.add_subcommand("token", "make and check authentication tokens (serve --auth-secret-file)");
  cmd->require_subcommand(1);
  auto args = std::make_shared<TokenArgs>();

  auto* issue = cmd->add_subcommand("issue", "print a token for one client id, signed with the file's first secret");
  issue->add_option("--id,-i", args->id, "the client id the token is for")->required();
  issue->add_option("--ttl", args->ttl, "how long the token is valid")->capture_default_str();
  issue->add_option("--label", args->labels, "label key=value the server sets on the session (repeatable)");
  issue->add_option("--secret-file", args->secret_file, "file of secrets, one per line (openssl rand -hex 32)")
      ->required();
  issue->callback([args] { run_issue(*args); });

  auto* verify = cmd->add_subcommand("verify", "check a token as the server would; print its id, expiry and labels");
  verify->add_option("token", args->token, "the token")->required();
  verify->add_option("--id,-i", args->id, "also require it to be for this id");
  verify->add_option("--secret-file", args->secret_file, "file of secrets, one per line")->required();
  verify->callback([args] { run_verify(*args); });
}

}  // namespace lifeline::app
