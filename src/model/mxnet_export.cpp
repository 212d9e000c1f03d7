// Model -> MXNet 1.x symbol + parameters.
//
// MXNet convolution and pooling are channels-first. A channels_last Keras model is exported with
// its input left in Keras order: a transpose moves tensors to channels-first in front of the first
// layer that needs it, and back before any layer whose meaning depends on the axis order (Flatten,
// Dense, Reshape, softmax over an axis...). Every tensor therefore carries the permutation from its
// logical (Keras) order to the physical order of the symbol entry.
#include <fmt/format.h>

#include <set>

#include "model/conv_family.h"
#include "model/rnn_rules.h"
#include "model/transforms.h"
#include "weightbridge/checks.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {
namespace {

using mxnet::SymEntry;
using mxnet::SymNode;

struct Phys {
  int node = -1;          // symbol node index of the value
  std::vector<int> perm;  // physical = transpose(logical, perm), perm over axes incl. batch; empty = identity
};

struct Ctx {
  const Model& m;
  std::map<std::string, Shape> shapes;  // logical shapes without batch
  mxnet::Symbol sym;
  std::vector<Tensor> params;
  std::vector<TensorOrigin> origins;
  std::map<std::string, Phys> values;
  // The graph's float dtype, when its weights have one: the data inputs are declared so and
  // BatchNorm's parameters follow MXNet's rule for it. Unset: weights as stored (a mixed model).
  std::optional<DType> compute;
};

// MXNet binds a graph in one float dtype: an op's data and weights must agree, except BatchNorm,
// whose parameters are float32 under float16/bfloat16 data and float64 under float64.
std::optional<DType> compute_dtype(const Model& m) {
  std::set<DType> seen;
  for (const auto& n : m.nodes)
    if (n.op != "BatchNorm")
      for (const auto& w : n.weights)
        if (dtype_info(w.tensor.dtype).is_float) seen.insert(w.tensor.dtype);
  if (seen.size() > 1) return std::nullopt;
  return seen.empty() ? DType::F32 : *seen.begin();
}

std::string tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

int add_node(Ctx& c, SymNode n) {
  c.sym.nodes.push_back(std::move(n));
  return static_cast<int>(c.sym.nodes.size() - 1);
}

int add_var(Ctx& c, const std::string& name, const Tensor& t, bool aux, TensorOrigin origin) {
  SymNode v;
  v.op = "null";
  v.name = name;
  v.attrs["__shape__"] = tuple(t.shape);
  if (t.dtype != DType::F32) v.attrs["__dtype__"] = std::to_string(dtype_info(t.dtype).mxnet_flag);
  const int idx = add_node(c, std::move(v));
  c.sym.arg_nodes.push_back(idx);
  Tensor p = t;
  p.name = (aux ? "aux:" : "arg:") + name;
  if (dtype_info(t.dtype).mxnet_flag < 0 || (dtype_info(t.dtype).mxnet_flag >= 8 && dtype_info(t.dtype).mxnet_flag <= 11))
    fail(ErrorKind::Unsupported, std::string("dtype ") + dtype_name(t.dtype) + " cannot be stored for MXNet 1.x",
         {}, "weight " + name);
  c.params.push_back(std::move(p));
  c.origins.push_back(std::move(origin));
  return idx;
}

int add_op(Ctx& c, const std::string& op, const std::string& name, std::map<std::string, std::string> attrs,
           std::vector<int> inputs, const std::vector<int>& versions = {}) {
  SymNode n;
  n.op = op;
  n.name = name;
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i)
    n.inputs.push_back(SymEntry{inputs[i], 0, i < versions.size() ? versions[i] : 0});
  return add_node(c, std::move(n));
}

bool identity(const std::vector<int>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int>(i)) return false;
  return true;
}

// Value of a node's input in logical (Keras) order.
int logical(Ctx& c, const std::string& producer, const std::string& consumer) {
  Phys& p = c.values.at(producer);
  if (p.perm.empty() || identity(p.perm)) return p.node;
  const auto inv = inverse_perm(p.perm);
  return add_op(c, "transpose", consumer + "_to_keras_order",
                {{"axes", tuple(std::vector<int64_t>(inv.begin(), inv.end()))}}, {p.node});
}

// Value of a node's input held as transpose(logical, want) (want: a perm over the axes incl. batch).
int held_as(Ctx& c, const std::string& producer, const std::string& consumer, const std::vector<int>& want) {
  Phys& p = c.values.at(producer);
  std::vector<int> have = p.perm.empty() ? std::vector<int>() : p.perm;
  if (have.empty()) for (size_t i = 0; i < want.size(); ++i) have.push_back(static_cast<int>(i));
  // The producer's held order must cover the rank this layer works on (a rank-2 pooling fed by a
  // rank-3 tensor would index past it).
  if (have.size() != want.size())
    fail(ErrorKind::Malformed,
         fmt::format("input from '{}' has rank {} (with batch), the layer needs rank {}", producer, have.size(),
                     want.size()),
         {}, "layer '" + consumer + "'");
  if (have == want) return p.node;
  // physical_have = transpose(logical, have); we need transpose(logical, want) = transpose(physical_have, t)
  // with t[i] = position of want[i] in have.
  const auto inv = inverse_perm(have);
  std::vector<int64_t> t;
  for (int w : want) t.push_back(inv[static_cast<size_t>(w)]);
  return add_op(c, "transpose", consumer + "_to_channels_first", {{"axes", tuple(t)}}, {p.node});
}

// The perm from a logical layout to channels-first: identity when the logical layout is channels
// first, else the last axis moved to position `lead` (1; 2 behind a time axis).
std::vector<int> channels_first_perm(size_t rank_with_batch, bool logical_is_cf, size_t lead = 1) {
  std::vector<int> want;
  for (size_t i = 0; i < lead; ++i) want.push_back(static_cast<int>(i));
  if (!logical_is_cf) want.push_back(static_cast<int>(rank_with_batch - 1));
  for (size_t i = lead; i < rank_with_batch - (logical_is_cf ? 0 : 1); ++i) want.push_back(static_cast<int>(i));
  return want;
}

// Value of a node's input in channels-first physical order (for rank r tensors incl. batch).
int channels_first(Ctx& c, const std::string& producer, const std::string& consumer, size_t rank_with_batch,
                   bool logical_is_cf, std::vector<int>& out_perm) {
  out_perm = channels_first_perm(rank_with_batch, logical_is_cf);
  return held_as(c, producer, consumer, out_perm);
}

size_t rank_of(Ctx& c, const std::string& name) {
  auto it = c.shapes.find(name);
  if (it == c.shapes.end())
    fail(ErrorKind::Unsupported, "the shape reaching this layer is unknown (give --input-shape)", {}, "layer '" + name + "'");
  return it->second.size() + 1;
}

std::string fmt_float(double v) { return fmt::format("{}", v); }

