// Layout rules for recurrent layers (see rnn_rules.h). Sources: formats-keras.md 4.5, 5.4, 5.5,
// 5.8, 6.2, 6.5, 8.2 and formats-mxnet.md 8.10, 8.11.
#include "model/rnn_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>

#include "model/transforms.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {

int gate_count(const std::string& cell) { return cell == "lstm" || cell == "convlstm" ? 4 : cell == "gru" ? 3 : 1; }

namespace {

[[noreturn]] void layer_fail(ErrorKind k, const std::string& layer, const std::string& what) {
  fail(k, what, {}, "layer '" + layer + "'");
}

// A tensor whose element k is element `pick(k).second` of source `pick(k).first`; all sources
// share the dtype. Loads the sources when its own bytes are asked for.
using Pick = std::function<std::pair<size_t, uint64_t>(uint64_t)>;
Tensor gathered(std::string name, Shape shape, std::vector<Tensor> srcs, Pick pick) {
  const DType dt = srcs.at(0).dtype;
  for (const auto& s : srcs)
    if (s.dtype != dt) fail(ErrorKind::Mapping, "recurrent weights of one layer differ in dtype", {}, name);
  Tensor t;
  t.name = std::move(name);
  t.dtype = dt;
  t.shape = shape;
  const uint64_t n = checked_numel(shape);
  t.load = [srcs, pick, n, dt] {
    const size_t es = dtype_size(dt);
    std::vector<Bytes> in;
    for (const auto& s : srcs) in.push_back(s.load());
    Bytes out(n * es);
    for (uint64_t k = 0; k < n; ++k) {
      const auto [s, i] = pick(k);
      std::memcpy(out.data() + k * es, in[s].data() + i * es, es);
    }
    return out;
  };
  return t;
}

// Concatenation of (rows, c_k) matrices (or vectors: rows = 1) along the last axis.
Tensor concat_last(const std::string& name, const std::vector<Tensor>& parts) {
  const Shape& s0 = parts.at(0).shape;
  const uint64_t rows = s0.size() == 2 ? static_cast<uint64_t>(s0[0]) : 1;
  std::vector<uint64_t> cols;
  uint64_t total = 0;
  for (const auto& p : parts) {
    const Shape& s = p.shape;
    if (s.size() != s0.size() || (s.size() == 2 && s[0] != s0[0]))
      fail(ErrorKind::Mapping, "Keras 1 gate arrays differ in shape: " + shape_str(s0) + " and " + shape_str(s), {}, name);
    cols.push_back(static_cast<uint64_t>(s.back()));
    total += cols.back();
  }
  Shape out = s0.size() == 2 ? Shape{s0[0], static_cast<int64_t>(total)} : Shape{static_cast<int64_t>(total)};
  (void)rows;
  return gathered(name, out, parts, [cols, total](uint64_t k) {
    uint64_t r = k / total, c = k % total;
    size_t p = 0;
    while (c >= cols[p]) c -= cols[p++];
    return std::make_pair(p, r * cols[p] + c);
  });
}

// ---- Keras config reading ----

std::string act_name(const json& cfg, const char* key, const char* k1key, const std::string& dflt) {
  const json* a = cfg.contains(key) ? &cfg[key] : cfg.contains(k1key) ? &cfg[k1key] : nullptr;
  if (!a || a->is_null()) return dflt;
  if (a->is_string()) return *a;
  if (a->is_object() && a->contains("config") && (*a)["config"].contains("name")) return (*a)["config"]["name"];
  if (a->is_object() && a->contains("class_name")) return (*a)["class_name"];
  fail(ErrorKind::Malformed, std::string("model config: unreadable ") + key + " " + a->dump());
}

// Standalone Keras <= 2.2.5 defaulted recurrent_activation to hard_sigmoid; 2.3+, tf.keras and
// Keras 3 to sigmoid (formats-keras.md 5.8). Only used when the config does not say.
std::string default_recurrent_activation(const KerasRnnSource& s) {
  if (s.keras1) return "hard_sigmoid";
  if (s.framework == "keras" || s.framework == "keras-mxnet") {
    int major = 0, minor = 0, patch = 0;
    if (std::sscanf(s.version.c_str(), "%d.%d.%d", &major, &minor, &patch) >= 2 &&
        (major < 2 || (major == 2 && minor <= 2)))
      return "hard_sigmoid";
  }
  return "sigmoid";
}

std::string cell_of(const std::string& cls) {
  if (cls == "SimpleRNN") return "simple";
  if (cls == "LSTM" || cls == "CuDNNLSTM") return "lstm";
  if (cls == "GRU" || cls == "CuDNNGRU") return "gru";
  if (cls == "ConvLSTM1D" || cls == "ConvLSTM2D" || cls == "ConvLSTM3D") return "convlstm";
  return "";
}

std::vector<int64_t> conv_ints(const json& cfg, const char* key, size_t rank, int64_t dflt, const std::string& name) {
  const json v = cfg.contains(key) && !cfg[key].is_null() ? cfg[key] : json(dflt);
  if (v.is_number_integer()) return std::vector<int64_t>(rank, v.get<int64_t>());
  if (!v.is_array() || v.size() != rank)
    layer_fail(ErrorKind::Malformed, name, fmt::format("{} {} is not {} integers", key, v.dump(), rank));
  return v.get<std::vector<int64_t>>();
}

// ConvLSTM1D/2D/3D attributes (convolution part).
void conv_cell_attrs(const std::string& cls, const json& cfg, const std::string& name, json& a) {
  const size_t rank = static_cast<size_t>(cls[8] - '0');
  a["rank"] = rank;
  a["units"] = cfg.at("filters");
  a["kernel_size"] = conv_ints(cfg, "kernel_size", rank, 1, name);
  a["strides"] = conv_ints(cfg, "strides", rank, 1, name);
  a["dilation"] = conv_ints(cfg, "dilation_rate", rank, 1, name);
  const std::string padding = cfg.value("padding", "valid");
  if (padding != "valid" && padding != "same") layer_fail(ErrorKind::Unsupported, name, "ConvLSTM padding '" + padding + "'");
  a["padding"] = padding;
  std::string df = cfg.contains("data_format") && cfg["data_format"].is_string() ? cfg["data_format"].get<std::string>() : "channels_last";
  if (df != "channels_first" && df != "channels_last") layer_fail(ErrorKind::Malformed, name, "data_format '" + df + "'");
  a["data_format"] = df;
  for (const char* k : {"kernel_size", "strides", "dilation"})
    for (const auto& v : a[k])
      if (v.get<int64_t>() < 1 || v.get<int64_t>() > (int64_t{1} << 20))
        layer_fail(ErrorKind::Malformed, name, fmt::format("{} {} is out of range", k, a[k].dump()));
  if (a["units"].get<int64_t>() < 1) layer_fail(ErrorKind::Malformed, name, "filters must be >= 1");
}

json cell_attrs(const KerasRnnSource& s, const std::string& cls, const json& cfg, const std::string& name) {
  const std::string cell = cell_of(cls);
  if (cell.empty()) layer_fail(ErrorKind::Unsupported, name, "recurrent layer class " + cls + " is not supported");
  const bool cudnn = cls.rfind("CuDNN", 0) == 0;
  if (cfg.value("stateful", false))
    layer_fail(ErrorKind::Unsupported, name, "stateful=True recurrent layers carry state between calls; not supported");
  if (cfg.value("time_major", false)) layer_fail(ErrorKind::Unsupported, name, "time_major=True is not supported");
  json a = {{"cell", cell},
            {"units", cell == "convlstm" ? cfg.at("filters") : cfg.contains("units") ? cfg["units"] : cfg.at("output_dim")},
            {"activation", cudnn ? std::string("tanh") : act_name(cfg, "activation", "activation", "tanh")},
            {"use_bias", cudnn ? true : cfg.contains("use_bias") ? cfg["use_bias"].get<bool>() : cfg.value("bias", true)},
            {"return_sequences", cfg.value("return_sequences", false)},
            {"go_backwards", cfg.value("go_backwards", false)}};
  if (cfg.value("return_state", false)) a["return_state"] = true;
  if (cell == "convlstm") conv_cell_attrs(cls, cfg, name, a);
  if (cell != "simple")
    a["recurrent_activation"] = cudnn ? std::string("sigmoid")
                                      : act_name(cfg, "recurrent_activation", "inner_activation", default_recurrent_activation(s));
  if (cell == "gru") a["reset_after"] = cudnn ? true : cfg.value("reset_after", false);
  // Keras 3 redefined hard_sigmoid as relu6(x + 3) / 6: slope 1/6 instead of Keras 2's 0.2.
  if (s.framework == "keras3" && (a.value("activation", "") == "hard_sigmoid" || a.value("recurrent_activation", "") == "hard_sigmoid"))
    a["hard_sigmoid_slope"] = 1.0 / 6.0;
  return a;
}

// ---- Keras weights -> canonical ----

struct CellWeights {
  Weight kernel, recurrent, bias;
  bool has_bias = false;
};

// Keras 1 per-gate arrays (4.5, 6.2): LSTM 12 arrays i,c,f,o; GRU 9 arrays z,r,h.
std::vector<Weight> fuse_keras1(const std::string& cell, const std::vector<Weight>& ws) {
  std::vector<size_t> order;
  if (cell == "lstm" && ws.size() == 12) order = {0, 6, 3, 9};  // i, f, c, o from i, c, f, o
  else if (cell == "gru" && ws.size() == 9) order = {0, 3, 6};
  else return ws;
  std::vector<Weight> out;
  const char* what[] = {"kernel", "recurrent_kernel", "bias"};
  for (size_t k = 0; k < 3; ++k) {
    std::vector<Tensor> parts;
    std::string src;
    for (size_t g : order) {
      parts.push_back(ws[g + k].tensor);
      src += (src.empty() ? "" : "+") + ws[g + k].source;
    }
    Weight w{"", concat_last(what[k], parts), src,
             cell == "lstm" ? "Keras 1 gates i,c,f,o -> concat i,f,c,o" : "Keras 1 gates z,r,h -> concat", {}};
    out.push_back(std::move(w));
  }
  return out;
}

// CuDNN kernels (6.5): each (in, u) gate block is the C-order buffer of a (u, in) matrix.
Tensor cudnn_kernel_to_plain(const Tensor& t, int64_t units) {
  const uint64_t in = static_cast<uint64_t>(t.shape.at(0)), cols = static_cast<uint64_t>(t.shape.at(1));
  const uint64_t u = static_cast<uint64_t>(units);
  return gathered(t.name, t.shape, {t}, [in, cols, u](uint64_t k) {
    const uint64_t i = k / cols, c = k % cols, g = c / u, j = c % u;
    const uint64_t p = j * in + i;
    return std::make_pair(size_t{0}, (p / u) * cols + g * u + p % u);
  });
}

void bind_cell(const KerasRnnSource& s, const std::string& cls, const json& attrs, std::vector<Weight> ws,
               const std::string& name, CellWeights& out, std::vector<std::string>& notes) {
  const std::string cell = attrs.at("cell");
  const int64_t u = attrs.at("units"), G = gate_count(cell);
  const bool use_bias = attrs.at("use_bias");
  if (s.keras1) ws = fuse_keras1(cell, ws);
  const size_t want = use_bias ? 3 : 2;
  if (ws.size() != want) {
    std::string have;
    for (const auto& w : ws) have += (have.empty() ? "" : ", ") + w.source + " " + shape_str(w.tensor.shape);
    fail(ErrorKind::Mapping, fmt::format("{} expects {} weights (kernel, recurrent_kernel{}) but the file has {}: {}", cls,
                                         want, use_bias ? ", bias" : "", ws.size(), have.empty() ? "none" : have),
         {}, "layer '" + name + "'");
  }
  out.kernel = ws[0];
  out.recurrent = ws[1];
  if (cell == "convlstm") {  // kernel (k..., C, 4f), recurrent_kernel (k..., f, 4f), bias (4f)
    const auto k = attrs.at("kernel_size").get<std::vector<int64_t>>();
    const Shape& ks = out.kernel.tensor.shape;
    bool ok = ks.size() == k.size() + 2 && ks.back() == G * u;
    for (size_t i = 0; ok && i < k.size(); ++i) ok = ks[i] == k[i];
    if (!ok) layer_fail(ErrorKind::Mapping, name, fmt::format("kernel {} does not fit kernel_size {} and {} gates of {} filters",
                                                              shape_str(ks), shape_str(k), G, u));
    Shape rs(k.begin(), k.end());
    rs.push_back(u);
    rs.push_back(G * u);
    if (out.recurrent.tensor.shape != rs)
      layer_fail(ErrorKind::Mapping, name, fmt::format("recurrent_kernel {} is not {}", shape_str(out.recurrent.tensor.shape), shape_str(rs)));
    out.has_bias = use_bias;
    if (!use_bias) return;
    out.bias = ws[2];
    if (out.bias.tensor.shape != Shape{G * u})
      layer_fail(ErrorKind::Mapping, name, fmt::format("bias {} is not ({},)", shape_str(out.bias.tensor.shape), G * u));
    return;
  }
  const Shape& ks = out.kernel.tensor.shape;
  if (ks.size() != 2 || ks[1] != G * u)
    layer_fail(ErrorKind::Mapping, name, fmt::format("kernel {} does not fit {} gates of {} units", shape_str(ks), G, u));
  if (out.recurrent.tensor.shape != Shape{u, G * u})
    layer_fail(ErrorKind::Mapping, name, fmt::format("recurrent_kernel {} is not ({}, {})", shape_str(out.recurrent.tensor.shape), u, G * u));
  const bool cudnn = cls.rfind("CuDNN", 0) == 0;
  if (cudnn) {
    out.kernel.tensor = cudnn_kernel_to_plain(out.kernel.tensor, u);
    out.kernel.transform = "CuDNN per-gate (u, in) buffers -> (in, u) blocks";
    out.recurrent.tensor = permuted(reshaped(out.recurrent.tensor, {u, G, u}), {2, 1, 0});
    out.recurrent.tensor = reshaped(out.recurrent.tensor, {u, G * u});
    out.recurrent.transform = "CuDNN per-gate transpose";
    notes.push_back("layer " + name + ": " + cls + " weights converted to the plain " + (cell == "lstm" ? "LSTM" : "GRU(reset_after=True)") + " layout");
  }
  out.has_bias = use_bias;
  if (!use_bias) return;
  out.bias = ws[2];
  const Shape& bs = out.bias.tensor.shape;
  const bool two_rows = cell == "gru" && attrs.value("reset_after", false);
  if (cudnn && cell == "lstm") {
    if (bs != Shape{8 * u}) layer_fail(ErrorKind::Mapping, name, "CuDNNLSTM bias " + shape_str(bs) + " is not (8u,)");
    const Tensor b = out.bias.tensor;
    auto v = to_f64(b.load(), b.dtype);
    std::vector<float> sum(static_cast<size_t>(4 * u));
    for (size_t k = 0; k < sum.size(); ++k) sum[k] = static_cast<float>(v[k] + v[k + sum.size()]);
    out.bias.tensor = cast(make_f32(b.name, {4 * u}, sum), b.dtype);
    out.bias.transform = "CuDNN input + recurrent biases summed";
  } else if (cudnn) {
    if (bs != Shape{6 * u}) layer_fail(ErrorKind::Mapping, name, "CuDNNGRU bias " + shape_str(bs) + " is not (6u,)");
    out.bias.tensor = reshaped(out.bias.tensor, {2, 3 * u});
    out.bias.transform = "reshape (6u,) -> (2, 3u)";
  } else if (two_rows ? bs != Shape{2, G * u} : bs != Shape{G * u}) {
    layer_fail(ErrorKind::Mapping, name, fmt::format("bias {} does not fit {}", shape_str(bs),
                                                     two_rows ? "GRU reset_after=True (2, 3u)" : fmt::format("({},)", G * u)));
  }
}

void add_cell_weights(Node& n, const std::string& prefix, CellWeights& w) {
  w.kernel.role = prefix + "kernel";
  w.recurrent.role = prefix + "recurrent_kernel";
  n.weights.push_back(w.kernel);
  n.weights.push_back(w.recurrent);
  if (w.has_bias) {
    w.bias.role = prefix + "bias";
    n.weights.push_back(w.bias);
  }
}

// Keras 3 stores Bidirectional as backward_layer/... and forward_layer/... groups, which sort
// backward first; the canonical order is forward then backward.
std::vector<Weight> forward_first(std::vector<Weight> ws) {
  std::stable_partition(ws.begin(), ws.end(), [](const Weight& w) { return w.source.rfind("backward_layer/", 0) != 0; });
  return ws;
}

}  // namespace

