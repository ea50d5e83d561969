// lifeline-bench: the load generator (docs/benchmarks.md) as a developer tool
// of its own, so the product binary holds only what a deployment runs. It
// shares the option helpers of the lifeline program (lifeline_cli) and starts
// its workers by re-executing itself (/proc/self/exe worker ...).

#include "bench.hpp"
#include "common.hpp"

namespace {

int run(int argc, char** argv) {
  // As in the lifeline program (the fleet unblocks SIGINT/SIGTERM where
  // Ctrl-C should end the run).
  lifeline::app::prepare_signals();

  CLI::App app{"lifeline-bench: load generator for lifeline and MQTT servers (docs/benchmarks.md)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lifeline-bench ") + LIFELINE_VERSION);
  lifeline::app::register_bench(app);

  return lifeline::app::parse_and_run(app, argc, argv, "lifeline-bench");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return 1;
  }
}