void emit_activation(Ctx& c, const Node& n, const std::string& act, int& node) {
  static const std::map<std::string, std::string> kAct = {
      {"relu", "relu"}, {"sigmoid", "sigmoid"}, {"tanh", "tanh"}, {"softplus", "softrelu"}, {"softsign", "softsign"}};
  if (act == "linear") return;
  if (auto it = kAct.find(act); it != kAct.end()) {
    node = add_op(c, "Activation", n.name + "_" + act, {{"act_type", it->second}}, {node});
  } else if (act == "elu") {
    node = add_op(c, "LeakyReLU", n.name + "_elu", {{"act_type", "elu"}, {"slope", "1"}}, {node});
  } else if (act == "selu") {
    node = add_op(c, "LeakyReLU", n.name + "_selu", {{"act_type", "selu"}}, {node});
  } else if (act == "softmax") {
    // A channels_last conv-like layer's output is held channels-first: its channels are axis 1.
    const bool held_first = n.attrs.contains("rank") && n.attrs.value("data_format", "channels_last") == "channels_last";
    node = add_op(c, "softmax", n.name + "_softmax", {{"axis", held_first ? "1" : "-1"}}, {node});
  } else if (act == "hard_sigmoid") {  // MXNet: clip(alpha x + beta, 0, 1); Keras 2 slope 0.2, Keras 3 1/6
    node = add_op(c, "hard_sigmoid", n.name + "_hard_sigmoid",
                  {{"alpha", fmt_float(n.attrs.value("hard_sigmoid_slope", 0.2))}, {"beta", "0.5"}}, {node});
  } else {
    fail(ErrorKind::Unsupported, "activation '" + act + "' has no MXNet equivalent here yet", {}, "layer '" + n.name + "'");
  }
}


void emit_conv_like(Ctx& c, const Node& n, Phys& out) {
  const size_t r = n.attrs.at("rank").get<size_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  std::vector<int> perm;
  int in = channels_first(c, n.inputs.at(0), n.name, r + 2, cf, perm);
  const bool is_pool = n.op == "Pool";
  const auto k = n.attrs.at(is_pool ? "pool_size" : "kernel_size").get<std::vector<int64_t>>();
  const auto s = n.attrs.at("strides").get<std::vector<int64_t>>();
  const auto d = is_pool ? std::vector<int64_t>(r, 1) : n.attrs.at("dilation").get<std::vector<int64_t>>();
  std::vector<int64_t> pad(r, 0);
  std::map<std::string, std::string> extra;
  const std::string padding = n.attrs.value("padding", "valid");
  if (padding != "valid" && padding != "same" && padding != "causal")
    fail(ErrorKind::Unsupported, "padding '" + padding + "' cannot be exported to MXNet yet", {}, "layer '" + n.name + "'");
  // Keras geometry per spatial axis: zeros before / after, and the output length.
  std::vector<int64_t> before(r, 0), after(r, 0), len(r, 0);
  bool symmetric = true;
  for (size_t i = 0; i < r && padding != "valid"; ++i) {
    const auto ish = c.shapes.find(n.inputs[0]);
    const int64_t x = ish == c.shapes.end() || ish->second.size() != r + 1 ? -1 : ish->second[cf ? i + 1 : i];
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    if (x < 0) fail(ErrorKind::Unsupported, "padding '" + padding + "' needs a known input length for MXNet (give --input-shape)", {}, "layer '" + n.name + "'");
    if (padding == "same") std::tie(before[i], after[i]) = same_padding(x, k[i], s[i], d[i]);
    else before[i] = dk - 1;  // causal
    len[i] = (x + before[i] + after[i] - dk) / s[i] + 1;
    symmetric = symmetric && before[i] == after[i];
  }
  // crop_at[i] >= 0: MXNet pads symmetrically by pad[i] and the slice "<name>_crop" keeps outputs
  // crop_at[i] .. crop_at[i] + len[i]. Output j of MXNet's op starts its window at j s - pad, Keras'
  // output j at j s - before: with pad = before + m s the two agree for j = Keras j + m. Zero
  // padding is what Keras convolutions add; MXNet max pooling skips the padding as Keras does, and
  // avg pooling with count_include_pad=False divides by the inside count as Keras does.
  std::vector<int64_t> crop_at;
  if (symmetric) {
    pad = before;
  } else if (is_pool && padding == "same" &&
             [&] {
               for (size_t i = 0; i < r; ++i)
                 if (after[i] - before[i] > s[i] - 1) return false;
               return true;
             }()) {
    // 'full' rounds up: windows may hang over the end, which is exactly the extra 'after' pad.
    pad = before;
    extra["pooling_convention"] = "full";
  } else if (!is_pool && padding == "same" && (r == 2 || r == 3)) {
    std::vector<int64_t> pw = {0, 0, 0, 0};
    for (size_t i = 0; i < r; ++i) { pw.push_back(before[i]); pw.push_back(after[i]); }
    in = add_op(c, "Pad", n.name + "_pad", {{"mode", "constant"}, {"constant_value", "0"}, {"pad_width", tuple(pw)}}, {in});
  } else {
    crop_at.assign(r, 0);
    for (size_t i = 0; i < r; ++i) {
      const int64_t m = after[i] > before[i] ? (after[i] - before[i] + s[i] - 1) / s[i] : 0;
      pad[i] = before[i] + m * s[i];
      crop_at[i] = m;
    }
  }
  if (is_pool && padding != "valid" && n.attrs.value("pool_type", "max") == "avg") extra["count_include_pad"] = "False";
  int node;
  if (is_pool) {
    std::map<std::string, std::string> a = {{"kernel", tuple(k)}, {"stride", tuple(s)}, {"pad", tuple(pad)},
                                            {"pool_type", n.attrs.at("pool_type")}, {"pooling_convention", "valid"}};
    for (auto& [key, v] : extra) a[key] = v;
    node = add_op(c, "Pooling", n.name, a, {in});
  } else {
    const Weight* kw = n.weight("kernel");
    std::vector<int> to_oihw = {static_cast<int>(r + 1), static_cast<int>(r)};
    for (size_t i = 0; i < r; ++i) to_oihw.push_back(static_cast<int>(i));
    const bool bias = n.attrs.value("use_bias", true);
    const int w = add_var(c, n.name + "_weight", permuted(kw->tensor, to_oihw), false, {n.name, "kernel", "transpose" + perm_str(to_oihw)});
    std::vector<int> ins = {in, w};
    if (bias) ins.push_back(add_var(c, n.name + "_bias", n.weight("bias")->tensor, false, {n.name, "bias", ""}));
    node = add_op(c, "Convolution", n.name,
                  {{"kernel", tuple(k)}, {"stride", tuple(s)}, {"dilate", tuple(d)}, {"pad", tuple(pad)},
                   {"num_filter", std::to_string(n.attrs.at("filters").get<int64_t>())},
                   {"num_group", std::to_string(n.attrs.value("groups", 1))}, {"no_bias", bias ? "False" : "True"}},
                  ins);
  }
  if (!crop_at.empty()) {  // physical (N, C, spatial...)
    std::string b = "(None, None", e = "(None, None";
    for (size_t i = 0; i < r; ++i) b += ", " + std::to_string(crop_at[i]), e += ", " + std::to_string(crop_at[i] + len[i]);
    node = add_op(c, "slice", n.name + "_crop", {{"begin", b + ")"}, {"end", e + ")"}}, {node});
  }
  if (!is_pool) emit_activation(c, n, n.attrs.value("activation", "linear"), node);
  out = Phys{node, perm};
}

// Convolution family (conv_family_mxnet.cpp) through the exporter's primitives.
bool emit_family(Ctx& c, const Node& n) {
  MxExportApi api{c.shapes, {}, {}, {}, {}, {}, {}, {}, {}};
  api.channels_first = [&](const std::string& p, size_t r, bool cf, std::vector<int>& perm) {
    return channels_first(c, p, n.name, r, cf, perm);
  };
  api.logical = [&](const std::string& p) { return logical(c, p, n.name); };
  api.held = [&](const std::string& p, int& node) -> const std::vector<int>& {
    node = c.values.at(p).node;
    return c.values.at(p).perm;
  };
  api.var = [&](const std::string& name, const Tensor& t, const std::string& role, const std::string& tr) {
    return add_var(c, name, t, false, {n.name, role, tr});
  };
  api.op = [&](const std::string& op, const std::string& name, std::map<std::string, std::string> a, std::vector<int> in) {
    return add_op(c, op, name, std::move(a), std::move(in));
  };
  api.activation = [&](const Node& layer, int& node) { emit_activation(c, layer, layer.attrs.value("activation", "linear"), node); };
  api.emit_conv = [&](const Node& conv, const Shape& shape) {
    c.shapes[conv.name] = shape;
    Phys out;
    emit_conv_like(c, conv, out);
    c.values[conv.name] = out;
  };
  api.set_value = [&](const std::string& name, int node, std::vector<int> perm) { c.values[name] = Phys{node, std::move(perm)}; };
  return convfam_export_mxnet(n, api);
}

