// weightbridge diff A... -- B... [--json]
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include "weightbridge/diff.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

using nlohmann::json;

namespace wbcli {
namespace {

struct DiffOptions {
  std::vector<std::string> a, b;
  bool json_out = false;
  std::string kernel_flip_a, kernel_flip_b;
};

wb::ImportOptions import_options(const std::string& flip) {
  wb::ImportOptions o;
  if (flip == "yes" || flip == "no") o.kernel_flip = flip == "yes";
  else if (!flip.empty()) wb::fail(wb::ErrorKind::Usage, "--kernel-flip-a/-b take yes or no");
  return o;
}

std::string side(const std::string& layer, const std::string& name) {
  return layer.empty() ? "-" : layer + (name.empty() ? "" : " [" + name + "]");
}

int run(const DiffOptions& o) {
  if (o.b.empty())
    wb::fail(wb::ErrorKind::Usage, "separate the two models with --: weightbridge diff A_FILES... -- B_FILES...");
  if (o.a.empty() || o.b.empty()) wb::fail(wb::ErrorKind::Usage, "usage: weightbridge diff A... -- B...");
  const wb::Model a = wb::load_model(o.a, std::nullopt, import_options(o.kernel_flip_a));
  const wb::Model b = wb::load_model(o.b, std::nullopt, import_options(o.kernel_flip_b));
  const auto diffs = wb::diff_models(a, b);
  size_t n_ident = 0, n_tr = 0, n_diff = 0, n_a = 0, n_b = 0;
  json rows = json::array();
  for (const auto& d : diffs) {
    if (d.verdict == "identical") ++n_ident;
    else if (d.verdict == "transform") ++n_tr;
    else if (d.verdict == "different") ++n_diff;
    else if (d.verdict == "only-a") ++n_a;
    else ++n_b;
    rows.push_back({{"layer_a", d.layer_a}, {"layer_b", d.layer_b}, {"role", d.role}, {"name_a", d.name_a},
                    {"name_b", d.name_b}, {"shape_a", d.shape_a}, {"shape_b", d.shape_b}, {"verdict", d.verdict},
                    {"transform", d.transform}, {"max_abs", d.max_abs}, {"max_rel", d.max_rel}, {"notes", d.notes}});
  }
  const bool equivalent = n_diff == 0 && n_a == 0 && n_b == 0;
  if (o.json_out) {
    std::cout << json{{"a", {{"framework", a.prov.framework}, {"version", a.prov.version}}},
                      {"b", {{"framework", b.prov.framework}, {"version", b.prov.version}}},
                      {"tensors", rows}, {"equivalent", equivalent}}.dump(2)
              << "\n";
  } else {
    std::cout << fmt::format("a: {} {} ({} layers with weights)\n", a.prov.framework, a.prov.version,
                             std::count_if(a.nodes.begin(), a.nodes.end(), [](const wb::Node& n) { return !n.weights.empty(); }));
    std::cout << fmt::format("b: {} {} ({} layers with weights)\n", b.prov.framework, b.prov.version,
                             std::count_if(b.nodes.begin(), b.nodes.end(), [](const wb::Node& n) { return !n.weights.empty(); }));
    for (const auto& d : diffs) {
      std::string detail = d.transform;
      if (d.verdict == "different")
        detail = fmt::format("max abs {:.6g}, max rel {:.6g}", d.max_abs, d.max_rel);
      for (const auto& n : d.notes) detail += "; " + n;
      std::cout << fmt::format("  {:<10} {:<40} {:<40} {:<16} {}\n", d.verdict, side(d.layer_a, d.name_a),
                               side(d.layer_b, d.name_b), d.role, detail);
    }
    std::cout << fmt::format("{} identical, {} identical after a transform, {} different, {} only in a, {} only in b: {}\n",
                             n_ident, n_tr, n_diff, n_a, n_b, equivalent ? "equivalent" : "NOT equivalent");
  }
  return equivalent ? 0 : 1;
}

}  // namespace

// "--" separates the two sides; CLI11 would swallow it, so main rewrites it to this option.
const char* const kDiffSeparator = "--b-side";

void setup_diff(CLI::App& app, int& exit_status) {
  auto o = std::make_shared<DiffOptions>();
  auto* cmd = app.add_subcommand("diff", "Compare the tensors of two models (any formats): A... -- B...");
  cmd->add_option("a", o->a, "Files of the first model (a weights-only Keras file with its model JSON)")->required();
  cmd->add_option(kDiffSeparator, o->b, "Files of the second model (written after --)")->expected(1, 1 << 20);
  cmd->add_flag("--json", o->json_out, "Print one JSON document");
  cmd->add_option("--kernel-flip-a", o->kernel_flip_a, "yes|no for a Keras 1 file on the a side");
  cmd->add_option("--kernel-flip-b", o->kernel_flip_b, "yes|no for a Keras 1 file on the b side");
  cmd->callback([o, &exit_status] { exit_status = run(*o); });
}

}  // namespace wbcli
