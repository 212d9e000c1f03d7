// doctor: checks on the raw files (metadata, encodings, dialects) and on the canonical model
// (values, layouts), each finding with its evidence and the command that fixes it.
#include "weightbridge/doctor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <set>

#include "model/rnn_rules.h"
#include "weightbridge/convert.h"
#include "weightbridge/diff.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

using nlohmann::json;

namespace wb {
namespace {

struct Report {
  std::vector<Finding> findings;
  std::string files;   // the files as a command-line fragment, for fixes
  std::string target;  // keras, keras3 or mxnet
  // Raw attributes of the source symbol's BatchNorm nodes, by the name of their gamma variable.
  std::map<std::string, std::map<std::string, std::string>> bn_attrs;
  // Every finding has a code: kind/code is its stable name (README, doctor section).
  void add(const char* sev, const char* kind, std::string where, std::string msg, std::string evidence,
           std::string fix, std::string code) {
    findings.push_back(Finding{sev, kind, std::move(where), std::move(msg), std::move(evidence), std::move(fix), std::move(code)});
  }
  // The convert command towards `to` (keras3: the Keras 2 .h5, which Keras 3 load_model reads).
  // Options every convert of this model needs whatever the fix (--kernel-flip for an ambiguous
  // Keras 1 file: the most likely answer, which the kernel-flip finding explains).
  std::string required;
  std::string convert(const std::string& to, const std::string& extra = {}) const {
    const bool has_flip = extra.find("--kernel-flip") != std::string::npos;
    return "weightbridge convert " + files + (to == "mxnet" ? " --to mxnet -o model" : " --to keras -o fixed.h5") + extra +
           (has_flip ? "" : required) + " --verify";
  }
};

std::string join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string join_quoted(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& x : v) q.push_back(shell_quote(x));
  return join(q);
}

std::string preview(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < 4; ++i) s += (i ? ", " : "") + fmt::format("{:.6g}", v[i]);
  return s + (v.size() > 4 ? ", ...]" : "]");
}

bool is_keras_target(const std::string& t) { return t == "keras" || t == "keras3"; }

// Checks on a Keras HDF5 file's metadata, before any import.
void check_keras_file(Report& r, const std::string& path, const keras::H5File& f) {
  if (f.layout == "keras3-weights") return;
  if (f.keras_version.empty() && f.root_keras_version.empty())
    r.add("info", "metadata", path, "no keras_version attribute: a Keras 1 weights-only file (or a file from an unknown writer)",
          "weights group has no keras_version / backend attributes",
          "layouts follow Keras 1 rules; a weights-only file needs its architecture (--arch)", "no-keras-version");
  const int dots = static_cast<int>(std::count(f.keras_version.begin(), f.keras_version.end(), '.'));
  if (dots == 3 && f.backend != "mxnet")
    r.add("warning", "metadata", path, "keras_version has 4 parts (a keras-mxnet release) but backend is '" + f.backend + "'",
          "keras_version=" + f.keras_version + ", backend=" + f.backend,
          "check which Keras wrote the file; weightbridge treats it as keras-mxnet", "version-backend");
  if (f.backend == "mxnet") {
    bool channels_first = f.model_config && f.model_config->find("\"channels_first\"") != std::string::npos;
    if (channels_first)
      r.add(is_keras_target(r.target) ? "warning" : "info", "layout", path,
            "keras-mxnet channels_first file: conv kernels are stored in MXNet order (out, in, kh, kw); standard Keras "
            "load_weights misreads or rejects them" +
                std::string(is_keras_target(r.target) ? "" : " (MXNet itself takes that order)"),
            "backend=mxnet, data_format=channels_first", r.convert(r.target), "keras-mxnet-kernels");
  }
  if (f.backend == "theano")
    r.add("warning", "layout", path,
          "Theano-backend file: Theano convolves (flipped kernels); TensorFlow/MXNet correlate",
          "backend=theano", r.convert(r.target) + " (kernels are flipped for you)", "theano-kernels");
}