// ---- Recurrent layers: MXNet's fused RNN op (formats-mxnet.md 8.10; layout rules in rnn_rules.cpp) ----
// Keras (N, T, C) -> transpose (1, 0, 2) -> [reverse axis 0 for go_backwards] -> RNN with zero
// states (_zeros of shape (D, 0, H): the batch is inferred from the data) -> (T, N, D H), held as
// the logical (N, T, D H) under perm (1, 0, 2); return_sequences=False takes SequenceLast.
// Initial states (Keras initial_state, (N, H)) enter as expand_dims(axis=0) -> (1, N, H); with
// return_state the op has state_outputs=True and each state output k (1, N, H) is read by a
// Reshape(shape=(-3, -2)) -> (N, H), the value of the canonical reference "<layer>:k".
void emit_rnn(Ctx& c, const Node& n, Phys& out) {
  check_mxnet_rnn_expressible(n);
  const int64_t H = n.attrs.at("units").get<int64_t>();
  const bool bidi = n.op == "Bidirectional", lstm = n.attrs.at("cell") == "lstm";
  int data = add_op(c, "transpose", n.name + "_to_time_major", {{"axes", "(1, 0, 2)"}}, {logical(c, n.inputs.at(0), n.name)});
  if (!bidi && n.attrs.value("go_backwards", false)) data = add_op(c, "reverse", n.name + "_reverse", {{"axis", "0"}}, {data});
  const int params = add_var(c, n.name + "_parameters", pack_mxnet_rnn(n), false,
                             {n.name, bidi ? "forward_kernel" : "kernel", "flat fused-RNN vector (MXNet's layout: W_i2h, W_h2h per direction, then b_i2h, b_h2h)"});
  const std::map<std::string, std::string> zeros = {{"shape", tuple({bidi ? 2 : 1, 0, H})}, {"dtype", "float32"}};
  std::vector<int> ins = {data, params};
  const size_t n_states = lstm ? 2 : 1;
  if (n.inputs.size() > 1 && n.inputs.size() != 1 + n_states)
    fail(ErrorKind::Malformed, fmt::format("takes {} initial state(s), got {}", n_states, n.inputs.size() - 1), {}, "layer '" + n.name + "'");
  for (size_t k = 0; k < n_states; ++k) {
    const std::string tag = n.name + "_begin_state_" + std::to_string(k);
    ins.push_back(n.inputs.size() > 1
                      ? add_op(c, "expand_dims", tag, {{"axis", "0"}}, {logical(c, n.inputs[1 + k], n.name)})
                      : add_op(c, "_zeros", tag, zeros, {}));
  }
  const bool states_out = n.attrs.value("return_state", false);
  const int rnn = add_op(c, "RNN", n.name,
                         {{"mode", mxnet_rnn_mode(n)}, {"state_size", std::to_string(H)}, {"num_layers", "1"},
                          {"bidirectional", bidi ? "True" : "False"}, {"p", "0"}, {"state_outputs", states_out ? "True" : "False"}},
                         ins);
  for (size_t k = 1; states_out && k <= n_states; ++k) {
    SymNode r;
    r.op = "Reshape";
    r.name = n.name + (k == 1 ? "_state_h" : "_state_c");
    r.attrs = {{"shape", "(-3, -2)"}};
    r.inputs.push_back(SymEntry{rnn, static_cast<int>(k), 0});
    c.values[make_ref(n.name, static_cast<int>(k))] = Phys{add_node(c, std::move(r)), {}};
  }
  if (n.attrs.value("return_sequences", false)) {
    out = Phys{rnn, {1, 0, 2}};
  } else {
    out.node = add_op(c, "SequenceLast", n.name + "_last", {{"axis", "0"}, {"use_sequence_length", "False"}}, {rnn});
  }
}

