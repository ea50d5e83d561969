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
  lifeline::app::add_log_options(app);  // before the subcommands: they inherit the fall-through

  lifeline::app::register_serve(app);
  lifeline::app::register_agent(app);
  lifeline::app::register_tools(app);
#ifdef _WIN32
  app.footer("This Windows build has no TLS, admin API, history, hooks, token or demo commands (docs/operations.md).");
#else
  lifeline::app::register_demo(app);
  lifeline::app::register_token(app);
  lifeline::app::register_history(app);
#endif

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
