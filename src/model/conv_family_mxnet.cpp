// Convolution family <-> MXNet 1.x symbol (conv_family.h).
//
//   ConvTranspose  Deconvolution, weight (in, filters, k...); Keras geometry expressed with pad
//                  (dropped before and after) and adj (added back after). When Keras drops more
//                  after than before ('same' with an odd total), no pad/adj pair fits: the
//                  Deconvolution writes the full result and a slice "<name>_crop" cuts it.
//   DepthwiseConv  Convolution num_group = channels, weight (in*mult, 1, k...).
//   SeparableConv  Convolution "<name>_depthwise" (as above, no bias) + 1x1 Convolution "<name>";
//                  the importer recognises the pair by these names.
//   PReLU          LeakyReLU act_type=prelu, gamma (C,) on physical axis 1: only when alpha varies
//                  over one axis (the channels) or none.
//   LayerNorm      LayerNorm over one axis (MXNet normalises a single axis), eps always written.
//   GroupNorm      InstanceNorm when groups == channels; else GroupNorm with the 1.x per-group
//                  gamma (num_groups,), so only when gamma and beta are constant within each group.
//   Cropping       slice; UpSampling (nearest) one repeat per scaled axis ("<name>_up<i>" ... "<name>").
#include <fmt/format.h>

#include <set>

