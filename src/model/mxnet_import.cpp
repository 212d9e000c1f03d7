// MXNet symbol + parameters -> Model.
//
// Each symbol node becomes at most one canonical node. Two keras-mxnet export patterns are folded
// back into layers: Convolution(no_bias) + broadcast_add(Reshape(bias)) and dot(x, W) +
// broadcast_add(b) (the dense kernel is then already in Keras (in, out) order), and
// transpose(0, 2, 3, 1) + Flatten becomes a channels-last Flatten.
#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <set>

#include "model/conv_family.h"
#include "model/mxnet_attrs.h"
#include "model/rnn_rules.h"
#include "model/transforms.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {
namespace {

using mxnet::attr;
using mxnet::parse_bool;
using mxnet::tuple_attr;
using mxnet::parse_float;
using mxnet::parse_int;
using mxnet::SymNode;

// What a symbol entry stands for while the graph is walked.
// A data value is a canonical node's output (the logical tensor) and the permutation that gives
// the tensor MXNet actually holds: physical = transpose(logical, perm) (empty = identity). A
// transpose op only changes perm; channels-first ops on a channels-last logical tensor become
// channels_last layers, so Keras -> MXNet -> Keras gives back the original layout.
struct Value {
  enum Kind { None, Layer, Param, Label } kind = None;
  std::string layer;       // Layer: canonical node name
  std::vector<int> perm;   // Layer: logical -> physical axis permutation, batch axis included
  std::string param;       // Param: parameter name
  Shape param_shape;       // Param: shape after Reshape
};

Value layer_value(const std::string& name, std::vector<int> perm = {}) {
  Value v;
  v.kind = Value::Layer;
  v.layer = name;
  v.perm = std::move(perm);
  return v;
}

bool is_identity(const std::vector<int>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int>(i)) return false;
  return true;
}

// (0, r-1, 1, ..., r-2): a channels-last logical tensor held channels-first.
bool is_channels_last_held_first(const std::vector<int>& p) {
  const size_t r = p.size();
  if (r < 3 || p[0] != 0 || p[1] != static_cast<int>(r - 1)) return false;
  for (size_t i = 2; i < r; ++i)
    if (p[i] != static_cast<int>(i - 1)) return false;
  return true;
}

// (0, 2, ..., r-1, 1): a channels-first logical tensor held channels-last.
bool is_channels_first_held_last(const std::vector<int>& p) {
  const size_t r = p.size();
  if (r < 3 || p[0] != 0 || p[r - 1] != 1) return false;
  for (size_t i = 1; i + 1 < r; ++i)
    if (p[i] != static_cast<int>(i + 1)) return false;
  return true;
}

struct Ctx {
  const mxnet::Symbol& sym;
  const ImportOptions& opt;
  std::map<std::string, Tensor> params;  // by variable name (arg:/aux: stripped)
  std::set<std::string> used_params;
  std::vector<Value> values;             // per node (output 0)
  std::set<std::string> names;
  Model m;
  // Shapes of m.nodes[0 .. shaped), kept up to date by shape_of; a change to a node already in it
  // that alters shapes (or names) calls forget_shapes.
  std::map<std::string, Shape> shapes;
  size_t shaped = 0;
  std::vector<int> readers;  // per symbol node: how many node inputs read its output 0
  std::set<int> absorbed;  // slices read as part of the Convolution / Pooling before them (Keras padding)
};


[[noreturn]] void node_error(ErrorKind kind, const SymNode& n, const std::string& what) {
  fail(kind, what, {}, "node '" + n.name + "' (" + n.op + ")");
}

// Window attributes are checked before any shape arithmetic uses them (a stride of 0 would
// divide by zero); the bound keeps products of them inside int64.
constexpr int64_t kMaxWindow = int64_t{1} << 20;
constexpr int64_t kMaxUnits = int64_t{1} << 40;

void check_window(const SymNode& n, const char* key, const Shape& v, int64_t lo) {
  for (auto x : v)
    if (x < lo || x > kMaxWindow)
      node_error(ErrorKind::Malformed, n, fmt::format("{} {} has a value outside {}..{}", key, shape_str(v), lo, kMaxWindow));
}

int64_t count_attr(const SymNode& n, const char* key, const char* dflt) {
  const int64_t v = parse_int(attr(n, key, dflt));
  if (v < 1 || v > kMaxUnits) node_error(ErrorKind::Malformed, n, fmt::format("{} = {} is outside 1..{}", key, v, kMaxUnits));
  return v;
}

std::string keras_safe(std::string s) {
  for (auto& ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.')) ch = '_';
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) s = "l_" + s;
  return s;
}

// A layer name for an op node: keras-mxnet "conv2d_1/kernel1" -> "conv2d_1"; Gluon "dense0_fwd" -> "dense0".
std::string layer_name(Ctx& c, const SymNode& n) {
  std::string base = n.name;
  for (const auto& in : n.inputs) {
    const SymNode& v = c.sym.nodes[static_cast<size_t>(in.node)];
    if (v.op == "null" && c.params.count(v.name) && v.name.find('/') != std::string::npos) {
      base = v.name.substr(0, v.name.rfind('/'));
      break;
    }
  }
  if (base.size() > 4 && base.compare(base.size() - 4, 4, "_fwd") == 0) base.resize(base.size() - 4);
  base = keras_safe(base);
  std::string name = base;
  for (int i = 1; c.names.count(name); ++i) name = base + "_" + std::to_string(i);
  c.names.insert(name);
  return name;
}

const Value& input_value(Ctx& c, const SymNode& n, size_t i) {
  if (i >= n.inputs.size()) node_error(ErrorKind::Malformed, n, fmt::format("missing input {}", i));
  return c.values[static_cast<size_t>(n.inputs[i].node)];
}

Node& add(Ctx& c, Node n);

const Value& data_value(Ctx& c, const SymNode& n, size_t i) {
  const Value& v = input_value(c, n, i);
  if (v.kind != Value::Layer) node_error(ErrorKind::Unsupported, n, fmt::format("input {} is a parameter, expected a data tensor", i));
  return v;
}

// The input as MXNet sees it, as a canonical node: a Permute is added when the value is held in
// another axis order than its logical one.
std::string layer_input(Ctx& c, const SymNode& n, size_t i) {
  const Value& v = data_value(c, n, i);
  if (v.perm.empty() || is_identity(v.perm)) return v.layer;
  Node p;
  p.name = layer_name(c, n) + "_permute";
  p.op = "Permute";
  std::vector<int> dims(v.perm.begin() + 1, v.perm.end());
  p.attrs = {{"dims", dims}};
  p.inputs = {v.layer};
  return add(c, std::move(p)).name;
}

// For channels-first ops: the logical input and whether it is channels_last held channels-first.
std::string conv_input(Ctx& c, const SymNode& n, bool& channels_last) {
  const Value& v = data_value(c, n, 0);
  channels_last = is_channels_last_held_first(v.perm);
  return channels_last ? v.layer : layer_input(c, n, 0);
}

// A physical axis of the input as a logical axis (for axis attributes of layout-agnostic ops).
int64_t logical_axis(const Value& v, int64_t axis, size_t rank) {
  if (axis < 0) axis += static_cast<int64_t>(rank);
  if (v.perm.empty() || axis < 0 || static_cast<size_t>(axis) >= v.perm.size()) return axis;
  return v.perm[static_cast<size_t>(axis)];
}

// The initial value MXNet's default initializer gives a parameter of this name, when it is not
// random (Initializer dispatches on the name suffix; weights are random).
std::optional<double> deterministic_initial(const std::string& name) {
  static const std::vector<std::pair<std::string, double>> kSuffixes = {
      {"_bias", 0.0}, {"_gamma", 1.0}, {"_beta", 0.0}, {"_moving_mean", 0.0}, {"_moving_var", 1.0},
      {"_running_mean", 0.0}, {"_running_var", 1.0}};
  for (const auto& [suffix, v] : kSuffixes)
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) return v;
  return std::nullopt;
}

// A stored parameter. `expected` is the shape the op needs, used by --allow-missing to create a
// missing one; --cast-dtype casts to the variable's declared __dtype__.
Tensor take_param(Ctx& c, const SymNode& n, size_t i, const std::string& role, std::optional<Shape> expected = std::nullopt) {
  const Value& v = input_value(c, n, i);
  if (v.kind != Value::Param) node_error(ErrorKind::Unsupported, n, role + " input is computed, not a stored parameter");
  auto it = c.params.find(v.param);
  if (it == c.params.end()) {
    const auto init = deterministic_initial(v.param);
    if (!c.opt.policy.allow_missing || !init || !expected)
      fail(ErrorKind::Mapping, "parameter '" + v.param + "' is used by the symbol but missing from the params file", {},
           "node '" + n.name + "'");
    c.m.prov.notes.push_back(fmt::format("parameter '{}' missing: filled with its initial value {} (--allow-missing)", v.param, *init));
    it = c.params.emplace(v.param, filled(v.param, DType::F32, *expected, *init)).first;
  }
  c.used_params.insert(v.param);
  const SymNode& var = c.sym.nodes[static_cast<size_t>(n.inputs[i].node)];
  if (c.opt.policy.cast_dtype && var.attrs.count("__dtype__")) {
    const auto t = mxnet::dtype_from_flag_text(var.attrs.at("__dtype__"));
    if (t && *t != it->second.dtype) {
      c.m.prov.notes.push_back(fmt::format("parameter '{}' cast {} -> {} (--cast-dtype)", v.param,
                                           dtype_name(it->second.dtype), dtype_name(*t)));
      return cast(it->second, *t);
    }
  }
  return it->second;
}

Node& add(Ctx& c, Node n) {
  c.m.nodes.push_back(std::move(n));
  return c.m.nodes.back();
}

void forget_shapes(Ctx& c) {
  c.shapes.clear();
  c.shaped = 0;
}

std::optional<Shape> shape_of(Ctx& c, const std::string& layer) {
  if (c.shaped < c.m.nodes.size()) {
    infer_shapes_from(c.m, c.shaped, c.shapes);
    c.shaped = c.m.nodes.size();
  }
  auto it = c.shapes.find(layer);
  if (it == c.shapes.end()) return std::nullopt;
  return it->second;
}

// A Convolution / Pooling padded by `pad` on both sides and then cut by a slice to Keras 'same' or
// 'causal' windows (mxnet_export.cpp): that padding, the slice being absorbed; "" when it is not.
std::string padding_through_crop(Ctx& c, const SymNode& n, const std::string& input, const Shape& k, const Shape& stride,
                                 const Shape& dil, const Shape& pad, bool channels_last, bool causal_ok) {
  bool zero = true;
  for (auto p : pad) zero = zero && p == 0;
  auto in = shape_of(c, input);
  if (zero || !in || in->size() != k.size() + 1) return "";
  Shape spatial;
  for (size_t i = 0; i < k.size(); ++i) spatial.push_back((*in)[channels_last ? i : i + 1]);
  int crop = -1;
  const std::string padding = convfam_padding_through_crop(c.sym, static_cast<size_t>(&n - c.sym.nodes.data()), spatial, k,
                                                           stride, dil, pad, causal_ok, crop);
  if (!padding.empty()) c.absorbed.insert(crop);
  return padding;
}