// ---- Recurrent layers the fused op cannot express, unrolled into per-step ops ----
// Keras' hard_sigmoid or other gate activations, GRU reset_after=False, other cell activations,
// and the Bidirectional forms the fused op lacks (merge modes, states, last output only) become an
// exact per-time-step graph of MXNet 1.x ops, in the order of ops_rnn.cpp's equations:
//   xw = FullyConnected(x, <dir>_i2h_weight (G u, C), i2h_bias, flatten=False)    (N, T, G u)
//   step t: x_t = Reshape(slice_axis(xw, 1, t, t+1), (0, G u)); hr = FullyConnected(h, h2h_weight)
//   gates = slice_axis(x_t + hr, 1, k u, (k+1) u), activations as Activation / hard_sigmoid, and
//   the cell update with elemwise_mul / elemwise_add / _rminus_scalar.
// Gates keep the Keras order (LSTM i, f, c, o; GRU z, r, h). The zero initial state is
// zeros_like(a slice of x_0); given initial states are used as they are. The sequence length must
// be known (the input shape, or --input-shape).
namespace unroll {

struct Dir {
  std::string prefix;  // weight role prefix: "" or "forward_" / "backward_"
  std::string tag;     // node name part: "" or "_forward" / "_backward"
  bool backwards = false;
  int h0 = -1, c0 = -1;  // given initial states, or -1
};

struct Result {
  std::vector<int> by_step;  // h in processing order
  int h = -1, c = -1;        // final states
};

int act(Ctx& c, const Node& layer, const std::string& name, const std::string& a, int node) {
  Node fake;
  fake.name = name;
  if (layer.attrs.contains("hard_sigmoid_slope")) fake.attrs["hard_sigmoid_slope"] = layer.attrs["hard_sigmoid_slope"];
  emit_activation(c, fake, a, node);
  return node;
}

int slice(Ctx& c, const std::string& name, int node, int axis, int64_t begin, int64_t end) {
  return add_op(c, "slice_axis", name, {{"axis", std::to_string(axis)}, {"begin", std::to_string(begin)}, {"end", std::to_string(end)}},
                {node});
}

int binary(Ctx& c, const std::string& op, const std::string& name, int a, int b) { return add_op(c, op, name, {}, {a, b}); }

// The LSTM update from the pre-activations z (gates i, f, c, o of u channels on axis 1).
void lstm_step(Ctx& c, const Node& n, const std::string& p, int z, int64_t u, int& h, int& cs) {
  const std::string a = n.attrs.value("activation", "tanh"), ra = n.attrs.value("recurrent_activation", "sigmoid");
  auto gate = [&](int k, const std::string& g) { return slice(c, p + "_" + g + "_slice", z, 1, k * u, (k + 1) * u); };
  const int i = act(c, n, p + "_i", ra, gate(0, "i"));
  const int f = act(c, n, p + "_f", ra, gate(1, "f"));
  const int g = act(c, n, p + "_g", a, gate(2, "g"));
  const int o = act(c, n, p + "_o", ra, gate(3, "o"));
  cs = binary(c, "elemwise_add", p + "_c", binary(c, "elemwise_mul", p + "_fc", f, cs), binary(c, "elemwise_mul", p + "_ig", i, g));
  h = binary(c, "elemwise_mul", p + "_h", o, act(c, n, p + "_c", a, cs));
}

Result run(Ctx& c, const Node& n, const Dir& d, int x, int64_t T) {
  const std::string cell = n.attrs.at("cell");
  const int64_t u = n.attrs.at("units").get<int64_t>(), G = gate_count(cell), GU = G * u;
  const std::string a = n.attrs.value("activation", "tanh"), ra = n.attrs.value("recurrent_activation", "sigmoid");
  const bool reset_after = cell == "gru" && n.attrs.value("reset_after", false);
  const bool bias = n.attrs.value("use_bias", true);
  const std::string base = n.name + d.tag;
  auto weight = [&](const std::string& role) -> const Weight& {
    const Weight* w = n.weight(d.prefix + role);
    if (!w) fail(ErrorKind::Mapping, "weight " + d.prefix + role + " is missing", {}, "layer '" + n.name + "'");
    return *w;
  };
  const Tensor& K = weight("kernel").tensor;
  const Tensor R = permuted(weight("recurrent_kernel").tensor, {1, 0});  // (G u, u)
  auto var = [&](const std::string& suffix, const Tensor& t, const std::string& role, const std::string& how) {
    return add_var(c, base + suffix, t, false, {n.name, d.prefix + role, how});
  };
  std::vector<int> fc_in = {x, var("_i2h_weight", permuted(K, {1, 0}), "kernel", "transpose(1, 0)")};
  int h2h_bias = -1;
  if (bias) {
    const Tensor& B = weight("bias").tensor;
    if (reset_after) {
      fc_in.push_back(var("_i2h_bias", reshaped(rows_range(B, 0, 1), {GU}), "bias", "row 0 (input bias)"));
      h2h_bias = var("_h2h_bias", reshaped(rows_range(B, 1, 2), {GU}), "bias", "row 1 (recurrent bias)");
    } else {
      fc_in.push_back(var("_i2h_bias", B, "bias", ""));
    }
  }
  const int xw = add_op(c, "FullyConnected", base + "_i2h",
                        {{"num_hidden", std::to_string(GU)}, {"no_bias", bias ? "False" : "True"}, {"flatten", "False"}}, fc_in);
  // GRU reset_after=False: the candidate's recurrent term is (r h) R_h, a matmul of its own.
  const bool split = cell == "gru" && !reset_after;
  const int h2h_w = split ? var("_h2h_weight", rows_range(R, 0, 2 * u), "recurrent_kernel", "transpose(1, 0), rows [0, 2u) (z, r)")
                          : var("_h2h_weight", R, "recurrent_kernel", "transpose(1, 0)");
  const int cand_w = split ? var("_h2h_candidate_weight", rows_range(R, 2 * u, 3 * u), "recurrent_kernel",
                                 "transpose(1, 0), rows [2u, 3u) (h)")
                           : -1;
  Result r;
  int h = d.h0, cs = d.c0;
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = d.backwards ? T - 1 - s : s;
    const std::string p = fmt::format("{}_t{}", base, s);
    const int xt = add_op(c, "Reshape", p + "_x", {{"shape", tuple({0, GU})}}, {slice(c, p + "_x_slice", xw, 1, t, t + 1)});
    if (h < 0) h = add_op(c, "zeros_like", base + "_h0", {}, {slice(c, base + "_h0_slice", xt, 1, 0, u)});
    if (cell == "lstm" && cs < 0) cs = add_op(c, "zeros_like", base + "_c0", {}, {slice(c, base + "_c0_slice", xt, 1, 0, u)});
    const int64_t hr_units = split ? 2 * u : GU;
    std::vector<int> hr_in = {h, h2h_w};
    if (h2h_bias >= 0) hr_in.push_back(h2h_bias);
    const int hr = add_op(c, "FullyConnected", p + "_h2h",
                          {{"num_hidden", std::to_string(hr_units)}, {"no_bias", h2h_bias >= 0 ? "False" : "True"}, {"flatten", "True"}},
                          hr_in);
    auto gate = [&](int from, int k, const std::string& g) { return slice(c, p + "_" + g + "_slice", from, 1, k * u, (k + 1) * u); };
    if (cell == "simple") {
      h = act(c, n, p + "_h", a, binary(c, "elemwise_add", p + "_pre", xt, hr));
    } else if (cell == "lstm") {
      lstm_step(c, n, p, binary(c, "elemwise_add", p + "_pre", xt, hr), u, h, cs);
    } else {  // gru
      const int z = act(c, n, p + "_z", ra, binary(c, "elemwise_add", p + "_z_pre", gate(xt, 0, "xz"), gate(hr, 0, "hz")));
      const int rg = act(c, n, p + "_r", ra, binary(c, "elemwise_add", p + "_r_pre", gate(xt, 1, "xr"), gate(hr, 1, "hr")));
      const int rec = split ? add_op(c, "FullyConnected", p + "_rh_h2h", {{"num_hidden", std::to_string(u)}, {"no_bias", "True"}, {"flatten", "True"}},
                                     {binary(c, "elemwise_mul", p + "_rh", rg, h), cand_w})
                            : binary(c, "elemwise_mul", p + "_r_hh", rg, gate(hr, 2, "hh"));
      const int cand = act(c, n, p + "_cand", a, binary(c, "elemwise_add", p + "_cand_pre", gate(xt, 2, "xh"), rec));
      const int keep = binary(c, "elemwise_mul", p + "_zh", z, h);
      const int one_minus = add_op(c, "_rminus_scalar", p + "_1mz", {{"scalar", "1"}}, {z});
      h = binary(c, "elemwise_add", p + "_h", keep, binary(c, "elemwise_mul", p + "_zcand", one_minus, cand));
    }
    r.by_step.push_back(h);
  }
  r.h = h;
  r.c = cs;
  return r;
}

// Steps (N, step...) stacked on a new time axis: (N, T, step...).
int stack(Ctx& c, const std::string& name, const std::vector<int>& steps, const std::vector<int64_t>& step) {
  std::vector<int64_t> shape = {0, 1};
  shape.insert(shape.end(), step.begin(), step.end());
  std::vector<int> ins;
  for (size_t k = 0; k < steps.size(); ++k)
    ins.push_back(add_op(c, "Reshape", fmt::format("{}_step{}", name, k), {{"shape", tuple(shape)}}, {steps[k]}));
  if (ins.size() == 1) return ins[0];
  return add_op(c, "Concat", name, {{"dim", "1"}, {"num_args", std::to_string(ins.size())}}, ins);
}

