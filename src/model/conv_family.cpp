// Convolution family: geometry, shapes, Keras import and export (conv_family.h).
#include "model/conv_family.h"

#include <fmt/format.h>

#include <set>

#include "model/transforms.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {

TransposeAxis conv_transpose_axis(int64_t in, int64_t k, int64_t stride, int64_t dilation, const std::string& padding,
                                  std::optional<int64_t> output_padding) {
  const int64_t dk = dilation * (k - 1) + 1;
  const bool same = padding == "same";
  TransposeAxis t;
  // Keras deconv_output_length.
  if (!output_padding) t.out = same ? in * stride : in * stride + std::max<int64_t>(dk - stride, 0);
  else t.out = (in - 1) * stride + dk - 2 * (same ? dk / 2 : 0) + *output_padding;
  // TensorFlow computes the forward convolution's 'same' padding for an input of length out.
  if (same) t.crop_before = std::max<int64_t>((in - 1) * stride + dk - t.out, 0) / 2;
  return t;
}

namespace {

std::vector<int64_t> ints(const json& j) { return j.get<std::vector<int64_t>>(); }

bool channels_first(const Node& n) { return n.attrs.value("data_format", "channels_last") == "channels_first"; }

// Output shape of a windowed op over spatial axes, channels set to `channels`.
std::optional<Shape> spatial_shape(const Node& n, const Shape& in, int64_t channels,
                                   const std::function<int64_t(size_t, int64_t)>& axis_len) {
  const auto r = n.attrs.at("rank").get<size_t>();
  if (in.size() != r + 1) return std::nullopt;
  const bool cf = channels_first(n);
  Shape out = in;
  for (size_t i = 0; i < r; ++i) {
    const size_t ax = cf ? i + 1 : i;
    out[ax] = axis_len(i, in[ax]);
  }
  out[cf ? 0 : r] = channels;
  return out;
}

int64_t conv_len(const Node& n, size_t i, int64_t x) {
  const int64_t k = ints(n.attrs.at("kernel_size"))[i], s = ints(n.attrs.at("strides"))[i],
                d = ints(n.attrs.at("dilation"))[i];
  if (n.attrs.value("padding", "valid") == "same") return (x + s - 1) / s;
  const int64_t dk = d * (k - 1) + 1;
  return x < dk ? 0 : (x - dk) / s + 1;
}

std::optional<int64_t> output_padding_at(const Node& n, size_t i) {
  const json& op = n.attrs.value("output_padding", json());
  if (op.is_null()) return std::nullopt;
  return op.at(i).get<int64_t>();
}

}  // namespace

bool convfam_infer_shape(const Node& n, const std::vector<Shape>& ins, std::optional<Shape>& out) {
  static const std::set<std::string> kOps = {"ConvTranspose", "DepthwiseConv", "SeparableConv", "PReLU",
                                             "LayerNorm", "GroupNorm", "Cropping", "UpSampling",
                                             "LocallyConnected"};
  if (!kOps.count(n.op)) return false;
  if (ins.empty()) return true;
  const Shape& in = ins[0];
  const auto r = n.attrs.value("rank", size_t{0});
  const int64_t c = in.empty() ? 0 : (channels_first(n) ? in.front() : in.back());
  if (n.op == "ConvTranspose") {
    out = spatial_shape(n, in, n.attrs.at("filters").get<int64_t>(), [&](size_t i, int64_t x) {
      return conv_transpose_axis(x, ints(n.attrs.at("kernel_size"))[i], ints(n.attrs.at("strides"))[i],
                                 ints(n.attrs.at("dilation"))[i], n.attrs.value("padding", "valid"),
                                 output_padding_at(n, i)).out;
    });
  } else if (n.op == "DepthwiseConv" || n.op == "SeparableConv") {
    const int64_t ch = n.op == "SeparableConv" ? n.attrs.at("filters").get<int64_t>()
                                               : c * n.attrs.value("depth_multiplier", int64_t{1});
    out = spatial_shape(n, in, ch, [&](size_t i, int64_t x) { return conv_len(n, i, x); });
  } else if (n.op == "Cropping") {
    const auto crop = n.attrs.at("cropping");
    out = spatial_shape(n, in, c, [&](size_t i, int64_t x) {
      return x - crop.at(i).at(0).get<int64_t>() - crop.at(i).at(1).get<int64_t>();
    });
  } else if (n.op == "UpSampling") {
    const auto size = ints(n.attrs.at("size"));
    out = spatial_shape(n, in, c, [&](size_t i, int64_t x) { return x * size.at(i); });
  } else if (n.op == "LocallyConnected") {
    const auto k = ints(n.attrs.at("kernel_size")), s = ints(n.attrs.at("strides"));
    out = spatial_shape(n, in, n.attrs.at("filters").get<int64_t>(), [&](size_t i, int64_t x) {
      return x < 0 ? x : x < k.at(i) ? int64_t{0} : (x - k.at(i)) / s.at(i) + 1;
    });
  } else {
    out = in;  // PReLU, LayerNorm, GroupNorm keep the shape
  }
  (void)r;
  return true;
}

