// doctor: checks on the raw files (metadata, encodings, dialects) and on the canonical model
// (values, layouts), each finding with its evidence and the command that fixes it.
#include "weightbridge/doctor.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "model/rnn_rules.h"
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
           std::string fix, std::string code = {}) {
    findings.push_back(Finding{sev, kind, std::move(where), std::move(msg), std::move(evidence), std::move(fix), std::move(code)});
  }
  // The convert command towards `target` (keras3: the Keras 2 .h5, which Keras 3 load_model reads).
  std::string convert(const std::string& target, const std::string& extra = {}) const {
    return "weightbridge convert " + files + (target == "mxnet" ? " --to mxnet -o model" : " --to keras -o fixed.h5") + extra +
           " --verify";
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
      // Statistics and affine terms start constant (Bidirectional roles carry a forward_/backward_ prefix).
      std::string base = w.role;
      for (const std::string p : {"forward_", "backward_"})
        if (base.rfind(p, 0) == 0) base = base.substr(p.size());
      const bool stat = base == "moving_mean" || base == "moving_variance" || base == "bias" || base == "beta" || base == "gamma";
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

// ---- recurrent layers ----
// What a recurrent layer's file form and semantics mean for the target framework: the gate order
// and grouping of its arrays, how many biases each gate has, and what the target cannot compute
// (formats-keras.md 4.5, 5.8, 6.2, 6.5; formats-mxnet.md 8.10; model/rnn_rules.h).

double hard_sigmoid(double x, double slope) { return std::clamp(slope * x + 0.5, 0.0, 1.0); }

// max over x of |f(x) - g(x)|, sampled every 0.001 on [-10, 10] (both functions are flat beyond).
template <class F, class G>
double max_gap(F f, G g) {
  double m = 0;
  for (int i = -10000; i <= 10000; ++i) m = std::max(m, std::fabs(f(i / 1000.0) - g(i / 1000.0)));
  return m;
}

std::string target_label(const std::string& t) {
  return t == "mxnet" ? "MXNet's fused RNN op" : t == "keras3" ? "Keras 3" : "Keras 2";
}

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// hard_sigmoid has slope 0.2 in Keras 1/2 and MXNet's default, 1/6 in Keras 3.
void check_hard_sigmoid_slope(Report& r, const Node& n, const std::string& target, const std::string& source_fw) {
  for (const char* key : {"activation", "recurrent_activation"}) {
    if (n.attrs.value(key, std::string()) != "hard_sigmoid") continue;
    const double slope = n.attrs.value("hard_sigmoid_slope", 0.2);
    const double gap = max_gap([&](double x) { return hard_sigmoid(x, slope); },
                               [&](double x) { return hard_sigmoid(x, slope == 0.2 ? 1.0 / 6.0 : 0.2); });
    const std::string evidence = fmt::format("{}=hard_sigmoid with slope {:.6g} ({}); the two definitions differ by up to {:.4f}",
                                             key, slope, slope == 0.2 ? "Keras 1/2: clip(0.2 x + 0.5, 0, 1)"
                                                                      : "Keras 3: relu6(x + 3) / 6", gap);
    if (target == "keras" && slope != 0.2)
      r.add("error", "rnn", n.name,
            fmt::format("hard_sigmoid with slope {:.6g} (Keras 3's) has no Keras 2 form: Keras 2's hard_sigmoid has slope 0.2", slope),
            evidence,
            is_rnn_op(n.op) ? "none exact: keep the model in Keras 3"
                            : "none exact in Keras 2: keep the model in Keras 3, or " + r.convert("mxnet") +
                                  " (MXNet's hard_sigmoid takes the slope as alpha)",
            "hard-sigmoid-slope");
    else if (target == "keras3" && slope == 0.2 && source_fw != "keras3")
      r.add("warning", "rnn", n.name,
            "Keras 3 reads 'hard_sigmoid' as relu6(x + 3) / 6 (slope 1/6): loaded there, this layer computes another function",
            evidence,
            std::string("in the Keras 3 model give the layer ") + key +
                "=lambda x: keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0) before loading the weights",
            "hard-sigmoid-slope");
  }
}

void check_rnn(Report& r, const Model& m, const std::string& target) {
  const bool to_mx = target == "mxnet";
  for (const auto& n : m.nodes) {
    check_hard_sigmoid_slope(r, n, target, m.prov.framework);
    if (!is_rnn_op(n.op)) continue;
    const json& a = n.attrs;
    const std::string cell = a.value("cell", "");
    const std::string cls = cell == "lstm" ? "LSTM" : cell == "gru" ? "GRU" : "SimpleRNN";
    const std::string label = n.op == "Bidirectional" ? "Bidirectional(" + cls + ")" : cls;
    const int64_t u = a.value("units", int64_t{0}), G = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1;
    const bool reset_after = a.value("reset_after", false), use_bias = a.value("use_bias", true);
    const std::string prefix = n.op == "Bidirectional" ? "forward_" : "";
    const Weight* kernel = n.weight(prefix + "kernel");
    const Weight* bias = n.weight(prefix + "bias");
    bool keras1 = false, from_mx = false, cudnn = false;
    for (const auto& w : n.weights) {
      keras1 = keras1 || contains(w.source, "+");
      from_mx = from_mx || contains(w.transform, "flat parameters") || contains(w.transform, "b_i2h");
      cudnn = cudnn || contains(w.transform, "CuDNN") || contains(w.transform, "(6u,)");
    }
    const std::string where = n.name + " (" + label + ")";
    const std::string to_label = target_label(target);

    // Gate order and grouping.
    if (keras1 && cell == "lstm" && kernel)
      r.add("warning", "rnn", where,
            "Keras 1 LSTM: 12 per-gate arrays in gate order i,c,f,o; " + to_label + " takes fused matrices in gate order i,f,c,o",
            fmt::format("kernel {} is {} (file order W_i, W_c, W_f, W_o); copying the arrays in file order swaps the forget "
                        "and cell gates", shape_str(kernel->tensor.shape), kernel->source),
            r.convert(target) + " (regroups the 12 arrays into kernel, recurrent_kernel, bias in order i,f,c,o)", "gate-order");
    else if (keras1 && cell == "gru" && kernel)
      r.add("info", "rnn", where,
            "Keras 1 GRU: 9 per-gate arrays (z,r,h); " + to_label + " takes fused matrices" +
                (to_mx ? " in gate order r,z,n" : " in the same order"),
            fmt::format("kernel {} is {}", shape_str(kernel->tensor.shape), kernel->source),
            r.convert(target) + " (fuses the arrays" + (to_mx ? " and reorders the gates)" : ")"), "gate-order");
    else if (cell == "gru" && kernel && (to_mx ? !from_mx : from_mx))
      r.add("info", "rnn", where,
            std::string("GRU gate order: ") + (from_mx ? "MXNet r,z,n, Keras z,r,h" : "Keras z,r,h, MXNet r,z,n") +
                ": the first two gate blocks swap (and MXNet holds W transposed, (3u, in))",
            fmt::format("kernel {} ({} gates of {} units){}", shape_str(kernel->tensor.shape), G, u,
                        from_mx ? ", from " + kernel->source : ""),
            r.convert(target) + " (reorders the gate blocks)", "gate-order");
    if (cudnn && kernel)
      r.add("info", "rnn", where, "CuDNN" + cls + " kernels are per-gate (u, in) buffers; " + to_label +
                                      " takes (in, u) gate blocks in Keras order",
            kernel->source + ": " + kernel->transform, r.convert(target) + " (re-lays out every gate block)", "gate-order");

    // Bias count.
    if (cudnn && cell == "lstm" && bias && bias->stored.shape == Shape{8 * u}) {
      const auto v = to_f64(bias->stored.load(), bias->stored.dtype);
      size_t rounded = 0;
      double worst = 0;
      for (size_t k = 0; k < static_cast<size_t>(4 * u); ++k) {
        const double exact = v[k] + v[k + static_cast<size_t>(4 * u)];
        const double f = static_cast<float>(exact);
        if (f != exact) ++rounded, worst = std::max(worst, std::fabs(f - exact));
      }
      r.add("info", "rnn", where,
            "CuDNNLSTM has two biases per gate (input and recurrent, (8u,)); Keras LSTM has one: they are summed",
            fmt::format("bias {} summed pairwise into ({},): {}", shape_str(bias->stored.shape), 4 * u,
                        rounded ? fmt::format("{} of {} sums round in float32 (max error {:.3g})", rounded, 4 * u, worst)
                                : std::string("every float32 sum is exact")),
            r.convert(target) + (to_mx ? " (writes the sum as b_i2h and b_h2h = 0)" : ""), "bias-count");
    } else if (to_mx && !from_mx) {
      if (!use_bias)
        r.add("info", "rnn", where, "use_bias=False; " + to_label + " always has b_i2h and b_h2h: both written as zeros (exact)",
              "no bias in the file", r.convert(target), "bias-count");
      else if (bias && cell != "gru")
        r.add("info", "rnn", where,
              "Keras has one bias per gate, " + to_label + " two (b_i2h, b_h2h): written as b_i2h = the Keras bias, b_h2h = 0 (exact)",
              fmt::format("bias {} = {} gate{} x {} units", shape_str(bias->tensor.shape), G, G > 1 ? "s" : "", u), r.convert(target), "bias-count");
      else if (bias && reset_after)
        r.add("info", "rnn", where,
              "GRU(reset_after=True) bias (2, 3u): row 0 becomes b_i2h, row 1 b_h2h, gate blocks reordered (exact)",
              fmt::format("bias {}", shape_str(bias->tensor.shape)), r.convert(target), "bias-count");
    } else if (from_mx && !to_mx && bias) {
      const bool summed = contains(bias->transform, "sum");
      if (cell == "gru")
        r.add("info", "rnn", where, "MXNet's b_i2h and b_h2h become the rows of the Keras GRU(reset_after=True) bias (2, 3u) (exact)",
              bias->source + ": " + bias->transform, r.convert(target), "bias-count");
      else
        r.add("info", "rnn", where,
              std::string("MXNet has two biases per gate (b_i2h, b_h2h), Keras one: ") +
                  (summed ? "their float32 sum (rounding-level differences)" : "b_h2h is zero, so b_i2h alone (exact)"),
              bias->source + ": " + bias->transform, r.convert(target), "bias-count");
    }

    if (!to_mx || from_mx) continue;
    // What MXNet's fused RNN op cannot compute.
    const std::string ract = a.value("recurrent_activation", "sigmoid");
    if (cell != "simple" && ract == "hard_sigmoid") {
      const double slope = a.value("hard_sigmoid_slope", 0.2);
      const double gap = max_gap([&](double x) { return hard_sigmoid(x, slope); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
      r.add("error", "rnn", where,
            "recurrent_activation hard_sigmoid, but MXNet's fused RNN gates are always sigmoid: convert refuses this layer",
            fmt::format("recurrent_activation=hard_sigmoid, clip({:.6g} x + 0.5, 0, 1){}; it differs from sigmoid by up to {:.4f} "
                        "per gate", slope, keras1 ? " (Keras 1 inner_activation)" : "", gap),
            r.convert("mxnet", " --accept-sigmoid-for-hard-sigmoid") +
                " (an approximation: the outputs change, --verify reports by how much), or keep the model in Keras",
            "hard-sigmoid");
    }
    if (cell == "gru" && !reset_after)
      r.add("error", "rnn", where,
            "GRU with reset_after=False: MXNet's fused RNN applies the reset gate after the recurrent matmul (reset_after=True) "
            "and has no form of this layer",
            fmt::format("reset_after=False{}; bias {} (one bias per gate; reset_after=True would hold (2, {}))",
                        keras1 ? " (every Keras 1 GRU)" : "", bias ? shape_str(bias->tensor.shape) : "none", 3 * u),
            "none exact for MXNet: keep the model in Keras (" + r.convert("keras") + "), or retrain the layer with reset_after=True",
            "gru-reset-after");
    // Anything else the fused op refuses (activation, merge mode, initial states...).
    Node probe = n;
    probe.attrs["recurrent_activation"] = "sigmoid";
    probe.attrs["reset_after"] = true;
    try {
      check_mxnet_rnn_expressible(probe);
    } catch (const Error& e) {
      r.add("error", "rnn", where, e.message(),
            fmt::format("activation={}, merge_mode={}, return_sequences={}, inputs={}", a.value("activation", "tanh"),
                        a.value("merge_mode", "-"), a.value("return_sequences", false), n.inputs.size()),
            "none exact for MXNet: keep the model in Keras (" + r.convert("keras") + ")", "mxnet-rnn");
    }
  }
}

}  // namespace

DoctorReport doctor(std::vector<std::string> files, const std::vector<std::string>& into, const std::string& arch,
                    const std::string& to) {
  if (!to.empty() && to != "keras" && to != "keras3" && to != "mxnet")
    fail(ErrorKind::Usage, "--to takes keras, keras3 or mxnet");
  const std::optional<std::string> arch_file = arch.empty() ? std::nullopt : std::optional<std::string>(arch);
  Report r;
  DoctorReport out;
  out.target = to;
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
      out.findings = std::move(r.findings);
      return out;
    }
  }
  const bool source_mxnet = m.prov.format == "mxnet-checkpoint";
  std::optional<Model> target;
  if (!into.empty()) target = load_model(into, std::nullopt, opt);
  if (out.target.empty()) {
    if (target) out.target = target->prov.format == "mxnet-checkpoint" ? "mxnet" : target->prov.framework == "keras3" ? "keras3" : "keras";
    else out.target = source_mxnet ? "keras" : "mxnet";
  }
  check_values(r, m);
  check_flatten_order(r, m);
  check_rnn(r, m, out.target);
  for (const auto& note : m.prov.notes)
    if (note.find("dropped") != std::string::npos || note.find("matched") != std::string::npos)
      r.add("info", note.find("matched") != std::string::npos ? "naming" : "batchnorm", r.files, note, "", "applied by weightbridge convert");
  if (target) check_against(r, m, *target, join(into));
  out.findings = std::move(r.findings);
  return out;
}

}  // namespace wb
