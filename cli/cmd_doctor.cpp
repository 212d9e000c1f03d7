// weightbridge doctor FILE... [--into TARGET...] [--to keras|keras3|mxnet] [--arch FILE] [--json]
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include <nlohmann/json.hpp>

#include "weightbridge/doctor.h"

using nlohmann::json;

namespace wbcli {
namespace {

struct Severity {
  const char* name;
  const char* title;
};
constexpr Severity kSeverities[] = {
    {"error", "ERRORS: the model will fail to load, or load and compute something else"},
    {"warning", "WARNINGS: likely wrong unless the fix is applied"},
    {"info", "NOTES: differences weightbridge convert handles exactly"}};

std::string plural(size_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

void print_human(const wb::DoctorReport& rep) {
  size_t count[3] = {};
  for (const auto& f : rep.findings)
    for (size_t i = 0; i < 3; ++i) count[i] += f.severity == kSeverities[i].name;
  std::cout << fmt::format("doctor (target: {}): {}, {}, {}\n", rep.target, plural(count[0], "error"),
                           plural(count[1], "warning"), plural(count[2], "note"));
  if (rep.findings.empty()) {
    std::cout << "no findings\n";
    return;
  }
  size_t number = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (!count[i]) continue;
    std::cout << "\n" << kSeverities[i].title << "\n";
    for (const auto& f : rep.findings) {
      if (f.severity != kSeverities[i].name) continue;
      std::cout << fmt::format("{:>3}. [{}{}] {}: {}\n", ++number, f.kind, f.code.empty() ? "" : "/" + f.code, f.where,
                               f.message);
      if (!f.evidence.empty()) std::cout << "     evidence: " << f.evidence << "\n";
      if (!f.fix.empty()) std::cout << "     fix:      " << f.fix << "\n";
    }
  }
}

}  // namespace

void setup_doctor(CLI::App& app, int& exit_status) {
  struct Options {
    std::vector<std::string> files, into;
    std::string arch, to;
    bool json_out = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("doctor", "Explain why a model fails to load or loads and predicts garbage");
  cmd->add_option("files", o->files, "The model's files")->required();
  cmd->add_option("--arch", o->arch, "Architecture of a weights-only file (Keras model JSON, .h5 or .keras)");
  cmd->add_option("--into", o->into, "The model or architecture it is meant to be loaded into");
  cmd->add_option("--to", o->to,
                  "The framework it is going to: keras, keras3 or mxnet (default: that of --into; else keras for an MXNet "
                  "or Keras 1 source, mxnet for a Keras 2/3 source)");
  cmd->add_flag("--json", o->json_out, "Print the findings as JSON");
  cmd->callback([o, &exit_status] {
    const auto rep = wb::doctor(o->files, o->into, o->arch, o->to);
    size_t serious = 0;
    for (const auto& f : rep.findings) serious += f.severity != "info";
    if (o->json_out) {
      json rows = json::array();
      for (const auto& f : rep.findings)
        rows.push_back({{"severity", f.severity}, {"kind", f.kind}, {"code", f.code}, {"where", f.where},
                        {"message", f.message}, {"evidence", f.evidence}, {"fix", f.fix}});
      std::cout << json{{"target", rep.target}, {"findings", rows}}.dump(2) << "\n";
    } else {
      print_human(rep);
    }
    exit_status = serious ? 1 : 0;
  });
}

}  // namespace wbcli