// A ZeroPadding layer of `pad` on both sides of each spatial axis in front of `input`; its name.
std::string zero_padding(Ctx& c, const std::string& name, const std::string& input, const Shape& pad,
                         const std::string& data_format) {
  Node zp;
  zp.name = name;
  zp.op = "ZeroPadding";
  json pads = json::array();
  for (auto p : pad) pads.push_back({p, p});
  zp.attrs = {{"rank", pad.size()}, {"padding", pads}, {"data_format", data_format}};
  zp.inputs = {input};
  return add(c, std::move(zp)).name;
}

// Convolution pads: zero -> valid; Keras-"same"-equivalent -> same; else an explicit ZeroPadding.
std::string conv_padding(Ctx& c, const SymNode& n, std::string& input, const Shape& pad, const Shape& k,
                         const Shape& stride, const Shape& dil, bool cf) {
  bool zero = true;
  for (auto p : pad) zero = zero && p == 0;
  if (zero) return "valid";
  auto in = shape_of(c, input);
  if (in) {
    bool same = true;
    for (size_t i = 0; i < k.size(); ++i) {
      const auto [b, a] = same_padding((*in)[cf ? i + 1 : i], k[i], stride[i], dil[i]);
      same = same && b == pad[i] && a == pad[i];
    }
    if (same) return "same";
  }
  input = zero_padding(c, layer_name(c, n) + "_pad", input, pad, cf ? "channels_first" : "channels_last");
  return "valid";
}

void op_convolution(Ctx& c, const SymNode& n, Value& out) {
  const Shape k = tuple_attr(n, "kernel", {});
  const size_t r = k.size();
  if (r < 1 || r > 3) node_error(ErrorKind::Malformed, n, "kernel attribute missing or of rank " + std::to_string(r));
  const std::string layout = attr(n, "layout", "None");
  const bool cf = layout == "None" || layout == "NCW" || layout == "NCHW" || layout == "NCDHW";
  if (!cf) node_error(ErrorKind::Unsupported, n, "layout " + layout + " is not supported yet");
  const Shape stride = tuple_attr(n, "stride", Shape(r, 1)), dil = tuple_attr(n, "dilate", Shape(r, 1));
  const Shape pad = tuple_attr(n, "pad", Shape(r, 0));
  if (stride.size() != r || dil.size() != r || pad.size() != r) node_error(ErrorKind::Malformed, n, "stride/dilate/pad rank differs from kernel");
  check_window(n, "kernel", k, 1);
  check_window(n, "stride", stride, 1);
  check_window(n, "dilate", dil, 1);
  check_window(n, "pad", pad, 0);
  const bool no_bias = parse_bool(attr(n, "no_bias", "False"));
  const int64_t filters = count_attr(n, "num_filter", "0");
  const int64_t groups = count_attr(n, "num_group", "1");
  if (filters % groups != 0)
    node_error(ErrorKind::Malformed, n, fmt::format("num_group = {} does not divide num_filter = {}", groups, filters));
  bool channels_last = false;
  std::string input = conv_input(c, n, channels_last);
  const std::vector<int> held = input_value(c, n, 0).perm;
  Node node;
  std::string padding = padding_through_crop(c, n, input, k, stride, dil, pad, channels_last, true);
  if (padding.empty()) padding = conv_padding(c, n, input, pad, k, stride, dil, !channels_last);
  node.name = layer_name(c, n);
  node.op = "Conv";
  node.inputs = {input};
  node.attrs = {{"rank", r}, {"filters", filters}, {"kernel_size", k}, {"strides", stride}, {"dilation", dil},
                {"groups", groups}, {"use_bias", !no_bias}, {"padding", padding},
                {"data_format", channels_last ? "channels_last" : "channels_first"}, {"activation", "linear"}};
  Tensor w = take_param(c, n, 1, "weight");
  if (w.shape.size() != r + 2 || w.shape[0] != filters)
    fail(ErrorKind::Mapping, fmt::format("weight {} does not fit num_filter={} kernel={}", shape_str(w.shape), filters, shape_str(k)),
         {}, "node '" + n.name + "'");
  std::vector<int> perm;
  for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int>(i + 2));
  perm.push_back(1);
  perm.push_back(0);
  node.weights.push_back(Weight{"kernel", permuted(w, perm), input_value(c, n, 1).param, "transpose" + perm_str(perm), w});
  if (!no_bias) node.weights.push_back(Weight{"bias", take_param(c, n, 2, "bias", Shape{filters}), input_value(c, n, 2).param, "", {}});
  out = layer_value(add(c, std::move(node)).name, channels_last ? held : std::vector<int>{});
}

void op_fully_connected(Ctx& c, const SymNode& n, Value& out) {
  const bool no_bias = parse_bool(attr(n, "no_bias", "False"));
  const bool flatten = parse_bool(attr(n, "flatten", "True"));
  const int64_t units = count_attr(n, "num_hidden", "0");
  std::string input = layer_input(c, n, 0);
  const std::string name = layer_name(c, n);
  if (flatten) {
    auto s = shape_of(c, input);
    if (!s || s->size() != 1) {
      Node f;
      f.name = name + "_flatten";
      f.op = "Flatten";
      f.attrs = {{"channels_last_first", false}};
      f.inputs = {input};
      input = add(c, std::move(f)).name;
    }
  }
  Tensor w = take_param(c, n, 1, "weight");
  if (w.shape.size() != 2 || w.shape[0] != units)
    fail(ErrorKind::Mapping, fmt::format("weight {} does not fit num_hidden={}", shape_str(w.shape), units), {},
         "node '" + n.name + "'");
  Node node;
  node.name = name;
  node.op = "Dense";
  node.inputs = {input};
  node.attrs = {{"units", units}, {"use_bias", !no_bias}, {"activation", "linear"}};
  node.weights.push_back(Weight{"kernel", permuted(w, {1, 0}), input_value(c, n, 1).param, "transpose(1, 0)", w});
  if (!no_bias) {
    Tensor b = take_param(c, n, 2, "bias", Shape{units});
    node.weights.push_back(Weight{"bias", reshaped(b, {units}), input_value(c, n, 2).param, "", {}});
  }
  out = layer_value(add(c, std::move(node)).name);
}

void op_batchnorm(Ctx& c, const SymNode& n, Value& out) {
  const bool fix_gamma = parse_bool(attr(n, "fix_gamma", "True"));
  Node node;
  node.name = layer_name(c, n);
  node.op = "BatchNorm";
  const Value& in = data_value(c, n, 0);
  const std::vector<int> held = in.perm;
  node.inputs = {in.layer};
  auto rank = shape_of(c, in.layer);
  int64_t axis = logical_axis(in, parse_int(attr(n, "axis", "1")), rank ? rank->size() + 1 : held.size());
  if (rank && axis == static_cast<int64_t>(rank->size())) axis = -1;  // Keras spells the last axis -1
  node.attrs = {{"axis", axis}, {"epsilon", parse_float(attr(n, "eps", "0.001"))},
                {"momentum", parse_float(attr(n, "momentum", "0.9"))}, {"center", true}, {"scale", true}};
  std::optional<Shape> channels;  // (C,) for --allow-missing, from the input's shape
  if (rank) {
    const int64_t a = parse_int(attr(n, "axis", "1")), r = static_cast<int64_t>(rank->size()) + 1;
    const int64_t phys = a < 0 ? a + r : a;
    const int64_t logical = held.empty() ? phys : held[static_cast<size_t>(phys)];
    if (logical >= 1 && logical < r) channels = Shape{(*rank)[static_cast<size_t>(logical - 1)]};
  }
  Tensor gamma = take_param(c, n, 1, "gamma", channels);
  const Tensor gamma_stored = gamma;
  std::string gamma_src = input_value(c, n, 1).param, gamma_tr;
  if (fix_gamma) {
    // MXNet ignores the stored gamma when fix_gamma is true (its default): the layer scales by 1.
    bool ones = true;
    for (double v : to_f64(gamma.load(), gamma.dtype)) ones = ones && v == 1.0;
    if (!ones)
      c.m.prov.notes.push_back("node " + n.name + ": fix_gamma=True, so the stored gamma (not all 1) is ignored "
                                                  "by MXNet and replaced by 1");
    gamma = filled(gamma.name, gamma.dtype, gamma.shape, 1.0);
    gamma_tr = "fix_gamma: replaced by ones";
  }
  // A frozen identity parameter (__lr_mult__ 0: MXNet training never changes it) is a Keras
  // BatchNormalization without that parameter: scale=False (with fix_gamma) or center=False.
  auto frozen_identity = [&](size_t i, const Tensor& t, double identity) {
    const SymNode& var = c.sym.nodes[static_cast<size_t>(n.inputs[i].node)];
    const auto it = var.attrs.find("__lr_mult__");
    if (it == var.attrs.end() || parse_float(it->second) != 0.0) return false;
    for (double v : to_f64(t.load(), t.dtype))
      if (v != identity) return false;
    return true;
  };
  if (fix_gamma && frozen_identity(1, gamma_stored, 1.0)) node.attrs["scale"] = false;
  else node.weights.push_back(Weight{"gamma", gamma, gamma_src, gamma_tr, gamma_stored});
  const Tensor beta = take_param(c, n, 2, "beta", channels);
  if (frozen_identity(2, beta, 0.0)) node.attrs["center"] = false;
  else node.weights.push_back(Weight{"beta", beta, input_value(c, n, 2).param, "", {}});
  node.weights.push_back(Weight{"moving_mean", take_param(c, n, 3, "moving_mean", channels), input_value(c, n, 3).param, "", {}});
  node.weights.push_back(Weight{"moving_variance", take_param(c, n, 4, "moving_var", channels), input_value(c, n, 4).param, "", {}});
  out = layer_value(add(c, std::move(node)).name, held);
}

// Whether every value of a layer's output is >= 0: the output of a ReLU-like activation (its own
// layer or fused into a Conv/Dense), or of a layer that only moves, drops, max-pools or zero-pads
// such values.
bool non_negative(const Ctx& c, const std::string& layer) {
  static const std::set<std::string> kActs = {"relu", "sigmoid", "softmax", "softplus", "hard_sigmoid", "exponential"};
  static const std::set<std::string> kPass = {"Dropout", "ZeroPadding", "Reshape", "Flatten", "Cropping", "UpSampling",
                                              "Permute"};
  const Node* n = c.m.find(layer);
  for (int guard = 0; n && guard < 10000; ++guard) {
    if (kActs.count(n->attrs.value("activation", std::string()))) return true;
    const bool max_pool = (n->op == "Pool" || n->op == "GlobalPool") && n->attrs.value("pool_type", "") == "max";
    if ((!kPass.count(n->op) && !max_pool) || n->inputs.size() != 1 || parse_ref(n->inputs[0]).index != 0) return false;
    n = c.m.find(n->inputs[0]);
  }
  return false;
}