bool is_keras_rnn_class(const std::string& cls) {
  return cls == "SimpleRNN" || cls == "LSTM" || cls == "GRU" || cls == "CuDNNLSTM" || cls == "CuDNNGRU" ||
         cls == "Bidirectional" || cls == "ConvLSTM1D" || cls == "ConvLSTM2D" || cls == "ConvLSTM3D";
}

void import_keras_rnn(const KerasRnnSource& s, Node& n, std::vector<std::string>& notes) {
  if (s.cls != "Bidirectional") {
    n.op = "RNN";
    n.attrs = cell_attrs(s, s.cls, s.cfg, n.name);
    CellWeights w;
    bind_cell(s, s.cls, n.attrs, s.stored, n.name, w, notes);
    add_cell_weights(n, "", w);
    return;
  }
  const json& inner = s.cfg.at("layer");
  const std::string icls = inner.at("class_name");
  const json& icfg = inner.at("config");
  if (s.cfg.contains("backward_layer") && !s.cfg["backward_layer"].is_null())
    layer_fail(ErrorKind::Unsupported, n.name, "Bidirectional with a separate backward_layer is not supported");
  const json mm = s.cfg.value("merge_mode", json("concat"));
  if (!mm.is_string() || (mm != "concat" && mm != "sum" && mm != "mul" && mm != "ave"))
    layer_fail(ErrorKind::Unsupported, n.name, "Bidirectional merge_mode " + mm.dump() + " (several outputs) is not supported");
  n.op = "Bidirectional";
  n.attrs = cell_attrs(s, icls, icfg, n.name);
  n.attrs["merge_mode"] = mm;
  n.attrs["inner_name"] = icfg.value("name", cell_of(icls));
  std::vector<Weight> ws = forward_first(s.stored);
  if (ws.size() % 2) layer_fail(ErrorKind::Mapping, n.name, fmt::format("Bidirectional has an odd number of weights ({})", ws.size()));
  const auto half = static_cast<std::ptrdiff_t>(ws.size() / 2);
  CellWeights f, b;
  bind_cell(s, icls, n.attrs, {ws.begin(), ws.begin() + half}, n.name, f, notes);
  bind_cell(s, icls, n.attrs, {ws.begin() + half, ws.end()}, n.name, b, notes);
  add_cell_weights(n, "forward_", f);
  add_cell_weights(n, "backward_", b);
}

