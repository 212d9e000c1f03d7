// MXNet symbol -> convolution family (conv_family.h; the mapping is described in
// conv_family_mxnet.cpp). Deconvolution's no_bias defaults to True when absent.
#include <fmt/format.h>

#include <map>

#include <algorithm>
#include <set>

#include "model/conv_family.h"
#include "model/transforms.h"
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

[[noreturn]] void refuse(const SymNode& n, const std::string& what) {
  fail(ErrorKind::Unsupported, what, {}, "node '" + n.name + "' (" + n.op + ")");
}



bool channels_last_held_first(const std::vector<int>& p) {
  const size_t r = p.size();
  if (r < 3 || p[0] != 0 || p[1] != static_cast<int>(r - 1)) return false;
  for (size_t i = 2; i < r; ++i)
    if (p[i] != static_cast<int>(i - 1)) return false;
  return true;
}

int logical_of(const std::vector<int>& perm, size_t j) { return perm.empty() ? static_cast<int>(j) : perm.at(j); }

// Keras (padding, output_padding) giving the wanted per-axis (crop_before, out), or nullopt.
std::optional<std::pair<std::string, json>> keras_form(const Shape& L, const Shape& k, const Shape& s, const Shape& d,
                                                       const Shape& cb, const Shape& out) {
  for (const std::string pad : {"valid", "same"}) {
    for (bool with_op : {false, true}) {
      json op = with_op ? json::array() : json();
      bool ok = true;
      for (size_t i = 0; ok && i < L.size(); ++i) {
        std::optional<int64_t> o;
        if (with_op) {
          const int64_t dk = d[i] * (k[i] - 1) + 1;
          o = out[i] - ((L[i] - 1) * s[i] + dk - 2 * (pad == "same" ? dk / 2 : 0));
          ok = *o >= 0 && *o < s[i];
          op.push_back(*o);
        }
        const auto t = conv_transpose_axis(L[i], k[i], s[i], d[i], pad, o);
        ok = ok && t.out == out[i] && t.crop_before == cb[i];
      }
      if (ok) return std::make_pair(pad, op);
    }
  }
  return std::nullopt;
}

