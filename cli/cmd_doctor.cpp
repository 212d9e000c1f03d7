// weightbridge doctor FILE... [--into TARGET...] [--json]
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include <nlohmann/json.hpp>

#include "weightbridge/doctor.h"

using nlohmann::json;

namespace wbcli {

void setup_doctor(CLI::App& app, int& exit_status) {
  struct Options {
    std::vector<std::string> files, into;
    std::string arch;
    bool json_out = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("doctor", "Explain why a model fails to load or loads and predicts garbage");
  cmd->add_option("files", o->files, "The model's files")->required();
  cmd->add_option("--arch", o->arch, "Architecture of a weights-only file (Keras model JSON, .h5 or .keras)");
  cmd->add_option("--into", o->into, "The model or architecture it is meant to be loaded into");
  cmd->add_flag("--json", o->json_out, "Print the findings as JSON");
  cmd->callback([o, &exit_status] {
    const auto findings = wb::doctor(o->files, o->into, o->arch);
    size_t serious = 0;
    for (const auto& f : findings) serious += f.severity != "info";
    if (o->json_out) {
      json rows = json::array();
      for (const auto& f : findings)
        rows.push_back({{"severity", f.severity}, {"kind", f.kind}, {"where", f.where}, {"message", f.message},
                        {"evidence", f.evidence}, {"fix", f.fix}});
      std::cout << json{{"findings", rows}}.dump(2) << "\n";
    } else {
      for (const char* sev : {"error", "warning", "info"}) {
        bool header = false;
        for (const auto& f : findings) {
          if (f.severity != sev) continue;
          if (!header) std::cout << sev << "s:\n";
          header = true;
          std::cout << fmt::format("  [{}] {}: {}\n      evidence: {}\n      fix: {}\n", f.kind, f.where, f.message,
                                   f.evidence, f.fix);
        }
      }
      if (findings.empty()) std::cout << "no findings\n";
    }
    exit_status = serious ? 1 : 0;
  });
}

}  // namespace wbcli