void op_pooling(Ctx& c, const SymNode& n, Value& out) {
  Node node;
  node.name = layer_name(c, n);
  bool channels_last = false;
  node.inputs = {conv_input(c, n, channels_last)};
  const std::vector<int> held = channels_last ? input_value(c, n, 0).perm : std::vector<int>{};
  const std::string df = channels_last ? "channels_last" : "channels_first";
  const std::string type = attr(n, "pool_type", "max");
  if (type != "max" && type != "avg") node_error(ErrorKind::Unsupported, n, "pool_type " + type + " is not supported");
  const Shape k = tuple_attr(n, "kernel", {});
  auto in = shape_of(c, node.inputs[0]);
  if (parse_bool(attr(n, "global_pool", "False"))) {
    // The spatial rank: the input's, else the (ignored) kernel's.
    const size_t rank = in ? in->size() - 1 : k.size();
    if (rank < 1 || rank > 3)
      node_error(ErrorKind::Unsupported, n, "global pooling of an input whose rank is unknown (give --input-shape)");
    node.op = "GlobalPool";
    node.attrs = {{"rank", rank}, {"pool_type", type}, {"data_format", df}};
    // MXNet keeps (N, C, 1, 1); the canonical GlobalPool gives (N, C).
    Node back;
    back.name = node.name + "_keepdims";
    back.op = "Reshape";
    back.inputs = {add(c, std::move(node)).name};
    Shape keep = {-1};
    for (size_t i = 0; i < rank; ++i) keep.insert(channels_last ? keep.begin() : keep.end(), 1);
    back.attrs = {{"target_shape", keep}};
    out = layer_value(add(c, std::move(back)).name, held);
    return;
  }
  const size_t r = k.size();
  const Shape stride = tuple_attr(n, "stride", Shape(r, 1)), pad = tuple_attr(n, "pad", Shape(r, 0));
  if (stride.size() != r || pad.size() != r) node_error(ErrorKind::Malformed, n, "stride/pad rank differs from kernel");
  check_window(n, "kernel", k, 1);
  check_window(n, "stride", stride, 1);
  check_window(n, "pad", pad, 0);
  // MXNet 2-D and 3-D pooling treat every convention but valid as full; 1-D 'same' has windows of
  // its own (ceil(x / stride) of them, cut at the end), which is refused.
  const std::string convention = attr(n, "pooling_convention", "valid");
  if (convention != "valid" && convention != "full" && (convention != "same" || r < 2))
    node_error(ErrorKind::Unsupported, n, "pooling_convention '" + convention + "' of a " + std::to_string(r) +
                                              "-D pooling is not supported");
  const bool full = convention != "valid";
  std::string padding;
  if (in && in->size() == r + 1) {
    bool valid = true, same = true;
    for (size_t i = 0; i < r; ++i) {
      const int64_t x = (*in)[channels_last ? i : i + 1];
      const int64_t span = x + 2 * pad[i] - k[i];
      const int64_t o = full ? (span + stride[i] - 1) / stride[i] + 1 : span / stride[i] + 1;
      valid = valid && pad[i] == 0 && o == (x - k[i]) / stride[i] + 1;
      same = same && o == (x + stride[i] - 1) / stride[i] && pad[i] == same_padding(x, k[i], stride[i], 1).first;
    }
    if (type == "avg" && parse_bool(attr(n, "count_include_pad", "True"))) same = same && valid;
    padding = valid ? "valid" : same ? "same" : "";
    if (padding.empty() && !full && (type == "max" || !parse_bool(attr(n, "count_include_pad", "True"))))
      padding = padding_through_crop(c, n, node.inputs[0], k, stride, Shape(r, 1), pad, channels_last, false);
    // MXNet max pooling leaves its padding out of every window; over values >= 0 (a ReLU's output,
    // as in the model zoo's ResNets: 3x3, stride 2, pad 1) a zero padding in front is the same.
    if (padding.empty() && !full && type == "max" && non_negative(c, node.inputs[0])) {
      node.inputs = {zero_padding(c, node.name + "_pad", node.inputs[0], pad, df)};
      padding = "valid";
    }
  } else {
    bool zero = true;
    for (auto p : pad) zero = zero && p == 0;
    if (zero && !full) padding = "valid";
  }
  if (padding.empty())
    node_error(ErrorKind::Unsupported, n, "this pooling (pad " + shape_str(pad) + (full ? ", full convention" : "") +
                                              ") has no Keras equivalent, or the input shape is unknown (give --input-shape)");
  node.op = "Pool";
  node.attrs = {{"rank", r}, {"pool_type", type}, {"pool_size", k}, {"strides", stride}, {"padding", padding},
                {"data_format", df}};
  out = layer_value(add(c, std::move(node)).name, held);
}

void simple(Ctx& c, const SymNode& n, Value& out, const std::string& op, json attrs, size_t n_inputs = 1) {
  Node node;
  node.name = layer_name(c, n);
  node.op = op;
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < n_inputs; ++i) node.inputs.push_back(layer_input(c, n, i));
  out = layer_value(add(c, std::move(node)).name);
}

// An activation that weightbridge's exporter split off a Dense/Conv layer (node "<layer>_<act>",
// the layer's only consumer) goes back into the layer, so Keras -> MXNet -> Keras keeps its layers.
bool fuse_activation(Ctx& c, const SymNode& n, Value& out, const std::string& op, const json& attrs) {
  if (op != "Activation" || n.inputs.size() != 1) return false;
  const std::string act = attrs.value("activation", "");
  if (act == "softmax" && attrs.value("axis", int64_t{-1}) != -1) return false;
  const Value& in = input_value(c, n, 0);
  Node* layer = in.kind == Value::Layer ? c.m.find(in.layer) : nullptr;
  if (!layer || (layer->op != "Dense" && layer->op != "Conv") || layer->attrs.value("activation", "linear") != "linear" ||
      n.name != layer->name + "_" + act)
    return false;
  if (c.readers.at(static_cast<size_t>(n.inputs[0].node)) != 1) return false;
  layer->attrs["activation"] = act;
  if (attrs.contains("hard_sigmoid_slope")) layer->attrs["hard_sigmoid_slope"] = attrs["hard_sigmoid_slope"];
  out = in;
  return true;
}

// Element-wise ops work in any axis order: the layout the inputs are held in carries through.
void elementwise(Ctx& c, const SymNode& n, Value& out, const std::string& op, json attrs, size_t n_inputs = 1) {
  if (fuse_activation(c, n, out, op, attrs)) return;
  const std::vector<int> held = data_value(c, n, 0).perm;
  bool same = true;
  for (size_t i = 1; i < n_inputs; ++i) same = same && data_value(c, n, i).perm == held;
  if (!same) return simple(c, n, out, op, std::move(attrs), n_inputs);
  Node node;
  node.name = layer_name(c, n);
  node.op = op;
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < n_inputs; ++i) node.inputs.push_back(data_value(c, n, i).layer);
  out = layer_value(add(c, std::move(node)).name, held);
}

// broadcast_add(layer, bias param): a keras-mxnet bias; otherwise an element-wise Add.
void op_add(Ctx& c, const SymNode& n, Value& out) {
  const Value& a = input_value(c, n, 0);
  const Value& b = input_value(c, n, 1);
  if (a.kind == Value::Layer && b.kind == Value::Param) {
    Node* target = c.m.find(a.layer);
    if (target && (target->op == "Conv" || target->op == "Dense") && !target->attrs.value("use_bias", true)) {
      Tensor bias = take_param(c, n, 1, "bias");
      const int64_t units = target->attrs.value(target->op == "Conv" ? "filters" : "units", int64_t{0});
      if (checked_numel(bias.shape) != static_cast<uint64_t>(units))
        fail(ErrorKind::Mapping, fmt::format("bias {} does not fit {} outputs", shape_str(bias.shape), units), {},
             "node '" + n.name + "'");
      target->attrs["use_bias"] = true;
      target->weights.push_back(Weight{"bias", reshaped(bias, {units}), b.param, "", {}});
      out = a;
      return;
    }
  }
  elementwise(c, n, out, "Add", json::object(), n.inputs.size());
}

// broadcast_mul(scores, one-number parameter), where the scores are a q k^T product read by
// nothing else: Keras Attention's use_scale (weightbridge's own export of it). The scalar becomes
// the product's "scale" weight (the engine applies it; fold_attention hands it to the Attention
// layer). Otherwise an element-wise Multiply.
void op_mul(Ctx& c, const SymNode& n, Value& out) {
  if (n.op == "broadcast_mul" && n.inputs.size() == 2) {
    const Value& a = input_value(c, n, 0);
    const Value& b = input_value(c, n, 1);
    Node* target = a.kind == Value::Layer ? c.m.find(a.layer) : nullptr;
    // The product itself (no pass-through node between), read by this node only and not an output.
    const int src = n.inputs[0].node;
    const std::string src_op = src >= 0 && static_cast<size_t>(src) < c.sym.nodes.size() ? c.sym.nodes[static_cast<size_t>(src)].op : "";
    if (target && b.kind == Value::Param && target->op == "MatMul" && target->attrs.value("transpose_b", false) &&
        !target->attrs.value("transpose_a", false) && !target->weight("scale") && (src_op == "dot" || src_op == "batch_dot") &&
        c.readers[static_cast<size_t>(src)] == 1 &&
        std::none_of(c.sym.heads.begin(), c.sym.heads.end(), [&](const auto& h) { return h.node == src; })) {
      const Tensor scale = take_param(c, n, 1, "scale");
      // One number that does not raise the product's rank (dot: 2 axes, batch_dot: 3, batch included).
      if (checked_numel(scale.shape) == 1 && scale.shape.size() <= (src_op == "dot" ? 2u : 3u)) {
        target->weights.push_back(Weight{"scale", reshaped(scale, {}), b.param, "reshape to ()", {}});
        out = a;
        return;
      }
      node_error(ErrorKind::Unsupported, n, "broadcast_mul of a product by a parameter of " + shape_str(scale.shape) +
                                                " values (one, an attention scale, is supported)");
    }
  }
  elementwise(c, n, out, "Multiply", json::object(), 2);
}