bool is_rnn_op(const std::string& op) { return op == "RNN" || op == "Bidirectional"; }

std::pair<std::string, json> keras_rnn_layer_config(const Node& n, const std::string& dtype) {
  const json& a = n.attrs;
  const std::string cell = a.at("cell");
  if (a.value("hard_sigmoid_slope", 0.2) != 0.2)
    layer_fail(ErrorKind::Unsupported, n.name, "hard_sigmoid with slope 1/6 (Keras 3's definition) has no Keras 2 equivalent");
  static const std::map<std::string, std::string> kClass = {{"simple", "SimpleRNN"}, {"lstm", "LSTM"}, {"gru", "GRU"}};
  const std::string cls = cell == "convlstm" ? fmt::format("ConvLSTM{}D", a.at("rank").get<int>()) : kClass.at(cell);
  const std::string inner_name = n.op == "Bidirectional" ? a.value("inner_name", cell == "simple" ? "simple_rnn" : cell) : n.name;
  json cfg = {{"name", inner_name}, {"trainable", true}, {"dtype", dtype}, {"units", a.at("units")},
              {"activation", a.value("activation", "tanh")}, {"use_bias", a.value("use_bias", true)},
              {"return_sequences", a.value("return_sequences", false)}, {"return_state", a.value("return_state", false)},
              {"go_backwards", a.value("go_backwards", false)}, {"stateful", false}, {"unroll", false},
              {"dropout", 0.0}, {"recurrent_dropout", 0.0}};
  if (cell == "convlstm") {
    cfg.erase("units");
    cfg.erase("unroll");
    cfg.update({{"filters", a.at("units")}, {"kernel_size", a.at("kernel_size")}, {"strides", a.at("strides")},
                {"padding", a.value("padding", "valid")}, {"data_format", a.value("data_format", "channels_last")},
                {"dilation_rate", a.at("dilation")}});
  }
  if (cell != "simple") cfg["recurrent_activation"] = a.value("recurrent_activation", "sigmoid");
  if (cell == "lstm" || cell == "convlstm") cfg["unit_forget_bias"] = true;
  if (cell == "gru") cfg["reset_after"] = a.value("reset_after", false);
  if (cell == "lstm" || cell == "gru") cfg["implementation"] = 1;
  if (n.op == "RNN") return {cls, cfg};
  json outer = {{"name", n.name}, {"trainable", true}, {"dtype", dtype},
                {"layer", {{"class_name", cls}, {"config", cfg}}}, {"merge_mode", a.value("merge_mode", "concat")}};
  return {"Bidirectional", outer};
}

