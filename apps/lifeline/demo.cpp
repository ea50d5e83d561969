// lifeline demo: placeholder until the scripted story lands (being written now).
#include "common.hpp"
namespace lifeline::app {
void register_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the whole story on one machine");
  cmd->callback([] { throw UsageError("demo is not built yet"); });
}
}  // namespace lifeline::app