void op_dot(Ctx& c, const SymNode& n, Value& out) {
  if (n.inputs.size() == 2 && input_value(c, n, 1).kind == Value::Layer) {  // two data tensors: a product
    if (n.op == "dot") {
      const auto s = shape_of(c, data_value(c, n, 0).layer);
      if (!s || s->size() != 1) node_error(ErrorKind::Unsupported, n, "dot of two data tensors is supported for rank 2 (use batch_dot)");
    }
    simple(c, n, out, "MatMul", {{"transpose_a", parse_bool(attr(n, "transpose_a", "False"))},
                                 {"transpose_b", parse_bool(attr(n, "transpose_b", "False"))}}, 2);
    return;
  }
  if (n.op == "batch_dot") node_error(ErrorKind::Unsupported, n, "batch_dot with a parameter is not supported");
  if (parse_bool(attr(n, "transpose_a", "False"))) node_error(ErrorKind::Unsupported, n, "transpose_a is not supported");
  Tensor w = take_param(c, n, 1, "weight");
  const Tensor stored = w;
  if (w.shape.size() != 2) node_error(ErrorKind::Unsupported, n, "dot with a weight of rank " + std::to_string(w.shape.size()));
  std::string transform;
  if (parse_bool(attr(n, "transpose_b", "False"))) {
    w = permuted(w, {1, 0});
    transform = "transpose(1, 0)";
  }
  Node node;
  node.name = layer_name(c, n);
  node.op = "Dense";
  node.inputs = {layer_input(c, n, 0)};
  node.attrs = {{"units", w.shape[1]}, {"use_bias", false}, {"activation", "linear"}};
  node.weights.push_back(Weight{"kernel", w, input_value(c, n, 1).param, transform, stored});
  out = layer_value(add(c, std::move(node)).name);
}

void op_activation(Ctx& c, const SymNode& n, Value& out) {
  static const std::map<std::string, std::string> kActs = {
      {"relu", "relu"}, {"sigmoid", "sigmoid"}, {"tanh", "tanh"}, {"softrelu", "softplus"}, {"softsign", "softsign"}};
  const std::string t = attr(n, "act_type", "");
  auto it = kActs.find(t);
  if (it == kActs.end()) node_error(ErrorKind::Unsupported, n, "act_type '" + t + "' is not supported");
  elementwise(c, n, out, "Activation", {{"activation", it->second}});
}

void op_leaky(Ctx& c, const SymNode& n, Value& out) {
  const std::string t = attr(n, "act_type", "leaky");
  const double slope = parse_float(attr(n, "slope", "0.25"));
  if (t == "leaky") {
    if (slope == 0.0) elementwise(c, n, out, "Activation", {{"activation", "relu"}});
    else elementwise(c, n, out, "LeakyReLU", {{"alpha", slope}});
  } else if (t == "elu" && slope == 1.0) {
    elementwise(c, n, out, "Activation", {{"activation", "elu"}});
  } else if (t == "selu") {
    elementwise(c, n, out, "Activation", {{"activation", "selu"}});
  } else {
    node_error(ErrorKind::Unsupported, n, "LeakyReLU act_type '" + t + "' is not supported yet");
  }
}

void op_reshape(Ctx& c, const SymNode& n, Value& out) {
  const Value& in = input_value(c, n, 0);
  Shape s = tuple_attr(n, "shape", {});
  if (!n.inputs.empty() && n.inputs[0].index > 0) {  // a fused RNN's state output k (1, N, H) -> (N, H)
    const SymNode& rnn = c.sym.nodes[static_cast<size_t>(n.inputs[0].node)];
    const int k = n.inputs[0].index;
    const int max_k = attr(rnn, "mode", "") == "lstm" ? 2 : 1;
    if (rnn.op != "RNN" || in.kind != Value::Layer || !parse_bool(attr(rnn, "state_outputs", "False")) || k > max_k ||
        parse_bool(attr(rnn, "bidirectional", "False")) || s != Shape{-3, -2} || parse_bool(attr(n, "reverse", "False")))
      node_error(ErrorKind::Unsupported, n, fmt::format("reads output {} of '{}': only Reshape(shape=(-3, -2)) of a "
                                                        "unidirectional fused RNN's state outputs is supported", k, rnn.name));
    out = layer_value(make_ref(parse_ref(in.layer).node, k));
    return;
  }
  if (in.kind == Value::Param) {  // reshaping a stored parameter (keras-mxnet bias)
    out = in;
    out.param_shape = s;
    return;
  }
  if (parse_bool(attr(n, "reverse", "False")) || s.empty() || (s[0] != 0 && s[0] != -1))
    node_error(ErrorKind::Unsupported, n, "Reshape to " + shape_str(s) + " is not supported yet");
  Shape target(s.begin() + 1, s.end());
  for (auto d : target)
    if (d < -1 || d == 0) node_error(ErrorKind::Unsupported, n, "Reshape code " + std::to_string(d) + " is not supported yet");
  simple(c, n, out, "Reshape", {{"target_shape", target}});
}

// Softmax over a physical axis, as a logical (Keras, batch-counting) axis; -1 stays -1 when it is
// the logical last axis too.
int64_t softmax_axis(Ctx& c, const SymNode& n, int64_t axis) {
  const Value& in = data_value(c, n, 0);
  auto shape = shape_of(c, in.layer);
  if (in.perm.empty() || is_identity(in.perm)) return axis;
  if (!shape) node_error(ErrorKind::Unsupported, n, "softmax on a transposed tensor of unknown rank");
  const int64_t a = logical_axis(in, axis, shape->size() + 1);
  return a == static_cast<int64_t>(shape->size()) ? -1 : a;
}

// The softmax family, with the attributes that change what it computes: softmax's temperature
// and length input are refused; SoftmaxActivation mode=channel and SoftmaxOutput (and its old
// name Softmax) with multi_output are over axis 1, SoftmaxOutput with preserve_shape over the last
// axis; otherwise both normalise everything but the batch axis together, which is one axis only
// for a rank-2 input (refused for a larger known rank; an unknown shape is taken as rank 2).
void op_softmax(Ctx& c, const SymNode& n, Value& out) {
  int64_t axis = -1;
  if (n.op == "softmax") {
    const std::string t = attr(n, "temperature", "None");  // optional: "None" when unset
    if (t != "None" && parse_float(t) != 1.0) node_error(ErrorKind::Unsupported, n, "softmax with a temperature other than 1");
    if (parse_bool(attr(n, "use_length", "False"))) node_error(ErrorKind::Unsupported, n, "softmax with use_length");
    axis = parse_int(attr(n, "axis", "-1"));
  } else if (n.op == "SoftmaxActivation" ? attr(n, "mode", "instance") == "channel" : parse_bool(attr(n, "multi_output", "False"))) {
    axis = 1;
  } else if (n.op == "SoftmaxActivation" || !parse_bool(attr(n, "preserve_shape", "False"))) {  // per instance: flattened
    const auto shape = shape_of(c, data_value(c, n, 0).layer);
    if (shape && shape->size() > 1)
      node_error(ErrorKind::Unsupported, n, fmt::format("{} over an input of shape {} normalises all its values together "
                                                        "(MXNet flattens it), which has no Keras softmax form", n.op, shape_str(*shape)));
  }
  elementwise(c, n, out, "Activation", {{"activation", "softmax"}, {"axis", softmax_axis(c, n, axis)}});
}

// Pad (constant 0) on N, C, spatial... -> ZeroPadding.
void op_pad(Ctx& c, const SymNode& n, Value& out) {
  if (attr(n, "mode", "constant") != "constant" || parse_float(attr(n, "constant_value", "0")) != 0.0)
    node_error(ErrorKind::Unsupported, n, "only zero constant padding is supported");
  const Shape pw = tuple_attr(n, "pad_width", {});
  if (pw.size() < 6 || pw.size() % 2 || pw[0] || pw[1] || pw[2] || pw[3])
    node_error(ErrorKind::Unsupported, n, "Pad of batch or channel axes, pad_width " + shape_str(pw));
  Node zp;
  zp.name = layer_name(c, n);
  bool channels_last = false;
  zp.inputs = {conv_input(c, n, channels_last)};
  const std::vector<int> held = channels_last ? input_value(c, n, 0).perm : std::vector<int>{};
  json pads = json::array();
  for (size_t i = 4; i < pw.size(); i += 2) pads.push_back({pw[i], pw[i + 1]});
  zp.op = "ZeroPadding";
  zp.attrs = {{"rank", pads.size()}, {"padding", pads}, {"data_format", channels_last ? "channels_last" : "channels_first"}};
  out = layer_value(add(c, std::move(zp)).name, held);
}

// ---- Recurrent layers: the fused RNN op (formats-mxnet.md 8.10; rules in rnn_rules.cpp) ----
// The canonical node takes batch-major (N, T, C) data, so the op's time-major input must be a
// transpose (1, 0, 2) of a batch-major value, optionally reversed on axis 0 (go_backwards). States
// must be zeros (_zeros / zeros ops). Its output is held as the logical (N, T, D H) under perm
// (1, 0, 2); a SequenceLast consuming it alone turns the node into return_sequences=False.
bool is_zeros_op(const std::string& op) { return op == "_zeros" || op == "zeros" || op == "_zeros_without_dtype"; }
bool is_reverse_op(const SymNode& n) { return (n.op == "reverse" || n.op == "flip") && attr(n, "axis", "") == "0"; }
// Gluon 1.3-1.9 fused layers join their per-layer Parameters (each Reshape(shape=(-1,))) with
// _rnn_param_concat (dim 0) into the RNN op's `parameters` input (formats-mxnet.md 8.11).
bool is_param_concat(const SymNode& n) {
  return n.op == "_rnn_param_concat" || ((n.op == "Concat" || n.op == "concat") && attr(n, "dim", "1") == "0");
}

// The variables behind an RNN op's parameters input when it is such a concat (through Reshapes),
// in concat order; empty when the input is not a concat.
std::vector<int> rnn_param_pieces(const mxnet::Symbol& sym, const SymNode& rnn) {
  std::vector<int> out;
  if (rnn.inputs.size() < 2) return out;
  const SymNode& p = sym.nodes[static_cast<size_t>(rnn.inputs[1].node)];
  if (!is_param_concat(p)) return out;
  for (const auto& e : p.inputs) {
    int v = e.node;
    while (sym.nodes[static_cast<size_t>(v)].op == "Reshape" || sym.nodes[static_cast<size_t>(v)].op == "reshape") {
      if (sym.nodes[static_cast<size_t>(v)].inputs.empty()) break;
      v = sym.nodes[static_cast<size_t>(v)].inputs[0].node;
    }
    out.push_back(v);
  }
  return out;
}

bool is_expand0(const SymNode& n) { return n.op == "expand_dims" && parse_int(attr(n, "axis", "-1")) == 0; }