// Keras' load_model and load_weights (without by_name) give the k-th weighted group of the file to
// the k-th weighted layer of the model in Keras' own layer order. weightbridge matches by name, so a
// file whose groups are in another order reads right here and loads wrong weights in Keras.
void check_keras_layer_order(Report& r, const std::string& path, const keras::H5File& f, const Model& m) {
  // Keras 2, tf.keras and Keras 3 order layers so; Keras 1 (no keras_version here) is not checked.
  if ((f.layout != "keras-legacy-model" && f.layout != "keras-legacy-weights") || f.keras_version.empty()) return;
  std::vector<std::string> stored, keras;
  for (const auto& l : f.layers)
    if (!l.weights.empty()) stored.push_back(l.name);
  for (const size_t i : keras_layer_order(m))
    if (!m.nodes[i].weights.empty()) keras.push_back(m.nodes[i].name);
  if (stored == keras) return;
  std::vector<std::string> a = stored, b = keras;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) return;  // other names: the naming findings speak for them
  size_t k = 0;
  while (stored[k] == keras[k]) ++k;
  r.add("error", "naming", path,
        "the file lists its weighted layers in another order than Keras builds the model: Keras load_model and "
        "load_weights (by position) would load group '" + stored[k] + "' into layer '" + keras[k] + "'",
        "layer_names order " + join(stored, ", ") + "; Keras' layer order " + join(keras, ", "),
        "rewrite it in Keras' order: " + r.convert("keras") + " (or load_weights(..., by_name=True))", "layer-order");
}

// A 1.x symbol (node key 'attrs') meant for an MXNet 0.12-or-older reader, which rejects it.
void check_symbol_dialect(Report& r, const std::string& path, const mxnet::Symbol& s, const std::vector<std::string>& into) {
  for (const auto& t : into) {
    if (detect_file(t) != FileKind::MxnetSymbol) continue;
    const mxnet::Symbol old = mxnet::read_symbol(t);
    if (s.dialect == "attrs" && old.dialect != "attrs")
      r.add("error", "symbol", path,
            "node key 'attrs' (MXNet >= 1.0): the target's MXNet (symbol written as '" + old.dialect +
                "') rejects this file with 'unknown field attrs'",
            fmt::format("this file: mxnet_version {}; target: mxnet_version {}", s.mxnet_version, old.mxnet_version),
            r.convert("mxnet", " --symbol-dialect attr"), "attrs-dialect");
  }
}

// The symbol's own BatchNorm attributes, for evidence that quotes the file.
void collect_batchnorm_attrs(Report& r, const mxnet::Symbol& s) {
  for (const auto& n : s.nodes)
    if (n.op == "BatchNorm" && n.inputs.size() > 1)
      r.bn_attrs[s.nodes[static_cast<size_t>(n.inputs[1].node)].name] = n.attrs;
}

const std::map<std::string, std::string>* symbol_attrs(const Report& r, const Node& n) {
  const Weight* g = n.weight("gamma");
  if (!g) return nullptr;
  auto it = r.bn_attrs.find(g->source);
  return it == r.bn_attrs.end() ? nullptr : &it->second;
}

// fix_gamma=True (MXNet's default) with a stored gamma that is not 1: MXNet computes with gamma = 1.
void check_fix_gamma(Report& r, const Node& n, const Weight& w, const std::string& where) {
  const auto g = to_f64(w.stored.load(), w.stored.dtype);
  bool ones = true;
  for (double x : g) ones = ones && x == 1.0;
  if (ones) return;
  std::string why = "fix_gamma is true";
  if (const auto* a = symbol_attrs(r, n)) {
    auto it = a->find("fix_gamma");
    why = it == a->end() ? "fix_gamma not set in the symbol: MXNet's BatchNorm default is True"
                         : "fix_gamma='" + it->second + "' in the symbol";
  }
  const std::string ones_vec = fmt::format("np.ones({})", g.size());
  r.add("error", "batchnorm", where,
        "fix_gamma is true, so MXNet computes this layer with gamma = 1 and ignores the stored gamma; a model that uses the "
        "stored gamma (copied by hand, or by a converter that copies it) scales every channel by it and predicts wrong",
        "stored gamma " + preview(g) + "; " + why,
        is_keras_target(r.target)
            ? r.convert(r.target) + " (writes gamma = 1 and reports it); by hand: set gamma to 1, i.e. give the Keras layer " +
                  ones_vec + " as gamma instead of " + w.source + ", or build it with BatchNormalization(scale=False) and "
                  "leave gamma out of its weights"
            : "keep fix_gamma=True in the target symbol, or set " + w.source + " to " + ones_vec,
        "fix-gamma");
}