std::string keras_rnn_weight_name(const Node& n, const Weight& w) {
  if (n.op != "Bidirectional") return n.name + "/" + w.role + ":0";
  const std::string cell = n.attrs.at("cell");
  const std::string inner = n.attrs.value("inner_name", cell == "simple" ? "simple_rnn" : cell);
  const bool fwd = w.role.rfind("forward_", 0) == 0;
  const std::string role = w.role.substr(fwd ? 8 : 9);
  return n.name + "/" + (fwd ? "forward_" : "backward_") + inner + "/" + role + ":0";
}

int rnn_state_count(const Node& n) {
  const std::string cell = n.attrs.value("cell", "");
  return cell == "lstm" || cell == "convlstm" ? 2 : 1;
}

std::optional<Shape> rnn_state_shape(const Node& n, const Shape& in) {
  const int64_t units = n.attrs.at("units").get<int64_t>();
  if (n.attrs.value("cell", "") != "convlstm") {
    if (in.size() != 2) return std::nullopt;
    return Shape{units};
  }
  const size_t r = n.attrs.at("rank").get<size_t>();
  if (in.size() != r + 2) return std::nullopt;
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const auto k = n.attrs.at("kernel_size").get<std::vector<int64_t>>();
  const auto s = n.attrs.at("strides").get<std::vector<int64_t>>();
  const auto d = n.attrs.at("dilation").get<std::vector<int64_t>>();
  if (k.size() != r || s.size() != r || d.size() != r) return std::nullopt;
  const bool same = n.attrs.value("padding", "valid") == "same";
  Shape out;
  for (size_t i = 0; i < r; ++i) {
    const int64_t x = in[cf ? i + 2 : i + 1];
    if (x < 0 || k[i] < 1 || s[i] < 1 || d[i] < 1) return std::nullopt;
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    out.push_back(same ? (x + s[i] - 1) / s[i] : x < dk ? 0 : (x - dk) / s[i] + 1);
  }
  out.insert(cf ? out.begin() : out.end(), units);
  return out;
}