// expand_dims(axis=0) read only as RNN begin states (Keras initial_state (N, H) -> (1, N, H)).
bool feeds_only_rnn_states(const mxnet::Symbol& sym, size_t idx) {
  if (!is_expand0(sym.nodes[idx])) return false;
  bool any = false;
  for (const auto& m : sym.nodes)
    for (size_t i = 0; i < m.inputs.size(); ++i)
      if (static_cast<size_t>(m.inputs[i].node) == idx) {
        if (m.op != "RNN" || i < 2) return false;
        any = true;
      }
  for (const auto& h : sym.heads)
    if (static_cast<size_t>(h.node) == idx) return false;
  return any;
}

void op_rnn_fused(Ctx& c, const SymNode& n, Value& out) {
  const std::string mode = attr(n, "mode", "");
  if (mode != "lstm" && mode != "gru" && mode != "rnn_tanh" && mode != "rnn_relu") node_error(ErrorKind::Malformed, n, "RNN mode '" + mode + "'");
  const int64_t L = parse_int(attr(n, "num_layers", "1"));
  if (L < 1 || L > 64) node_error(ErrorKind::Malformed, n, fmt::format("num_layers = {} is outside 1..64", L));
  if (attr(n, "projection_size", "None") != "None") node_error(ErrorKind::Unsupported, n, "LSTM projection_size is not supported");
  if (parse_bool(attr(n, "use_sequence_length", "False"))) node_error(ErrorKind::Unsupported, n, "use_sequence_length (masking) is not supported");
  if (attr(n, "lstm_state_clip_min", "None") != "None" || attr(n, "lstm_state_clip_max", "None") != "None")
    node_error(ErrorKind::Unsupported, n, "lstm_state_clip is not supported");
  const int D = parse_bool(attr(n, "bidirectional", "False")) ? 2 : 1;
  const int64_t H = parse_int(attr(n, "state_size", "0"));
  const size_t n_states = mode == "lstm" ? 2 : 1;
  if (n.inputs.size() != 2 + n_states) node_error(ErrorKind::Unsupported, n, "expected data, parameters and state inputs");
  // Begin states: all zeros, or all expand_dims(axis=0) of batch-major (N, H) values (Keras initial_state).
  std::vector<std::string> states;
  size_t zeros = 0;
  for (size_t i = 2; i < n.inputs.size(); ++i) {
    const SymNode& st = c.sym.nodes[static_cast<size_t>(n.inputs[i].node)];
    if (is_zeros_op(st.op)) ++zeros;
    else if (is_expand0(st) && st.inputs.size() == 1) states.push_back(layer_input(c, st, 0));
    else node_error(ErrorKind::Unsupported, n, "begin state from '" + st.name + "' (" + st.op + "): only zeros or expand_dims(axis=0) "
                                              "of a (batch, state_size) tensor are supported");
  }
  if (zeros && !states.empty()) node_error(ErrorKind::Unsupported, n, "some begin states are zeros and others are given (Keras takes all or none)");
  if (!states.empty() && parse_bool(attr(n, "bidirectional", "False")))
    node_error(ErrorKind::Unsupported, n, "given begin states of a bidirectional RNN are not supported yet");
  if (L > 1 && (!states.empty() || parse_bool(attr(n, "state_outputs", "False"))))
    node_error(ErrorKind::Unsupported, n, "begin states or state outputs of a stacked fused RNN (num_layers > 1): Keras layers hold one layer's states");
  const SymNode* data = &c.sym.nodes[static_cast<size_t>(n.inputs[0].node)];
  size_t data_idx = static_cast<size_t>(n.inputs[0].node);
  const bool backwards = is_reverse_op(*data);
  if (backwards) {
    if (D == 2) node_error(ErrorKind::Unsupported, n, "a reversed input to a bidirectional RNN");
    data_idx = static_cast<size_t>(data->inputs.at(0).node);
  }
  const Value& v = c.values[data_idx];
  if (v.kind != Value::Layer || v.perm != std::vector<int>{1, 0, 2})
    node_error(ErrorKind::Unsupported, n, "the RNN input must be a transpose (1, 0, 2) of a batch-major (N, T, C) tensor");
  Tensor flat;
  std::string flat_source;
  const SymNode& pnode = c.sym.nodes[static_cast<size_t>(n.inputs[1].node)];
  if (is_param_concat(pnode)) {  // Gluon per-layer Parameters, already in the flat order
    std::vector<Tensor> parts;
    for (size_t j = 0; j < pnode.inputs.size(); ++j) {
      parts.push_back(take_param(c, pnode, j, "parameters"));
      flat_source += (flat_source.empty() ? "" : "+") + input_value(c, pnode, j).param;
    }
    if (parts.empty()) node_error(ErrorKind::Malformed, n, "empty parameters concat");
    const DType dt = parts[0].dtype;
    for (const auto& t : parts)
      if (t.dtype != dt) node_error(ErrorKind::Mapping, n, "the RNN's parameters differ in dtype");
    flat = concat_flat(n.name + "_parameters", parts);
  } else {
    flat = take_param(c, n, 1, "parameters");
    flat_source = input_value(c, n, 1).param;
  }
  const int64_t G = mode == "lstm" ? 4 : mode == "gru" ? 3 : 1;
  if (H < 1 || H > kMaxUnits || flat.shape.size() != 1) node_error(ErrorKind::Malformed, n, "state_size or parameters out of range");
  // 8.10: S (I + H + 2) + (L - 1) S (D H + H + 2), S = G H D; all layers' weights, then all biases.
  // Sizes are compared by division first: a state_size up to 2^40 times the layers would overflow.
  const int64_t S = G * H * D, per_layer = D * H + H + 2, len = flat.shape[0];
  const bool too_long = H + 2 > len / S || (L > 1 && (per_layer > len / S || L - 1 > len / (S * per_layer)));
  const int64_t upper = too_long ? 0 : (L - 1) * S * per_layer;
  const int64_t I = too_long ? 0 : len > upper ? (len - upper) / S - H - 2 : 0;
  if (I < 1 || S * (I + H + 2) + upper != len)
    node_error(ErrorKind::Mapping, n, fmt::format("parameters {} do not fit mode={} state_size={} num_layers={} directions={}",
                                                  shape_str(flat.shape), mode, H, L, D));
  // The length alone can fit another input width (every multiple of S does); a known width decides.
  if (const auto in_shape = shape_of(c, v.layer); in_shape && in_shape->size() == 2 && in_shape->back() > 0 && in_shape->back() != I)
    node_error(ErrorKind::Mapping, n, fmt::format("parameters {} fit an input width of {}, but the input has {} features (mode={} "
                                                  "state_size={} num_layers={} directions={})", shape_str(flat.shape), I,
                                                  in_shape->back(), mode, H, L, D));
  // A stacked op is L Keras layers, each reading the previous one's sequence (its directions concatenated).
  const std::string base = layer_name(c, n);
  std::string input = v.layer;
  int64_t w_pos = 0, b_pos = S * (I + H) + (L - 1) * S * (D * H + H);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t in = l == 0 ? I : D * H, w_len = S * (in + H), b_len = 2 * S;
    const Tensor layer_flat =
        L == 1 ? flat
               : concat_flat(fmt::format("{}_l{}_parameters", n.name, l), {rows_range(flat, w_pos, w_pos + w_len), rows_range(flat, b_pos, b_pos + b_len)});
    w_pos += w_len;
    b_pos += b_len;
    Node node;
    node.name = l + 1 == L ? base : fmt::format("{}_l{}", base, l);
    if (l + 1 < L) {
      for (int k = 1; c.names.count(node.name); ++k) node.name = fmt::format("{}_l{}_{}", base, l, k);
      c.names.insert(node.name);
    }
    node.op = D == 2 ? "Bidirectional" : "RNN";
    node.inputs = {input};
    node.inputs.insert(node.inputs.end(), states.begin(), states.end());
    const std::string cell = mode == "lstm" ? "lstm" : mode == "gru" ? "gru" : "simple";
    node.attrs = {{"cell", cell}, {"units", H}, {"activation", mode == "rnn_relu" ? "relu" : "tanh"}, {"use_bias", true},
                  {"return_sequences", true}, {"go_backwards", l == 0 && backwards}};
    if (cell != "simple") node.attrs["recurrent_activation"] = "sigmoid";
    if (cell == "gru") node.attrs["reset_after"] = true;  // MXNet's GRU applies the reset after the matmul
    if (D == 2) node.attrs["merge_mode"] = "concat";
    if (parse_bool(attr(n, "state_outputs", "False"))) node.attrs["return_state"] = true;
    unpack_mxnet_rnn(layer_flat, mode, H, in, D, node, c.m.prov.notes);
    for (auto& w : node.weights) w.source = L == 1 ? flat_source : fmt::format("{} (layer {})", flat_source, l);
    input = add(c, std::move(node)).name;
  }
  if (L > 1) c.m.prov.notes.push_back(fmt::format("fused RNN '{}' with num_layers={}: {} stacked layers", n.name, L, L));
  out = layer_value(input, {1, 0, 2});
}

// SequenceLast (axis 0) of a fused RNN's output that nothing else reads: return_sequences=False.
void op_sequence_last(Ctx& c, const SymNode& n, Value& out) {
  if (parse_bool(attr(n, "use_sequence_length", "False")) || parse_int(attr(n, "axis", "0")) != 0)
    node_error(ErrorKind::Unsupported, n, "SequenceLast with sequence lengths or axis != 0");
  const int src = n.inputs.at(0).node;
  const Value& v = c.values[static_cast<size_t>(src)];
  Node* rnn = v.kind == Value::Layer ? c.m.find(v.layer) : nullptr;
  size_t readers = 0;
  for (const auto& m : c.sym.nodes)
    for (const auto& e : m.inputs) readers += e.node == src && e.index == 0;
  for (const auto& h : c.sym.heads) readers += h.node == src && h.index == 0;
  if (!rnn || rnn->op != "RNN" || v.perm != std::vector<int>{1, 0, 2} || readers != 1)
    node_error(ErrorKind::Unsupported, n, "SequenceLast is supported only directly on a unidirectional fused RNN's output");
  rnn->attrs["return_sequences"] = false;
  forget_shapes(c);
  out = layer_value(rnn->name);
}

// Variables a weight-carrying op takes as its weights (every input after the data), in graph order.
std::vector<int> weight_variables(const mxnet::Symbol& sym) {
  static const std::set<std::string> kWeighted = {"FullyConnected", "Convolution", "Deconvolution", "BatchNorm", "RNN",
                                                  "Embedding", "dot", "LayerNorm", "InstanceNorm", "GroupNorm"};
  std::vector<int> out;
  std::set<int> seen;
  for (const auto& n : sym.nodes) {
    if (n.op == "RNN")
      for (int v : rnn_param_pieces(sym, n))
        if (sym.nodes[static_cast<size_t>(v)].op == "null" && seen.insert(v).second) out.push_back(v);
    if (kWeighted.count(n.op) || (n.op == "LeakyReLU" && attr(n, "act_type", "") == "prelu"))
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        const int v = n.inputs[i].node;
        const SymNode& var = sym.nodes[static_cast<size_t>(v)];
        // dot's second operand may be data: a variable declared with a batch dimension (0 first).
        if ((n.op == "dot" || n.op == "batch_dot") && attr(var, "__shape__", "").rfind("(0,", 0) == 0) continue;
        if (var.op == "null" && seen.insert(v).second) out.push_back(v);
      }
  }
  return out;
}