namespace {

[[noreturn]] void refuse(const Node& n, const std::string& what) {
  fail(ErrorKind::Unsupported, what, {}, "layer '" + n.name + "'");
}
[[noreturn]] void mismatch(const Node& n, const std::string& what) {
  fail(ErrorKind::Mapping, what, {}, "layer '" + n.name + "'");
}

std::vector<int64_t> int_list(const json& j, size_t rank) {
  if (j.is_number_integer()) return std::vector<int64_t>(rank, j.get<int64_t>());
  auto v = j.get<std::vector<int64_t>>();
  if (v.size() != rank) fail(ErrorKind::Malformed, "model config: expected " + std::to_string(rank) + " values, got " + j.dump());
  return v;
}

std::string activation_name(const json& cfg) {
  if (!cfg.contains("activation") || cfg["activation"].is_null()) return "linear";
  const json& a = cfg["activation"];
  if (a.is_string()) return a;
  if (a.is_object() && a.contains("config") && a["config"].contains("name")) return a["config"]["name"];
  return a.value("class_name", "linear");
}

// rank from the class name: Conv2DTranspose -> 2, SeparableConv1D -> 1, DepthwiseConv2D -> 2.
int class_rank(const std::string& cls) {
  for (char ch : cls)
    if (ch >= '1' && ch <= '3') return ch - '0';
  return 2;
}

// Binds stored weights to roles, in order; a count mismatch names what was expected.
void bind_roles(Node& n, std::vector<Weight> ws, const std::vector<std::string>& roles) {
  if (ws.size() != roles.size()) {
    std::string want, have;
    for (const auto& r : roles) want += (want.empty() ? "" : ", ") + r;
    for (const auto& w : ws) have += (have.empty() ? "" : ", ") + w.source + " " + shape_str(w.tensor.shape);
    mismatch(n, fmt::format("expects {} weights ({}) but the file has {}: {}", roles.size(), want, ws.size(),
                            have.empty() ? "none" : have));
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    ws[i].role = roles[i];
    n.weights.push_back(std::move(ws[i]));
  }
}

// keras-mxnet channels_first kernels are stored in MXNet order (formats-keras.md 7.2).
void to_keras_layout(Weight& w, const std::vector<int>& perm) {
  w.tensor = permuted(w.tensor, perm);
  w.transform = "transpose" + perm_str(perm);
}

std::vector<int> spatial_then(int r, std::vector<int> tail) {
  std::vector<int> p;
  for (int i = 0; i < r; ++i) p.push_back(i + 2);
  p.insert(p.end(), tail.begin(), tail.end());
  return p;
}

void check_shape(const Node& n, const Weight& w, const Shape& want) {
  if (w.tensor.shape != want)
    mismatch(n, fmt::format("{} {} does not match the config (expected {})", w.role, shape_str(w.tensor.shape),
                            shape_str(want)));
}

json common_conv_attrs(const json& cfg, int rank) {
  const auto r = static_cast<size_t>(rank);
  const std::string padding = cfg.value("padding", std::string("valid"));
  return {{"rank", rank}, {"kernel_size", int_list(cfg.at("kernel_size"), r)},
          {"strides", int_list(cfg.value("strides", json(1)), r)},
          {"dilation", int_list(cfg.value("dilation_rate", json(1)), r)}, {"padding", padding},
          {"use_bias", cfg.value("use_bias", true)},
          {"data_format", cfg.value("data_format", json()).is_string() ? cfg["data_format"].get<std::string>()
                                                                       : std::string("channels_last")},
          {"activation", activation_name(cfg)}};
}

void import_transpose(const json& cfg, bool kmx, Node& n, std::vector<Weight> ws) {
  const int rank = class_rank(n.attrs.value("class", ""));
  n.op = "ConvTranspose";
  n.attrs = common_conv_attrs(cfg, rank);
  const int64_t filters = cfg.at("filters");
  n.attrs["filters"] = filters;
  json op = cfg.value("output_padding", json());
  n.attrs["output_padding"] = op.is_null() ? json() : json(int_list(op, static_cast<size_t>(rank)));
  if (n.attrs["padding"] != "valid" && n.attrs["padding"] != "same") refuse(n, "padding " + n.attrs["padding"].dump());
  bind_roles(n, std::move(ws), n.attrs["use_bias"] ? std::vector<std::string>{"kernel", "bias"} : std::vector<std::string>{"kernel"});
  if (kmx && n.attrs["data_format"] == "channels_first") to_keras_layout(n.weights[0], spatial_then(rank, {1, 0}));
  Shape want = ints(n.attrs["kernel_size"]);
  want.push_back(filters);
  want.push_back(n.weights[0].tensor.shape.back());
  check_shape(n, n.weights[0], want);
}

void import_depthwise(const json& cfg, bool kmx, Node& n, std::vector<Weight> ws, bool separable) {
  const int rank = class_rank(n.attrs.value("class", ""));
  n.op = separable ? "SeparableConv" : "DepthwiseConv";
  n.attrs = common_conv_attrs(cfg, rank);
  const int64_t mult = cfg.value("depth_multiplier", int64_t{1});
  n.attrs["depth_multiplier"] = mult;
  if (separable) n.attrs["filters"] = cfg.at("filters");
  if (n.attrs["padding"] != "valid" && n.attrs["padding"] != "same") refuse(n, "padding " + n.attrs["padding"].dump());
  std::vector<std::string> roles = {"depthwise_kernel"};
  if (separable) roles.push_back("pointwise_kernel");
  if (n.attrs["use_bias"]) roles.push_back("bias");
  bind_roles(n, std::move(ws), roles);
  if (kmx && n.attrs["data_format"] == "channels_first") {
    to_keras_layout(n.weights[0], spatial_then(rank, {0, 1}));
    if (separable) to_keras_layout(n.weights[1], spatial_then(rank, {1, 0}));
  }
  const Shape& dk = n.weights[0].tensor.shape;
  Shape want = ints(n.attrs["kernel_size"]);
  want.push_back(dk.size() == static_cast<size_t>(rank + 2) ? dk[static_cast<size_t>(rank)] : -1);
  want.push_back(mult);
  check_shape(n, n.weights[0], want);
  if (separable) {
    Shape pw(static_cast<size_t>(rank), 1);
    pw.push_back(want[static_cast<size_t>(rank)] * mult);
    pw.push_back(n.attrs["filters"].get<int64_t>());
    check_shape(n, n.weights[1], pw);
  }
}

void import_norm(const std::string& cls, const json& cfg, Node& n, std::vector<Weight> ws) {
  // Keras 3's rms_scaling divides by a root mean square without centring: another computation.
  if (cfg.value("rms_scaling", false)) refuse(n, "LayerNormalization with rms_scaling=True is not supported");
  const bool scale = cfg.value("scale", true), center = cfg.value("center", true);
  n.attrs = {{"epsilon", cfg.value("epsilon", 1e-3)}, {"center", center}, {"scale", scale}};
  if (cls == "LayerNormalization") {
    n.op = "LayerNorm";
    json axis = cfg.value("axis", json(-1));
    n.attrs["axis"] = axis.is_array() ? axis : json::array({axis});
  } else {
    n.op = "GroupNorm";
    n.attrs["groups"] = cfg.value("groups", 32);
    n.attrs["axis"] = cfg.value("axis", -1);
  }
  std::vector<std::string> roles;
  if (scale) roles.push_back("gamma");
  if (center) roles.push_back("beta");
  bind_roles(n, std::move(ws), roles);
}

json pairs(const json& p, int rank) {
  json out = json::array();
  for (int i = 0; i < rank; ++i) {
    const json pi = p.is_number() ? p : (rank == 1 && p.size() == 2 && p[0].is_number() ? p : p[static_cast<size_t>(i)]);
    out.push_back(pi.is_number() ? json::array({pi, pi}) : pi);
  }
  return out;
}

}  // namespace