#include "model/conv_family.h"
#include "model/transforms.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {
namespace {

using mxnet::SymNode;

[[noreturn]] void refuse(const std::string& layer, const std::string& what) {
  fail(ErrorKind::Unsupported, what, {}, "layer '" + layer + "'");
}

std::string tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

std::vector<int64_t> ints(const json& j) { return j.get<std::vector<int64_t>>(); }

// Physical position of logical axis `a` in a value held with `perm` (empty = identity).
size_t physical_axis(const std::vector<int>& perm, size_t a) {
  for (size_t j = 0; j < perm.size(); ++j)
    if (perm[j] == static_cast<int>(a)) return j;
  return a;
}

const Shape& shape_or_refuse(const MxExportApi& api, const std::string& producer, const std::string& layer) {
  auto it = api.shapes.find(producer);
  if (it == api.shapes.end()) refuse(layer, "the input shape is unknown (give --input-shape)");
  return it->second;
}

// A depthwise kernel (k..., C, mult) as a grouped Conv node's kernel (k..., 1, C*mult).
Node grouped_conv(const Node& n, const std::string& name, const Weight& dk, bool with_bias) {
  const auto r = n.attrs.at("rank").get<size_t>();
  const int64_t c = dk.tensor.shape.at(r), mult = dk.tensor.shape.at(r + 1);
  Node g;
  g.name = name;
  g.op = "Conv";
  g.inputs = n.inputs;
  g.attrs = n.attrs;
  g.attrs["groups"] = c;
  g.attrs["filters"] = c * mult;
  g.attrs["use_bias"] = with_bias;
  if (!with_bias) g.attrs["activation"] = "linear";
  Shape ks(dk.tensor.shape.begin(), dk.tensor.shape.begin() + static_cast<long>(r));
  ks.push_back(1);
  ks.push_back(c * mult);
  g.weights.push_back(Weight{"kernel", reshaped(dk.tensor, ks), dk.source, "", {}});
  if (with_bias && n.weight("bias")) g.weights.push_back(*n.weight("bias"));
  return g;
}

void export_separable(const Node& n, MxExportApi& api) {
  const auto r = n.attrs.at("rank").get<size_t>();
  Node dw = grouped_conv(n, n.name + "_depthwise", *n.weight("depthwise_kernel"), false);
  Shape mid = api.shapes.at(n.name);
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  mid[cf ? 0 : r] = dw.attrs["filters"].get<int64_t>();
  api.emit_conv(dw, mid);
  Node pw;
  pw.name = n.name;
  pw.op = "Conv";
  pw.inputs = {dw.name};
  pw.attrs = n.attrs;
  pw.attrs.update({{"kernel_size", Shape(r, 1)}, {"strides", Shape(r, 1)}, {"dilation", Shape(r, 1)},
                   {"padding", "valid"}, {"groups", 1}});
  pw.weights.push_back(Weight{"kernel", n.weight("pointwise_kernel")->tensor, "", "", {}});
  if (n.weight("bias")) pw.weights.push_back(*n.weight("bias"));
  api.emit_conv(pw, api.shapes.at(n.name));
}

void export_transpose(const Node& n, MxExportApi& api) {
  const auto r = n.attrs.at("rank").get<size_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const Shape& in = shape_or_refuse(api, n.inputs.at(0), n.name);
  const auto k = ints(n.attrs.at("kernel_size")), s = ints(n.attrs.at("strides")), d = ints(n.attrs.at("dilation"));
  const json op = n.attrs.value("output_padding", json());
  std::vector<int64_t> pad(r), adj(r), cb(r), out(r), full_adj(r);
  bool fits = true;
  for (size_t i = 0; i < r; ++i) {
    const int64_t L = in[cf ? i + 1 : i], full = (L - 1) * s[i] + d[i] * (k[i] - 1) + 1;
    const auto t = conv_transpose_axis(L, k[i], s[i], d[i], n.attrs.value("padding", "valid"),
                                       op.is_null() ? std::nullopt : std::optional<int64_t>(op[i].get<int64_t>()));
    const int64_t ca = full - t.out - t.crop_before;
    cb[i] = t.crop_before, out[i] = t.out, pad[i] = t.crop_before, adj[i] = t.crop_before - ca;
    fits = fits && ca <= t.crop_before && adj[i] < s[i];
    full_adj[i] = std::max<int64_t>(t.crop_before + t.out - full, 0);  // fallback: output beyond the full result
    if (full_adj[i] >= s[i]) refuse(n.name, "output_padding larger than the stride");
  }
  std::vector<int> perm;
  const int x = api.channels_first(n.inputs[0], r + 2, cf, perm);
  std::vector<int> to_mx = {static_cast<int>(r + 1), static_cast<int>(r)};
  for (size_t i = 0; i < r; ++i) to_mx.push_back(static_cast<int>(i));
  const Weight* kw = n.weight("kernel");
  std::vector<int> ins = {x, api.var(n.name + "_weight", permuted(kw->tensor, to_mx), "kernel", "transpose" + perm_str(to_mx))};
  const bool bias = n.attrs.value("use_bias", true);
  if (bias) ins.push_back(api.var(n.name + "_bias", n.weight("bias")->tensor, "bias", ""));
  int node = api.op("Deconvolution", n.name,
                    {{"kernel", tuple(k)}, {"stride", tuple(s)}, {"dilate", tuple(d)},
                     {"pad", tuple(fits ? pad : std::vector<int64_t>(r, 0))}, {"adj", tuple(fits ? adj : full_adj)},
                     {"num_filter", std::to_string(n.attrs.at("filters").get<int64_t>())}, {"num_group", "1"},
                     {"no_bias", bias ? "False" : "True"}},
                    ins);
  if (!fits) {
    std::vector<std::string> b = {"None", "None"}, e = {"None", "None"};
    for (size_t i = 0; i < r; ++i) b.push_back(std::to_string(cb[i])), e.push_back(std::to_string(cb[i] + out[i]));
    auto join = [](const std::vector<std::string>& v) {
      std::string t = "(";
      for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + v[i];
      return t + ")";
    };
    node = api.op("slice", n.name + "_crop", {{"begin", join(b)}, {"end", join(e)}}, {node});
  }
  api.activation(n, node);
  api.set_value(n.name, node, perm);
}

void export_prelu(const Node& n, MxExportApi& api) {
  const Weight* alpha = n.weight("alpha");
  const Shape& as = alpha->tensor.shape;
  std::vector<size_t> varying;
  for (size_t i = 0; i < as.size(); ++i)
    if (as[i] != 1) varying.push_back(i + 1);
  if (varying.size() > 1)
    refuse(n.name, "PReLU alpha " + shape_str(as) + " varies over more than the channel axis; MXNet prelu's gamma is "
                   "per channel (set shared_axes to every spatial axis)");
  int node = 0;
  std::vector<int> perm = api.held(n.inputs.at(0), node);
  const int64_t c = varying.empty() ? 1 : as[varying[0] - 1];
  if (!varying.empty() && physical_axis(perm, varying[0]) != 1) {
    if (varying[0] != as.size()) refuse(n.name, "PReLU alpha varies over an axis that is neither first nor last");
    node = api.channels_first(n.inputs[0], as.size() + 1, false, perm);
  }
  const int g = api.var(n.name + "_alpha", reshaped(alpha->tensor, {c}), "alpha", "reshape to (C,)");
  api.set_value(n.name, api.op("LeakyReLU", n.name, {{"act_type", "prelu"}}, {node, g}), perm);
}

Tensor weight_or(const Node& n, const char* role, const Shape& shape, double v) {
  const Weight* w = n.weight(role);
  return w ? w->tensor : filled(role, DType::F32, shape, v);
}

void export_layer_norm(const Node& n, MxExportApi& api) {
  const auto& axes = n.attrs.at("axis");
  const Shape& in = shape_or_refuse(api, n.inputs.at(0), n.name);
  if (axes.size() != 1) refuse(n.name, "LayerNormalization over several axes " + axes.dump() + " (MXNet LayerNorm takes one)");
  int64_t a = axes[0].get<int64_t>();
  if (a < 0) a += static_cast<int64_t>(in.size() + 1);
  int node = 0;
  const std::vector<int> perm = api.held(n.inputs[0], node);
  const Shape ps = {in.at(static_cast<size_t>(a - 1))};
  const int g = api.var(n.name + "_gamma", weight_or(n, "gamma", ps, 1.0), "gamma", n.weight("gamma") ? "" : "created: ones");
  const int b = api.var(n.name + "_beta", weight_or(n, "beta", ps, 0.0), "beta", n.weight("beta") ? "" : "created: zeros");
  api.set_value(n.name, api.op("LayerNorm", n.name, {{"axis", std::to_string(physical_axis(perm, static_cast<size_t>(a)))},
                                                     {"eps", fmt::format("{}", n.attrs.value("epsilon", 1e-3))}},
                               {node, g, b}),
                perm);
}

// Per-group values of a per-channel tensor, or nullopt when a group's values differ.
std::optional<Tensor> per_group(const Tensor& t, int64_t groups) {
  const auto v = to_f64(t.load(), t.dtype);
  const size_t per = v.size() / static_cast<size_t>(groups);
  std::vector<double> g;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % per == 0) g.push_back(v[i]);
    else if (v[i] != g.back()) return std::nullopt;
  }
  // The values came from this dtype, so the float32 round trip through cast is exact for f16/f32.
  return cast(make_f32(t.name, {groups}, std::vector<float>(g.begin(), g.end())), t.dtype);
}