std::optional<Shape> rnn_output_shape(const Node& n, const Shape& in) {
  auto step = rnn_state_shape(n, in);
  if (!step) return std::nullopt;
  // Bidirectional concatenates on the last axis (for a channels_first ConvLSTM: the last spatial axis).
  if (n.op == "Bidirectional" && n.attrs.value("merge_mode", "concat") == "concat") step->back() *= 2;
  if (n.attrs.value("return_sequences", false)) step->insert(step->begin(), in[0]);
  return step;
}

// ---- MXNet ----

void check_mxnet_rnn_expressible(const Node& n) {
  const json& a = n.attrs;
  const std::string cell = a.at("cell"), act = a.value("activation", "tanh");
  const std::string ract = a.value("recurrent_activation", "sigmoid");
  auto refuse = [&](const std::string& why) {
    layer_fail(ErrorKind::Unsupported, n.name, "MXNet's fused RNN op cannot express " + why);
  };
  if (cell == "convlstm") refuse(fmt::format("a ConvLSTM{}D (its gates are matrix products, not convolutions)", a.value("rank", 2)));
  if (cell == "simple" && act != "tanh" && act != "relu") refuse("a SimpleRNN with activation '" + act + "' (only tanh, relu)");
  if (cell != "simple" && act != "tanh") refuse("activation '" + act + "' (its LSTM/GRU use tanh)");
  if (cell != "simple" && ract == "hard_sigmoid")
    refuse("recurrent_activation 'hard_sigmoid' (its gates always use sigmoid); pass --accept-sigmoid-for-hard-sigmoid "
           "to export with sigmoid gates, which changes the outputs");
  if (cell != "simple" && ract != "sigmoid") refuse("recurrent_activation '" + ract + "' (its gates always use sigmoid)");
  if (cell == "gru" && !a.value("reset_after", false))
    refuse("a GRU with reset_after=False (MXNet applies the reset gate after the recurrent matmul, as reset_after=True)");
  if (n.op == "Bidirectional") {
    if (n.inputs.size() > 1) refuse("initial-state inputs of a Bidirectional layer (not exported yet)");
    if (a.value("return_state", false)) refuse("a Bidirectional layer with return_state=True (not exported yet)");
    if (a.value("merge_mode", "concat") != "concat") refuse("Bidirectional merge_mode '" + a.value("merge_mode", "") + "' (it concatenates)");
    if (!a.value("return_sequences", false)) refuse("a Bidirectional layer with return_sequences=False (not exported yet)");
    if (a.value("go_backwards", false)) refuse("a Bidirectional layer whose forward half has go_backwards=True");
  }
}