// BatchNorm epsilon: the target frameworks' default is 1e-3 (Keras 1/2/3 BatchNormalization,
// MXNet BatchNorm); a layer rebuilt by hand with the default computes something else.
void check_epsilon(Report& r, const Model& m, const Node& n) {
  constexpr double kDefault = 1e-3;
  const double eps = n.attrs.value("epsilon", kDefault);
  if (eps == kDefault) return;
  std::string evidence = fmt::format("epsilon {:.6g} in the layer config", eps);
  if (m.prov.format == "mxnet-checkpoint") {
    evidence = fmt::format("eps {:.6g}", eps);
    if (const auto* a = symbol_attrs(r, n)) {
      auto it = a->find("eps");
      evidence = it == a->end() ? "eps not set in the symbol: MXNet's BatchNorm default 1e-3" : "eps='" + it->second + "' in the symbol";
    }
  }
  const bool keras = is_keras_target(r.target);
  const std::string target = keras ? (r.target == "keras3" ? "Keras 3" : "Keras 2") + std::string("'s BatchNormalization") : "MXNet's BatchNorm";
  r.add("info", "batchnorm", n.name,
        fmt::format("BatchNorm epsilon {:.6g} differs from {} default 1e-3: a layer rebuilt by hand with the default computes "
                    "(x - mean) / sqrt(var + 1e-3) instead",
                    eps, target),
        evidence + fmt::format("; {} default 1e-3", target),
        fmt::format("weightbridge convert writes epsilon {:.6g} explicitly; by hand: {}", eps,
                    keras ? fmt::format("BatchNormalization(epsilon={:.6g})", eps) : fmt::format("BatchNorm(eps={:.6g})", eps)),
        "epsilon");
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
      if (bad) r.add("error", "weights", where, "tensor holds NaN or Inf", "values " + preview(v), "retrain or restore from another checkpoint", "non-finite");
      else if (zero && !stat) r.add("warning", "weights", where, "tensor is all zeros: the weights were probably never loaded or trained",
                                    shape_str(w.stored.shape) + " all 0", "check the source checkpoint (a sub-model saved under another name?)", "all-zero");
      else if (constant && !stat) r.add("warning", "weights", where, "tensor is constant: initial values, not trained weights",
                                        fmt::format("{} all {}", shape_str(w.stored.shape), v.front()), "check the source checkpoint", "constant");
      if (w.stored.dtype == DType::F64)
        r.add("warning", "dtype", where, "float64 weights: loaders cast to float32 by default and lose precision",
              "dtype float64", "keep float64 in the target (weightbridge keeps dtypes unless --dtype is given)", "float64");
      if (w.stored.dtype == DType::BF16)
        r.add("warning", "dtype", where, "bfloat16 weights: Keras 2 cannot load them from .h5",
              "dtype bfloat16", r.convert(r.target, " --dtype float32") + " (exact)", "bfloat16");
      if (!w.transform.empty() && w.transform.find("fix_gamma") != std::string::npos) check_fix_gamma(r, n, w, where);
    }
    if (n.op == "BatchNorm") {
      check_epsilon(r, m, n);
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
        r.add("warning", "batchnorm", n.name,
              "BatchNorm running statistics are at their initial values (mean 0, variance 1) while gamma/beta are trained: "
              "the checkpoint probably lacks the statistics, and the model will predict nearly constant outputs",
              "moving_mean all 0, moving_variance all 1", "save the statistics from the training process again",
              "initial-statistics");
    }
  }
}

// The node feeding `name`'s first input, skipping layers that keep the layout.
const Node* features_before(const Model& m, const Node& n) {
  const Node* in = n.inputs.empty() ? nullptr : m.find(n.inputs[0]);
  while (in && (in->op == "Activation" || in->op == "Dropout" || in->op == "BatchNorm" || in->op == "LeakyReLU") && !in->inputs.empty())
    in = m.find(in->inputs[0]);
  return in;
}