MxHeld deconvolution(const SymNode& n, MxImportApi& api) {
  const Shape k = tuple_attr(n, "kernel", {});
  const size_t r = k.size();
  if (r < 1 || r > 3) refuse(n, "kernel of rank " + std::to_string(r));
  if (parse_int(attr(n, "num_group", "1")) != 1) refuse(n, "grouped Deconvolution has no Keras equivalent");
  const std::string layout = attr(n, "layout", "None");
  if (layout != "None" && layout != "NCW" && layout != "NCHW" && layout != "NCDHW") refuse(n, "layout " + layout);
  const Shape s = tuple_attr(n, "stride", Shape(r, 1)), d = tuple_attr(n, "dilate", Shape(r, 1)),
              pad = tuple_attr(n, "pad", Shape(r, 0)), adj = tuple_attr(n, "adj", Shape(r, 0)),
              target = tuple_attr(n, "target_shape", Shape(r, 0));
  const bool no_bias = parse_bool(attr(n, "no_bias", "True"));  // Deconvolution's default
  const int64_t filters = parse_int(attr(n, "num_filter", "0"));
  const MxHeld v = api.data(0);
  const bool cl = channels_last_held_first(v.perm);
  const std::string input = cl ? v.layer : api.logical_input(0);
  const auto shape = api.shape(input);
  if (!shape || shape->size() != r + 1) refuse(n, "the input shape is unknown (give --input-shape)");
  Shape L, cb, out;
  bool use_target = false;
  for (auto t : target) use_target = use_target || t != 0;
  for (size_t i = 0; i < r; ++i) {
    L.push_back((*shape)[cl ? i : i + 1]);
    const int64_t full = (L[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1;
    int64_t p = pad[i], a = adj[i];
    if (use_target) {  // MXNet InferPad
      const int64_t t = full - target[i];
      a = t % 2, p = (t + 1) / 2;
    }
    cb.push_back(p);
    out.push_back(full - 2 * p + a);
  }
  auto form = keras_form(L, k, s, d, cb, out);
  if (!form) refuse(n, fmt::format("pad {} / adj {} / target_shape {} crop the result in a way Keras "
                                   "Conv{}DTranspose cannot express", shape_str(pad), shape_str(adj), shape_str(target), r));
  Node node;
  node.name = api.name();
  node.op = "ConvTranspose";
  node.inputs = {input};
  node.attrs = {{"rank", r}, {"filters", filters}, {"kernel_size", k}, {"strides", s}, {"dilation", d},
                {"padding", form->first}, {"output_padding", form->second}, {"use_bias", !no_bias},
                {"data_format", cl ? "channels_last" : "channels_first"}, {"activation", "linear"}};
  std::string src;
  Tensor w = api.param(1, "weight", src);
  if (w.shape.size() != r + 2 || w.shape[1] != filters)
    fail(ErrorKind::Mapping, fmt::format("weight {} does not fit num_filter={} (expected (in, filters, k...))",
                                         shape_str(w.shape), filters), {}, "node '" + n.name + "'");
  std::vector<int> perm;
  for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int>(i + 2));
  perm.push_back(1);
  perm.push_back(0);
  node.weights.push_back(Weight{"kernel", permuted(w, perm), src, "transpose" + perm_str(perm), w});
  if (!no_bias) {
    Tensor b = api.param(2, "bias", src);
    node.weights.push_back(Weight{"bias", b, src, "", {}});
  }
  return MxHeld{api.add(std::move(node)).name, cl ? v.perm : std::vector<int>{}};
}

MxHeld prelu(const SymNode& n, MxImportApi& api) {
  const MxHeld v = api.data(0);
  const auto shape = api.shape(v.layer);
  if (!shape) refuse(n, "the input shape is unknown (give --input-shape)");
  std::string src;
  Tensor g = api.param(1, "gamma", src);
  const uint64_t count = checked_numel(g.shape);
  const size_t ch = static_cast<size_t>(logical_of(v.perm, 1));  // logical axis held at physical 1
  Shape as(shape->size(), 1);
  json shared = json::array();
  for (size_t i = 1; i <= shape->size(); ++i) {
    if (count != 1 && i == ch) as[i - 1] = (*shape)[i - 1];
    else shared.push_back(i);
  }
  if (count != 1 && static_cast<int64_t>(count) != as[ch - 1])
    fail(ErrorKind::Mapping, "prelu gamma " + shape_str(g.shape) + " does not fit the channels", {}, "node '" + n.name + "'");
  Node node;
  node.name = api.name();
  node.op = "PReLU";
  node.inputs = {v.layer};
  node.attrs = {{"shared_axes", shared}};
  node.weights.push_back(Weight{"alpha", reshaped(g, as), src, "reshape to " + shape_str(as), g});
  return MxHeld{api.add(std::move(node)).name, v.perm};
}

MxHeld norm(const SymNode& n, MxImportApi& api) {
  const MxHeld v = api.data(0);
  const auto shape = api.shape(v.layer);
  if (!shape) refuse(n, "the input shape is unknown (give --input-shape)");
  const int64_t rank = static_cast<int64_t>(shape->size()) + 1;
  Node node;
  node.name = api.name();
  node.inputs = {v.layer};
  std::string gs, bs;
  Tensor gamma = api.param(1, "gamma", gs), beta = api.param(2, "beta", bs);
  int64_t axis = n.op == "LayerNorm" ? parse_int(attr(n, "axis", "-1")) : 1;
  if (axis < 0) axis += rank;
  int64_t logical = logical_of(v.perm, static_cast<size_t>(axis));
  const int64_t keras_axis = logical == rank - 1 ? -1 : logical;
  const int64_t c = (*shape)[static_cast<size_t>(logical - 1)];
  const double eps = parse_float(attr(n, "eps", n.op == "InstanceNorm" ? "0.001" : "1e-5"));
  node.attrs = {{"epsilon", eps}, {"center", true}, {"scale", true}};
  if (n.op == "LayerNorm") {
    node.op = "LayerNorm";
    node.attrs["axis"] = json::array({keras_axis});
  } else {
    int64_t groups = n.op == "InstanceNorm" ? c : parse_int(attr(n, "num_groups", "1"));
    node.op = "GroupNorm";
    node.attrs["groups"] = groups;
    node.attrs["axis"] = keras_axis;
    // MXNet 1.x GroupNorm: gamma/beta (num_groups,) per group; 2.0: (C,) per channel.
    if (checked_numel(gamma.shape) == static_cast<uint64_t>(groups) && groups != c) {
      auto expand = [&](const Tensor& t) {
        auto vals = to_f32(t.load(), t.dtype);
        std::vector<float> e;
        for (int64_t i = 0; i < c; ++i) e.push_back(vals[static_cast<size_t>(i / (c / groups))]);
        return cast(make_f32(t.name, {c}, e), t.dtype);
      };
      gamma = expand(gamma), beta = expand(beta);
      api.note("node " + n.name + ": GroupNorm gamma/beta have one value per group (MXNet 1.x); repeated per channel");
    }
  }
  node.weights.push_back(Weight{"gamma", reshaped(gamma, {c}), gs, "", {}});
  node.weights.push_back(Weight{"beta", reshaped(beta, {c}), bs, "", {}});
  return MxHeld{api.add(std::move(node)).name, v.perm};
}

// slice of spatial axes -> Cropping in whichever data format leaves batch and channels alone.
MxHeld crop(const SymNode& n, MxImportApi& api) {
  const MxHeld v = api.data(0);
  const auto shape = api.shape(v.layer);
  if (!shape) refuse(n, "the input shape is unknown (give --input-shape)");
  const size_t rank = shape->size() + 1;
  auto b = mxnet::parse_optional_tuple(attr(n, "begin", "()")), e = mxnet::parse_optional_tuple(attr(n, "end", "()"));
  if (b.size() != e.size() || b.size() > rank) refuse(n, "begin/end do not fit the input rank");
  std::vector<int64_t> before(rank, 0), after(rank, 0);
  for (size_t j = 0; j < b.size(); ++j) {
    const size_t a = static_cast<size_t>(logical_of(v.perm, j));
    const int64_t len = a == 0 ? 0 : (*shape)[a - 1];
    int64_t lo = b[j].value_or(0), hi = e[j].value_or(len);
    if (lo < 0) lo += len;
    if (hi < 0) hi += len;
    if (a == 0 && (b[j] || e[j])) refuse(n, "slice of the batch axis");
    if (a == 0) continue;
    before[a] = lo, after[a] = len - hi;
    if (lo < 0 || hi > len || hi <= lo) refuse(n, "slice bounds outside the input");
  }
  const bool last_free = before[rank - 1] == 0 && after[rank - 1] == 0;
  const bool first_free = before[1] == 0 && after[1] == 0;
  if (!last_free && !first_free) refuse(n, "slice of both the first and the last non-batch axis");
  const bool cl = last_free && (channels_last_held_first(v.perm) || !first_free || v.perm.empty());
  json c = json::array();
  for (size_t a = cl ? 1 : 2; a < (cl ? rank - 1 : rank); ++a) c.push_back({before[a], after[a]});
  Node node;
  node.name = api.name();
  node.op = "Cropping";
  node.inputs = {v.layer};
  node.attrs = {{"rank", rank - 2}, {"cropping", c}, {"data_format", cl ? "channels_last" : "channels_first"}};
  return MxHeld{api.add(std::move(node)).name, v.perm};
}

MxHeld upsample(const SymNode& n, MxImportApi& api) {
  const MxHeld v = api.data(0);
  const auto shape = api.shape(v.layer);
  if (!shape) refuse(n, "the input shape is unknown (give --input-shape)");
  const size_t rank = shape->size() + 1;
  if (rank < 3) refuse(n, "upsampling needs a feature-map input");
  Shape size(rank - 2, 1);
  bool cl = channels_last_held_first(v.perm);
  if (n.op == "repeat") {
    int64_t axis = parse_int(attr(n, "axis", "None"));
    if (axis < 0) axis += static_cast<int64_t>(rank);
    const int64_t a = logical_of(v.perm, static_cast<size_t>(axis));
    if (a < 1) refuse(n, "repeat of the batch axis");
    cl = a <= static_cast<int64_t>(rank - 2);
    size[static_cast<size_t>(cl ? a - 1 : a - 2)] = parse_int(attr(n, "repeats", "1"));
  } else {
    if (attr(n, "sample_type", "nearest") != "nearest") refuse(n, "bilinear UpSampling is not supported");
    if (parse_int(attr(n, "num_args", "1")) != 1) refuse(n, "UpSampling of several inputs");
    if (!cl && !v.perm.empty()) refuse(n, "input held in an unexpected axis order");
    size.assign(rank - 2, parse_int(attr(n, "scale", "1")));
  }
  Node node;
  node.name = api.name();
  node.op = "UpSampling";
  node.inputs = {v.layer};
  node.attrs = {{"rank", rank - 2}, {"size", size}, {"interpolation", "nearest"},
                {"data_format", cl ? "channels_last" : "channels_first"}};
  return MxHeld{api.add(std::move(node)).name, v.perm};
}

}  // namespace

