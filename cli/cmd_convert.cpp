// weightbridge convert SRC... --to mxnet|keras -o OUT [--arch FILE] [--dtype ...] [--kernel-flip yes|no]
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "core/io.h"
#include "model/rnn_rules.h"
#include "weightbridge/checks.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

namespace wbcli {
namespace {

struct ConvertOptions {
  std::vector<std::string> sources;
  std::string to;
  std::string out;
  std::string arch;
  std::string dtype = "keep";
  std::string kernel_flip;
  std::string flatten_order;  // --flatten-order
  std::string data_format;    // --data-format
  std::vector<std::string> input_shape;
  bool densify = false;
  std::string manifest;
  std::string symbol_dialect = "attrs";
  bool verify = false;
  wb::VerifyOptions verify_opt;
  PolicyOptions policy;
  bool sigmoid_for_hard_sigmoid = false;  // --accept-sigmoid-for-hard-sigmoid (MXNet RNN gates)
  bool strict_statistics = false;         // --strict-statistics: BN statistics at initial values fail
};

using nlohmann::json;

// "transpose(2, 3, 1, 0) then transpose(3, 2, 0, 1)": two permutations that cancel (a keras-mxnet
// kernel already in MXNet's order) read as what they are, the tensor as stored.
std::string simplify_transform(const std::string& t) {
  static const std::regex two(R"(^transpose\(([0-9, ]+)\) then transpose\(([0-9, ]+)\)$)");
  std::smatch m;
  if (!std::regex_match(t, m, two)) return t;
  auto ints = [](const std::string& s) {
    std::vector<size_t> v;
    std::stringstream ss(s);
    for (std::string x; std::getline(ss, x, ',');) v.push_back(std::stoul(x));
    return v;
  };
  const auto a = ints(m[1]), b = ints(m[2]);
  if (a.size() != b.size()) return t;
  for (size_t i = 0; i < b.size(); ++i)
    if (b[i] >= a.size() || a[b[i]] != i) return t;
  return "none (" + t + " cancel)";
}

// One manifest row: source tensor (as stored) -> target tensor (as written).
// sha256s are computed only for --manifest (they read every tensor again).
json manifest_row(const wb::Node* node, const wb::Weight* w, const std::string& role, const std::string& target_name,
                  const std::string& to_target, const wb::Tensor& out, bool with_sha) {
  json r = {{"layer", node ? node->name : ""}, {"role", role}, {"target_name", target_name},
            {"dtype_after", wb::dtype_name(out.dtype)}, {"shape_after", out.shape}};
  if (with_sha) r["sha256_after"] = wb::sha256_hex(out.load());
  if (w) {
    r["source_name"] = w->source;
    r["dtype_before"] = wb::dtype_name(w->stored.dtype);
    r["shape_before"] = w->stored.shape;
    if (with_sha) r["sha256_before"] = wb::sha256_hex(w->stored.load());
    std::string t = w->transform;
    if (!to_target.empty()) t += (t.empty() ? "" : " then ") + to_target;
    r["transform"] = t.empty() ? "none" : simplify_transform(t);
  } else {
    r["source_name"] = nullptr;
    r["transform"] = to_target;
  }
  return r;
}

json verify_json(const wb::VerifyResult& r, const wb::VerifyOptions& opt) {
  json outs = json::array();
  for (const auto& c : r.outputs)
    outs.push_back({{"a", c.name_a}, {"b", c.name_b}, {"shape", c.shape}, {"shape_b", c.shape_b}, {"max_abs", c.max_abs}, {"max_rel", c.max_rel},
                    {"within", c.within}});
  return {{"ok", r.ok}, {"input", r.input_description}, {"atol", opt.atol}, {"rtol", opt.rtol}, {"outputs", outs},
          {"first_divergence", r.first_divergence.empty() ? json(nullptr) : json(r.first_divergence)}};
}

void write_manifest(const ConvertOptions& o, const wb::Model& m, const json& tensors,
                    const std::vector<std::string>& written, const json& verify) {
  const auto& p = o.policy.policy;
  json policy = {{"strict", !(p.allow_missing || p.ignore_extra || p.skip_mismatch)}, {"allow_missing", p.allow_missing},
                 {"ignore_extra", p.ignore_extra}, {"skip_mismatch", p.skip_mismatch}, {"cast_dtype", p.cast_dtype},
                 {"map", o.policy.map_file.empty() ? json(nullptr) : json(o.policy.map_file)}, {"dtype", o.dtype}, {"kernel_flip", o.kernel_flip.empty() ? json(nullptr) : json(o.kernel_flip)},
                 {"densify", o.densify},
                 {"flatten_order", o.flatten_order.empty() ? json(nullptr) : json(o.flatten_order)},
                 {"data_format", o.data_format.empty() ? json(nullptr) : json(o.data_format)}, {"input_shape", o.input_shape.empty() ? json(nullptr) : o.input_shape.size() == 1 ? json(o.input_shape[0]) : json(o.input_shape)}};
  json doc = {{"tool", "weightbridge 0.1.0"}, {"sources", o.sources}, {"arch", o.arch.empty() ? json(nullptr) : json(o.arch)},
              {"source", {{"format", m.prov.format}, {"framework", m.prov.framework}, {"version", m.prov.version},
                          {"backend", m.prov.backend}, {"data_format", m.prov.data_format}}},
              {"quirks", m.prov.notes}, {"target", {{"framework", o.to}, {"files", written}}},
              {"policy", policy}, {"tensors", tensors}, {"verify", verify}};
  wb::AtomicFile f(o.manifest);
  f.write(doc.dump(2) + "\n");
  f.commit();
}

// --dtype: every float weight cast to the given dtype. A cast that changes values is reported per
// tensor with its rounding error (failure cases BR-19, BR-21); one that turns finite values into
// inf is refused: inf is never written.
void apply_dtype(wb::Model& m, const std::string& dtype, const std::string& file) {
  if (dtype == "keep") return;
  const auto t = wb::dtype_from_name(dtype);
  if (!t || !wb::dtype_info(*t).is_float) wb::fail(wb::ErrorKind::Usage, "--dtype must be keep, float32, float16, float64 or bfloat16");
  for (auto& n : m.nodes)
    for (auto& w : n.weights)
      if (wb::dtype_info(w.tensor.dtype).is_float && w.tensor.dtype != *t) {
        const std::string cast = std::string("cast ") + wb::dtype_name(w.tensor.dtype) + "->" + wb::dtype_name(*t);
        wb::Tensor out = wb::cast(w.tensor, *t);
        const std::string name = w.source.empty() ? n.name + "." + w.role : w.source;
        const wb::CastReport r = wb::cast_report(w.tensor, out);
        if (r.overflow)
          wb::fail(wb::ErrorKind::Unsupported,
                   fmt::format("--dtype {}: {} of {} values overflow to inf (largest |x| {:.6g}){}; keep the dtype "
                               "(--dtype keep) or use a wider one",
                               dtype, r.overflow, r.count, r.largest,
                               r.underflow ? fmt::format(" and {} underflow to 0", r.underflow) : std::string()),
                   file, "tensor '" + name + "'");
        if (r.changed)
          m.prov.notes.push_back(fmt::format(
              "warning: tensor {}: {} changes {} of {} values (max abs error {:.6g}, max rel error {:.6g}{})", name, cast,
              r.changed, r.count, r.max_abs, r.max_rel, r.underflow ? fmt::format(", {} non-zero values become 0", r.underflow) : std::string()));
        w.transform += std::string(w.transform.empty() ? "" : " + ") + cast;
        w.tensor = std::move(out);
      }
}

// BatchNorm statistics at their initial values while gamma/beta are trained (failure case BR-26):
// a warning, or with --strict-statistics a mapping error.
void check_statistics(wb::Model& m, bool strict, const std::string& file) {
  for (const auto& name : wb::batchnorm_statistics_at_initial_values(m)) {
    const std::string what = "BatchNorm running statistics are at their initial values (moving_mean all 0, "
                             "moving_variance all 1) while gamma/beta are trained: the checkpoint probably lacks the "
                             "statistics";
    if (strict) wb::fail(wb::ErrorKind::Mapping, what + " (--strict-statistics)", file, "layer '" + name + "'");
    m.prov.notes.push_back("warning: layer " + name + ": " + what + "; outputs will be nearly constant");
  }
}

// -o must name files in an existing directory: a prefix for mxnet, a file for keras.
void check_output_path(const ConvertOptions& o) {
  const std::filesystem::path out(o.out);
  if (o.out.empty() || o.out.back() == '/' || std::filesystem::is_directory(out))
    wb::fail(wb::ErrorKind::Usage, o.to == "mxnet" ? "-o is a file prefix (PREFIX-symbol.json, PREFIX-0000.params), not a directory"
                                                   : "-o must name the .h5 file to write, not a directory", o.out);
  const auto parent = out.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent))
    wb::fail(wb::ErrorKind::Io, "output directory does not exist", parent.string());
  const std::string ext = out.extension().string();
  if (o.to == "mxnet" && (ext == ".h5" || ext == ".hdf5" || ext == ".keras" || ext == ".json" || ext == ".params"))
    wb::fail(wb::ErrorKind::Usage, "-o for --to mxnet is a prefix (it writes PREFIX-symbol.json and PREFIX-0000.params); "
                                   "drop the '" + ext + "'", o.out);
  if (o.to == "keras" && ext != ".h5" && ext != ".hdf5")
    wb::fail(wb::ErrorKind::Usage, "-o for --to keras is the .h5 file to write", o.out);
}