// A parameters concat read only by RNN ops (op_rnn_fused reads its pieces).
bool feeds_only_rnn_params(const mxnet::Symbol& sym, size_t idx) {
  if (!is_param_concat(sym.nodes[idx])) return false;
  bool any = false;
  for (const auto& m : sym.nodes)
    for (size_t i = 0; i < m.inputs.size(); ++i)
      if (static_cast<size_t>(m.inputs[i].node) == idx) {
        if (m.op != "RNN" || i != 1) return false;
        any = true;
      }
  return any;
}

// Gluon recurrent parameter keys (formats-mxnet.md 8.11) -> (group, local name "l0_i2h_weight"):
//   <path>._unfused.<l>.<i2h|h2h>_<weight|bias>          1.3-1.9 save_parameters, unidirectional
//   <path>._unfused.<l>.<l|r>_cell.<i2h|h2h>_<...>       the same, bidirectional
//   <prefix><l|r><l>_<i2h|h2h>_<weight|bias>              fused layer Parameter names (lstm0_l0_i2h_weight)
//   <prefix><i2h|h2h>_<weight|bias>                       LSTMCell / GRUCell / RNNCell (one layer, forward)
// The group is the part before the local name; keys of one layer share it.
bool gluon_rnn_key(const std::string& key, std::string& group, std::string& local) {
  static const std::regex kUnfused(R"(^(.*)_unfused\.(\d+)\.(?:(l|r)_cell\.)?(i2h|h2h)_(weight|bias)$)");
  static const std::regex kLayer(R"(^(.*?)(l|r)(\d+)_(i2h|h2h)_(weight|bias)$)");
  static const std::regex kCell(R"(^(.*?)(i2h|h2h)_(weight|bias)$)");
  std::smatch m;
  if (std::regex_match(key, m, kUnfused)) {
    group = m[1];
    local = (m[3].matched ? m[3].str() : std::string("l")) + m[2].str() + "_" + m[4].str() + "_" + m[5].str();
    return true;
  }
  if (std::regex_match(key, m, kLayer)) {
    group = m[1];
    local = m[2].str() + m[3].str() + "_" + m[4].str() + "_" + m[5].str();
    return true;
  }
  if (std::regex_match(key, m, kCell)) {
    group = m[1];
    local = "l0_" + m[2].str() + "_" + m[3].str();
    return true;
  }
  return false;
}

// Gluon-named recurrent parameters whose keys are not the symbol's variable names: the keys of
// one layer (one group) go to one RNN op, matched by a group equal to the op's variable prefix,
// else by order (groups in file order, RNN ops in graph order) when their local names agree.
// The pieces become the op's concat variables, or are packed into its single flat variable in
// the 8.10 order (all W_i2h, W_h2h per direction, then b_i2h, b_h2h per direction).
// An RNN op's integer attribute read before the graph walk; a bad value names the node.
int64_t rnn_int(const SymNode& n, const char* key, const char* def) {
  try {
    return parse_int(attr(n, key, def));
  } catch (Error& e) {
    if (e.where().empty()) e.add_context("node '" + n.name + "' (" + n.op + ")");
    throw;
  }
}

void resolve_rnn_param_names(Ctx& c, const std::vector<std::string>& file_order) {
  std::set<std::string> var_names;
  for (const auto& n : c.sym.nodes)
    if (n.op == "null") var_names.insert(n.name);
  std::vector<std::string> group_order;
  std::map<std::string, std::map<std::string, std::string>> groups;  // group -> local -> key
  for (const auto& k : file_order) {
    std::string g, l;
    if (var_names.count(k) || !gluon_rnn_key(k, g, l)) continue;
    if (!groups.count(g)) group_order.push_back(g);
    if (!groups[g].emplace(l, k).second) fail(ErrorKind::Mapping, "parameters '" + groups[g][l] + "' and '" + k + "' are the same piece of one recurrent layer");
  }
  if (groups.empty()) return;
  std::set<std::string> used_groups;
  for (const auto& n : c.sym.nodes) {
    if (n.op != "RNN" || n.inputs.size() < 2) continue;
    const int D = parse_bool(attr(n, "bidirectional", "False")) ? 2 : 1;
    std::vector<std::string> dirs = D == 2 ? std::vector<std::string>{"l", "r"} : std::vector<std::string>{"l"};
    std::map<std::string, std::string> slots;  // local -> variable name (concat form), or empty (flat form)
    std::string flat_var, prefix;
    const std::vector<int> pieces = rnn_param_pieces(c.sym, n);
    static const std::regex kLocal(R"(^(.*?)((l|r)\d+_(i2h|h2h)_(weight|bias))$)");
    if (!pieces.empty()) {
      for (int v : pieces) {
        const std::string& var = c.sym.nodes[static_cast<size_t>(v)].name;
        std::smatch m;
        if (c.params.count(var) || !std::regex_match(var, m, kLocal)) continue;
        slots[m[2]] = var;
        prefix = m[1];
      }
    } else {
      const SymNode& v = c.sym.nodes[static_cast<size_t>(n.inputs[1].node)];
      if (v.op != "null" || c.params.count(v.name)) continue;
      flat_var = v.name;
      prefix = v.name.size() > 10 && v.name.compare(v.name.size() - 10, 10, "parameters") == 0 ? v.name.substr(0, v.name.size() - 10) : "";
      const int64_t layers = std::clamp<int64_t>(rnn_int(n, "num_layers", "1"), 1, 64);
      for (const char* t : {"weight", "bias"})
        for (int64_t l = 0; l < layers; ++l)
          for (const auto& d : dirs)
            for (const char* g : {"i2h", "h2h"}) slots[d + std::to_string(l) + "_" + g + "_" + t] = "";
    }
    if (slots.empty()) continue;
    auto fits = [&](const std::string& g) {
      if (used_groups.count(g)) return false;
      const auto& have = groups.at(g);
      if (have.size() != slots.size()) return false;
      for (const auto& [l, v] : slots)
        if (!have.count(l)) return false;
      return true;
    };
    std::optional<std::string> found;  // a group may be named "" (keys without a prefix)
    if (groups.count(prefix) && fits(prefix)) found = prefix;
    for (size_t i = 0; !found && i < group_order.size(); ++i)
      if (fits(group_order[i])) found = group_order[i];
    if (!found) continue;  // reported as missing / unused later
    const std::string chosen = *found;
    used_groups.insert(chosen);
    const auto& have = groups.at(chosen);
    if (flat_var.empty()) {
      for (const auto& [l, var] : slots) {
        auto node = c.params.extract(have.at(l));
        node.key() = var;
        c.params.insert(std::move(node));
        c.m.prov.notes.push_back("parameter '" + have.at(l) + "' matched to variable '" + var + "'");
      }
      continue;
    }
    // One flat variable: pack, layer by layer (8.10). Shapes: W_i2h (G H, I) in layer 0, (G H, D H)
    // above it; W_h2h (G H, H); biases (G H,).
    const std::string mode = attr(n, "mode", "");
    const int64_t G = mode == "lstm" ? 4 : mode == "gru" ? 3 : 1, H = rnn_int(n, "state_size", "0");
    if (H < 1 || H > kMaxUnits)
      fail(ErrorKind::Malformed, fmt::format("state_size = {} is out of range", H), {}, "node '" + n.name + "' (RNN)");
    const int64_t layers = std::clamp<int64_t>(rnn_int(n, "num_layers", "1"), 1, 64);
    std::vector<Tensor> parts;
    std::string keys;
    for (const char* t : {"weight", "bias"})
      for (int64_t l = 0; l < layers; ++l)
        for (const auto& d : dirs)
          for (const char* g : {"i2h", "h2h"}) {
            const std::string key = have.at(d + std::to_string(l) + "_" + g + "_" + t);
            const Tensor& p = c.params.at(key);
            const bool w = std::string(t) == "weight";
            const int64_t cols = std::string(g) == "h2h" ? H : l > 0 ? D * H : -1;  // -1: layer 0's input width
            const bool ok = w ? p.shape.size() == 2 && p.shape[0] == G * H && (cols < 0 || p.shape[1] == cols)
                              : p.shape == Shape{G * H};
            if (!ok)
              fail(ErrorKind::Mapping, fmt::format("parameter '{}' {} does not fit mode={} state_size={}", key, shape_str(p.shape), mode, H),
                   {}, "node '" + n.name + "'");
            parts.push_back(p);
            keys += (keys.empty() ? "" : ", ") + key;
          }
    for (const auto& p : parts)
      if (p.dtype != parts[0].dtype) fail(ErrorKind::Mapping, "recurrent parameters differ in dtype", {}, "node '" + n.name + "'");
    c.params.emplace(flat_var, concat_flat(flat_var, parts));
    for (const auto& [l, key] : have) c.params.erase(key);
    c.m.prov.notes.push_back("parameters " + keys + " packed into variable '" + flat_var + "' (fused RNN layout)");
  }
}

// Parameter files whose keys are not the symbol's variable names (Gluon save_params with the
// block prefix stripped, save_parameters' structural names): match the rest by a unique name
// suffix, then by position in graph order when the counts agree. Shapes are checked by each op.
void resolve_param_names(Ctx& c, const std::vector<std::string>& file_order) {
  std::vector<std::string> vars;  // weight variables without a parameter of the same name
  for (int v : weight_variables(c.sym)) {
    const std::string& name = c.sym.nodes[static_cast<size_t>(v)].name;
    if (!c.params.count(name)) vars.push_back(name);
  }
  std::vector<std::string> keys;  // parameters that name no variable
  std::set<std::string> var_names;
  for (const auto& n : c.sym.nodes)
    if (n.op == "null") var_names.insert(n.name);
  for (const auto& k : file_order)
    if (!var_names.count(k)) keys.push_back(k);
  if (vars.empty() || keys.empty()) return;
  auto rename = [&](const std::string& key, const std::string& var) {
    auto node = c.params.extract(key);
    node.key() = var;
    c.params.insert(std::move(node));
  };
  std::vector<std::string> left_vars, left_keys = keys;
  for (const auto& var : vars) {
    std::vector<std::string> hits;
    for (const auto& k : left_keys)
      if (var.size() > k.size() && var.compare(var.size() - k.size(), k.size(), k) == 0 && var[var.size() - k.size() - 1] == '_')
        hits.push_back(k);
    if (hits.size() == 1) {
      rename(hits[0], var);
      left_keys.erase(std::find(left_keys.begin(), left_keys.end(), hits[0]));
      c.m.prov.notes.push_back("parameter '" + hits[0] + "' matched to variable '" + var + "' (name without block prefix)");
    } else {
      left_vars.push_back(var);
    }
  }
  if (left_vars.empty() || left_vars.size() != left_keys.size()) return;  // reported as missing/unused later
  for (size_t i = 0; i < left_vars.size(); ++i) {
    rename(left_keys[i], left_vars[i]);
    c.m.prov.notes.push_back("parameter '" + left_keys[i] + "' matched to variable '" + left_vars[i] + "' by graph position");
  }
}

