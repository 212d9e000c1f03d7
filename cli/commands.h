// One options struct + setup + run per verb; main only wires them up.
#pragma once
#include <CLI/CLI.hpp>

namespace wbcli {

void setup_inspect(CLI::App& app);
void setup_demo(CLI::App& app);
// Verbs that report findings set exit_status (1 = a finding) instead of throwing.
void setup_diff(CLI::App& app, int& exit_status);
void setup_doctor(CLI::App& app, int& exit_status);
void setup_verify(CLI::App& app, int& exit_status);
// convert --verify reports a failed check through the exit status too.
void setup_convert(CLI::App& app, int& exit_status);
extern const char* const kDiffSeparator;
void setup_run(CLI::App& app);

}  // namespace wbcli