// The Dense layer that consumes `name` (through Dropout/Activation), if any.
const Node* dense_after(const Model& m, const std::string& name) {
  for (const auto& n : m.nodes) {
    if (n.inputs.empty() || n.inputs[0] != name) continue;
    if (n.op == "Dense") return &n;
    if (n.op == "Dropout" || n.op == "Activation")
      if (const Node* d = dense_after(m, n.name)) return d;
  }
  return nullptr;
}

// A Flatten of channels_first features emits (C, H, W) order, and the next Dense layer's rows
// follow it. Whether a Keras model rebuilt from the file flattens the same way depends on its
// Flatten's data_format and the Keras version (formats-keras.md 10.3, 10.4).
void check_flatten_order(Report& r, const Model& m) {
  const std::string& fw = m.prov.framework;
  const bool src_mxnet = m.prov.format == "mxnet-checkpoint";
  const bool src_old_keras = fw == "keras1" || fw == "keras0";
  for (const auto& n : m.nodes) {
    if (n.op != "Flatten") continue;
    const Node* in = features_before(m, n);
    if (!in || (in->op != "Conv" && in->op != "Pool" && in->op != "ZeroPadding")) continue;
    if (in->attrs.value("data_format", "channels_last") != "channels_first" || n.attrs.value("channels_last_first", false)) continue;
    if (src_mxnet && r.target == "mxnet") continue;  // the same Flatten on both sides
    const Node* dense = dense_after(m, n.name);
    const Weight* k = dense ? dense->weight("kernel") : nullptr;
    const int64_t inputs = k && !k->tensor.shape.empty() ? k->tensor.shape[0] : 0;
    const std::string rows = dense ? fmt::format("{}'s {} input rows", dense->name, inputs) +
                                         (src_mxnet && k ? " (the columns of MXNet's " + k->source + ")" : "")
                                   : std::string("the rows of the next layer's weights");
    const std::string source =
        src_mxnet ? "MXNet's Flatten always flattens channels_first features in (C, H, W) order"
        : src_old_keras ? "Keras 1's Flatten flattens 'th' features as they are, in (C, H, W) order"
                        : "this Flatten (data_format not channels_first) flattens the channels_first features in (C, H, W) order";
    std::string evidence = "the layer before it, " + in->name + ", is channels_first" +
                           (dense ? fmt::format("; {} takes C*H*W = {} inputs", dense->name, inputs) : std::string());
    const std::string permute = "permute " + rows + " from (C, H, W) to (H, W, C), new[h*W*C + w*C + c] = old[c*H*W + h*W + w]";
    if (!is_keras_target(r.target)) {
      r.add("info", "layout", n.name,
            source + "; MXNet's Flatten does the same, so " + rows + " carry over unchanged; only a channels_last rewrite "
                     "needs them permuted",
            evidence, "weightbridge convert keeps the order; a channels_last rewrite must " + permute, "flatten-order");
      continue;
    }
    // The Keras rule (formats-keras.md 10.4): Flatten(data_format='channels_first') moves the channel axis last.
    evidence +=
        ". Keras Flatten on channels_first features gives (C, H, W) in Keras 1 and 2.0-2.1.5; in Keras 2.1.6 unless "
        "data_format='channels_first'; in Keras >= 2.2, tf.keras and Keras 3 only when data_format resolves to "
        "'channels_last' (set, or unset with image_data_format 'channels_last'). data_format='channels_first' (set, or unset "
        "with image_data_format 'channels_first') and every channels_last model give (H, W, C)";
    // A Keras 2+ source is rebuilt with its own Flatten config; an MXNet or Keras 1 one meets a Flatten that may differ.
    const bool by_hand_risk = src_mxnet || src_old_keras;
    r.add(by_hand_risk ? "warning" : "info", "layout", n.name,
          source + ", so " + rows + " follow that order; a Keras Flatten that moves the channel axis last gives (H, W, C), " +
              (src_mxnet ? "and rows copied by hand are then in the wrong order"
                         : "and the rows (loaded by load_weights, which never reorders Dense rows, or by hand) are then in "
                           "the wrong order"),
          evidence,
          r.convert(r.target) + " (writes Flatten(data_format='channels_last') after the channels_first layers: exact); by hand, "
                                "channels_first model: Flatten(data_format='channels_last') (Keras >= 2.1.6); channels_last "
                                "model or channels_first Flatten: " + permute,
          "flatten-order");
  }
}