std::string convfam_padding_through_crop(const mxnet::Symbol& sym, size_t idx, const Shape& in, const Shape& k,
                                         const Shape& s, const Shape& d, const Shape& pad, bool causal_ok, int& crop) {
  const size_t r = k.size();
  int user = -1, users = 0;
  for (size_t j = 0; j < sym.nodes.size(); ++j)
    for (const auto& e : sym.nodes[j].inputs)
      if (e.node == static_cast<int>(idx)) ++users, user = static_cast<int>(j);
  for (const auto& h : sym.heads) users += h.node == static_cast<int>(idx);
  if (users != 1 || user < 0 || in.size() != r || s.size() != r || d.size() != r || pad.size() != r) return "";
  const SymNode& sl = sym.nodes[static_cast<size_t>(user)];
  if (sl.op != "slice" || sl.inputs.size() != 1 || sl.inputs[0].index != 0) return "";
  for (const auto& st : mxnet::parse_optional_tuple(attr(sl, "step", "()")))
    if (st && *st != 1) return "";
  const auto b = mxnet::parse_optional_tuple(attr(sl, "begin", "()")), e = mxnet::parse_optional_tuple(attr(sl, "end", "()"));
  if (b.size() != e.size() || b.size() > r + 2) return "";
  for (size_t j = 0; j < std::min<size_t>(b.size(), 2); ++j)  // batch and channels (physical N, C, ...) whole
    if ((b[j] && *b[j] != 0) || e[j]) return "";
  for (const std::string padding : {"same", "causal"}) {
    if (padding == "causal" && (!causal_ok || r != 1)) continue;
    bool ok = true;
    for (size_t i = 0; ok && i < r; ++i) {
      const int64_t dk = d[i] * (k[i] - 1) + 1, mx_out = (in[i] + 2 * pad[i] - dk) / s[i] + 1;
      const int64_t before = padding == "same" ? same_padding(in[i], k[i], s[i], d[i]).first : dk - 1;
      const int64_t keras_out = (in[i] + s[i] - 1) / s[i];  // both paddings
      int64_t lo = i + 2 < b.size() ? b[i + 2].value_or(0) : 0, hi = i + 2 < e.size() ? e[i + 2].value_or(mx_out) : mx_out;
      if (lo < 0) lo += mx_out;
      if (hi < 0) hi += mx_out;
      hi = std::min(hi, mx_out);
      ok = in[i] >= 0 && lo >= 0 && lo * s[i] - pad[i] == -before && hi - lo == keras_out;
    }
    if (ok) {
      crop = user;
      return padding;
    }
  }
  return "";
}

