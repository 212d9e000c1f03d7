// doctor: checks on the raw files (metadata, encodings, dialects) and on the canonical model
// (values, layouts), each finding with its evidence and the command that fixes it.
#include "weightbridge/doctor.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "weightbridge/diff.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

using nlohmann::json;

namespace wb {
namespace {

struct Report {
  std::vector<Finding> findings;
  std::string files;  // the files as a command-line fragment, for fixes
  void add(const char* sev, const char* kind, std::string where, std::string msg, std::string evidence,
           std::string fix) {
    findings.push_back(Finding{sev, kind, std::move(where), std::move(msg), std::move(evidence), std::move(fix)});
  }
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::string preview(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < 4; ++i) s += (i ? ", " : "") + fmt::format("{:.6g}", v[i]);
  return s + (v.size() > 4 ? ", ...]" : "]");
}

// Checks on a Keras HDF5 file's metadata, before any import.
void check_keras_file(Report& r, const std::string& path) {
  const keras::H5File f = keras::read_h5(path);
  const std::string fw = keras_framework(f);
  if (f.layout == "keras3-weights") return;
  if (f.keras_version.empty() && f.root_keras_version.empty())
    r.add("info", "metadata", path, "no keras_version attribute: a Keras 1 weights-only file (or a file from an unknown writer)",
          "weights group has no keras_version / backend attributes",
          "layouts follow Keras 1 rules; a weights-only file needs its architecture (--arch)");
  const int dots = static_cast<int>(std::count(f.keras_version.begin(), f.keras_version.end(), '.'));
  if (dots == 3 && f.backend != "mxnet")
    r.add("warning", "metadata", path, "keras_version has 4 parts (a keras-mxnet release) but backend is '" + f.backend + "'",
          "keras_version=" + f.keras_version + ", backend=" + f.backend,
          "check which Keras wrote the file; weightbridge treats it as keras-mxnet");
  if (f.backend == "mxnet") {
    bool channels_first = f.model_config && f.model_config->find("\"channels_first\"") != std::string::npos;
    if (channels_first)
      r.add("warning", "layout", path,
            "keras-mxnet channels_first file: conv kernels are stored in MXNet order (out, in, kh, kw); standard Keras "
            "load_weights misreads or rejects them",
            "backend=mxnet, data_format=channels_first",
            "weightbridge convert " + path + " --to keras -o fixed.h5");
  }
  if (f.backend == "theano")
    r.add("warning", "layout", path,
          "Theano-backend file: Theano convolves (flipped kernels); TensorFlow/MXNet correlate",
          "backend=theano", "weightbridge convert " + path + " --to keras -o fixed.h5 (kernels are flipped for you)");
}

// A 1.x symbol (node key 'attrs') meant for an MXNet 0.12-or-older reader, which rejects it.
void check_symbol_dialect(Report& r, const std::string& path, const std::vector<std::string>& into) {
  const mxnet::Symbol s = mxnet::read_symbol(path);
  for (const auto& t : into) {
    if (detect_file(t) != FileKind::MxnetSymbol) continue;
    const mxnet::Symbol old = mxnet::read_symbol(t);
    if (s.dialect == "attrs" && old.dialect != "attrs")
      r.add("error", "symbol", path,
            "node key 'attrs' (MXNet >= 1.0): the target's MXNet (symbol written as '" + old.dialect +
                "') rejects this file with 'unknown field attrs'",
            fmt::format("this file: mxnet_version {}; target: mxnet_version {}", s.mxnet_version, old.mxnet_version),
            "weightbridge convert ... --to mxnet --symbol-dialect attr");
  }
}

void check_values(Report& r, const Model& m) {
  for (const auto& n : m.nodes) {
    for (const auto& w : n.weights) {
      const auto v = to_f64(w.stored.load(), w.stored.dtype);
      const std::string where = n.name + "." + w.role + (w.source.empty() ? "" : " [" + w.source + "]");
      bool bad = false, zero = !v.empty(), constant = v.size() > 1;
      for (double x : v) {
        bad = bad || !std::isfinite(x);
        zero = zero && x == 0;
        constant = constant && x == v.front();
      }
      const bool stat = w.role == "moving_mean" || w.role == "moving_variance" || w.role == "bias" || w.role == "beta" || w.role == "gamma";
      if (bad) r.add("error", "weights", where, "tensor holds NaN or Inf", "values " + preview(v), "retrain or restore from another checkpoint");
      else if (zero && !stat) r.add("warning", "weights", where, "tensor is all zeros: the weights were probably never loaded or trained",
                                    shape_str(w.stored.shape) + " all 0", "check the source checkpoint (a sub-model saved under another name?)");
      else if (constant && !stat) r.add("warning", "weights", where, "tensor is constant: initial values, not trained weights",
                                        fmt::format("{} all {}", shape_str(w.stored.shape), v.front()), "check the source checkpoint");
      if (w.stored.dtype == DType::F64)
        r.add("warning", "dtype", where, "float64 weights: loaders cast to float32 by default and lose precision",
              "dtype float64", "keep float64 in the target (weightbridge keeps dtypes unless --dtype is given)");
      if (w.stored.dtype == DType::BF16)
        r.add("warning", "dtype", where, "bfloat16 weights: Keras 2 cannot load them from .h5",
              "dtype bfloat16", "weightbridge convert ... --dtype float32 (exact)");
      if (!w.transform.empty() && w.transform.find("fix_gamma") != std::string::npos) {
        const auto g = to_f64(w.stored.load(), w.stored.dtype);
        bool ones = true;
        for (double x : g) ones = ones && x == 1.0;
        if (!ones)
          r.add("warning", "batchnorm", where,
                "fix_gamma is true but the stored gamma is not 1: MXNet ignores it, a converter that copies it gives wrong outputs",
                "stored gamma " + preview(g), "weightbridge convert (gamma is replaced by 1 and reported)");
      }
    }
    if (n.op == "BatchNorm") {
      const Weight *mean = n.weight("moving_mean"), *var = n.weight("moving_variance");
      if (!mean || !var) continue;
      bool init = true;
      for (double x : to_f64(mean->stored.load(), mean->stored.dtype)) init = init && x == 0;
      for (double x : to_f64(var->stored.load(), var->stored.dtype)) init = init && x == 1;
      bool trained_affine = false;
      if (const Weight* g = n.weight("gamma"))
        for (double x : to_f64(g->stored.load(), g->stored.dtype)) trained_affine = trained_affine || x != 1;
      if (const Weight* b = n.weight("beta"))
        for (double x : to_f64(b->stored.load(), b->stored.dtype)) trained_affine = trained_affine || x != 0;
      if (init && trained_affine)
        r.add("warning", "weights", n.name,
              "BatchNorm running statistics are at their initial values (mean 0, variance 1) while gamma/beta are trained: "
              "the checkpoint probably lacks the statistics, and the model will predict nearly constant outputs",
              "moving_mean all 0, moving_variance all 1", "save the statistics from the training process again");
    }
  }
}

void check_flatten_order(Report& r, const Model& m) {
  for (const auto& n : m.nodes) {
    if (n.op != "Flatten" || n.inputs.empty()) continue;
    const Node* in = m.find(n.inputs[0]);
    while (in && (in->op == "Activation" || in->op == "Dropout" || in->op == "BatchNorm" || in->op == "LeakyReLU") && !in->inputs.empty())
      in = m.find(in->inputs[0]);
    if (!in || (in->op != "Conv" && in->op != "Pool" && in->op != "ZeroPadding")) continue;
    if (in->attrs.value("data_format", "channels_last") == "channels_first" && !n.attrs.value("channels_last_first", false))
      r.add("info", "layout", n.name,
            "Flatten after channels_first features flattens in (C, H, W) order: the next Dense layer's rows follow that order, "
            "so running the model as channels_last needs its rows permuted",
            "input layer " + in->name + " is channels_first; Flatten has no data_format=channels_first",
            "weightbridge convert keeps the order; a channels_last rewrite must permute the Dense rows from (C, H, W) to (H, W, C) order");
  }
}

void check_against(Report& r, const Model& a, const Model& b, const std::string& target) {
  for (const auto& d : diff_models(a, b)) {
    const std::string where = d.layer_a.empty() ? d.layer_b : d.layer_a + "." + d.role;
    if (d.verdict == "only-a")
      r.add("error", "weights", where, "weight has no place in " + target + " (extra)", d.name_a + " " + shape_str(d.shape_a),
            "weightbridge convert ... --ignore-extra, or give the matching architecture");
    else if (d.verdict == "only-b")
      r.add("error", "weights", d.layer_b + "." + d.role, "target weight has no source (missing)", d.name_b + " " + shape_str(d.shape_b),
            "check the source checkpoint; weightbridge convert ... --allow-missing only if the target's initial values are acceptable");
    else if (d.verdict == "different" && d.shape_a != d.shape_b && !d.shape_b.empty())
      r.add("error", "layout", where, "shape differs from the target's", shape_str(d.shape_a) + " vs " + shape_str(d.shape_b),
            "weightbridge convert applies the layout rules; if the shapes still differ the architectures do not match");
    else if (d.verdict == "transform" && d.transform.rfind("cast", 0) == 0)
      r.add("warning", "dtype", where, "dtype differs from the target's: " + d.transform, d.name_a + " -> " + d.name_b,
            "weightbridge convert ... --dtype " + std::string(d.transform.substr(d.transform.find("->") + 2, 7)));
    if (!d.layer_a.empty() && !d.layer_b.empty() && d.layer_a != d.layer_b && d.role == "kernel")
      r.add("warning", "naming", where, "layer names differ: a by-name loader will not match '" + d.layer_a + "' to '" + d.layer_b + "'",
            "matched by structure (order among layers of the same kind)", "weightbridge convert ... --map MAP.json");
  }
}

}  // namespace

std::vector<Finding> doctor(std::vector<std::string> files, const std::vector<std::string>& into, const std::string& arch) {
  const std::optional<std::string> arch_file = arch.empty() ? std::nullopt : std::optional<std::string>(arch);
  Report r;
  r.files = join(files) + (arch.empty() ? "" : " --arch " + arch);
  for (const auto& f : files) {
    const FileKind k = detect_file(f);
    if (k == FileKind::KerasH5) check_keras_file(r, f);
    if (k == FileKind::MxnetSymbol) check_symbol_dialect(r, f, into);
  }
  ImportOptions opt;
  Model m;
  try {
    m = load_model(files, arch_file, opt);
  } catch (const Error& e) {
    const std::string msg = e.message();
    if (msg.find("--kernel-flip") != std::string::npos) {
      r.add("error", "ambiguity", e.file() + (e.where().empty() ? "" : ": " + e.where()),
            "Keras 1 file without backend information: Theano kernels must be flipped, TensorFlow/dmlc-keras (MXNet) kernels must not",
            "no keras_version/backend attributes; weight names without ':0'",
            "weightbridge convert " + r.files + " --kernel-flip yes --to keras -o fixed.h5 (Theano-trained), or --kernel-flip no (dmlc/keras on MXNet)");
      opt.kernel_flip = false;
      m = load_model(files, arch_file, opt);
    } else {
      const bool no_arch = msg.find("without an architecture") != std::string::npos;
      r.add("error", e.kind() == ErrorKind::Mapping ? "weights" : "metadata", e.file() + (e.where().empty() ? "" : ": " + e.where()),
            no_arch ? "weights-only file: the layer checks need the architecture" : "the model cannot be read: " + msg,
            no_arch ? "no model_config in the file" : std::string(kind_name(e.kind())) + " error while loading",
            no_arch ? "weightbridge doctor " + r.files + " --arch MODEL.json"
            : e.kind() == ErrorKind::Mapping ? "weightbridge convert ... --allow-missing / --ignore-extra / --map MAP.json, after checking the source"
            : "check the file (weightbridge inspect " + r.files + ")");
      return r.findings;
    }
  }
  check_values(r, m);
  check_flatten_order(r, m);
  for (const auto& note : m.prov.notes)
    if (note.find("dropped") != std::string::npos || note.find("matched") != std::string::npos)
      r.add("info", note.find("matched") != std::string::npos ? "naming" : "batchnorm", r.files, note, "", "applied by weightbridge convert");
  if (!into.empty()) {
    const Model target = load_model(into, std::nullopt, opt);
    check_against(r, m, target, join(into));
  }
  return r.findings;
}

}  // namespace wb