// The layer's output from the directions' results (sequences stacked in `held` order, of one
// step's physical shape `step`); a Bidirectional concatenates on physical axis `concat_dim`.
// return_state publishes the final states, held under `state_perm`.
void finish(Ctx& c, const Node& n, const std::vector<Result>& res, const std::vector<int64_t>& step, int concat_dim,
            const std::vector<int>& state_perm, Phys& out) {
  const bool bidi = n.op == "Bidirectional", seq = n.attrs.value("return_sequences", false);
  // Keras returns a layer's sequence in processing order; Bidirectional reverses its backward
  // half's (giving time order, or reversed time order when the forward half has go_backwards).
  std::vector<int> halves;
  for (size_t k = 0; k < res.size(); ++k) {
    const std::string name = bidi ? n.name + (k == 0 ? "_forward" : "_backward") + "_sequence" : n.name;
    const std::vector<int> order = k == 1 ? std::vector<int>(res[k].by_step.rbegin(), res[k].by_step.rend()) : res[k].by_step;
    halves.push_back(seq ? stack(c, name, order, step) : res[k].h);
  }
  if (!bidi) {
    out.node = halves[0];
    if (!seq) out.node = add_op(c, "identity", n.name, {}, {out.node});
  } else {
    const std::string mode = n.attrs.value("merge_mode", "concat");
    if (mode == "concat")
      out.node = add_op(c, "Concat", n.name, {{"dim", std::to_string(concat_dim)}, {"num_args", "2"}}, halves);
    else if (mode == "sum")
      out.node = binary(c, "elemwise_add", n.name, halves[0], halves[1]);
    else if (mode == "mul")
      out.node = binary(c, "elemwise_mul", n.name, halves[0], halves[1]);
    else if (mode == "ave")
      out.node = add_op(c, "_div_scalar", n.name, {{"scalar", "2"}},
                        {add_op(c, "ElementWiseSum", n.name + "_sum", {{"num_args", "2"}}, halves)});
    else
      fail(ErrorKind::Unsupported, "Bidirectional merge_mode '" + mode + "'", {}, "layer '" + n.name + "'");
  }
  if (n.attrs.value("return_state", false)) {
    int k = 1;
    for (const auto& r : res) {
      c.values[make_ref(n.name, k++)] = Phys{r.h, state_perm};
      if (r.c >= 0) c.values[make_ref(n.name, k++)] = Phys{r.c, state_perm};
    }
  }
}

// ConvLSTM: the same unrolling with convolutions, every value held channels-first. Per step t
//   x_t = Reshape(slice_axis(x, 1, t, t+1), (0, C, spatial...))       x held (N, T, C, spatial...)
//   z = Convolution(x_t, <dir>_i2h_weight, i2h_bias; the layer's strides, dilation, padding)
//       + Convolution(h, <dir>_h2h_weight; stride 1, 'same', undilated, no bias)
// then the LSTM update on channel slices of z. Kernels (k..., in, 4f) become MXNet's (4f, in, k...).
// Keras 'same' that pads more after than before (even kernels, strides) is MXNet's symmetric pad
// then a slice "<conv>_crop" of the outputs Keras computes, as emit_conv_like does for 1-D.
struct ConvWindow {
  std::vector<int64_t> k, s, d, pad, crop, len;  // crop empty: no slice
};

ConvWindow conv_window(const std::vector<int64_t>& x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> d,
                       bool same) {
  const size_t r = k.size();
  ConvWindow w{k, s, d, std::vector<int64_t>(r, 0), {}, std::vector<int64_t>(r, 0)};
  bool symmetric = true;
  std::vector<int64_t> before(r, 0), after(r, 0);
  for (size_t i = 0; i < r; ++i) {
    if (same) std::tie(before[i], after[i]) = same_padding(x[i], k[i], s[i], d[i]);
    w.len[i] = (x[i] + before[i] + after[i] - (d[i] * (k[i] - 1) + 1)) / s[i] + 1;
    symmetric = symmetric && before[i] == after[i];
  }
  if (symmetric) {
    w.pad = before;
    return w;
  }
  w.crop.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    const int64_t m = after[i] > before[i] ? (after[i] - before[i] + s[i] - 1) / s[i] : 0;
    w.pad[i] = before[i] + m * s[i];
    w.crop[i] = m;
  }
  return w;
}

int conv(Ctx& c, const std::string& name, int in, const ConvWindow& w, int64_t filters, int weight, int bias) {
  std::vector<int> ins = {in, weight};
  if (bias >= 0) ins.push_back(bias);
  int node = add_op(c, "Convolution", name,
                    {{"kernel", tuple(w.k)}, {"stride", tuple(w.s)}, {"dilate", tuple(w.d)}, {"pad", tuple(w.pad)},
                     {"num_filter", std::to_string(filters)}, {"num_group", "1"}, {"no_bias", bias >= 0 ? "False" : "True"}},
                    ins);
  if (w.crop.empty()) return node;
  std::string b = "(None, None", e = "(None, None";
  for (size_t i = 0; i < w.crop.size(); ++i) b += ", " + std::to_string(w.crop[i]), e += ", " + std::to_string(w.crop[i] + w.len[i]);
  return add_op(c, "slice", name + "_crop", {{"begin", b + ")"}, {"end", e + ")"}}, {node});
}

Result run_conv(Ctx& c, const Node& n, const Dir& d, int x, int64_t T, const std::vector<int64_t>& in_map,
                const ConvWindow& wi, const ConvWindow& wr) {
  const int64_t f = n.attrs.at("units").get<int64_t>();
  const size_t r = wi.k.size();
  const std::string base = n.name + d.tag;
  auto weight = [&](const std::string& role) -> const Weight& {
    const Weight* w = n.weight(d.prefix + role);
    if (!w) fail(ErrorKind::Mapping, "weight " + d.prefix + role + " is missing", {}, "layer '" + n.name + "'");
    return *w;
  };
  std::vector<int> to_oihw = {static_cast<int>(r + 1), static_cast<int>(r)};
  for (size_t i = 0; i < r; ++i) to_oihw.push_back(static_cast<int>(i));
  auto var = [&](const std::string& suffix, const Tensor& t, const std::string& role, const std::string& how) {
    return add_var(c, base + suffix, t, false, {n.name, d.prefix + role, how});
  };
  const int wx = var("_i2h_weight", permuted(weight("kernel").tensor, to_oihw), "kernel", "transpose" + perm_str(to_oihw));
  const int bx = n.attrs.value("use_bias", true) ? var("_i2h_bias", weight("bias").tensor, "bias", "") : -1;
  const int wh = var("_h2h_weight", permuted(weight("recurrent_kernel").tensor, to_oihw), "recurrent_kernel", "transpose" + perm_str(to_oihw));
  Result res;
  int h = d.h0, cs = d.c0;
  std::vector<int64_t> frame = {0};
  frame.insert(frame.end(), in_map.begin(), in_map.end());
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = d.backwards ? T - 1 - s : s;
    const std::string p = fmt::format("{}_t{}", base, s);
    const int xt = add_op(c, "Reshape", p + "_x", {{"shape", tuple(frame)}}, {slice(c, p + "_x_slice", x, 1, t, t + 1)});
    const int zx = conv(c, p + "_i2h", xt, wi, 4 * f, wx, bx);
    if (h < 0) h = add_op(c, "zeros_like", base + "_h0", {}, {slice(c, base + "_h0_slice", zx, 1, 0, f)});
    if (cs < 0) cs = add_op(c, "zeros_like", base + "_c0", {}, {slice(c, base + "_c0_slice", zx, 1, 0, f)});
    const int zh = conv(c, p + "_h2h", h, wr, 4 * f, wh, -1);
    lstm_step(c, n, p, binary(c, "elemwise_add", p + "_pre", zx, zh), f, h, cs);
    res.by_step.push_back(h);
  }
  res.h = h;
  res.c = cs;
  return res;
}

}  // namespace unroll