void export_group_norm(const Node& n, MxExportApi& api) {
  const Shape& in = shape_or_refuse(api, n.inputs.at(0), n.name);
  int64_t a = n.attrs.value("axis", int64_t{-1});
  if (a < 0) a += static_cast<int64_t>(in.size() + 1);
  if (a != 1 && a != static_cast<int64_t>(in.size())) refuse(n.name, "GroupNorm over a middle axis");
  const int64_t c = in.at(static_cast<size_t>(a - 1)), groups = n.attrs.at("groups").get<int64_t>();
  std::vector<int> perm;
  const int x = api.channels_first(n.inputs[0], in.size() + 1, a == 1, perm);
  Tensor gamma = weight_or(n, "gamma", {c}, 1.0), beta = weight_or(n, "beta", {c}, 0.0);
  const std::string eps = fmt::format("{}", n.attrs.value("epsilon", 1e-3));
  int node;
  if (groups == c) {
    node = api.op("InstanceNorm", n.name, {{"eps", eps}},
                  {x, api.var(n.name + "_gamma", gamma, "gamma", ""), api.var(n.name + "_beta", beta, "beta", "")});
  } else {
    auto gg = per_group(gamma, groups), gb = per_group(beta, groups);
    if (!gg || !gb)
      refuse(n.name, "GroupNorm gamma/beta differ within a group: MXNet 1.x GroupNorm has one value per group "
                     "(per-channel affine needs MXNet 2.0, which this exporter does not write)");
    node = api.op("GroupNorm", n.name, {{"num_groups", std::to_string(groups)}, {"eps", eps}},
                  {x, api.var(n.name + "_gamma", *gg, "gamma", "one value per group (MXNet 1.x)"),
                   api.var(n.name + "_beta", *gb, "beta", "one value per group (MXNet 1.x)")});
  }
  api.set_value(n.name, node, perm);
}