// "cast float32->float16 (...)" -> "float16".
std::string cast_to(const std::string& transform) {
  const size_t at = transform.find("->");
  if (at == std::string::npos) return "keep";
  const std::string rest = transform.substr(at + 2);
  return rest.substr(0, rest.find_first_of(" ,;)"));
}

void check_against(Report& r, const Model& a, const Model& b, const std::string& target) {
  for (const auto& d : diff_models(a, b)) {
    const std::string where = d.layer_a.empty() ? d.layer_b : d.layer_a + "." + d.role;
    if (d.verdict == "only-a")
      r.add("error", "weights", where, "weight has no place in " + target + " (extra)", d.name_a + " " + shape_str(d.shape_a),
            r.convert(r.target, " --ignore-extra") + ", or give the matching architecture", "extra");
    else if (d.verdict == "only-b")
      r.add("error", "weights", d.layer_b + "." + d.role, "target weight has no source (missing)", d.name_b + " " + shape_str(d.shape_b),
            "check the source checkpoint; " + r.convert(r.target, " --allow-missing") + " only if the target's initial values are acceptable",
            "missing");
    else if (d.verdict == "different" && d.shape_a != d.shape_b && !d.shape_b.empty())
      r.add("error", "layout", where, "shape differs from the target's", shape_str(d.shape_a) + " vs " + shape_str(d.shape_b),
            "weightbridge convert applies the layout rules; if the shapes still differ the architectures do not match", "shape");
    else if (d.verdict == "transform" && d.transform.rfind("cast", 0) == 0)
      r.add("warning", "dtype", where, "dtype differs from the target's: " + d.transform, d.name_a + " -> " + d.name_b,
            r.convert(r.target, " --dtype " + cast_to(d.transform)), "cast");
    if (!d.layer_a.empty() && !d.layer_b.empty() && d.layer_a != d.layer_b && d.role == "kernel")
      r.add("warning", "naming", where, "layer names differ: a by-name loader will not match '" + d.layer_a + "' to '" + d.layer_b + "'",
            "matched by structure (order among layers of the same kind)", r.convert(r.target, " --map MAP.json"), "layer-names");
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
  const auto shapes = infer_shapes(m);
  for (const auto& n : m.nodes) {
    check_hard_sigmoid_slope(r, n, target, m.prov.framework);
    if (!is_rnn_op(n.op)) continue;
    const json& a = n.attrs;
    const std::string cell = a.value("cell", "");
    const std::string cls = cell == "lstm"       ? "LSTM"
                            : cell == "gru"      ? "GRU"
                            : cell == "convlstm" ? fmt::format("ConvLSTM{}D", a.value("rank", 2))
                                                 : "SimpleRNN";
    const std::string label = n.op == "Bidirectional" ? "Bidirectional(" + cls + ")" : cls;
    const int64_t u = a.value("units", int64_t{0}), G = gate_count(cell);
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
    // A layer the fused op cannot express goes to MXNet as per-step ops that keep Keras' gate
    // order and single bias (mxnet_export.cpp): the fused op's reordering and bias notes do not apply.
    const bool fused = !(to_mx && !from_mx && mxnet_rnn_gap(n));
    const bool mx_order = to_mx && fused;
    const std::string to_label = to_mx && !fused ? "MXNet's per-step export" : target_label(target);

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
                (mx_order ? " in gate order r,z,n" : " in the same order"),
            fmt::format("kernel {} is {}", shape_str(kernel->tensor.shape), kernel->source),
            r.convert(target) + " (fuses the arrays" + (mx_order ? " and reorders the gates)" : ")"), "gate-order");
    else if (cell == "gru" && kernel && (to_mx ? !from_mx && fused : from_mx))
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
    } else if (to_mx && !from_mx && fused && cell != "convlstm") {  // a ConvLSTM's export keeps its one bias (on the input conv)
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
    // What MXNet's fused RNN op cannot compute. convert writes such a layer as an exact graph of
    // per-time-step ops when the sequence length (for a ConvLSTM: and the feature-map size) is
    // known (mxnet_export.cpp).
    const bool conv = cell == "convlstm";
    const auto in = shapes.find(n.inputs.empty() ? std::string() : n.inputs[0]);
    int64_t T = in != shapes.end() && in->second.size() == 2 && !conv ? in->second[0] : -1;
    if (conv && in != shapes.end()) {
      const auto step = rnn_state_shape(n, in->second);
      bool known = step.has_value();
      for (size_t i = 0; known && i < in->second.size(); ++i) known = in->second[i] >= 1;
      for (size_t i = 0; known && i < step->size(); ++i) known = (*step)[i] >= 1;
      if (known) T = in->second[0];
    }
    const bool unrolled = T >= 1;
    const char* sev = unrolled ? "info" : "error";
    const std::string how =
        unrolled ? fmt::format("convert writes this layer as exact per-time-step MXNet ops ({} step{}{}) instead of the fused RNN op", T,
                               T == 1 ? "" : "s", conv ? " of Convolution ops" : "")
                 : conv ? std::string("convert can write it as exact per-time-step Convolution ops only when the sequence length "
                                      "and the feature-map size are known, and the input's shape does not give them")
                        : std::string("convert can write it as exact per-time-step ops only when the sequence length is known, and the "
                                      "input's time axis is not");
    const std::string shape_args = input_shape_args(m, n);
    const std::string exact_fix =
        unrolled ? r.convert("mxnet") + (conv ? " (exact; the MXNet model has a fixed sequence length and map size and reads back as "
                                                "plain ops, not as a recurrent layer)"
                                              : " (exact; the MXNet model has a fixed sequence length and reads back as plain ops, "
                                                "not as a recurrent layer)")
                 : r.convert("mxnet", shape_args) +
                       (conv ? " (T, D1, D2...: the sequence length and sizes the MXNet model will take, numbers; exact for "
                               "those sizes), or keep the model in Keras"
                             : " (T: the sequence length the MXNet model will take, a number; exact for it), or keep the model "
                               "in Keras");
    bool named = false;
    const std::string ract = a.value("recurrent_activation", "sigmoid");
    if (cell != "simple" && cell != "convlstm" && ract == "hard_sigmoid") {
      const double slope = a.value("hard_sigmoid_slope", 0.2);
      const double gap = max_gap([&](double x) { return hard_sigmoid(x, slope); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
      r.add(sev, "rnn", where, "recurrent_activation hard_sigmoid, but MXNet's fused RNN gates are always sigmoid: " + how,
            fmt::format("recurrent_activation=hard_sigmoid, clip({:.6g} x + 0.5, 0, 1){}; it differs from sigmoid by up to {:.4f} "
                        "per gate", slope, keras1 ? " (Keras 1 inner_activation)" : "", gap),
            exact_fix + "; or " + r.convert("mxnet", " --accept-sigmoid-for-hard-sigmoid") +
                " (the fused op with sigmoid gates, an approximation: the outputs change, --verify reports by how much)",
            "hard-sigmoid");
      named = true;
    }
    if (cell == "gru" && !reset_after) {
      r.add(sev, "rnn", where,
            "GRU with reset_after=False: MXNet's fused RNN applies the reset gate after the recurrent matmul (reset_after=True) "
            "and has no form of this layer: " + how,
            fmt::format("reset_after=False{}; bias {} (one bias per gate; reset_after=True would hold (2, {}))",
                        keras1 ? " (every Keras 1 GRU)" : "", bias ? shape_str(bias->tensor.shape) : "none", 3 * u),
            exact_fix, "gru-reset-after");
      named = true;
    }
    // Anything else the fused op refuses (other gate activations, merge mode, initial states,
    // ConvLSTM...): the layer with the gaps named above taken away, asked again.
    Node probe = n;
    if (ract == "hard_sigmoid") probe.attrs["recurrent_activation"] = "sigmoid";
    if (cell == "gru") probe.attrs["reset_after"] = true;
    if (const auto gap = mxnet_rnn_gap(probe); gap && (!named || conv))
      r.add(sev, "rnn", where, *gap + ": " + how,
            fmt::format("activation={}, recurrent_activation={}, merge_mode={}, return_sequences={}, inputs={}",
                        a.value("activation", "tanh"), cell == "simple" ? std::string("-") : ract, a.value("merge_mode", "-"),
                        a.value("return_sequences", false), n.inputs.size()),
            exact_fix, "mxnet-rnn");
  }
}

// A Keras 1 file without backend information (keras_import refuses it without --kernel-flip).
// `m` is the model read without flipping, for the layer's ordering and weight names.
void check_kernel_flip(Report& r, const Error& e, const Model& m) {
  const Node* conv = nullptr;
  for (const auto& n : m.nodes)
    if (n.op == "Conv" && e.where().find("'" + n.name + "'") != std::string::npos) conv = &n;
  for (const auto& n : m.nodes)
    if (!conv && n.op == "Conv") conv = &n;
  const bool th = conv && conv->attrs.value("data_format", "channels_last") == "channels_first";
  const std::string example = conv && !conv->weights.empty() ? " (e.g. '" + conv->weights[0].source + "')" : "";
  std::string evidence =
      "no backend attribute (Keras 1 never records one); weight names have no ':0' suffix" + example +
      ", so TensorFlow did not write the file (its variable names end in ':0'); ";
  evidence += th ? "'th' ordering with no backend recorded: Theano (kernels must be flipped) or dmlc/keras on MXNet (no "
                   "flip), and Theano is the more common, so --kernel-flip yes is most likely"
                 : "'tf' ordering without TensorFlow names: Theano with 'tf' ordering (flip) or dmlc/keras on MXNet (no flip)";
  evidence += ". Keras 2's own load_weights flips Theano kernels only when the file records backend='theano', so this "
              "file loads into a Keras 2 model without complaint and predicts wrong";
  std::string run = "weightbridge run " + r.files;
  r.required = th ? " --kernel-flip yes" : " --kernel-flip yes|no";
  r.add("error", "ambiguity", e.file() + (e.where().empty() ? "" : ": " + e.where()),
        "Keras 1 file without backend information: if Theano trained it, its convolution kernels must be flipped for "
        "TensorFlow/MXNet; if dmlc/keras (MXNet) did, they must not",
        evidence,
        std::string(th ? "most likely (Theano): " : "Theano: ") + r.convert(r.target, " --kernel-flip yes") +
            "; dmlc/keras on MXNet: --kernel-flip no instead. Confirm with one input whose prediction by the original "
            "model you know: " + run + " --kernel-flip yes --input x.npy -o y.npy, compare y.npy with that prediction "
            "(and with --kernel-flip no)",
        "kernel-flip");
}

// The framework the model is going to when neither --to nor --into says: an MXNet model goes to
// Keras, a Keras 0/1 model to Keras 2 (its users' usual move), any other Keras model to MXNet.
std::string default_target(const std::vector<FileKind>& kinds, const std::vector<std::optional<keras::H5File>>& h5) {
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i] == FileKind::MxnetSymbol || kinds[i] == FileKind::MxnetParams) return "keras";
    if (h5[i]) {
      const std::string fw = keras_framework(*h5[i]);
      if (fw == "keras1" || fw == "keras0") return "keras";
    }
  }
  return "mxnet";
}

}  // namespace

