// lifeline: the presence server, an agent, tools and the demo, as one program.
// The load generator is a program of its own, lifeline-bench (bench_main.cpp).

#include "common.hpp"
#include "lifeline/log.hpp"

namespace {

int run(int argc, char** argv) {
  lifeline::app::prepare_signals();

  CLI::App app{"lifeline: application-level heartbeats and a live online list"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lifeline ") + LIFELINE_VERSION);
  std::string log_format = "text";
  std::string log_level = "info";
  app.add_option("--log-format", log_format, "log line format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")->capture_default_str();
  app.parse_complete_callback([&] {
    if (!lifeline::configure_logging(log_format == "json" ? lifeline::LogFormat::json : lifeline::LogFormat::text,
                                     log_level)) {
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
    }
  });

  lifeline::app::register_serve(app);
  lifeline::app::register_agent(app);
  lifeline::app::register_tools(app);
  lifeline::app::register_demo(app);
  lifeline::app::register_token(app);

  return lifeline::app::parse_and_run(app, argc, argv, "lifeline");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    // Everything expected is handled in run(); this only keeps an exception
    // thrown while reporting one from escaping main.
    return 1;
  }
}