std::optional<std::string> mxnet_rnn_gap(const Node& n) {
  try {
    check_mxnet_rnn_expressible(n);
    return std::nullopt;
  } catch (const Error& e) {
    return e.message();
  }
}

std::string mxnet_rnn_mode(const Node& n) {
  const std::string cell = n.attrs.at("cell");
  if (cell == "lstm" || cell == "gru") return cell;
  return n.attrs.value("activation", "tanh") == "relu" ? "rnn_relu" : "rnn_tanh";
}

namespace {

// MXNet row block g takes Keras column block kGruOrder[g] (GRU r,z,n vs Keras z,r,h); the
// permutation is its own inverse. LSTM (i,f,c,o) and plain RNN keep their order.
std::vector<uint64_t> block_order(const std::string& cell) {
  if (cell == "gru") return {1, 0, 2};
  return cell == "lstm" ? std::vector<uint64_t>{0, 1, 2, 3} : std::vector<uint64_t>{0};
}

struct Segment {  // one piece of the flat vector: (rows, cols) MXNet matrix or a bias
  size_t src;     // index into the source tensor list; SIZE_MAX = zeros
  uint64_t rows, cols;
  bool matrix;    // true: W (G*H, in) from Keras (in, G*H); false: bias slice
  uint64_t bias_row;  // bias: row of a (2, 3u) GRU bias
  bool two_rows;
};

}  // namespace