// What convert would refuse for this target: the exporter's own error, found before any file is
// written. A layer another finding already calls an error is not reported twice.
void check_exportable(Report& r, const Model& m, const std::string& target) {
  try {
    if (target == "mxnet") export_mxnet(m);
    else export_keras(m);
  } catch (const Error& e) {
    const std::string where = e.where().empty() ? r.files : e.where();
    for (const auto& f : r.findings) {
      const auto q = where.find('\'');
      const std::string layer = q == std::string::npos ? where : where.substr(q + 1, where.find('\'', q + 1) - q - 1);
      if (f.severity == "error" && f.where.rfind(layer, 0) == 0) return;
    }
    // weightbridge's per-step recurrent export names its nodes <layer>_t<step>_...
    static const std::regex kStep(R"(layer '(.+?)(_forward|_backward)?_t\d+_[a-z_0-9]+')");
    std::smatch step;
    const std::string evidence =
        std::regex_search(where, step, kStep)
            ? "the node is one of the per-step ops of recurrent layer '" + step[1].str() +
                  "' (weightbridge writes a layer so when MXNet's fused RNN op cannot express it); read back, they are "
                  "plain ops with no Keras layer"
            : std::string(kind_name(e.kind())) + " error of the " + (target == "mxnet" ? "MXNet" : "Keras") + " exporter";
    r.add("error", "target", where,
          "weightbridge convert --to " + std::string(target == "mxnet" ? "mxnet" : "keras") + " refuses this model: " + e.message(),
          evidence,
          "none by conversion: keep the model where it runs, or convert from the file it was made from (a model written "
          "as per-step MXNet ops, for instance, converts to Keras from its original Keras file)",
          "unsupported");
  }
}