void export_cropping(const Node& n, MxExportApi& api) {
  const Shape& in = shape_or_refuse(api, n.inputs.at(0), n.name);
  const auto r = n.attrs.at("rank").get<size_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  int node = 0;
  const std::vector<int> perm = api.held(n.inputs[0], node);
  std::vector<std::string> b(in.size() + 1, "None"), e(in.size() + 1, "None");
  for (size_t i = 0; i < r; ++i) {
    const size_t a = cf ? i + 2 : i + 1, j = physical_axis(perm, a);
    const int64_t before = n.attrs["cropping"][i][0], after = n.attrs["cropping"][i][1];
    b[j] = std::to_string(before);
    e[j] = std::to_string(in[a - 1] - after);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string t = "(";
    for (size_t i = 0; i < v.size(); ++i) t += (i ? ", " : "") + v[i];
    return t + ")";
  };
  api.set_value(n.name, api.op("slice", n.name, {{"begin", join(b)}, {"end", join(e)}}, {node}), perm);
}

void export_upsampling(const Node& n, MxExportApi& api) {
  const auto r = n.attrs.at("rank").get<size_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const auto size = ints(n.attrs.at("size"));
  int node = 0;
  const std::vector<int> perm = api.held(n.inputs.at(0), node);
  std::vector<size_t> scaled;
  for (size_t i = 0; i < r; ++i)
    if (size[i] != 1) scaled.push_back(i);
  if (scaled.empty()) node = api.op("identity", n.name, {}, {node});
  for (size_t k = 0; k < scaled.size(); ++k) {
    const size_t i = scaled[k], j = physical_axis(perm, cf ? i + 2 : i + 1);
    const std::string name = k + 1 == scaled.size() ? n.name : n.name + "_up" + std::to_string(k);
    node = api.op("repeat", name, {{"repeats", std::to_string(size[i])}, {"axis", std::to_string(j)}}, {node});
  }
  api.set_value(n.name, node, perm);
}

}  // namespace

bool convfam_export_mxnet(const Node& n, MxExportApi& api) {
  if (n.op == "DepthwiseConv") api.emit_conv(grouped_conv(n, n.name, *n.weight("depthwise_kernel"), n.attrs.value("use_bias", true)), api.shapes.at(n.name));
  else if (n.op == "SeparableConv") export_separable(n, api);
  else if (n.op == "ConvTranspose") export_transpose(n, api);
  else if (n.op == "PReLU") export_prelu(n, api);
  else if (n.op == "LayerNorm") export_layer_norm(n, api);
  else if (n.op == "GroupNorm") export_group_norm(n, api);
  else if (n.op == "Cropping") export_cropping(n, api);
  else if (n.op == "UpSampling") export_upsampling(n, api);
  else if (n.op == "LocallyConnected")
    fail(ErrorKind::Unsupported,
         fmt::format("LocallyConnected{}D has no MXNet equivalent (MXNet has no locally-connected op and the "
                     "unrolled per-position graph is not implemented)", n.attrs.value("rank", 2)),
         {}, "layer '" + n.name + "'");
  else return false;
  return true;
}

}  // namespace wb