// Convolution family (conv_family_mxnet_import.cpp) through the importer's primitives.
void family_op(Ctx& c, const SymNode& n, Value& out) {
  MxImportApi api;
  api.data = [&](size_t i) {
    const Value& v = data_value(c, n, i);
    return MxHeld{v.layer, v.perm};
  };
  api.logical_input = [&](size_t i) { return layer_input(c, n, i); };
  api.param = [&](size_t i, const std::string& role, std::string& source) {
    Tensor t = take_param(c, n, i, role);
    source = input_value(c, n, i).param;
    return t;
  };
  api.has_param = [&](size_t i) { return i < n.inputs.size() && input_value(c, n, i).kind == Value::Param; };
  api.name = [&] { return layer_name(c, n); };
  api.add = [&](Node node) -> Node& { return add(c, std::move(node)); };
  api.find = [&](const std::string& name) { return c.m.find(name); };
  api.shape = [&](const std::string& layer) { return shape_of(c, layer); };
  api.note = [&](const std::string& s) { c.m.prov.notes.push_back(s); };
  const MxHeld h = convfam_import_mxnet(n, api);
  out = layer_value(h.layer, h.perm);
}

// MXNet's scalar arithmetic ops and the canonical Scalar fn each stands for.
const char* scalar_fn(const std::string& op) {
  static const std::map<std::string, const char*> kOps = {
      {"_mul_scalar", "mul"}, {"_MulScalar", "mul"}, {"_div_scalar", "div"}, {"_DivScalar", "div"},
      {"_plus_scalar", "add"}, {"_PlusScalar", "add"}, {"_minus_scalar", "sub"}, {"_MinusScalar", "sub"},
      {"_rminus_scalar", "rsub"}, {"_RMinusScalar", "rsub"}};
  auto it = kOps.find(op);
  return it == kOps.end() ? nullptr : it->second;
}

// x op scalar. An ElementWiseSum of n inputs divided by n is Keras' Average.
void op_scalar(Ctx& c, const SymNode& n, Value& out) {
  const std::string fn = scalar_fn(n.op);
  const double s = parse_float(attr(n, "scalar", "0"));
  const Value& in = data_value(c, n, 0);
  Node* sum = c.m.find(in.layer);
  const int consumers = c.readers.at(static_cast<size_t>(n.inputs[0].node));
  if (fn == "div" && sum && sum->op == "Add" && consumers == 1 && static_cast<double>(sum->inputs.size()) == s &&
      sum->name.size() > 4 && sum->name.compare(sum->name.size() - 4, 4, "_sum") == 0 && !c.names.count(keras_safe(n.name))) {
    sum->op = "Average";  // weightbridge's own export of Average: <name>_sum then <name>
    sum->name = keras_safe(n.name);
    forget_shapes(c);
    c.names.insert(sum->name);
    out = in;
    out.layer = sum->name;
    return;
  }
  elementwise(c, n, out, "Scalar", json{{"fn", fn}, {"scalar", s}});
}

// slice_axis(axis, begin, end) on a data value: SliceAxis on the logical axis the physical one holds.
// MXNet allows a negative axis or begin and end = None (to the end); those need the input's shape.
void op_slice_axis(Ctx& c, const SymNode& n, Value& out) {
  const Value& in = data_value(c, n, 0);
  const auto shape = shape_of(c, in.layer);
  if (!shape) node_error(ErrorKind::Unsupported, n, "slice_axis of a tensor whose shape is unknown (give --input-shape)");
  const auto rank = static_cast<int64_t>(shape->size() + 1);
  int64_t axis = parse_int(attr(n, "axis", "0"));
  if (axis < -rank || axis >= rank) node_error(ErrorKind::Malformed, n, fmt::format("axis {} is outside a rank-{} tensor", axis, rank));
  if (axis < 0) axis += rank;
  const int64_t logical = in.perm.empty() ? axis : in.perm.at(static_cast<size_t>(axis));
  if (logical == 0) node_error(ErrorKind::Unsupported, n, "slicing the batch axis is not supported");
  const int64_t dim = (*shape)[static_cast<size_t>(logical - 1)];
  if (dim < 0) node_error(ErrorKind::Unsupported, n, "slice_axis of an axis whose length is unknown (give --input-shape)");
  int64_t begin = parse_int(attr(n, "begin", "0"));
  const std::string end_s = attr(n, "end", "None");
  int64_t end = end_s == "None" ? dim : parse_int(end_s);
  if (begin < 0) begin += dim;
  if (end < 0) end += dim;
  if (begin < 0 || end > dim || end <= begin)
    node_error(ErrorKind::Malformed, n, fmt::format("slice [{}, {}) does not fit an axis of length {}", attr(n, "begin", "0"), end_s, dim));
  Node node;
  node.name = layer_name(c, n);
  node.op = "SliceAxis";
  node.attrs = {{"axis", logical}, {"begin", begin}, {"end", end}};
  node.inputs = {in.layer};
  const std::vector<int> held = in.perm;
  out = layer_value(add(c, std::move(node)).name, held);
}

// dot(q, k^T) -> softmax over the last axis -> dot(weights, v), each read only by the next and not
// an output: Keras' dot-product Attention (weightbridge's own export of it), so MXNet -> Keras
// gives the layer back.
void fold_attention(Model& m) {
  auto readers = [&](const std::string& name) {
    size_t k = std::count(m.outputs.begin(), m.outputs.end(), name);
    for (const auto& n : m.nodes) k += std::count(n.inputs.begin(), n.inputs.end(), name);
    return k;
  };
  for (auto& out : m.nodes) {
    if (out.op != "MatMul" || out.attrs.value("transpose_a", false) || out.attrs.value("transpose_b", false)) continue;
    const Node* sm = m.find(out.inputs.at(0));
    if (!sm || sm->op != "Activation" || sm->attrs.value("activation", "") != "softmax" || sm->attrs.value("axis", -1) != -1 ||
        readers(sm->name) != 1)
      continue;
    const Node* scores = m.find(sm->inputs.at(0));
    if (!scores || scores->op != "MatMul" || scores->attrs.value("transpose_a", false) || !scores->attrs.value("transpose_b", false) ||
        readers(scores->name) != 1)
      continue;
    const std::string q = scores->inputs.at(0), k = scores->inputs.at(1), v = out.inputs.at(1);
    const std::string drop_a = scores->name, drop_b = sm->name;
    const Weight* scale = scores->weight("scale");
    out.op = "Attention";
    out.attrs = {{"score_mode", "dot"}, {"use_scale", scale != nullptr}, {"dropout", 0.0}};
    if (scale) out.weights = {*scale};
    out.inputs = k == v ? std::vector<std::string>{q, v} : std::vector<std::string>{q, v, k};
    m.nodes.erase(std::remove_if(m.nodes.begin(), m.nodes.end(), [&](const Node& n) { return n.name == drop_a || n.name == drop_b; }),
                  m.nodes.end());
    return fold_attention(m);  // iterators are gone: look again
  }
}