bool convfam_mxnet_op(const SymNode& n) {
  static const std::set<std::string> k = {"Deconvolution", "LayerNorm", "InstanceNorm", "GroupNorm",
                                          "slice", "repeat", "UpSampling"};
  return k.count(n.op) || (n.op == "LeakyReLU" && attr(n, "act_type", "") == "prelu");
}

MxHeld convfam_import_mxnet(const SymNode& n, MxImportApi& api) {
  if (n.op == "Deconvolution") return deconvolution(n, api);
  if (n.op == "LeakyReLU") return prelu(n, api);
  if (n.op == "slice") return crop(n, api);
  if (n.op == "repeat" || n.op == "UpSampling") return upsample(n, api);
  return norm(n, api);
}

namespace {

size_t consumers(const Model& m, const std::string& name) {
  size_t k = 0;
  for (const auto& n : m.nodes)
    for (const auto& i : n.inputs) k += i == name;
  for (const auto& o : m.outputs) k += o == name;
  return k;
}

// Removes node `gone` (whose only consumer is `keep`), `keep` taking its inputs.
void splice(Model& m, const std::string& gone, Node& keep) {
  const Node* g = m.find(gone);
  keep.inputs = g->inputs;
  const std::string keep_name = keep.name;
  m.nodes.erase(std::find_if(m.nodes.begin(), m.nodes.end(), [&](const Node& x) { return x.name == gone; }));
  (void)keep_name;
}

// Grouped Conv with one input channel per group (and more than one group) -> DepthwiseConv.
void to_depthwise(Node& n) {
  const auto r = n.attrs.at("rank").get<size_t>();
  const Weight* k = n.weight("kernel");
  const int64_t groups = n.attrs.value("groups", int64_t{1});
  if (n.op != "Conv" || groups < 2 || k->tensor.shape.at(r) != 1) return;
  const int64_t filters = n.attrs.at("filters");
  Shape ks(k->tensor.shape.begin(), k->tensor.shape.begin() + static_cast<long>(r));
  ks.push_back(groups);
  ks.push_back(filters / groups);
  Weight w = *k;
  w.role = "depthwise_kernel";
  w.tensor = reshaped(k->tensor, ks);
  w.transform += " + reshape to (k..., in, mult)";
  std::vector<Weight> ws = {w};
  if (n.weight("bias")) ws.push_back(*n.weight("bias"));
  n.weights = ws;
  n.op = "DepthwiseConv";
  n.attrs["depth_multiplier"] = filters / groups;
  n.attrs.erase("groups");
  n.attrs.erase("filters");
}

}  // namespace

