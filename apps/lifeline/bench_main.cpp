// lifeline-bench: the load generator (docs/benchmarks.md) as a developer tool
// of its own, so the product binary holds only what a deployment runs. It
// shares the option helpers of the lifeline program (lifeline_cli) and starts
// its workers by re-executing itself (/proc/self/exe worker ...).

#include <csignal>
#include <iostream>

#include "bench.hpp"
#include "common.hpp"

namespace {

int run(int argc, char** argv) {
  // As in the lifeline program: SIGINT/SIGTERM blocked before any thread starts
  // (the fleet unblocks them where Ctrl-C should end the run), SIGPIPE ignored
  // (a worker's pipe or a server's socket may close under a write).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"lifeline-bench: load generator for lifeline and MQTT servers (docs/benchmarks.md)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lifeline-bench ") + LIFELINE_VERSION);
  lifeline::app::register_bench(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const lifeline::app::UsageError& e) {
    std::cerr << "lifeline-bench: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lifeline-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return 1;
  }
}
