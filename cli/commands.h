// One options struct + setup + run per verb; main only wires them up.
#pragma once
#include <CLI/CLI.hpp>

namespace wbcli {

void setup_inspect(CLI::App& app);
void setup_convert(CLI::App& app);
void setup_demo(CLI::App& app);
void setup_run(CLI::App& app);

}  // namespace wbcli