// ConvLSTM1D/2D/3D (also in a Bidirectional) as per-step Convolution ops (unroll::run_conv). The
// input is moved to (N, T, C, spatial...); outputs are held channels-first, so a channels_last
// layer's logical (N, [T,] spatial..., f) is held under a perm. Keras' Bidirectional concatenates
// on the logical last axis: the channels (channels_last) or the last spatial axis (channels_first).
void emit_convlstm_unrolled(Ctx& c, const Node& n, Phys& out) {
  const size_t r = n.attrs.at("rank").get<size_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const std::string cls = fmt::format("ConvLSTM{}D", r);
  const Shape in = c.shapes.count(n.inputs.at(0)) ? c.shapes.at(n.inputs[0]) : Shape{};
  const auto step = in.size() == r + 2 ? rnn_state_shape(n, in) : std::nullopt;
  bool known = step.has_value();
  for (size_t i = 0; known && i < in.size(); ++i) known = in[i] >= 1;
  for (size_t i = 0; known && i < step->size(); ++i) known = (*step)[i] >= 1;
  if (!known)
    fail(ErrorKind::Unsupported,
         fmt::format("{} is exported to MXNet as per-step Convolution ops, which needs a known sequence length and "
                     "feature-map size; the input shape {} is not (give{}, the sizes the MXNet model will take)",
                     cls, in.empty() ? std::string("(unknown)") : shape_str(in), input_shape_args(c.m, n)),
         {}, "layer '" + n.name + "'");
  const int64_t T = in[0], f = n.attrs.at("units").get<int64_t>();
  std::vector<int64_t> in_map, x_sp, out_sp;  // physical (C, spatial...) of a frame; spatial sizes in / out
  in_map.push_back(cf ? in[1] : in.back());
  for (size_t i = 0; i < r; ++i) {
    x_sp.push_back(in[cf ? i + 2 : i + 1]);
    out_sp.push_back((*step)[cf ? i + 1 : i]);
    in_map.push_back(x_sp.back());
  }
  const bool bidi = n.op == "Bidirectional", seq = n.attrs.value("return_sequences", false);
  const size_t S = 2;
  if (n.inputs.size() != 1 && n.inputs.size() != 1 + S * (bidi ? 2 : 1))
    fail(ErrorKind::Malformed, fmt::format("takes {} initial state(s), got {}", S * (bidi ? 2 : 1), n.inputs.size() - 1), {},
         "layer '" + n.name + "'");
  const auto vec = [&](const char* key) { return n.attrs.at(key).get<std::vector<int64_t>>(); };
  const unroll::ConvWindow wi = unroll::conv_window(x_sp, vec("kernel_size"), vec("strides"), vec("dilation"),
                                                    n.attrs.value("padding", "valid") == "same");
  const unroll::ConvWindow wr = unroll::conv_window(out_sp, vec("kernel_size"), std::vector<int64_t>(r, 1), std::vector<int64_t>(r, 1), true);
  for (size_t i = 0; i < r; ++i)
    if (wi.len[i] != out_sp[i] || wr.len[i] != out_sp[i])
      fail(ErrorKind::Malformed, "the convolution windows do not give the layer's output map size", {}, "layer '" + n.name + "'");
  const int x = held_as(c, n.inputs[0], n.name, channels_first_perm(r + 3, cf, 2));
  const std::vector<int> state_perm = channels_first_perm(r + 2, cf);
  const bool back = n.attrs.value("go_backwards", false);
  auto dir = [&](const std::string& prefix, const std::string& tag, bool backwards, size_t first_state) {
    unroll::Dir d{prefix, tag, backwards, -1, -1};
    if (n.inputs.size() > 1) {
      d.h0 = held_as(c, n.inputs[first_state], n.name, state_perm);
      d.c0 = held_as(c, n.inputs[first_state + 1], n.name, state_perm);
    }
    return d;
  };
  std::vector<unroll::Result> res;
  if (bidi) {
    res.push_back(unroll::run_conv(c, n, dir("forward_", "_forward", back, 1), x, T, in_map, wi, wr));
    res.push_back(unroll::run_conv(c, n, dir("backward_", "_backward", !back, 1 + S), x, T, in_map, wi, wr));
  } else {
    res.push_back(unroll::run_conv(c, n, dir("", "", back, 1), x, T, in_map, wi, wr));
  }
  std::vector<int64_t> step_phys = {f};
  step_phys.insert(step_phys.end(), out_sp.begin(), out_sp.end());
  const std::vector<int> held = seq ? channels_first_perm(r + 3, cf, 2) : state_perm;
  int concat_dim = 0;  // the physical axis holding the logical last axis
  for (size_t i = 0; i < held.size(); ++i)
    if (held[i] == static_cast<int>(held.size() - 1)) concat_dim = static_cast<int>(i);
  unroll::finish(c, n, res, step_phys, concat_dim, state_perm, out);
  out.perm = held;
}

void emit_rnn_unrolled(Ctx& c, const Node& n, Phys& out) {
  const std::string cell = n.attrs.at("cell");
  if (cell == "convlstm") return emit_convlstm_unrolled(c, n, out);
  const Shape& in = c.shapes.count(n.inputs.at(0)) ? c.shapes.at(n.inputs[0]) : Shape{};
  if (in.size() != 2 || in[0] < 1)
    fail(ErrorKind::Unsupported,
         "MXNet's fused RNN op cannot express this layer, and unrolling it into per-step ops needs a known sequence "
         "length; the input's time axis is unknown (give" + input_shape_args(c.m, n) + ", T the sequence length the MXNet "
         "model will take)",
         {}, "layer '" + n.name + "'");
  // Each step is some 20 symbol nodes; longer sequences would make a symbol no one can load.
  constexpr int64_t kMaxSteps = 4096;
  if (in[0] > kMaxSteps)
    fail(ErrorKind::Unsupported,
         fmt::format("MXNet's fused RNN op cannot express this layer, and unrolling it into per-step ops is limited to {} "
                     "steps (the sequence has {})", kMaxSteps, in[0]),
         {}, "layer '" + n.name + "'");
  const int64_t T = in[0], u = n.attrs.at("units").get<int64_t>();
  const bool bidi = n.op == "Bidirectional", lstm = cell == "lstm";
  const size_t S = lstm ? 2 : 1;
  if (n.inputs.size() != 1 && n.inputs.size() != 1 + S * (bidi ? 2 : 1))
    fail(ErrorKind::Malformed, fmt::format("takes {} initial state(s), got {}", S * (bidi ? 2 : 1), n.inputs.size() - 1), {},
         "layer '" + n.name + "'");
  const int x = logical(c, n.inputs[0], n.name);
  const bool back = n.attrs.value("go_backwards", false), seq = n.attrs.value("return_sequences", false);
  auto dir = [&](const std::string& prefix, const std::string& tag, bool backwards, size_t first_state) {
    unroll::Dir d{prefix, tag, backwards, -1, -1};
    if (n.inputs.size() > 1) {
      d.h0 = logical(c, n.inputs[first_state], n.name);
      if (lstm) d.c0 = logical(c, n.inputs[first_state + 1], n.name);
    }
    return d;
  };
  std::vector<unroll::Result> res;
  if (bidi) {
    res.push_back(unroll::run(c, n, dir("forward_", "_forward", back, 1), x, T));
    res.push_back(unroll::run(c, n, dir("backward_", "_backward", !back, 1 + S), x, T));
  } else {
    res.push_back(unroll::run(c, n, dir("", "", back, 1), x, T));
  }
  unroll::finish(c, n, res, {u}, seq ? 2 : 1, {}, out);
}