Tensor pack_mxnet_rnn(const Node& n) {
  check_mxnet_rnn_expressible(n);
  const std::string cell = n.attrs.at("cell");
  const uint64_t H = n.attrs.at("units").get<uint64_t>(), G = static_cast<uint64_t>(gate_count(cell)), GH = G * H;
  const bool bidi = n.op == "Bidirectional";
  const std::vector<std::string> dirs = bidi ? std::vector<std::string>{"forward_", "backward_"} : std::vector<std::string>{""};
  std::vector<Tensor> srcs;
  std::vector<Segment> segs;
  auto src_of = [&](const std::string& role) -> size_t {
    const Weight* w = n.weight(role);
    if (!w) return SIZE_MAX;
    srcs.push_back(w->tensor);
    return srcs.size() - 1;
  };
  for (const auto& d : dirs) {
    const Weight* k = n.weight(d + "kernel");
    if (!k) layer_fail(ErrorKind::Mapping, n.name, "weight " + d + "kernel is missing");
    segs.push_back({src_of(d + "kernel"), GH, static_cast<uint64_t>(k->tensor.shape.at(0)), true, 0, false});
    segs.push_back({src_of(d + "recurrent_kernel"), GH, H, true, 0, false});
  }
  const bool two_rows = cell == "gru";  // reset_after=True: (2, 3u)
  for (const auto& d : dirs) {
    const size_t b = src_of(d + "bias");
    segs.push_back({b, 1, GH, false, 0, two_rows});
    segs.push_back({two_rows ? b : SIZE_MAX, 1, GH, false, 1, two_rows});
  }
  srcs.push_back(filled("zero", srcs.at(0).dtype, {1}, 0.0));
  const size_t zero = srcs.size() - 1;
  uint64_t total = 0;
  std::vector<uint64_t> starts;
  for (const auto& s : segs) {
    starts.push_back(total);
    total += s.rows * s.cols;
  }
  const auto order = block_order(cell);
  return gathered(n.name + "_parameters", {static_cast<int64_t>(total)}, srcs, [=](uint64_t k) {
    size_t i = segs.size() - 1;
    while (starts[i] > k) --i;
    const Segment& s = segs[i];
    const uint64_t off = k - starts[i];
    if (s.src == SIZE_MAX) return std::make_pair(zero, uint64_t{0});
    if (s.matrix) {  // MXNet row r = g*H + j, column c  <-  Keras [c, order[g]*H + j]
      const uint64_t r = off / s.cols, c = off % s.cols;
      return std::make_pair(s.src, c * GH + order[r / H] * H + r % H);
    }
    return std::make_pair(s.src, (s.two_rows ? s.bias_row * GH : 0) + order[off / H] * H + off % H);
  });
}

namespace {
// Canonical weight order: per direction kernel, recurrent_kernel, bias (the Keras order).
void order_rnn_weights(Node& n) {
  auto rank = [](const Weight& w) {
    const int dir = w.role.rfind("backward_", 0) == 0 ? 1 : 0;
    const int kind = w.role.find("recurrent_kernel") != std::string::npos ? 1 : w.role.find("bias") != std::string::npos ? 2 : 0;
    return dir * 3 + kind;
  };
  std::stable_sort(n.weights.begin(), n.weights.end(), [&](const Weight& a, const Weight& b) { return rank(a) < rank(b); });
}

}  // namespace

void unpack_mxnet_rnn(const Tensor& flat, const std::string& mode, int64_t H, int64_t I, int D, Node& n,
                      std::vector<std::string>& notes) {
  const std::string cell = mode == "lstm" ? "lstm" : mode == "gru" ? "gru" : "simple";
  const uint64_t G = static_cast<uint64_t>(gate_count(cell)), GH = G * static_cast<uint64_t>(H);
  const uint64_t h = static_cast<uint64_t>(H), in = static_cast<uint64_t>(I);
  const uint64_t want = G * h * static_cast<uint64_t>(D) * (in + h + 2);
  if (flat.shape.size() != 1 || static_cast<uint64_t>(flat.shape[0]) != want)
    layer_fail(ErrorKind::Mapping, n.name, fmt::format("parameters {} do not fit mode={} state_size={} input={} directions={} "
                                                       "(expected ({},))", shape_str(flat.shape), mode, H, I, D, want));
  const auto order = block_order(cell);
  const int64_t gh = static_cast<int64_t>(GH);
  uint64_t pos = 0;
  auto matrix = [&](uint64_t cols, const std::string& role) {  // Keras (cols, GH) from MXNet rows at pos
    const uint64_t start = pos;
    pos += GH * cols;
    Tensor t = gathered(role, {static_cast<int64_t>(cols), gh}, {flat}, [=](uint64_t k) {
      const uint64_t c = k / GH, col = k % GH, g = col / h, j = col % h;
      return std::make_pair(size_t{0}, start + (order[g] * h + j) * cols + c);
    });
    n.weights.push_back(Weight{role, t, flat.name, "slice of the flat parameters, transpose, gate blocks " +
                                                        std::string(cell == "gru" ? "r,z,n -> z,r,h" : "kept"), {}});
  };
  auto bias_vec = [&](uint64_t start) {  // Keras gate order, (GH,)
    return gathered("bias", {gh}, {flat}, [=](uint64_t k) {
      return std::make_pair(size_t{0}, start + order[k / h] * h + k % h);
    });
  };
  const std::vector<std::string> dirs = D == 2 ? std::vector<std::string>{"forward_", "backward_"} : std::vector<std::string>{""};
  for (const auto& d : dirs) {
    matrix(in, d + "kernel");
    matrix(h, d + "recurrent_kernel");
  }
  for (const auto& d : dirs) {
    const Tensor bi = bias_vec(pos), bh = bias_vec(pos + GH);
    pos += 2 * GH;
    if (cell == "gru") {
      Tensor both = concat_last("bias", {reshaped(bi, {1, gh}), reshaped(bh, {1, gh})});
      n.weights.push_back(Weight{d + "bias", reshaped(both, {2, gh}), flat.name, "b_i2h, b_h2h -> rows 0, 1; gates r,z,n -> z,r,h", {}});
      continue;
    }
    const auto vh = to_f64(bh.load(), bh.dtype);
    bool zero = true;
    for (double v : vh) zero = zero && v == 0.0;
    if (zero) {
      n.weights.push_back(Weight{d + "bias", bi, flat.name, "b_i2h (b_h2h is zero)", {}});
      continue;
    }
    const auto vi = to_f64(bi.load(), bi.dtype);
    std::vector<float> sum(vi.size());
    for (size_t k = 0; k < sum.size(); ++k) sum[k] = static_cast<float>(vi[k] + vh[k]);
    n.weights.push_back(Weight{d + "bias", cast(make_f32("bias", {gh}, sum), flat.dtype), flat.name, "b_i2h + b_h2h (float sum)", {}});
    notes.push_back("node " + n.name + ": Keras has one bias per gate; b_i2h + b_h2h summed in float32");
  }
  order_rnn_weights(n);
}