void walk(Ctx& c) {
  const auto& nodes = c.sym.nodes;
  c.readers.assign(nodes.size(), 0);
  for (const auto& n : nodes)
    for (const auto& e : n.inputs)
      if (e.node >= 0 && static_cast<size_t>(e.node) < nodes.size()) c.readers[static_cast<size_t>(e.node)] += 1;
  // Label inputs of loss heads are not model inputs.
  std::set<int> labels;
  static const std::set<std::string> kLossOps = {"SoftmaxOutput", "Softmax", "LinearRegressionOutput",  // Softmax: its old name
                                                 "LogisticRegressionOutput", "MAERegressionOutput", "SVMOutput"};
  for (const auto& n : nodes)
    if (kLossOps.count(n.op))
      for (size_t i = 1; i < n.inputs.size(); ++i) labels.insert(n.inputs[i].node);
  const std::vector<int> weight_slots = weight_variables(c.sym);
  const std::set<int> weight_slot_set(weight_slots.begin(), weight_slots.end());
  std::string missing;
  for (int idx : weight_slots) {
    const SymNode& v = nodes[static_cast<size_t>(idx)];
    if (c.opt.policy.allow_missing && deterministic_initial(v.name)) continue;  // filled when its op is read
    if (!c.params.count(v.name)) missing += (missing.empty() ? "" : ", ") + v.name + " " + attr(v, "__shape__", "(shape unknown)");
  }
  if (!missing.empty())
    fail(ErrorKind::Mapping, "parameters the symbol needs are missing from the params file: " + missing +
                                 (c.opt.policy.allow_missing ? " (random initial values: --allow-missing cannot fill them)" : ""));
  for (size_t idx = 0; idx < nodes.size(); ++idx) {
    const SymNode& n = nodes[idx];
    Value& out = c.values[idx];
    try {
      check_mxnet_attrs(n);
      for (const auto& e : n.inputs)  // other outputs than 0: only the fused RNN's states (op_reshape)
        if (e.index != 0 && !((n.op == "Reshape" || n.op == "reshape") && nodes[static_cast<size_t>(e.node)].op == "RNN"))
          node_error(ErrorKind::Unsupported, n, fmt::format("reads output {} of node '{}'; only output 0 is supported here",
                                                            e.index, nodes[static_cast<size_t>(e.node)].name));
      if (n.op == "null") {
        if (c.params.count(n.name) || weight_slot_set.count(static_cast<int>(idx))) out = Value{Value::Param, {}, {}, n.name, {}};
        else if (labels.count(static_cast<int>(idx))) out.kind = Value::Label;

        else {
          Node in;
          in.name = keras_safe(n.name);
          c.names.insert(in.name);
          in.op = "Input";
          Shape shape = tuple_attr(n, "__shape__", {});
          if (!shape.empty()) shape.erase(shape.begin());
          for (auto& dim : shape)
            if (dim == 0) dim = -1;  // MXNet's 0: unknown (weightbridge writes Keras' None so)
          shape = given_input_shape(c.opt, in.name, shape);
          in.attrs = {{"shape", shape}, {"dtype", "float32"}, {"mxnet_name", n.name}};
          out = layer_value(add(c, std::move(in)).name);
        }
      } else if (c.absorbed.count(static_cast<int>(idx))) out = data_value(c, n, 0);
      else if (convfam_mxnet_op(n)) family_op(c, n, out);
      else if (n.op == "RNN") op_rnn_fused(c, n, out);
      else if (n.op == "SequenceLast") op_sequence_last(c, n, out);
      else if (is_zeros_op(n.op) || is_reverse_op(n) || feeds_only_rnn_states(c.sym, idx) || feeds_only_rnn_params(c.sym, idx)) out = Value{};  // read by op_rnn_fused only
      else if (n.op == "Convolution") op_convolution(c, n, out);
      else if (n.op == "FullyConnected") op_fully_connected(c, n, out);
      else if (n.op == "BatchNorm") op_batchnorm(c, n, out);
      else if (n.op == "Pooling") op_pooling(c, n, out);
      else if (n.op == "Activation") op_activation(c, n, out);
      else if (n.op == "relu" || n.op == "sigmoid" || n.op == "tanh" || n.op == "softsign")  // the unary forms
        elementwise(c, n, out, "Activation", {{"activation", n.op}});
      else if (n.op == "LeakyReLU") op_leaky(c, n, out);
      else if (n.op == "hard_sigmoid") {
        if (parse_float(attr(n, "beta", "0.5")) != 0.5) node_error(ErrorKind::Unsupported, n, "hard_sigmoid with beta other than 0.5");
        json a = {{"activation", "hard_sigmoid"}, {"hard_sigmoid_slope", parse_float(attr(n, "alpha", "0.2"))}};
        elementwise(c, n, out, "Activation", a);
      } else if (n.op == "Dropout") elementwise(c, n, out, "Dropout", {{"rate", parse_float(attr(n, "p", "0.5"))}});
      else if (n.op == "identity" || n.op == "_copy" || n.op == "BlockGrad" || n.op == "stop_gradient") out = data_value(c, n, 0);
      else if (n.op == "Pad" || n.op == "pad") op_pad(c, n, out);
      else if (n.op == "Flatten" || n.op == "flatten") {
        const Value& in = data_value(c, n, 0);
        if (is_channels_first_held_last(in.perm)) {  // keras-mxnet: transpose(0, 2, 3, 1) + Flatten
          Node f;
          f.name = layer_name(c, n);
          f.op = "Flatten";
          f.attrs = {{"channels_last_first", true}};
          f.inputs = {in.layer};
          out = layer_value(add(c, std::move(f)).name);
        } else {
          simple(c, n, out, "Flatten", {{"channels_last_first", false}});
        }
      } else if (n.op == "transpose") {
        const Value& in = data_value(c, n, 0);
        Shape axes = tuple_attr(n, "axes", {});
        auto shape = shape_of(c, in.layer);
        if (axes.empty())  // MXNet reverses every axis, moving the batch axis last
          node_error(ErrorKind::Unsupported, n, "transpose without axes reverses every axis, the batch axis too, which is not supported");
        std::vector<int> held = in.perm;
        if (held.empty()) for (size_t i = 0; i < axes.size(); ++i) held.push_back(static_cast<int>(i));
        if (held.size() != axes.size() || (shape && shape->size() + 1 != axes.size()))
          node_error(ErrorKind::Unsupported, n, "transpose axes do not match the input rank");
        std::vector<int> perm;
        for (auto a : axes) {
          if (a < 0 || static_cast<size_t>(a) >= held.size()) node_error(ErrorKind::Malformed, n, "transpose axis out of range");
          perm.push_back(held[static_cast<size_t>(a)]);
        }
        out = layer_value(in.layer, perm);
      } else if (n.op == "broadcast_add" || n.op == "elemwise_add" || n.op == "_Plus" || n.op == "_plus" || n.op == "ElementWiseSum" || n.op == "add_n") op_add(c, n, out);
      else if (n.op == "dot" || n.op == "batch_dot") op_dot(c, n, out);
      else if (n.op == "elemwise_mul" || n.op == "_mul" || n.op == "_Mul" || n.op == "broadcast_mul") op_mul(c, n, out);
      else if (n.op == "elemwise_sub" || n.op == "_minus" || n.op == "_Minus" || n.op == "broadcast_sub") elementwise(c, n, out, "Subtract", json::object(), 2);
      else if (n.op == "_maximum" || n.op == "_Maximum" || n.op == "broadcast_maximum") elementwise(c, n, out, "Maximum", json::object(), 2);
      else if (n.op == "_minimum" || n.op == "_Minimum" || n.op == "broadcast_minimum") elementwise(c, n, out, "Minimum", json::object(), 2);
      else if (scalar_fn(n.op)) op_scalar(c, n, out);
      else if (n.op == "zeros_like") elementwise(c, n, out, "Scalar", json{{"fn", "zero"}, {"scalar", 0.0}});
      else if (n.op == "slice_axis") op_slice_axis(c, n, out);
      else if (n.op == "Concat" || n.op == "concat") simple(c, n, out, "Concat", {{"axis", parse_int(attr(n, "dim", "1"))}}, n.inputs.size());
      else if (n.op == "softmax" || n.op == "SoftmaxActivation" || n.op == "SoftmaxOutput" || n.op == "Softmax") op_softmax(c, n, out);
      else if (n.op == "LinearRegressionOutput" || n.op == "MAERegressionOutput") out = input_value(c, n, 0);
      else if (n.op == "LogisticRegressionOutput") elementwise(c, n, out, "Activation", {{"activation", "sigmoid"}});
      else if (n.op == "Reshape" || n.op == "reshape") op_reshape(c, n, out);
      else if (n.op == "Embedding") {
        Node e;
        e.name = layer_name(c, n);
        e.op = "Embedding";
        e.inputs = {layer_input(c, n, 0)};
        Tensor w = take_param(c, n, 1, "weight");
        e.attrs = {{"input_dim", count_attr(n, "input_dim", "0")}, {"output_dim", count_attr(n, "output_dim", "0")}};
        e.weights.push_back(Weight{"embeddings", w, input_value(c, n, 1).param, "", {}});
        out = layer_value(add(c, std::move(e)).name);
      } else {
        node_error(ErrorKind::Unsupported, n, "operator '" + n.op + "' is not supported yet");
      }
    } catch (Error& e) {
      if (e.where().empty()) e.add_context("node '" + n.name + "' (" + n.op + ")");
      throw;
    }
  }
}

// Symbols rarely declare the data shape. When an input feeds a Dense layer (directly or through the
// Flatten that FullyConnected implies), the kernel gives its width.
void infer_unknown_input_shapes(Model& m) {
  for (auto& in : m.nodes) {
    if (in.op != "Input" || !in.attrs.at("shape").empty()) continue;
    std::string cur = in.name;
    for (const auto& n : m.nodes) {
      if (n.inputs.size() != 1 || n.inputs[0] != cur) continue;
      if (n.op == "Flatten") {
        cur = n.name;
        continue;
      }
      if (n.op == "Dense") in.attrs["shape"] = Shape{n.weight("kernel")->tensor.shape.at(0)};
      break;
    }
  }
}

}  // namespace

Model import_mxnet(const mxnet::Symbol& sym, const mxnet::ParamsFile& params, const std::string& symbol_path,
                   const ImportOptions& opt) {
  Ctx c{sym, opt, {}, {}, std::vector<Value>(sym.nodes.size()), {}, {}};
  c.m.prov.format = "mxnet-checkpoint";
  c.m.prov.data_format = "channels_first";
  const int v = sym.mxnet_version;
  c.m.prov.version = v ? fmt::format("{}.{}.{}", v / 10000, v / 100 % 100, v % 100) : "<=0.8";
  bool keras_mxnet = false, prefixed = false;
  std::vector<std::string> file_order;
  for (size_t i = 0; i < params.records.size(); ++i) {
    const auto& r = params.records[i];
    std::string name = r.name;
    if (name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0) {
      name = name.substr(4);
      prefixed = true;
    }
    if (name.find('/') != std::string::npos) keras_mxnet = true;
    if (opt.map) name = opt.map->apply(name);
    if (name.empty()) fail(ErrorKind::Mapping, "the params file stores no names; it cannot be matched to a symbol", params.path);
    if (c.params.count(name)) fail(ErrorKind::Mapping, "parameter '" + name + "' appears twice", params.path);
    c.params.emplace(name, mxnet::record_tensor(params, i, opt.densify));
    file_order.push_back(name);
  }
  try {  // before the graph walk: name the file a problem is in (a parameter's, else the symbol's)
    resolve_rnn_param_names(c, file_order);
    resolve_param_names(c, file_order);
  } catch (Error& e) {
    e.in_file(e.kind() == ErrorKind::Mapping ? params.path : symbol_path);
    throw;
  }
  c.m.prov.framework = keras_mxnet ? "keras-mxnet" : prefixed ? "mxnet" : "gluon";
  try {
    walk(c);
  } catch (Error& e) {
    e.in_file(symbol_path);
    throw;
  }
  infer_unknown_input_shapes(c.m);
  if (sym.heads.empty()) fail(ErrorKind::Malformed, "heads is empty: the graph has no outputs", symbol_path);
  std::map<std::string, std::string> output_permutes;  // a node that is several heads (a last h and its state) gets one
  for (const auto& h : sym.heads) {
    if (h.index != 0)
      fail(ErrorKind::Unsupported, fmt::format("graph output {} of node '{}': only output 0 of a node can be an output", h.index,
                                               sym.nodes[static_cast<size_t>(h.node)].name), symbol_path);
    const Value& val = c.values[static_cast<size_t>(h.node)];
    if (val.kind != Value::Layer) fail(ErrorKind::Unsupported, "graph output is not a layer output", symbol_path);
    std::string out = val.layer;
    if (const auto seen = output_permutes.find(out); seen != output_permutes.end()) {
      out = seen->second;
    } else if (!val.perm.empty() && !is_identity(val.perm)) {  // the output is held transposed: make that explicit
      Node p;
      p.name = out + "_output_permute";
      p.op = "Permute";
      p.attrs = {{"dims", std::vector<int>(val.perm.begin() + 1, val.perm.end())}};
      p.inputs = {out};
      out = output_permutes[out] = add(c, std::move(p)).name;
    }
    c.m.outputs.push_back(out);
  }
  convfam_fold_mxnet(c.m);
  fold_attention(c.m);
  std::string unused;
  for (const auto& [name, t] : c.params)
    if (!c.used_params.count(name)) unused += (unused.empty() ? "" : ", ") + name + " " + shape_str(t.shape);
  if (!unused.empty()) {
    if (!opt.policy.ignore_extra)
      fail(ErrorKind::Mapping, "parameters not used by the symbol: " + unused + " (--ignore-extra leaves them out, --map renames them)",
           params.path);
    c.m.prov.notes.push_back("left out (--ignore-extra): " + unused);
  }
  if (opt.map)
    for (const auto& r : opt.map->unused_rules()) c.m.prov.notes.push_back("--map rule matched no name: " + r);
  return std::move(c.m);
}

}  // namespace wb