void convfam_fold_mxnet(Model& m) {
  for (auto& n : m.nodes)
    if (n.op == "Conv") to_depthwise(n);
  for (bool again = true; again;) {
  again = false;
  // One pass: the producer of each node by name, looked up only for the ops a rule starts from
  // (a long per-step graph has many nodes and few matches).
  std::map<std::string, size_t> index;
  for (size_t k = 0; k < m.nodes.size(); ++k) index.emplace(m.nodes[k].name, k);
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    Node& n = m.nodes[i];
    if (n.inputs.size() != 1 || (n.op != "Conv" && n.op != "Activation" && n.op != "UpSampling")) continue;
    const auto at = index.find(n.inputs[0]);
    if (at == index.end()) continue;
    Node* in = &m.nodes[at->second];
    if (in->op != "DepthwiseConv" && in->op != "ConvTranspose" && in->op != "UpSampling") continue;
    if (consumers(m, in->name) != 1) continue;
    // depthwise "<name>_depthwise" (no bias, linear) + 1x1 Conv "<name>" -> SeparableConv
    if (n.op == "Conv" && in->op == "DepthwiseConv" && in->name == n.name + "_depthwise" &&
        !in->attrs.value("use_bias", true) && in->attrs.value("activation", "linear") == "linear" &&
        n.attrs.value("groups", 1) == 1 && n.attrs["data_format"] == in->attrs["data_format"]) {
      bool pointwise = n.attrs["padding"] == "valid";
      for (auto v : n.attrs["kernel_size"]) pointwise = pointwise && v == 1;
      for (auto v : n.attrs["strides"]) pointwise = pointwise && v == 1;
      if (!pointwise) continue;
      Weight pw = *n.weight("kernel");
      pw.role = "pointwise_kernel";
      std::vector<Weight> ws = {*in->weight("depthwise_kernel"), pw};
      if (n.weight("bias")) ws.push_back(*n.weight("bias"));
      json a = in->attrs;
      a["filters"] = n.attrs["filters"];
      a["use_bias"] = n.attrs["use_bias"];
      a["activation"] = n.attrs["activation"];
      n.op = "SeparableConv";
      n.attrs = a;
      n.weights = ws;
      splice(m, in->name, n);
      again = true;
      break;
    } else if (n.op == "Activation" && in->op == "ConvTranspose" && n.name == in->name + "_" + n.attrs.value("activation", "") &&
               in->attrs.value("activation", "linear") == "linear") {
      // the exporter's activation after a Deconvolution goes back into the layer
      const std::string act = n.attrs.value("activation", ""), name = n.name, keep = in->name;
      Node layer = *in;
      layer.attrs["activation"] = act;
      if (n.attrs.contains("hard_sigmoid_slope")) layer.attrs["hard_sigmoid_slope"] = n.attrs["hard_sigmoid_slope"];
      layer.name = keep;
      *in = layer;
      for (auto& other : m.nodes)
        for (auto& x : other.inputs) if (x == name) x = keep;
      for (auto& o : m.outputs) if (o == name) o = keep;
      m.nodes.erase(m.nodes.begin() + static_cast<long>(i));
      again = true;
      break;
    } else if (n.op == "UpSampling" && in->op == "UpSampling" && in->name.rfind(n.name + "_up", 0) == 0 &&
               in->attrs["data_format"] == n.attrs["data_format"] && in->attrs["rank"] == n.attrs["rank"]) {
      auto a = in->attrs["size"].get<std::vector<int64_t>>(), b = n.attrs["size"].get<std::vector<int64_t>>();
      for (size_t k = 0; k < a.size(); ++k) b[k] *= a[k];
      n.attrs["size"] = b;
      splice(m, in->name, n);
      again = true;
      break;
    }
  }
  }
}

}  // namespace wb
