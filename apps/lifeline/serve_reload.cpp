#include "serve_reload.hpp"

#include "common.hpp"

namespace lifeline::app {
namespace {
void copy_given(const std::vector<std::pair<std::string, std::vector<std::string>>>& given, CLI::App& app) {
  for (const auto& [name, values] : given) {
    auto* opt = app.get_option_no_throw(name);
    if (opt == nullptr) {
      continue;
    }
    opt->clear();
    opt->add_result(values);
    opt->run_callback();
  }
}
}  // namespace

ServeReloader::ServeReloader(const CLI::App& cmd) {
  for (const auto* opt : cmd.get_options()) {
    if (opt->count() > 0) {
      given_.emplace_back(opt->get_name(), opt->results());
    }
  }
  if (const auto* root = cmd.get_parent()) {
    for (const auto* opt : root->get_options()) {
      if (opt->count() > 0 && (opt->check_lname("log-format") || opt->check_lname("log-level"))) {
        given_global_.emplace_back(opt->get_name(), opt->results());
      }
    }
  }
}

ServeReloader::Reread ServeReloader::reread() const {
  // The log options as plain values first: the running logger changes only
  // once the whole file has been read and found good.
  std::string format = "text";
  std::string level = "info";
  CLI::App root;
  root.add_option("--log-format", format)->check(CLI::IsMember({"text", "json"}));
  root.add_option("--log-level", level);
  auto* cmd = root.add_subcommand("serve");
  ServeArgs args;
  add_serve_options(*cmd, args);
  root.parse("serve", false);
  copy_given(given_global_, root);
  copy_given(given_, *cmd);
  if (!args.config.empty()) {
    apply_config(*cmd, args.config);
  }
  return Reread{std::move(args), {format, level}};
}

}  // namespace lifeline::app