void refuse_overwrite(const std::vector<std::string>& inputs, const std::string& out) {
  for (const auto& in : inputs)
    if (wb::same_file(in, out)) wb::fail(wb::ErrorKind::Usage, "output would overwrite an input file", out);
}

// source name, shape, dtype -> target name, shape, dtype, transform: one aligned row per tensor.
void print_table(const json& rows) {
  std::vector<std::array<std::string, 3>> cells;
  size_t w0 = 6, w1 = 6;
  for (const auto& r : rows) {
    const std::string src = r["source_name"].is_string() ? r["source_name"].get<std::string>() : "(created)";
    const std::string before = r.contains("shape_before") ? wb::shape_str(r["shape_before"].get<wb::Shape>()) + " " +
                                                                r["dtype_before"].get<std::string>() : "";
    cells.push_back({src + " " + before,
                     r["target_name"].get<std::string>() + " " + wb::shape_str(r["shape_after"].get<wb::Shape>()) + " " +
                         r["dtype_after"].get<std::string>(),
                     r.value("transform", "none")});
    w0 = std::max(w0, cells.back()[0].size());
    w1 = std::max(w1, cells.back()[1].size());
  }
  std::cout << fmt::format("  {:<{}}    {:<{}}  {}\n", "source", w0, "target", w1, "transform");
  for (const auto& c : cells) std::cout << fmt::format("  {:<{}} -> {:<{}}  {}\n", c[0], w0, c[1], w1, c[2]);
}