void emit(Ctx& c, const Node& n) {
  if (emit_family(c, n)) return;
  Phys out;
  const std::string& op = n.op;
  if (op == "Input") {
    SymNode v;
    v.op = "null";
    v.name = n.attrs.value("mxnet_name", c.m.nodes.size() > 0 && std::count_if(c.m.nodes.begin(), c.m.nodes.end(), [](const Node& x) { return x.op == "Input"; }) == 1 ? std::string("data") : n.name);
    auto shape = n.attrs.at("shape").get<std::vector<int64_t>>();
    shape.insert(shape.begin(), 0);
    for (auto& d : shape) d = d < 0 ? 0 : d;
    v.attrs["__shape__"] = tuple(shape);
    if (c.compute && *c.compute != DType::F32) v.attrs["__dtype__"] = std::to_string(dtype_info(*c.compute).mxnet_flag);
    const int idx = add_node(c, std::move(v));
    c.sym.arg_nodes.push_back(idx);
    out.node = idx;
  } else if (op == "Conv" || op == "Pool") {
    emit_conv_like(c, n, out);
  } else if (is_rnn_op(op)) {
    if (!mxnet_rnn_gap(n)) emit_rnn(c, n, out);
    else emit_rnn_unrolled(c, n, out);
  } else if (op == "GlobalPool") {
    const size_t r = n.attrs.at("rank").get<size_t>();
    std::vector<int> perm;
    const int in = channels_first(c, n.inputs[0], n.name, r + 2, n.attrs.value("data_format", "channels_last") == "channels_first", perm);
    const int pool = add_op(c, "Pooling", n.name, {{"global_pool", "True"}, {"kernel", tuple(std::vector<int64_t>(r, 1))},
                                                   {"pool_type", n.attrs.at("pool_type")}}, {in});
    out.node = add_op(c, "Flatten", n.name + "_flatten", {}, {pool});
  } else if (op == "Dense") {
    const size_t rank = rank_of(c, n.inputs[0]);
    const int in = logical(c, n.inputs[0], n.name);
    const bool bias = n.attrs.value("use_bias", true);
    const int w = add_var(c, n.name + "_weight", permuted(n.weight("kernel")->tensor, {1, 0}), false,
                          {n.name, "kernel", "transpose(1, 0)"});
    std::vector<int> ins = {in, w};
    if (bias) ins.push_back(add_var(c, n.name + "_bias", n.weight("bias")->tensor, false, {n.name, "bias", ""}));
    out.node = add_op(c, "FullyConnected", n.name,
                      {{"num_hidden", std::to_string(n.attrs.at("units").get<int64_t>())}, {"no_bias", bias ? "False" : "True"},
                       {"flatten", rank > 2 ? "False" : "True"}}, ins);
    emit_activation(c, n, n.attrs.value("activation", "linear"), out.node);
  } else if (op == "BatchNorm") {
    Phys& p = c.values.at(n.inputs[0]);
    const size_t rank = rank_of(c, n.inputs[0]);
    int64_t axis = n.attrs.value("axis", int64_t{-1});
    if (axis < 0) axis += static_cast<int64_t>(rank);
    int64_t phys_axis = axis;
    if (!p.perm.empty())
      for (size_t i = 0; i < p.perm.size(); ++i)
        if (p.perm[i] == axis) phys_axis = static_cast<int64_t>(i);
    // MXNet's BatchNorm parameters are float32 under float16/bfloat16/float32 data, float64 under float64.
    const DType acc = c.compute == DType::F64 ? DType::F64 : DType::F32;
    auto in_acc = [&](const Tensor& t, const char* role) {
      if (!c.compute || t.dtype == acc) return t;
      Tensor widened = cast(t, acc);
      if (cast_report(t, widened).changed)
        fail(ErrorKind::Unsupported, std::string("the ") + role + " is " + dtype_name(t.dtype) + ", and MXNet's BatchNorm over " +
                                         dtype_name(*c.compute) + " data takes " + dtype_name(acc) + " parameters: give --dtype",
             {}, "layer '" + n.name + "'");
      return widened;
    };
    auto tensor_or = [&](const char* role, double v) {
      const Weight* w = n.weight(role);
      const Weight* mean = n.weight("moving_mean");
      return in_acc(w ? w->tensor : filled(role, mean->tensor.dtype, mean->tensor.shape, v), role);
    };
    const std::string acc_note = c.compute && acc == DType::F32 && *c.compute != DType::F32
                                     ? std::string("cast to float32 (MXNet BatchNorm parameters under ") + dtype_name(*c.compute) + " data)"
                                     : std::string();
    auto filled_note = [&](const char* role) { return n.weight(role) ? acc_note : std::string("created: identity value"); };
    // Keras scale=False / center=False: MXNet's op still takes gamma and beta. They are created
    // with the identity values and frozen (__lr_mult__ 0, so MXNet training keeps them); gamma is
    // also fixed (fix_gamma), the MXNet spelling of "no scale". The importer reads the frozen
    // identity parameters back as absent, so the Keras layer round-trips.
    auto frozen = [&](int var, const char* role) {
      if (!n.weight(role)) c.sym.nodes[static_cast<size_t>(var)].attrs["__lr_mult__"] = "0";
      return var;
    };
    const bool fix_gamma = n.weight("gamma") == nullptr;
    std::vector<int> ins = {p.node, frozen(add_var(c, n.name + "_gamma", tensor_or("gamma", 1.0), false, {n.name, "gamma", filled_note("gamma")}), "gamma"),
                            frozen(add_var(c, n.name + "_beta", tensor_or("beta", 0.0), false, {n.name, "beta", filled_note("beta")}), "beta"),
                            add_var(c, n.name + "_moving_mean", in_acc(n.weight("moving_mean")->tensor, "moving_mean"), true,
                                    {n.name, "moving_mean", acc_note}),
                            add_var(c, n.name + "_moving_var", in_acc(n.weight("moving_variance")->tensor, "moving_variance"), true,
                                    {n.name, "moving_variance", acc_note})};
    out.node = add_op(c, "BatchNorm", n.name,
                      {{"axis", std::to_string(phys_axis)}, {"eps", fmt_float(n.attrs.value("epsilon", 1e-3))},
                       {"momentum", fmt_float(n.attrs.value("momentum", 0.99))}, {"fix_gamma", fix_gamma ? "True" : "False"},
                       {"use_global_stats", "True"}},
                      ins, {0, 0, 0, 1, 1});
    out.perm = p.perm;
  } else if (op == "Activation" || op == "LeakyReLU" || op == "Dropout") {
    Phys& p = c.values.at(n.inputs[0]);
    int node = p.node;
    out.perm = p.perm;
    if (op == "Dropout") {
      node = add_op(c, "Dropout", n.name, {{"p", fmt_float(n.attrs.value("rate", 0.0))}}, {node});
    } else if (op == "LeakyReLU") {
      node = add_op(c, "LeakyReLU", n.name, {{"act_type", "leaky"}, {"slope", fmt_float(n.attrs.value("alpha", 0.3))}}, {node});
    } else if (n.attrs.value("activation", "") == "softmax") {
      node = logical(c, n.inputs[0], n.name);
      out.perm.clear();
      node = add_op(c, "softmax", n.name, {{"axis", std::to_string(n.attrs.value("axis", -1))}}, {node});
    } else {
      const int before = node;
      emit_activation(c, n, n.attrs.value("activation", "linear"), node);
      if (node == before) node = add_op(c, "identity", n.name, {}, {node});
    }
    out.node = node;
  } else if (op == "Flatten") {
    int in = logical(c, n.inputs[0], n.name);
    if (n.attrs.value("channels_last_first", false)) {
      const size_t rank = rank_of(c, n.inputs[0]);
      std::vector<int64_t> axes = {0};
      for (size_t i = 2; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
      axes.push_back(1);
      in = add_op(c, "transpose", n.name + "_channels_last", {{"axes", tuple(axes)}}, {in});
    }
    out.node = add_op(c, "Flatten", n.name, {}, {in});
  } else if (op == "Permute") {
    std::vector<int64_t> axes = {0};
    for (const auto& d : n.attrs.at("dims")) axes.push_back(d.get<int64_t>());
    out.node = add_op(c, "transpose", n.name, {{"axes", tuple(axes)}}, {logical(c, n.inputs[0], n.name)});
  } else if (op == "Reshape") {
    auto t = n.attrs.at("target_shape").get<std::vector<int64_t>>();
    t.insert(t.begin(), 0);
    out.node = add_op(c, "Reshape", n.name, {{"shape", tuple(t)}}, {logical(c, n.inputs[0], n.name)});
  } else if (op == "Multiply" || op == "Subtract" || op == "Maximum" || op == "Minimum" || op == "Average") {
    static const std::map<std::string, std::string> kBinary = {
        {"Multiply", "elemwise_mul"}, {"Subtract", "elemwise_sub"}, {"Maximum", "_maximum"}, {"Minimum", "_minimum"}};
    std::vector<int> ins;
    for (const auto& i : n.inputs) ins.push_back(logical(c, i, n.name));
    if (op == "Average") {
      const int sum = add_op(c, "ElementWiseSum", n.name + "_sum", {{"num_args", std::to_string(ins.size())}}, ins);
      out.node = add_op(c, "_div_scalar", n.name, {{"scalar", std::to_string(ins.size())}}, {sum});
    } else {
      int acc = ins.at(0);
      for (size_t k = 1; k < ins.size(); ++k)
        acc = add_op(c, kBinary.at(op), k + 1 == ins.size() ? n.name : n.name + "_" + std::to_string(k), {}, {acc, ins[k]});
      out.node = acc;
    }
  } else if (op == "Attention" || op == "MatMul") {
    // dot for rank-2 tensors (the batch axis is one of the two), batch_dot for rank 3.
    const size_t rank = rank_of(c, n.inputs.at(0));
    if (rank != 2 && rank != 3)
      fail(ErrorKind::Unsupported, fmt::format("{} of rank-{} tensors has no MXNet dot form here", op, rank), {}, "layer '" + n.name + "'");
    const std::string dot = rank == 2 ? "dot" : "batch_dot";
    const int q = logical(c, n.inputs[0], n.name), v = logical(c, n.inputs.at(1), n.name);
    if (op == "MatMul") {
      const Weight* w = n.weight("scale");
      out.node = add_op(c, dot, w ? n.name + "_product" : n.name,
                        {{"transpose_a", n.attrs.value("transpose_a", false) ? "True" : "False"},
                         {"transpose_b", n.attrs.value("transpose_b", false) ? "True" : "False"}}, {q, v});
      if (w)
        out.node = add_op(c, "broadcast_mul", n.name, {},
                          {out.node, add_var(c, n.name + "_scale", reshaped(w->tensor, {1}), false, {n.name, "scale", "reshape to (1,)"})});
    } else {
      const int k = n.inputs.size() > 2 ? logical(c, n.inputs[2], n.name) : v;
      int scores = add_op(c, dot, n.name + "_scores", {{"transpose_b", "True"}}, {q, k});
      if (n.attrs.value("use_scale", false)) {  // Keras' scalar scale (shape ()) as a (1,) variable, broadcast
        const Weight* w = n.weight("scale");
        if (!w) fail(ErrorKind::Malformed, "Attention with use_scale has no scale weight", {}, "layer '" + n.name + "'");
        const int sv = add_var(c, n.name + "_scale", reshaped(w->tensor, {1}), false, {n.name, "scale", "reshape to (1,)"});
        scores = add_op(c, "broadcast_mul", n.name + "_scaled_scores", {}, {scores, sv});
      }
      const int weights = add_op(c, "softmax", n.name + "_weights", {{"axis", "-1"}}, {scores});
      out.node = add_op(c, dot, n.name, {}, {weights, v});
    }
  } else if (op == "SliceAxis") {
    out.node = add_op(c, "slice_axis", n.name, {{"axis", std::to_string(n.attrs.at("axis").get<int64_t>())},
                                                {"begin", std::to_string(n.attrs.at("begin").get<int64_t>())},
                                                {"end", std::to_string(n.attrs.at("end").get<int64_t>())}},
                      {logical(c, n.inputs.at(0), n.name)});
  } else if (op == "Scalar" && n.attrs.value("fn", "") == "zero") {
    const Phys& p = c.values.at(n.inputs.at(0));
    out.node = add_op(c, "zeros_like", n.name, {}, {p.node});
    out.perm = p.perm;
  } else if (op == "Scalar") {
    static const std::map<std::string, std::string> kScalar = {
        {"mul", "_mul_scalar"}, {"div", "_div_scalar"}, {"add", "_plus_scalar"}, {"sub", "_minus_scalar"}, {"rsub", "_rminus_scalar"}};
    const Phys& p = c.values.at(n.inputs.at(0));
    out.node = add_op(c, kScalar.at(n.attrs.value("fn", "mul")), n.name, {{"scalar", fmt_float(n.attrs.value("scalar", 0.0))}}, {p.node});
    out.perm = p.perm;
  } else if (op == "Add" || op == "Concat") {
    std::vector<int> ins;
    for (const auto& i : n.inputs) ins.push_back(logical(c, i, n.name));
    if (op == "Add") {
      out.node = add_op(c, "ElementWiseSum", n.name, {{"num_args", std::to_string(ins.size())}}, ins);
    } else {
      int64_t axis = n.attrs.value("axis", int64_t{-1});
      if (axis < 0) axis += static_cast<int64_t>(rank_of(c, n.inputs[0]));
      out.node = add_op(c, "Concat", n.name, {{"dim", std::to_string(axis)}, {"num_args", std::to_string(ins.size())}}, ins);
    }
  } else if (op == "ZeroPadding") {
    const size_t r = n.attrs.at("rank").get<size_t>();
    if (r != 2 && r != 3) fail(ErrorKind::Unsupported, "ZeroPadding of rank " + std::to_string(r) + " has no MXNet Pad equivalent", {}, "layer '" + n.name + "'");
    std::vector<int> perm;
    const int in = channels_first(c, n.inputs[0], n.name, r + 2, n.attrs.value("data_format", "channels_last") == "channels_first", perm);
    std::vector<int64_t> pw = {0, 0, 0, 0};
    for (const auto& p : n.attrs.at("padding")) { pw.push_back(p[0]); pw.push_back(p[1]); }
    out.node = add_op(c, "Pad", n.name, {{"mode", "constant"}, {"constant_value", "0"}, {"pad_width", tuple(pw)}}, {in});
    out.perm = perm;
  } else if (op == "Embedding") {
    const Weight* w = n.weight("embeddings");
    const int wv = add_var(c, n.name + "_weight", w->tensor, false, {n.name, "embeddings", ""});
    out.node = add_op(c, "Embedding", n.name, {{"input_dim", std::to_string(w->tensor.shape.at(0))},
                                               {"output_dim", std::to_string(w->tensor.shape.at(1))}},
                      {logical(c, n.inputs[0], n.name), wv});
  } else {
    fail(ErrorKind::Unsupported, "layer kind " + op + " cannot be exported to MXNet yet", {}, "layer '" + n.name + "'");
  }
  c.values[n.name] = out;
}

}  // namespace

MxnetExport export_mxnet(const Model& m) {
  Ctx c{m, infer_shapes(m), {}, {}, {}, {}, compute_dtype(m)};
  c.sym.dialect = "attrs";
  c.sym.mxnet_version = 10300;
  for (const auto& n : m.nodes) emit(c, n);
  for (const auto& o : m.outputs) {
    const int node = logical(c, o, o);
    c.sym.heads.push_back(SymEntry{node, 0, 0});
  }
  return MxnetExport{std::move(c.sym), std::move(c.params), std::move(c.origins)};
}

}  // namespace wb