Tensor concat_flat(const std::string& name, const std::vector<Tensor>& parts) {
  std::vector<uint64_t> starts;
  uint64_t total = 0;
  for (const auto& p : parts) {
    starts.push_back(total);
    total += checked_numel(p.shape);
  }
  return gathered(name, {static_cast<int64_t>(total)}, parts, [starts](uint64_t k) {
    size_t i = starts.size() - 1;
    while (starts[i] > k) --i;
    return std::make_pair(i, k - starts[i]);
  });
}

std::vector<std::string> sigmoid_for_hard_sigmoid(Model& m) {
  std::vector<std::string> changed;
  for (auto& n : m.nodes)
    if (is_rnn_op(n.op) && n.attrs.value("recurrent_activation", "") == "hard_sigmoid") {
      n.attrs["recurrent_activation"] = "sigmoid";
      changed.push_back(n.name);
    }
  return changed;
}

// A word as a POSIX shell reads it back: as it is when it holds only safe characters, else in
// single quotes (a fix's command can be pasted whatever the file or input is called).
std::string shell_quote(const std::string& w) {
  const bool safe = !w.empty() && std::all_of(w.begin(), w.end(), [](unsigned char c) {
    return std::isalnum(c) || (c != 0 && std::strchr("_./:=,+-@%", c) != nullptr);
  });
  if (safe) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// --input-shape arguments that give every model input its unknown dims: a model input's own
// shape, its known dims as numbers and each unknown one named by its place (T for the first axis,
// the time axis of a sequence input; D1, D2... after it). A recurrent layer fed by an Input
// directly fixes that input's feature axis by its kernel rows. Several inputs: NAME=dims each.
// Names and values are shell-quoted: the result can be pasted into a command line.
std::string input_shape_args(const Model& m, const Node& layer) {
  const Node* feed = layer.inputs.empty() ? nullptr : m.find(layer.inputs[0]);
  std::vector<const Node*> inputs;
  for (const auto& x : m.nodes)
    if (x.op == "Input") inputs.push_back(&x);
  const Weight* kernel = layer.weight(layer.op == "Bidirectional" ? "forward_kernel" : "kernel");
  const bool conv = layer.attrs.value("cell", "") == "convlstm";
  std::string args;
  for (const Node* in : inputs) {
    const auto shape = in->attrs.find("shape");
    if (shape == in->attrs.end() || !shape->is_array()) continue;
    std::string spec;
    bool open = false;
    for (size_t i = 0; i < shape->size(); ++i) {
      const json& d = (*shape)[i];
      std::string v;
      if (d.is_number_integer() && d.get<int64_t>() >= 1) v = d.dump();
      else if (in == feed && !conv && kernel && i + 1 == shape->size() && kernel->tensor.shape.size() == 2)
        v = std::to_string(kernel->tensor.shape[0]);
      else open = true, v = i == 0 ? "T" : fmt::format("D{}", i);
      spec += (spec.empty() ? "" : ",") + v;
    }
    if (open) args += " --input-shape " + shell_quote(inputs.size() > 1 ? in->name + "=" + spec : spec);
  }
  if (!args.empty()) return args;
  // No model input is open (the unknown axis comes from inside the graph): the layer's own form.
  const size_t rank = conv ? layer.attrs.value("rank", size_t{2}) : 0;
  const std::string dims = std::string(",D1,D2,D3").substr(0, 3 * rank);
  const bool cf = layer.attrs.value("data_format", "channels_last") == "channels_first";
  return " --input-shape " + std::string(!conv ? "T,FEATURES" : cf ? "T,C" + dims : "T" + dims + ",C");
}

}  // namespace wb