DoctorReport doctor(std::vector<std::string> files, const std::vector<std::string>& into, const std::string& arch,
                    const std::string& to) {
  if (!to.empty() && to != "keras" && to != "keras3" && to != "mxnet")
    fail(ErrorKind::Usage, "--to takes keras, keras3 or mxnet");
  const std::optional<std::string> arch_file = arch.empty() ? std::nullopt : std::optional<std::string>(arch);
  Report r;
  DoctorReport out;
  r.files = join_quoted(files) + (arch.empty() ? "" : " --arch " + shell_quote(arch));
  std::vector<FileKind> kinds;
  std::vector<std::optional<keras::H5File>> h5;
  std::vector<std::optional<mxnet::Symbol>> symbols;
  for (const auto& f : files) {
    kinds.push_back(detect_file(f));
    h5.push_back(kinds.back() == FileKind::KerasH5 ? std::optional<keras::H5File>(keras::read_h5(f)) : std::nullopt);
    symbols.push_back(kinds.back() == FileKind::MxnetSymbol ? std::optional<mxnet::Symbol>(mxnet::read_symbol(f)) : std::nullopt);
  }
  ImportOptions into_opt;
  into_opt.kernel_flip = false;  // a Keras 1 target's names and shapes do not depend on it
  std::optional<Model> target;
  if (!into.empty()) target = load_model(into, std::nullopt, into_opt);
  r.target = !to.empty() ? to
             : target    ? (target->prov.format == "mxnet-checkpoint" ? "mxnet" : target->prov.framework == "keras3" ? "keras3" : "keras")
                         : default_target(kinds, h5);
  out.target = r.target;
  for (size_t i = 0; i < files.size(); ++i) {
    if (h5[i]) check_keras_file(r, files[i], *h5[i]);
    if (symbols[i]) {
      check_symbol_dialect(r, files[i], *symbols[i], into);
      collect_batchnorm_attrs(r, *symbols[i]);
    }
  }
  ImportOptions opt;
  Model m;
  try {
    m = load_model(files, arch_file, opt);
  } catch (const Error& e) {
    const std::string msg = e.message();
    if (msg.find("--kernel-flip") != std::string::npos) {
      opt.kernel_flip = false;
      m = load_model(files, arch_file, opt);
      check_kernel_flip(r, e, m);
    } else {
      const bool no_arch = msg.find("without an architecture") != std::string::npos;
      r.add("error", e.kind() == ErrorKind::Mapping ? "weights" : "metadata", e.file() + (e.where().empty() ? "" : ": " + e.where()),
            no_arch ? "weights-only file: the layer checks need the architecture" : "the model cannot be read: " + msg,
            no_arch ? "no model_config in the file" : std::string(kind_name(e.kind())) + " error while loading",
            no_arch ? "weightbridge doctor " + r.files + " --arch MODEL.json"
            : e.kind() == ErrorKind::Mapping ? r.convert(r.target) + " with --allow-missing, --ignore-extra or --map MAP.json, after checking the source"
            : "check the file (weightbridge inspect " + r.files + ")",
            no_arch ? "no-architecture" : e.kind() == ErrorKind::Mapping ? "mapping" : "unreadable");
      out.findings = std::move(r.findings);
      return out;
    }
  }
  for (size_t i = 0; i < files.size(); ++i)
    if (h5[i]) check_keras_layer_order(r, files[i], *h5[i], m);
  check_values(r, m);
  check_flatten_order(r, m);
  check_rnn(r, m, out.target);
  check_exportable(r, m, out.target);
  for (const auto& note : m.prov.notes)
    if (note.find("dropped") != std::string::npos || note.find("matched") != std::string::npos) {
      const bool matched = note.find("matched") != std::string::npos;
      r.add("info", matched ? "naming" : "batchnorm", r.files, note, "", "applied by weightbridge convert",
            matched ? "matched-name" : "identity-dropped");
    }
  if (target) check_against(r, m, *target, join(into));
  out.findings = std::move(r.findings);
  return out;
}

}  // namespace wb