bool run(const ConvertOptions& o) {
  if (o.to != "mxnet" && o.to != "keras") wb::fail(wb::ErrorKind::Usage, "--to must be mxnet or keras");
  wb::ImportOptions io = import_options(o.kernel_flip, o.input_shape, o.flatten_order);
  io.densify = o.densify;
  apply_policy(o.policy, io);
  std::vector<std::string> inputs = o.sources;
  if (!o.arch.empty()) inputs.push_back(o.arch);
  wb::Model m = wb::load_model(o.sources, o.arch.empty() ? std::nullopt : std::optional<std::string>(o.arch), io);
  check_statistics(m, o.strict_statistics, o.sources.front());
  const wb::Model source = m;  // --verify compares against the source as read, before any --dtype cast
  if (!o.data_format.empty()) wb::rewrite_data_format(m, o.data_format);
  apply_dtype(m, o.dtype, o.sources.front());
  check_output_path(o);
  // --verify runs both models on a random input: an input with an open dim is found now, before
  // anything is written, not after the files are in place unchecked.
  if (o.verify)
    for (const auto& n : source.nodes) {
      if (n.op != "Input") continue;
      const json shape = n.attrs.value("shape", json::array());
      bool open = !shape.is_array() || shape.empty();
      std::string dims;
      for (const auto& d : shape) {
        const bool known = d.is_number_integer() && d.get<int64_t>() >= 1;
        open = open || !known;
        dims += (dims.empty() ? "" : ", ") + (known ? d.dump() : "?");
      }
      if (!open) continue;
      wb::fail(wb::ErrorKind::Usage,
               fmt::format("--verify runs both models on a random input, and input '{}' has an unknown dimension ({}): "
                           "give{}, with numbers", n.name, dims, wb::input_shape_args(source, wb::Node{})));
    }
  size_t n_tensors = 0;
  json manifest = json::array();
  std::vector<std::string> written;
  if (o.to == "mxnet") {
    // MXNet's fused RNN has only sigmoid gates: with the option, the export (not the source model
    // that --verify compares against) uses sigmoid where Keras used hard_sigmoid.
    wb::Model target_model = m;
    if (o.sigmoid_for_hard_sigmoid)
      for (const auto& name : wb::sigmoid_for_hard_sigmoid(target_model))
        std::cout << "note: layer " << name << ": hard_sigmoid gates exported as sigmoid (--accept-sigmoid-for-hard-sigmoid); outputs will differ\n";
    wb::MxnetExport ex = wb::export_mxnet(target_model);
    for (const auto& n : target_model.nodes) {
      if (!wb::is_rnn_op(n.op)) continue;
      if (const auto gap = wb::mxnet_rnn_gap(n))
        std::cout << "note: layer " << n.name << ": written as exact per-time-step MXNet ops (" << *gap
                  << "); weightbridge reads them back as plain ops, so the way back to Keras is from this source file\n";
    }
    const std::string sym_path = o.out + "-symbol.json", params_path = o.out + "-0000.params";
    refuse_overwrite(inputs, sym_path);
    refuse_overwrite(inputs, params_path);
    // Both files are written in full to temporary names first and renamed together at the end,
    // the symbol last: a failure anywhere leaves the previous pair (or nothing) in place. Only a
    // crash between the two renames can leave a new params file beside an old symbol.
    if (o.symbol_dialect != "attrs" && o.symbol_dialect != "attr")
      wb::fail(wb::ErrorKind::Usage, "--symbol-dialect takes attrs (MXNet >= 1.0) or attr (MXNet 0.12)");
    // The attr dialect is for MXNet 0.12, the one reader before 1.0 of the V2 parameter records
    // written beside it (formats-mxnet.md 10); write_symbol refuses what 0.12 does not have.
    wb::AtomicFile sym(sym_path), params(params_path);
    sym.write(wb::mxnet::write_symbol(ex.symbol, o.symbol_dialect == "attr" ? 1200 : 10300, o.symbol_dialect));
    wb::mxnet::write_params(params, ex.params);
    wb::commit_all({&params, &sym});
    n_tensors = ex.params.size();
    for (size_t i = 0; i < ex.params.size(); ++i) {
      const auto& org = ex.origins[i];
      const wb::Node* node = m.find(org.node);
      const wb::Weight* w = node ? node->weight(org.role) : nullptr;
      if (node && org.transform.rfind("flat fused-RNN vector", 0) == 0) {
        // One MXNet vector packs every weight of the layer: a row for each source tensor.
        for (const auto& each : node->weights)
          manifest.push_back(manifest_row(node, &each, each.role, ex.params[i].name, org.transform, ex.params[i], !o.manifest.empty()));
        continue;
      }
      manifest.push_back(manifest_row(node, w, org.role, ex.params[i].name, org.transform, ex.params[i], !o.manifest.empty()));
    }
    written = {sym_path, params_path};
  } else {
    wb::KerasExport ex = wb::export_keras(m);
    refuse_overwrite(inputs, o.out);
    wb::keras::write_keras2_h5(o.out, ex.layers, ex.model_config.dump());
    for (const auto& l : ex.layers) {
      n_tensors += l.weights.size();
      const wb::Node* node = m.find(l.name);
      for (const auto& [name, t] : l.weights) {
        std::string role = name.substr(l.name.size() + 1, name.size() - l.name.size() - 3);
        // Bidirectional: "forward_<inner layer>/kernel" is the canonical role "forward_kernel".
        if (const auto slash = role.find('/'); slash != std::string::npos && (role.rfind("forward_", 0) == 0 || role.rfind("backward_", 0) == 0))
          role = role.substr(0, role.find('_') + 1) + role.substr(slash + 1);
        manifest.push_back(manifest_row(node, node ? node->weight(role) : nullptr, role, name, "", t, !o.manifest.empty()));
      }
    }
    written = {o.out};
  }
  std::cout << fmt::format("source: {} {} {} ({} layers)\n", m.prov.framework, m.prov.version, m.prov.format, m.nodes.size());
  for (const auto& note : m.prov.notes) std::cout << (note.rfind("warning: ", 0) == 0 ? "" : "note: ") << note << "\n";
  print_table(manifest);
  for (const auto& p : written) std::cout << "wrote " << p << "\n";
  std::cout << fmt::format("{} tensors converted\n", n_tensors);
  json verify = nullptr;
  bool ok = true;
  if (o.verify) {
    // The files just written, read back as any user would, against the source. When the check
    // itself cannot run (a weight the engine refuses, say), the unchecked files are taken away.
    wb::VerifyResult r;
    try {
      const wb::Model target = wb::load_model(written, std::nullopt, {});
      r = wb::verify_models(source, target, {}, o.verify_opt);
    } catch (const wb::Error&) {
      for (const auto& p : written) {
        std::error_code ec;
        if (std::filesystem::remove(p, ec)) std::cout << "removed " << p << " (--verify could not run)\n";
      }
      throw;
    }
    std::cout << "verify (source vs written files):\n";
    bool f64 = false;
    for (const auto& n : source.nodes)
      for (const auto& w : n.weights) f64 = f64 || w.tensor.dtype == wb::DType::F64;
    if (f64)
      std::cout << "note: the reference engine computes in float32, so float64 weights are rounded for verification "
                   "(a --dtype cast reports its own rounding error above)\n";
    ok = print_verify(r, o.verify_opt);
    verify = verify_json(r, o.verify_opt);
  }
  if (!o.manifest.empty()) {
    refuse_overwrite(inputs, o.manifest);
    write_manifest(o, m, manifest, written, verify);
    std::cout << "wrote " << o.manifest << "\n";
  }
  return ok;
}

}  // namespace