bool convfam_keras_class(const std::string& cls) {
  static const std::set<std::string> k = {
      "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Deconvolution2D", "DepthwiseConv1D",
      "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "PReLU", "LayerNormalization",
      "GroupNormalization", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"};
  return k.count(cls) > 0;
}

void convfam_import_keras(const std::string& cls, const json& cfg, bool keras_mxnet, Node& n,
                          const std::function<std::vector<Weight>()>& take_weights) {
  n.attrs = {{"class", cls}};
  if (cls == "Deconvolution2D") refuse(n, "Keras 1 Deconvolution2D is not supported (use a Keras 2 file)");
  if (cls.find("Transpose") != std::string::npos) return import_transpose(cfg, keras_mxnet, n, take_weights());
  if (cls.rfind("DepthwiseConv", 0) == 0) return import_depthwise(cfg, keras_mxnet, n, take_weights(), false);
  if (cls.rfind("SeparableConv", 0) == 0) return import_depthwise(cfg, keras_mxnet, n, take_weights(), true);
  if (cls == "LayerNormalization" || cls == "GroupNormalization") return import_norm(cls, cfg, n, take_weights());
  if (cls == "PReLU") {
    n.op = "PReLU";
    json sa = cfg.value("shared_axes", json());
    n.attrs = {{"shared_axes", sa.is_null() ? json::array() : sa.is_array() ? sa : json::array({sa})}};
    bind_roles(n, take_weights(), {"alpha"});
    return;
  }
  const int rank = class_rank(cls);
  const json dfj = cfg.value("data_format", json("channels_last"));
  const std::string df = dfj.is_string() ? dfj.get<std::string>() : std::string("channels_last");
  if (cls.rfind("Cropping", 0) == 0) {
    n.op = "Cropping";
    n.attrs = {{"rank", rank}, {"cropping", pairs(cfg.at("cropping"), rank)}, {"data_format", df}};
  } else {
    const std::string interp = cfg.value("interpolation", std::string("nearest"));
    if (interp != "nearest") refuse(n, "UpSampling interpolation '" + interp + "' is not supported (nearest only)");
    n.op = "UpSampling";
    json size = cfg.contains("size") ? cfg["size"] : cfg.value("length", json(2));
    n.attrs = {{"rank", rank}, {"size", int_list(size, static_cast<size_t>(rank))}, {"interpolation", interp},
               {"data_format", df}};
  }
  auto ws = take_weights();
  if (!ws.empty()) mismatch(n, cls + " has no weights but the file has " + std::to_string(ws.size()));
}

LocallyConnectedShapes locally_connected_shapes(const Node& n, const Shape& in) {
  const auto r = n.attrs.at("rank").get<size_t>();
  const bool cf = channels_first(n);
  const auto k = ints(n.attrs.at("kernel_size")), s = ints(n.attrs.at("strides"));
  const int64_t f = n.attrs.at("filters").get<int64_t>(), impl = n.attrs.value("implementation", int64_t{1});
  if (in.size() != r + 1 || k.size() != r || s.size() != r)
    fail(ErrorKind::Malformed, fmt::format("input of shape {} is not a rank-{} feature map", shape_str(in), r), {},
         "layer '" + n.name + "'");
  const int64_t c = cf ? in.front() : in.back();
  Shape sp(in.begin() + (cf ? 1 : 0), in.begin() + (cf ? 1 : 0) + static_cast<std::ptrdiff_t>(r)), o;
  // Products checked: input dims up to 2^40 would otherwise wrap (a kernel of 0 elements would fit).
  auto product = [&](const Shape& dims) {
    try {
      return static_cast<int64_t>(checked_numel(dims));
    } catch (Error& e) {
      e.add_context("layer '" + n.name + "'");
      throw;
    }
  };
  for (size_t i = 0; i < r; ++i) {
    if (sp[i] < k[i] || s[i] < 1)
      fail(ErrorKind::Malformed, fmt::format("input of shape {} is smaller than the kernel {}", shape_str(in), shape_str(k)),
           {}, "layer '" + n.name + "'");
    o.push_back((sp[i] - k[i]) / s[i] + 1);
  }
  const int64_t p = product(o), a = product(Shape(k.begin(), k.end()));
  LocallyConnectedShapes out;
  out.out = o;
  out.bias = o;
  out.bias.push_back(f);
  if (cf) out.out.insert(out.out.begin(), f);
  else out.out.push_back(f);
  if (impl == 1) {
    out.kernel = {p, product({a, c}), f};
    product(out.kernel);
  } else if (impl == 2) {
    Shape in_part = sp, out_part = o;
    if (cf) {
      in_part.insert(in_part.begin(), c);
      out_part.insert(out_part.begin(), f);
    } else {
      in_part.push_back(c);
      out_part.push_back(f);
    }
    out.kernel = in_part;
    out.kernel.insert(out.kernel.end(), out_part.begin(), out_part.end());
    product(out.kernel);
  } else {
    out.kernel = {product({p, a, c, f})};
  }
  return out;
}

bool locally_connected_keras_class(const std::string& cls) {
  return cls == "LocallyConnected1D" || cls == "LocallyConnected2D";
}

void locally_connected_import_keras(const std::string& cls, const json& cfg, const std::optional<Shape>& in,
                                    bool keras_mxnet, Node& n, const std::function<std::vector<Weight>()>& take_weights) {
  const int rank = class_rank(cls);
  const auto r = static_cast<size_t>(rank);
  n.op = "LocallyConnected";
  // Keras 1: nb_filter, filter_length / nb_row + nb_col, subsample(_length), border_mode, bias, dim_ordering.
  const int64_t filters = cfg.contains("filters") ? cfg.at("filters").get<int64_t>() : cfg.at("nb_filter").get<int64_t>();
  json ks = cfg.contains("kernel_size") ? cfg["kernel_size"]
            : rank == 1                 ? cfg.at("filter_length")
                                        : json::array({cfg.at("nb_row"), cfg.at("nb_col")});
  json st = cfg.contains("strides")            ? cfg["strides"]
            : cfg.contains("subsample")        ? cfg["subsample"]
            : cfg.contains("subsample_length") ? cfg["subsample_length"]
                                               : json(1);
  const std::string padding = cfg.contains("padding") ? cfg["padding"].get<std::string>()
                                                      : cfg.value("border_mode", std::string("valid"));
  std::string df = "channels_last";
  if (cfg.contains("data_format") && cfg["data_format"].is_string()) df = cfg["data_format"];
  else if (cfg.value("dim_ordering", json()) == "th") df = "channels_first";
  const json impl = cfg.value("implementation", json(1));
  n.attrs = {{"rank", rank}, {"filters", filters}, {"kernel_size", int_list(ks, r)}, {"strides", int_list(st, r)},
             {"padding", padding}, {"data_format", df},
             {"use_bias", cfg.contains("use_bias") ? cfg["use_bias"].get<bool>() : cfg.value("bias", true)},
             {"activation", activation_name(cfg)}, {"implementation", impl}};
  constexpr int64_t kMax = int64_t{1} << 24;
  auto in_range = [&](const char* key, int64_t v) {
    if (v < 1 || v > kMax) fail(ErrorKind::Malformed, fmt::format("{} = {} is out of range (1..{})", key, v, kMax), {},
                                "layer '" + n.name + "'");
  };
  in_range("filters", filters);
  for (auto v : ints(n.attrs["kernel_size"])) in_range("kernel_size", v);
  for (auto v : ints(n.attrs["strides"])) in_range("strides", v);
  if (df != "channels_last" && df != "channels_first") refuse(n, cls + " data_format '" + df + "' is not supported");
  if (!impl.is_number_integer() || impl.get<int64_t>() < 1 || impl.get<int64_t>() > 3)
    refuse(n, cls + " implementation " + impl.dump() + " is not supported (tf.keras defines 1, 2 and 3)");
  if (padding != "valid")
    refuse(n, fmt::format("{} padding '{}' (implementation {}) is not supported (only 'valid')", cls, padding, impl.dump()));
  if (keras_mxnet && df == "channels_first")
    refuse(n, cls + " channels_first from keras-mxnet: its kernel and bias layout under the MXNet backend is not confirmed");
  bind_roles(n, take_weights(),
             n.attrs["use_bias"] ? std::vector<std::string>{"kernel", "bias"} : std::vector<std::string>{"kernel"});
  const size_t want_rank = impl == 1 ? 3 : impl == 2 ? 2 * r + 2 : 1;
  if (n.weights[0].tensor.shape.size() != want_rank)
    mismatch(n, fmt::format("kernel {} is not the rank-{} kernel of {} implementation {}",
                            shape_str(n.weights[0].tensor.shape), want_rank, cls, impl.dump()));
  bool known = in && in->size() == r + 1;
  for (size_t i = 0; known && i < in->size(); ++i) known = (*in)[i] > 0;
  if (!known) return;
  const auto want = locally_connected_shapes(n, *in);
  check_shape(n, n.weights[0], want.kernel);
  if (n.attrs["use_bias"]) check_shape(n, n.weights[1], want.bias);
}

std::optional<std::pair<std::string, json>> convfam_keras_config(const Node& n, json cfg) {
  const auto& a = n.attrs;
  auto conv_cfg = [&] {
    cfg.update({{"kernel_size", a.at("kernel_size")}, {"strides", a.at("strides")}, {"padding", a.at("padding")},
                {"data_format", a.at("data_format")}, {"dilation_rate", a.at("dilation")},
                {"activation", a.value("activation", "linear")}, {"use_bias", a.value("use_bias", true)}});
  };
  const std::string rank = std::to_string(a.value("rank", 2));
  if (n.op == "ConvTranspose") {
    conv_cfg();
    cfg["filters"] = a.at("filters");
    cfg["output_padding"] = a.value("output_padding", json());
    return std::make_pair("Conv" + rank + "DTranspose", cfg);
  }
  if (n.op == "DepthwiseConv" || n.op == "SeparableConv") {
    conv_cfg();
    cfg["depth_multiplier"] = a.at("depth_multiplier");
    if (n.op == "SeparableConv") cfg["filters"] = a.at("filters");
    return std::make_pair((n.op == "SeparableConv" ? "SeparableConv" : "DepthwiseConv") + rank + "D", cfg);
  }
  if (n.op == "LocallyConnected") {
    cfg.update({{"filters", a.at("filters")}, {"kernel_size", a.at("kernel_size")}, {"strides", a.at("strides")},
                {"padding", a.at("padding")}, {"data_format", a.at("data_format")},
                {"activation", a.value("activation", "linear")}, {"use_bias", a.value("use_bias", true)},
                {"implementation", a.value("implementation", 1)}});
    return std::make_pair("LocallyConnected" + rank + "D", cfg);
  }
  if (n.op == "PReLU") {
    cfg["shared_axes"] = a.at("shared_axes").empty() ? json() : a.at("shared_axes");
    return std::make_pair(std::string("PReLU"), cfg);
  }
  if (n.op == "LayerNorm" || n.op == "GroupNorm") {
    cfg.update({{"axis", a.at("axis")}, {"epsilon", a.at("epsilon")}, {"center", a.at("center")}, {"scale", a.at("scale")}});
    if (n.op == "LayerNorm") return std::make_pair(std::string("LayerNormalization"), cfg);
    refuse(n, "GroupNormalization exists only in Keras 3 and tf-addons; the Keras 2 writer cannot express it");
  }
  if (n.op == "Cropping") {
    cfg.update({{"cropping", a.at("cropping")}, {"data_format", a.at("data_format")}});
    if (a.at("rank") == 1) {
      require_keras_steps_axis(n, "Cropping1D");
      cfg.erase("data_format");
      cfg["cropping"] = a.at("cropping")[0];  // Cropping1D takes its one (before, after) pair
    }
    return std::make_pair("Cropping" + rank + "D", cfg);
  }
  if (n.op == "UpSampling") {
    cfg.update({{"size", a.at("size")}, {"data_format", a.at("data_format")}});
    if (a.at("rank") == 1) {
      require_keras_steps_axis(n, "UpSampling1D");
      cfg.erase("data_format");
      cfg["size"] = a.at("size")[0];
    }
    if (a.at("rank") == 2) cfg["interpolation"] = "nearest";
    return std::make_pair("UpSampling" + rank + "D", cfg);
  }
  return std::nullopt;
}

void require_keras_steps_axis(const Node& n, const std::string& keras_class) {
  if (n.attrs.value("data_format", std::string("channels_last")) == "channels_first")
    fail(ErrorKind::Unsupported,
         keras_class + " has no data_format (it acts on axis 1 of (batch, steps, features)); this one works on a "
                       "channels_first tensor: convert with --data-format channels_last",
         {}, "layer '" + n.name + "'");
}

}  // namespace wb