void setup_convert(CLI::App& app, int& exit_status) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Convert a Keras model to MXNet or an MXNet model to Keras");
  cmd->add_option("sources", o->sources, "Source files: a Keras .h5/.keras (+ model JSON), or MXNet -symbol.json + .params")->required();
  cmd->add_option("--to", o->to, "Target framework: mxnet or keras")->required();
  cmd->add_option("-o,--output", o->out, "Output: a prefix for mxnet (PREFIX-symbol.json, PREFIX-0000.params), an .h5 for keras")->required();
  cmd->add_option("--arch", o->arch, "Architecture for weights-only sources (Keras model JSON or .h5, MXNet symbol JSON)");
  cmd->add_option("--dtype", o->dtype, "keep (default), float32, float16, float64, bfloat16");
  cmd->add_option("--kernel-flip", o->kernel_flip, "yes|no: whether a Keras 1 file's conv kernels are Theano (flipped) kernels");
  cmd->add_option("--input-shape", o->input_shape, "Input shape without batch, e.g. 3,224,224, when the files do not say; NAME=3,224,224 for one input of several (repeatable)");
  cmd->add_option("--data-format", o->data_format,
                  "channels_first|channels_last: rewrite the model to hold images in this layout (layer configs, input "
                  "shape, axes, Dense rows after a Flatten)");
  cmd->add_option("--flatten-order", o->flatten_order,
                  "channels_first|channels_last: the feature order, (C, H, W) or (H, W, C), of a Flatten whose order the "
                  "file's metadata cannot tell");
  cmd->add_flag("--densify", o->densify, "Read MXNet sparse (row_sparse/csr) parameters as dense arrays");
  cmd->add_option("--symbol-dialect", o->symbol_dialect, "attrs (MXNet >= 1.0, default) or attr (readable by MXNet 0.12)");
  cmd->add_option("--manifest", o->manifest, "Write a JSON record of every tensor's source, target, transform and sha256");
  add_policy_options(cmd, o->policy);
  cmd->add_flag("--verify", o->verify, "Run source and written model on the same random input and compare (exit 1 on mismatch)");
  cmd->add_option("--atol", o->verify_opt.atol, "Absolute tolerance of --verify (default 1e-5)");
  cmd->add_option("--rtol", o->verify_opt.rtol, "Relative tolerance of --verify (default 1e-5)");
  cmd->add_option("--seed", o->verify_opt.seed, "Seed of --verify's random input (default 0)");
  cmd->add_flag("--strict-statistics", o->strict_statistics,
                "Fail (exit 4) when a BatchNorm layer's running statistics are at their initial values while gamma/beta are trained");
  cmd->add_flag("--accept-sigmoid-for-hard-sigmoid", o->sigmoid_for_hard_sigmoid,
                "Export LSTM/GRU hard_sigmoid gates to MXNet's fused RNN as sigmoid (an approximation: outputs change)");
  cmd->callback([o, &exit_status] { exit_status = about_file(o->sources.front(), [&] { return run(*o); }) ? 0 : 1; });
}

}  // namespace wbcli
