// Keras configs (Keras 1, 2, tf.keras, Keras 3 forms) and weight files -> Model.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cmath>
#include <regex>
#include <set>

#include "model/conv_family.h"
#include "model/rnn_rules.h"
#include "model/transforms.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"

using nlohmann::json;

namespace wb {
namespace {

struct KLayer {
  std::string cls, name;
  json cfg;
  std::vector<std::string> inbound;
  json call_kwargs = json::object();  // keyword arguments of the layer's call (use_causal_mask, mask...)
};

struct KGraph {
  std::vector<KLayer> layers;
  std::vector<std::string> outputs;
  bool sequential = false;
};

[[noreturn]] void bad_config(const std::string& what) { fail(ErrorKind::Malformed, "model config: " + what); }

// Keras 1 class names -> Keras 2.
std::string normalise_class(const std::string& c) {
  static const std::map<std::string, std::string> k1 = {
      {"Convolution1D", "Conv1D"}, {"Convolution2D", "Conv2D"}, {"Convolution3D", "Conv3D"},
      {"AtrousConvolution1D", "Conv1D"}, {"AtrousConvolution2D", "Conv2D"},
      {"Functional", "Model"}};
  auto it = k1.find(c);
  return it == k1.end() ? c : it->second;
}

std::vector<int64_t> int_list(const json& j, size_t rank) {
  if (j.is_number_integer()) return std::vector<int64_t>(rank, j.get<int64_t>());
  if (!j.is_array()) bad_config("expected an integer or a list, got " + j.dump());
  auto v = j.get<std::vector<int64_t>>();
  if (v.size() != rank) bad_config("expected " + std::to_string(rank) + " values, got " + j.dump());
  return v;
}

std::string data_format_of(const json& cfg) {
  if (cfg.contains("data_format") && cfg["data_format"].is_string()) return cfg["data_format"];
  if (cfg.contains("dim_ordering") && cfg["dim_ordering"].is_string()) {
    const std::string d = cfg["dim_ordering"];
    if (d == "th") return "channels_first";
    if (d == "tf") return "channels_last";
  }
  return "channels_last";
}

// Keras 1 spells a layer's data_format as dim_ordering th|tf; every reader of data_format sees it.
void normalise_dim_ordering(json& cfg) {
  if (!cfg.is_object() || cfg.contains("data_format") || !cfg.contains("dim_ordering") || !cfg["dim_ordering"].is_string()) return;
  const std::string d = cfg["dim_ordering"];
  if (d == "th") cfg["data_format"] = "channels_first";
  if (d == "tf") cfg["data_format"] = "channels_last";
}

std::string activation_of(const json& cfg) {
  if (!cfg.contains("activation") || cfg["activation"].is_null()) return "linear";
  const json& a = cfg["activation"];
  if (a.is_string()) return a;
  // Keras 3 may serialise a built-in activation function as {"class_name": "function", "config": "relu", ...}.
  if (a.is_object() && a.value("class_name", json()) == "function" && a.contains("config") && a["config"].is_string())
    return a["config"];
  // A layer object used as the activation (tf.keras Dense(activation=ReLU(max_value=1))): its own
  // config, not its name, says what it computes.
  if (a.is_object() && a.contains("class_name"))
    fail(ErrorKind::Unsupported, "the activation is a " + a["class_name"].dump() + " layer object, which is not supported; "
                                 "only named activation functions are");
  bad_config("unreadable activation " + a.dump());
}

// A producer reference: the layer, or "layer:k" for its output tensor k (return_state states).
std::string tensor_ref(const json& e, size_t tensor_at) {
  int64_t k = 0;
  if (e.is_array() && e.size() > tensor_at && e[tensor_at].is_number_integer()) k = e[tensor_at].get<int64_t>();
  if (k < 0 || k > 64) bad_config("bad tensor index in " + e.dump());
  return make_ref(e[0].get<std::string>(), static_cast<int>(k));
}

// Keyword arguments of a functional layer entry's first call: Keras 1/2 give them as the fourth
// element of each inbound entry, Keras 3 as the call's "kwargs".
json call_kwargs_of(const json& entry) {
  json out = json::object();
  if (!entry.contains("inbound_nodes") || !entry["inbound_nodes"].is_array() || entry["inbound_nodes"].empty()) return out;
  const json& call = entry["inbound_nodes"][0];
  if (call.is_object() && call.contains("kwargs") && call["kwargs"].is_object()) return call["kwargs"];
  if (call.is_array())
    for (const auto& e : call)
      if (e.is_array() && e.size() > 3 && e[3].is_object()) out.update(e[3]);
  return out;
}

// Inbound producers of a functional layer entry (first call only).
std::vector<std::string> inbound_of(const json& entry) {
  std::vector<std::string> out;
  if (!entry.contains("inbound_nodes")) return out;
  const json& nodes = entry["inbound_nodes"];
  if (!nodes.is_array() || nodes.empty()) return out;
  if (nodes.size() > 1)
    fail(ErrorKind::Unsupported, "layer '" + entry.value("name", "?") + "' is called more than once (shared layer)");
  const json& call = nodes[0];
  if (call.is_array()) {  // Keras 1/2: [[name, node, tensor(, kwargs)], ...]
    for (const auto& e : call) {
      if (!e.is_array() || e.empty() || !e[0].is_string()) bad_config("bad inbound entry " + e.dump());
      out.push_back(tensor_ref(e, 2));
    }
    return out;
  }
  if (call.is_object()) {  // Keras 3: {"args": [...], "kwargs": {...}}
    std::function<void(const json&)> walk = [&](const json& j) {
      if (j.is_object() && j.value("class_name", "") == "__keras_tensor__") {
        // Checked access: operator[] on a const json with a missing key is undefined behaviour.
        const json* h = j.contains("config") && j["config"].is_object() && j["config"].contains("keras_history")
                            ? &j["config"]["keras_history"] : nullptr;
        if (!h || !h->is_array() || h->empty() || !(*h)[0].is_string())
          bad_config("__keras_tensor__ without a keras_history [layer name, ...]: " + j.dump());
        out.push_back(tensor_ref(*h, 2));
      } else if (j.is_array()) {
        for (const auto& x : j) walk(x);
      } else if (j.is_object()) {
        for (const auto& [k, v] : j.items()) walk(v);
      }
    };
    if (call.contains("args")) walk(call["args"]);
    // Keyword tensors: initial_state follows the data as the recurrent layer's extra inputs (the
    // order Keras 2 records them in); a tensor under any other keyword (mask=...) is refused.
    if (call.contains("kwargs") && call["kwargs"].is_object())
      for (const auto& [key, v] : call["kwargs"].items()) {
        const size_t before = out.size();
        walk(v);
        if (out.size() != before && key != "initial_state")
          fail(ErrorKind::Unsupported, "a tensor is passed through the call keyword '" + key + "', which is not supported", {},
               "layer '" + entry.value("name", "?") + "'");
      }
    return out;
  }
  bad_config("bad inbound_nodes " + nodes.dump());
}

KGraph parse_graph(const json& root) {
  if (!root.is_object() || !root.contains("class_name") || !root.contains("config"))
    bad_config("expected {\"class_name\", \"config\"} at the top");
  const std::string cls = normalise_class(root["class_name"]);
  const json& cfg = root["config"];
  KGraph g;
  if (cls == "Sequential") {
    g.sequential = true;
    const json& layers = cfg.is_array() ? cfg : cfg.value("layers", json::array());
    if (!layers.is_array() || layers.empty()) bad_config("Sequential without layers");
    std::string prev;
    for (const auto& l : layers) {
      if (!l.is_object() || !l.contains("class_name") || !l.contains("config")) bad_config("bad layer entry");
      KLayer k{normalise_class(l["class_name"]), l["config"].value("name", ""), l["config"], {}};
      if (k.name.empty()) bad_config("layer without a name");
      normalise_dim_ordering(k.cfg);
      if (prev.empty() && k.cls != "InputLayer") {
        // Input described by the first layer's batch_input_shape / batch_shape / input_dim.
        json shape;
        if (k.cfg.contains("batch_input_shape")) shape = k.cfg["batch_input_shape"];
        else if (k.cfg.contains("batch_shape")) shape = k.cfg["batch_shape"];
        else if (k.cfg.contains("input_dim") && !k.cfg["input_dim"].is_null())
          shape = json::array({nullptr, k.cfg["input_dim"]});
        else bad_config("first layer '" + k.name + "' has no input shape");
        json in_cfg = {{"name", k.name + "_input"}, {"batch_input_shape", shape}};
        g.layers.push_back(KLayer{"InputLayer", k.name + "_input", in_cfg, {}});
        prev = k.name + "_input";
      }
      if (!prev.empty()) k.inbound = {prev};
      prev = k.name;
      g.layers.push_back(std::move(k));
    }
    g.outputs = {prev};
    return g;
  }
  if (cls == "Model") {
    for (const auto& l : cfg.at("layers")) {
      KLayer k{normalise_class(l.at("class_name")), l.value("name", ""), l.at("config"), inbound_of(l), call_kwargs_of(l)};
      if (k.name.empty()) k.name = k.cfg.value("name", "");
      normalise_dim_ordering(k.cfg);
      if (k.cls == "Model" || k.cls == "Sequential")
        fail(ErrorKind::Unsupported, "nested model '" + k.name + "' used as a layer is not supported yet");
      g.layers.push_back(std::move(k));
    }
    const json& outs = cfg.at("output_layers");
    if (outs.is_array() && !outs.empty() && outs[0].is_string()) g.outputs.push_back(outs[0]);
    else for (const auto& o : outs) {
      if (!o.is_array() || o.empty() || !o[0].is_string()) bad_config("bad output_layers entry " + o.dump());
      g.outputs.push_back(tensor_ref(o, 2));
    }
    if (g.outputs.empty()) bad_config("output_layers is empty: the model has no outputs");
    return g;
  }
  fail(ErrorKind::Unsupported, "model class '" + cls + "' is not supported");
}

// The dtype a layer config declares: Keras 2's string, or the name inside Keras 3's DTypePolicy
// object ({"class_name": "DTypePolicy", "config": {"name": "float32"}}). A layer that declares
// none has Keras' floatx, float32; a mixed policy ("mixed_float16") keeps float32 variables.
std::string declared_dtype(const json& cfg) {
  const json* d = cfg.is_object() && cfg.contains("dtype") ? &cfg["dtype"] : nullptr;
  if (d && d->is_object() && d->contains("config") && (*d)["config"].is_object() && (*d)["config"].contains("name"))
    d = &(*d)["config"]["name"];
  const std::string name = d && d->is_string() ? d->get<std::string>() : "float32";
  return name.rfind("mixed_", 0) == 0 ? "float32" : name;
}

// Config keys whose numbers are counts, sizes or axes. nlohmann reads 17.5 as the integer 17, so
// a fraction under one of these keys is refused here rather than truncated into a wrong model.
bool integer_key(const std::string& k) {
  static const std::set<std::string> keys = {
      "units", "filters", "kernel_size", "strides", "dilation_rate", "pool_size", "padding", "cropping", "size",
      "depth_multiplier", "groups", "batch_input_shape", "batch_shape", "input_shape", "input_dim", "output_dim",
      "input_length", "target_shape", "dims", "axis", "axes", "shared_axes", "n", "output_padding", "num_heads",
      "key_dim", "value_dim", "nb_filter", "nb_row", "nb_col", "filter_length", "subsample", "subsample_length",
      "pool_length", "stride", "atrous_rate", "mode", "implementation"};
  return keys.count(k) != 0;
}

// nlohmann converts a float to an integer with a plain cast, which is undefined beyond int64;
// no layer attribute is that large, so such numbers (and absurd nesting) are refused up front.
// `key` is the nearest enclosing object key, `layer` the nearest enclosing "name".
void check_numbers(const json& j, int depth, const std::string& key = "", const std::string& layer = "") {
  if (depth > 256) bad_config("nested more than 256 levels deep");
  if (j.is_number_float()) {
    const double v = j.get<double>();
    if (!(std::fabs(v) < 9.2e18)) bad_config("number " + j.dump() + " is out of range");
    if (integer_key(key) && v != std::floor(v))
      bad_config((layer.empty() ? "" : "layer '" + layer + "': ") + "'" + key + "' holds " + j.dump() +
                 ", which is not a whole number");
  }
  if (j.is_object()) {
    const std::string here = j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : layer;
    for (const auto& [k, v] : j.items()) check_numbers(v, depth + 1, k, here);
  } else if (j.is_array()) {
    for (const auto& v : j) check_numbers(v, depth + 1, key, layer);
  }
}

// Keras 3 weight-group names: snake_case(class) with _1, _2 for repeats (formats-keras.md 8.2).
std::string snake_case(const std::string& s) {
  std::string a = std::regex_replace(s, std::regex("(.)([A-Z][a-z]+)"), "$1_$2");
  a = std::regex_replace(a, std::regex("([a-z0-9])([A-Z])"), "$1_$2");
  std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return a;
}

struct Ctx {
  const keras::H5File& file;
  const ImportOptions& opt;
  bool keras1 = false;
  bool keras_mxnet = false;
  bool theano2 = false;
  bool no_backend = false;  // a Keras 2 file without a backend attribute (kernel order unknown)
  std::map<std::string, const keras::H5Layer*> by_name;
  std::set<std::string> used;
  Model* model;
  std::string writer_version;  // keras_version of the file, else of the model JSON; "" unknown
  bool keras1_config = false;  // the config uses Keras 1 keys or class names
};

[[noreturn]] void mapping_error(const std::string& layer, const std::string& what) {
  fail(ErrorKind::Mapping, what, {}, "layer '" + layer + "'");
}

// The stored tensors of a layer, in weight_names order.
std::vector<const keras::H5Weight*> stored_weights(Ctx& c, const std::string& layer) {
  auto it = c.by_name.find(layer);
  if (it == c.by_name.end()) return {};
  c.used.insert(layer);
  std::vector<const keras::H5Weight*> out;
  for (const auto& w : it->second->weights) out.push_back(&w);
  return out;
}

std::string list_weights(const std::vector<const keras::H5Weight*>& ws) {
  std::string s;
  for (const auto* w : ws) s += (s.empty() ? "" : ", ") + w->name + " " + shape_str(w->tensor.shape);
  return s.empty() ? "none" : s;
}

// --allow-missing: a layer whose weights all have deterministic initial values (BatchNorm: gamma 1,
// beta 0, moving mean 0, moving variance 1) gets them; anything with a random initializer does not.
// The channel count a BatchNorm layer normalises, when the input shape is known.
std::optional<int64_t> batchnorm_channels(Ctx& c, const Node& n) {
  if (n.op != "BatchNorm" || n.inputs.empty()) return std::nullopt;
  const auto shapes = infer_shapes(*c.model);
  const auto it = shapes.find(n.inputs[0]);
  if (it == shapes.end()) return std::nullopt;
  int64_t axis = n.attrs.value("axis", int64_t{-1});
  const auto rank = static_cast<int64_t>(it->second.size()) + 1;
  if (axis < 0) axis += rank;
  if (axis < 1 || axis >= rank) return std::nullopt;
  const int64_t channels = it->second[static_cast<size_t>(axis - 1)];
  if (channels <= 0) return std::nullopt;
  return channels;
}

bool fill_initial(Ctx& c, Node& n, const std::vector<std::string>& roles) {
  static const std::map<std::string, double> kInitial = {
      {"gamma", 1.0}, {"beta", 0.0}, {"moving_mean", 0.0}, {"moving_variance", 1.0}, {"bias", 0.0}};
  for (const auto& r : roles)
    if (!kInitial.count(r)) return false;
  const auto ch = batchnorm_channels(c, n);
  if (!ch) return false;
  const int64_t channels = *ch;
  for (const auto& r : roles)
    n.weights.push_back(Weight{r, filled(n.name + "/" + r, DType::F32, {channels}, kInitial.at(r)), "", "initial value (--allow-missing)"});
  c.model->prov.notes.push_back("layer " + n.name + ": missing from the file, filled with its initial values (--allow-missing)");
  return true;
}

void bind_weights(Ctx& c, Node& n, const std::vector<std::string>& roles) {
  auto ws = stored_weights(c, n.name);
  if (ws.size() != roles.size()) {
    std::string want;
    for (const auto& r : roles) want += (want.empty() ? "" : ", ") + r;
    const std::string found = list_weights(ws);
    if (!ws.empty() && c.opt.policy.skip_mismatch) {
      c.model->prov.notes.push_back(fmt::format("layer {}: stored weights ({}) do not fit and were skipped (--skip-mismatch)", n.name, found));
      ws.clear();
    }
    if (ws.empty() && c.opt.policy.allow_missing) {
      if (fill_initial(c, n, roles)) return;
      mapping_error(n.name, "has no weights in the file and its initial values are not deterministic (random initializer): "
                            "--allow-missing cannot fill it");
    }
    if (ws.empty() && c.opt.policy.skip_mismatch && found != "none")
      mapping_error(n.name, fmt::format("stored weights ({}) do not fit and were skipped (--skip-mismatch); the layer then "
                                        "has none (--allow-missing fills it only when its initial values are deterministic)",
                                        found));
    mapping_error(n.name, fmt::format("expects {} weights ({}) but the file has {}: {}", roles.size(), want,
                                      ws.size(), found));
  }
  for (size_t i = 0; i < roles.size(); ++i) n.weights.push_back(Weight{roles[i], ws[i]->tensor, ws[i]->name, "", ws[i]->tensor});
}

bool weight_names_have_tf_suffix(const std::vector<Weight>& ws) {
  for (const auto& w : ws)
    if (w.source.size() > 2 && w.source.compare(w.source.size() - 2, 2, ":0") == 0) return true;
  return false;
}

// Whether a convolution-family layer's kernel is stored in MXNet order (k... last) rather than
// Keras order (k... first). keras-mxnet writes channels_first kernels in MXNet order (failure case
// BR-03); a Keras 2 file without a backend attribute may be either, so the stored shape decides,
// and a shape that fits both orders is refused unless --kernel-layout says which.
bool mxnet_kernel_order(Ctx& c, const std::string& layer, const json& cfg, const std::string& df, int rank) {
  if (df != "channels_first") return false;
  if (c.keras_mxnet) return true;
  if (!c.no_backend) return false;
  if (c.opt.mxnet_kernel_layout) return *c.opt.mxnet_kernel_layout;
  auto it = c.by_name.find(layer);
  if (it == c.by_name.end() || it->second->weights.empty() || !cfg.contains("kernel_size")) return false;
  const Shape& s = it->second->weights[0].tensor.shape;
  const auto r = static_cast<size_t>(rank);
  const Shape ks = int_list(cfg["kernel_size"], r);
  if (s.size() != r + 2) return false;
  const bool keras_fits = std::equal(ks.begin(), ks.end(), s.begin());
  const bool mxnet_fits = std::equal(ks.begin(), ks.end(), s.end() - static_cast<std::ptrdiff_t>(r));
  if (keras_fits && mxnet_fits)
    fail(ErrorKind::Unsupported,
         "file has no backend attribute and the channels_first kernel " + shape_str(s) +
             " fits both the Keras (k..., in, out) and keras-mxnet (out, in, k...) orders; pass --kernel-layout keras|mxnet",
         {}, "layer '" + layer + "'");
  if (mxnet_fits)
    c.model->prov.notes.push_back("layer " + layer + ": no backend attribute; kernel " + shape_str(s) +
                                  " fits only the keras-mxnet (out, in, k...) order, read as such");
  return mxnet_fits;
}

void import_conv(Ctx& c, Node& n, const KLayer& k, int rank) {
  const json& cfg = k.cfg;
  const std::string df = data_format_of(cfg);
  int64_t filters = cfg.contains("filters") ? cfg["filters"].get<int64_t>() : cfg.value("nb_filter", int64_t{0});
  json ks;
  if (cfg.contains("kernel_size")) ks = cfg["kernel_size"];
  else if (rank == 2) ks = json::array({cfg.at("nb_row"), cfg.at("nb_col")});
  else if (rank == 1) ks = json::array({cfg.at("filter_length")});
  else ks = json::array({cfg.at("kernel_dim1"), cfg.at("kernel_dim2"), cfg.at("kernel_dim3")});
  json strides = cfg.contains("strides") ? cfg["strides"]
                 : cfg.contains("subsample") ? cfg["subsample"]
                 : cfg.contains("subsample_length") ? cfg["subsample_length"] : json(1);
  json dil = cfg.contains("dilation_rate") ? cfg["dilation_rate"]
             : cfg.contains("atrous_rate") ? cfg["atrous_rate"] : json(1);
  const std::string padding = cfg.contains("padding") ? cfg["padding"].get<std::string>()
                                                      : cfg.value("border_mode", std::string("valid"));
  // causal (Conv1D only): dilation * (kernel - 1) zeros before the sequence, none after.
  if (padding != "valid" && padding != "same" && !(padding == "causal" && rank == 1))
    fail(ErrorKind::Unsupported, "padding '" + padding + "' is not supported yet", {}, "layer '" + n.name + "'");
  const bool use_bias = cfg.contains("use_bias") ? cfg["use_bias"].get<bool>() : cfg.value("bias", true);
  const auto r = static_cast<size_t>(rank);
  n.op = "Conv";
  n.attrs = {{"rank", rank}, {"filters", filters}, {"kernel_size", int_list(ks, r)},
             {"strides", int_list(strides, r)}, {"dilation", int_list(dil, r)},
             {"groups", cfg.value("groups", 1)}, {"use_bias", use_bias}, {"padding", padding},
             {"data_format", df}, {"activation", activation_of(cfg)}};
  validate_node(n);
  std::vector<std::string> roles = {"kernel"};
  if (use_bias) roles.push_back("bias");
  bind_weights(c, n, roles);
  Weight& kw = n.weights[0];
  const Shape& s = kw.tensor.shape;
  const auto ksz = int_list(ks, r);
  if (c.keras1 && rank == 1 && s.size() == 4) {  // Keras 1 Conv1D kernel (k, 1, in, O)
    kw.tensor = reshaped(kw.tensor, {s[0], s[2], s[3]});
    kw.transform = "reshape (k,1,in,out)->(k,in,out)";
  } else if ((c.keras1 && df == "channels_first") || mxnet_kernel_order(c, n.name, cfg, df, rank)) {
    // (O, I, k...) -> (k..., I, O)
    if (s.size() != r + 2 || s[0] != filters)
      mapping_error(n.name, fmt::format("kernel {} is not in the (filters, in, k...) layout expected for "
                                        "channels_first", shape_str(s)));
    std::vector<int> perm;
    for (int i = 0; i < rank; ++i) perm.push_back(i + 2);
    perm.push_back(1);
    perm.push_back(0);
    kw.tensor = permuted(kw.tensor, perm);
    kw.transform = "transpose" + perm_str(perm);
  }
  const Shape& cs = kw.tensor.shape;
  if (cs.size() != r + 2 || cs[r + 1] != filters)
    mapping_error(n.name, fmt::format("kernel {} does not fit {} filters of size {}", shape_str(cs), filters,
                                      shape_str(ksz)));
  for (size_t i = 0; i < r; ++i)
    if (cs[i] != ksz[i]) mapping_error(n.name, fmt::format("kernel {} does not match kernel_size {}", shape_str(cs), shape_str(ksz)));
  // Theano performed true convolution: its kernels are flipped relative to everyone else's.
  bool flip = c.theano2;
  if (c.keras1) {
    const std::string& backend = c.file.backend.empty() ? c.file.root_backend : c.file.backend;
    if (c.opt.kernel_flip) flip = *c.opt.kernel_flip;
    else if (!backend.empty()) flip = backend == "theano";  // the file says which backend wrote it
    else if (!weight_names_have_tf_suffix(n.weights))
      fail(ErrorKind::Unsupported,
           "Keras 1 file without backend information: its convolution kernels may come from Theano "
           "(flipped) or from TensorFlow/MXNet (not flipped); pass --kernel-flip yes|no",
           {}, "layer '" + n.name + "'");
  }
  if (flip) {
    kw.tensor = flipped_spatial(kw.tensor, rank);
    kw.transform += std::string(kw.transform.empty() ? "" : " + ") + "flip spatial axes (Theano kernel)";
  }
}

void import_batchnorm(Ctx& c, Node& n, const KLayer& k) {
  const json& cfg = k.cfg;
  const bool scale = cfg.value("scale", true), center = cfg.value("center", true);
  n.op = "BatchNorm";
  n.attrs = {{"axis", cfg.value("axis", -1)}, {"epsilon", cfg.value("epsilon", 1e-3)},
             {"momentum", cfg.value("momentum", 0.99)}, {"center", center}, {"scale", scale}};
  if (c.keras1 && cfg.value("mode", 0) != 0)
    fail(ErrorKind::Unsupported, "Keras 1 BatchNormalization mode " + std::to_string(cfg.value("mode", 0)) +
                                     " cannot be expressed", {}, "layer '" + n.name + "'");
  auto ws = stored_weights(c, n.name);
  c.used.insert(n.name);
  if (ws.size() == 4 && (!scale || !center) && c.keras_mxnet) {
    // keras-mxnet always stores gamma and beta (MXNet's BatchNorm op needs both), as ones and
    // zeros when the config turns them off (failure case BR-13). Its BatchNorm runs with MXNet's
    // fix_gamma default, which ignores gamma: a stored gamma != 1 never reached an output and is
    // discarded (reported). Beta is always applied, so a beta != 0 under center=False is refused.
    const auto values = [&](size_t i) { return to_f64(ws[i]->tensor.load(), ws[i]->tensor.dtype); };
    const auto preview = [](const std::vector<double>& v) {
      std::string t = "[";
      for (size_t i = 0; i < v.size() && i < 4; ++i) t += (i ? ", " : "") + fmt::format("{:.6g}", v[i]);
      return t + (v.size() > 4 ? ", ...]" : "]");
    };
    if (!center)
      for (double v : values(1))
        if (v != 0.0)
          mapping_error(n.name, fmt::format("config says center=False but the stored beta {} ({}) is not all 0: "
                                            "keras-mxnet applied it, dropping it would change the outputs",
                                            ws[1]->name, preview(values(1))));
    if (!scale) {
      const auto g = values(0);
      if (std::any_of(g.begin(), g.end(), [](double v) { return v != 1.0; }))
        c.model->prov.notes.push_back(fmt::format(
            "warning: layer {}: scale=False: discarded the stored gamma {} = {}, which is not all 1 (keras-mxnet's "
            "BatchNorm runs with MXNet's fix_gamma, so it never affected the outputs)",
            n.name, ws[0]->name, preview(g)));
    }
    n.weights.clear();
    if (scale) n.weights.push_back(Weight{"gamma", ws[0]->tensor, ws[0]->name, "", {}});
    if (center) n.weights.push_back(Weight{"beta", ws[1]->tensor, ws[1]->name, "", {}});
    n.weights.push_back(Weight{"moving_mean", ws[2]->tensor, ws[2]->name, "", {}});
    n.weights.push_back(Weight{"moving_variance", ws[3]->tensor, ws[3]->name, "", {}});
    c.model->prov.notes.push_back("layer " + n.name + ": dropped the always-present keras-mxnet " +
                                  (!scale && !center ? "gamma and beta" : !scale ? "gamma" : "beta") +
                                  " (the config turns " + std::string(!scale && !center ? "them" : "it") + " off)");
    return;
  }
  std::vector<std::string> roles;
  if (scale) roles.push_back("gamma");
  if (center) roles.push_back("beta");
  roles.push_back("moving_mean");
  roles.push_back("moving_variance");
  bind_weights(c, n, roles);
  // Every tensor is one value per channel.
  const auto channels = batchnorm_channels(c, n);
  std::string bad;
  for (const auto& w : n.weights)
    if (w.tensor.shape.size() != 1 || (channels && w.tensor.shape[0] != *channels) ||
        w.tensor.shape != n.weights[0].tensor.shape)
      bad += (bad.empty() ? "" : ", ") + w.source + " " + shape_str(w.tensor.shape);
  if (bad.empty()) return;
  const std::string want = channels ? fmt::format("({},) for {} channels", *channels, *channels) : "one equal-length vector each";
  if (!c.opt.policy.skip_mismatch)
    mapping_error(n.name, "stored weights do not fit: " + bad + "; expected " + want + " (--skip-mismatch skips the layer)");
  c.model->prov.notes.push_back(fmt::format("layer {}: stored weights ({}) do not fit and were skipped (--skip-mismatch)", n.name, bad));
  n.weights.clear();
  if (c.opt.policy.allow_missing && fill_initial(c, n, roles)) return;
  mapping_error(n.name, "stored weights (" + bad + ") do not fit and were skipped (--skip-mismatch); the layer then has none "
                        "(--allow-missing fills a BatchNorm with its initial values)");
}

// Recurrent layers: the rules live in rnn_rules.cpp.
void import_rnn_layer(Ctx& c, const KLayer& k, Node& n) {
  KerasRnnSource src{k.cls, k.cfg, c.keras1, c.model->prov.framework, c.model->prov.version, {}};
  for (const auto* w : stored_weights(c, n.name)) src.stored.push_back(Weight{"", w->tensor, w->name, "", w->tensor});
  import_keras_rnn(src, n, c.model->prov.notes);
}

// Layout of the tensor reaching `n` (its first input), following layers that keep the layout:
// "channels_first" / "channels_last" from the nearest layer that declares a data_format, "" unknown.
std::string upstream_layout(const Ctx& c, const Node& n) {
  static const std::set<std::string> kKeep = {"Activation", "LeakyReLU", "Dropout", "BatchNorm", "PReLU", "LayerNorm",
                                              "GroupNorm", "Scalar", "Add", "Multiply", "Subtract", "Average",
                                              "Maximum", "Minimum", "Concat"};
  const Node* cur = n.inputs.empty() ? nullptr : c.model->find(n.inputs[0]);
  for (int guard = 0; cur && guard < 100000; ++guard) {
    if (cur->op != "GlobalPool" && cur->attrs.contains("data_format") && cur->attrs["data_format"].is_string())
      return cur->attrs["data_format"];
    if (!kKeep.count(cur->op) || cur->inputs.empty()) return "";
    cur = c.model->find(cur->inputs[0]);
  }
  return "";
}

// (major, minor, patch) of a Keras version string ("2.2.4", "2.2.4-tf", "2.2.4.3"); nullopt if unreadable.
std::optional<std::array<int, 3>> parse_version(const std::string& v) {
  std::array<int, 3> out = {0, 0, 0};
  const int got = std::sscanf(v.c_str(), "%d.%d.%d", &out[0], &out[1], &out[2]);
  if (got < 1) return std::nullopt;
  return out;
}

// Which order a Flatten emits its features in (formats-keras.md 10.4). The canonical attribute
// channels_last_first = move the channel axis last before flattening. A data_format in the config
// decides; without one, Keras 1 and Keras 2.0-2.1.5 flatten the tensor as it is (no such argument),
// 2.1.6-2.1.x default to channels_last (as it is), and from 2.2 the default is the loading
// machine's image_data_format, which no file records. --flatten-order settles what the metadata cannot.
void import_flatten(Ctx& c, const json& cfg, Node& n) {
  n.op = "Flatten";
  const std::string layout = upstream_layout(c, n);
  std::optional<bool> move;
  std::string reason;
  const bool has_key = cfg.contains("data_format") && cfg["data_format"].is_string();
  if (has_key) {
    move = cfg["data_format"] == "channels_first";
  } else {
    const auto v = parse_version(c.writer_version);
    if (c.writer_version.empty() && c.keras1_config) move = false;  // Keras 1
    else if (v && ((*v)[0] == 1 || ((*v)[0] == 2 && (*v)[1] < 2))) move = false;  // Keras 1, 2.0-2.1.x
    else if (layout == "channels_last") move = false;
    else if (c.writer_version.empty())
      reason = "the file records no keras_version and the Flatten config has no data_format";
    else
      reason = "keras_version " + c.writer_version + " defaults Flatten's data_format to the loading machine's "
               "image_data_format, and this config has none";
  }
  // A Flatten of a one-axis tensor has no order to decide.
  if (!move) {
    const auto shapes = infer_shapes(*c.model);
    const auto it = n.inputs.empty() ? shapes.end() : shapes.find(n.inputs[0]);
    if (it != shapes.end() && it->second.size() <= 1) move = false;
  }
  // The option settles only what the metadata leaves open: where the config's data_format or the
  // writer's version decides, that is what Keras computes, and the option is not applied.
  if (!c.opt.flatten_order.empty() && layout != "channels_last") {
    const bool want = c.opt.flatten_order == "channels_last";
    if (!move) move = want;
    else if (*move != want)
      c.model->prov.notes.push_back(fmt::format(
          "layer {}: --flatten-order {} not applied: {} decides the {} order", n.name, c.opt.flatten_order,
          has_key ? "its data_format" : "the writer's Keras version", *move ? "(H, W, C)" : "(C, H, W)"));
  }
  if (!move)
    fail(ErrorKind::Unsupported,
         "cannot tell the order this Flatten emits its features in (it fixes the row order of the Dense after it): " +
             reason + "; pass --flatten-order channels_first if the model was trained with features in (C, H, W) order "
             "(Keras 1, Keras <= 2.1.5, MXNet, Theano-era files) or --flatten-order channels_last for (H, W, C) order "
             "(Keras >= 2.2 with image_data_format channels_first)",
         {}, "layer '" + n.name + "'");
  n.attrs = {{"channels_last_first", *move}};
}

void import_layer(Ctx& c, const KLayer& k, Node& n) {
  const std::string& cls = k.cls;
  const json& cfg = k.cfg;
  auto no_weights = [&] {
    auto ws = stored_weights(c, n.name);
    if (!ws.empty()) mapping_error(n.name, "layer " + cls + " has no weights but the file has: " + list_weights(ws));
  };
  if (convfam_keras_class(cls)) {  // convolution family: conv_family.cpp
    const int rank = cls.find("1D") != std::string::npos ? 1 : cls.find("3D") != std::string::npos ? 3 : 2;
    convfam_import_keras(cls, cfg, mxnet_kernel_order(c, n.name, cfg, data_format_of(cfg), rank), n, [&] {
      std::vector<Weight> ws;
      for (const auto* w : stored_weights(c, n.name)) ws.push_back(Weight{"", w->tensor, w->name, "", w->tensor});
      return ws;
    });
    return;
  }
  if (locally_connected_keras_class(cls)) {  // conv_family.cpp
    std::optional<Shape> in;
    if (!n.inputs.empty()) {
      const auto shapes = infer_shapes(*c.model);
      if (auto it = shapes.find(n.inputs[0]); it != shapes.end()) in = it->second;
    }
    locally_connected_import_keras(cls, cfg, in, c.keras_mxnet, n, [&] {
      std::vector<Weight> ws;
      for (const auto* w : stored_weights(c, n.name)) ws.push_back(Weight{"", w->tensor, w->name, "", w->tensor});
      return ws;
    });
    return;
  }
  if (cls == "InputLayer") {
    json shape = cfg.contains("batch_input_shape") ? cfg["batch_input_shape"] : cfg.value("batch_shape", json());
    if (!shape.is_array() || shape.empty()) bad_config("InputLayer '" + n.name + "' without a shape");
    std::vector<int64_t> dims;
    for (size_t i = 1; i < shape.size(); ++i) dims.push_back(shape[i].is_null() ? -1 : shape[i].get<int64_t>());
    dims = given_input_shape(c.opt, n.name, dims);
    n.op = "Input";
    n.attrs = {{"shape", dims}, {"dtype", declared_dtype(cfg)}};
  } else if (cls == "Dense") {
    const int64_t units = cfg.contains("units") ? cfg["units"].get<int64_t>() : cfg.at("output_dim").get<int64_t>();
    const bool use_bias = cfg.contains("use_bias") ? cfg["use_bias"].get<bool>() : cfg.value("bias", true);
    n.op = "Dense";
    n.attrs = {{"units", units}, {"use_bias", use_bias}, {"activation", activation_of(cfg)}};
    validate_node(n);
    std::vector<std::string> roles = {"kernel"};
    if (use_bias) roles.push_back("bias");
    bind_weights(c, n, roles);
    const Shape& ks = n.weights[0].tensor.shape;
    if (ks.size() != 2 || ks[1] != units)
      mapping_error(n.name, fmt::format("kernel {} does not fit units={}", shape_str(ks), units));
  } else if (cls == "Conv1D" || cls == "Conv2D" || cls == "Conv3D") {
    import_conv(c, n, k, cls[4] - '0');
  } else if (cls == "BatchNormalization") {
    import_batchnorm(c, n, k);
  } else if (cls == "Embedding") {
    n.op = "Embedding";
    n.attrs = {{"input_dim", cfg.at("input_dim")}, {"output_dim", cfg.at("output_dim")}};
    if (cfg.value("mask_zero", false)) n.attrs["mask_zero"] = true;  // refused where the mask is used
    validate_node(n);
    bind_weights(c, n, {"embeddings"});
  } else if (is_keras_rnn_class(cls)) {
    import_rnn_layer(c, k, n);
  } else {
    if (cls == "Activation") {
      n.op = "Activation";
      n.attrs = {{"activation", activation_of(cfg)}};
    } else if (cls == "ReLU" && cfg.value("negative_slope", 0.0) == 0.0 && cfg.value("threshold", 0.0) == 0.0 &&
               (!cfg.contains("max_value") || cfg["max_value"].is_null())) {
      n.op = "Activation";
      n.attrs = {{"activation", "relu"}};
    } else if (cls == "Softmax") {
      if (cfg.contains("axis") && !cfg["axis"].is_number_integer())
        fail(ErrorKind::Unsupported, "Softmax over axis " + cfg["axis"].dump() + " (one integer axis is supported)", {},
             "layer '" + n.name + "'");
      n.op = "Activation";
      n.attrs = {{"activation", "softmax"}, {"axis", cfg.value("axis", -1)}};
    } else if (cls == "LeakyReLU") {
      n.op = "LeakyReLU";
      n.attrs = {{"alpha", cfg.contains("negative_slope") ? cfg["negative_slope"].get<double>() : cfg.value("alpha", 0.3)}};
    } else if (std::regex_match(cls, std::regex("(Max|Average)Pooling([123])D"))) {
      const int rank = cls[cls.size() - 2] - '0';
      const auto r = static_cast<size_t>(rank);
      json ps = cfg.contains("pool_size") ? cfg["pool_size"] : cfg.value("pool_length", json(2));
      json st = cfg.contains("strides") ? cfg["strides"] : cfg.value("stride", json());
      if (st.is_null()) st = ps;
      n.op = "Pool";
      n.attrs = {{"rank", rank}, {"pool_type", cls.rfind("Max", 0) == 0 ? "max" : "avg"},
                 {"pool_size", int_list(ps, r)}, {"strides", int_list(st, r)},
                 {"padding", cfg.contains("padding") ? cfg["padding"].get<std::string>() : cfg.value("border_mode", std::string("valid"))},
                 {"data_format", data_format_of(cfg)}};
    } else if (std::regex_match(cls, std::regex("Global(Max|Average)Pooling([123])D"))) {
      n.op = "GlobalPool";
      n.attrs = {{"rank", cls[cls.size() - 2] - '0'}, {"pool_type", cls.find("Max") != std::string::npos ? "max" : "avg"},
                 {"data_format", data_format_of(cfg)}};
      if (cfg.value("keepdims", false)) fail(ErrorKind::Unsupported, "keepdims=True pooling is not supported yet", {}, "layer '" + n.name + "'");
    } else if (std::regex_match(cls, std::regex("ZeroPadding([123])D"))) {
      const int rank = cls[cls.size() - 2] - '0';
      json p = cfg.at("padding");
      if (p.is_object())
        fail(ErrorKind::Unsupported, "ZeroPadding padding given as a dict (Keras 1.2 top_pad, ...) is not supported; "
                                     "give it as numbers", {}, "layer '" + n.name + "'");
      // ZeroPadding1D's pair is (left, right) of its one axis; 2D/3D pairs are per axis. Keras 1.2's
      // ZeroPadding2D also takes four numbers (top, bottom, left, right).
      if (rank == 1 && p.is_array() && p.size() == 2 && p[0].is_number()) p = json::array({p});
      if (rank == 2 && p.is_array() && p.size() == 4 && p[0].is_number())
        p = json::array({json::array({p[0], p[1]}), json::array({p[2], p[3]})});
      if (p.is_array() && p.size() != static_cast<size_t>(rank))
        bad_config("ZeroPadding" + std::to_string(rank) + "D '" + n.name + "': padding " + p.dump() + " does not fit " +
                   std::to_string(rank) + " axes");
      json pads = json::array();
      for (int i = 0; i < rank; ++i) {
        json pi = p.is_number() ? p : p[static_cast<size_t>(i)];
        pads.push_back(pi.is_number() ? json::array({pi, pi}) : pi);
      }
      n.op = "ZeroPadding";
      n.attrs = {{"rank", rank}, {"padding", pads}, {"data_format", data_format_of(cfg)}};
    } else if (cls == "Flatten") {
      import_flatten(c, cfg, n);
    } else if (cls == "Reshape") {
      n.op = "Reshape";
      n.attrs = {{"target_shape", cfg.at("target_shape")}};
    } else if (cls == "Permute") {
      n.op = "Permute";
      n.attrs = {{"dims", cfg.at("dims")}};
    } else if (cls == "Dropout" || cls.rfind("SpatialDropout", 0) == 0 || cls == "GaussianNoise" ||
               cls == "GaussianDropout" || cls == "AlphaDropout") {
      n.op = "Dropout";
      n.attrs = {{"rate", cfg.contains("rate") ? cfg["rate"] : cfg.value("p", json(0.0))}};
    } else if (cls == "Add" || (cls == "Merge" && cfg.value("mode", "") == "sum")) {
      n.op = "Add";
    } else if (cls == "Multiply" || cls == "Subtract" || cls == "Average" || cls == "Maximum" || cls == "Minimum") {
      n.op = cls;
    } else if (cls == "Merge" && (cfg.value("mode", "") == "mul" || cfg.value("mode", "") == "ave" || cfg.value("mode", "") == "max")) {
      const std::string mode = cfg.value("mode", "");
      n.op = mode == "mul" ? "Multiply" : mode == "ave" ? "Average" : "Maximum";
    } else if (cls == "Rescaling") {  // x * scale + offset
      n.op = "Scalar";
      for (const char* key : {"scale", "offset"})
        if (cfg.contains(key) && !cfg[key].is_number())
          fail(ErrorKind::Unsupported, std::string("Rescaling with a per-channel ") + key + " is not supported yet", {},
               "layer '" + n.name + "'");
      const double scale = cfg.value("scale", 1.0), offset = cfg.value("offset", 0.0);
      if (offset != 0.0 && scale != 1.0)
        fail(ErrorKind::Unsupported, "Rescaling with both scale and offset is not supported yet", {}, "layer '" + n.name + "'");
      n.attrs = offset != 0.0 ? json{{"fn", "add"}, {"scalar", offset}} : json{{"fn", "mul"}, {"scalar", scale}};
    } else if (cls == "Attention") {  // dot-product attention [query, value(, key)], no weights
      auto refuse = [&](const std::string& what) {
        fail(ErrorKind::Unsupported, "Attention with " + what + " is not supported yet", {}, "layer '" + n.name + "'");
      };
      if (cfg.value("score_mode", "dot") != "dot") refuse("score_mode '" + cfg.value("score_mode", "") + "'");
      if (cfg.value("causal", false) || k.call_kwargs.value("use_causal_mask", false)) refuse("a causal mask");
      if (k.call_kwargs.contains("mask") && !k.call_kwargs["mask"].is_null()) refuse("a mask");
      if (k.call_kwargs.value("return_attention_scores", false)) refuse("return_attention_scores=True");
      if (n.inputs.size() != 2 && n.inputs.size() != 3) bad_config("Attention takes [query, value] or [query, value, key]");
      n.op = "Attention";
      const bool use_scale = cfg.value("use_scale", false);
      n.attrs = {{"score_mode", "dot"}, {"use_scale", use_scale}, {"dropout", cfg.value("dropout", 0.0)}};
      if (use_scale) {  // one trained scalar multiplies the scores (shape (), "scale")
        bind_weights(c, n, {"scale"});
        const Shape& s = n.weights[0].tensor.shape;
        if (!s.empty()) mapping_error(n.name, "scale has shape " + shape_str(s) + "; Keras stores it as a scalar, shape ()");
        return;
      }
    } else if (cls == "Concatenate" || (cls == "Merge" && cfg.value("mode", "") == "concat")) {
      n.op = "Concat";
      n.attrs = {{"axis", cfg.contains("axis") ? cfg["axis"] : cfg.value("concat_axis", json(-1))}};
    } else {
      fail(ErrorKind::Unsupported, "layer class " + cls + " is not supported yet", {}, "layer '" + n.name + "'");
    }
    no_weights();
  }
}

// --cast-dtype: weights are cast to the dtype each layer's config declares (Keras 2 "dtype":
// "float16"; Keras 3 a DTypePolicy object; mixed policies keep float32 variables).
void cast_to_declared(Model& m, const KGraph& g) {
  for (const auto& k : g.layers) {
    Node* n = m.find(k.name);
    if (!n) continue;
    const auto t = dtype_from_name(declared_dtype(k.cfg));
    if (!t) continue;
    for (auto& w : n->weights)
      if (w.tensor.dtype != *t && dtype_info(w.tensor.dtype).is_float) {
        w.transform += std::string(w.transform.empty() ? "" : " + ") + "cast " + dtype_name(w.tensor.dtype) + "->" + dtype_name(*t) + " (--cast-dtype)";
        w.tensor = cast(w.tensor, *t);
      }
  }
}

// Keras' default load_weights pairs weighted layers with weighted groups by position, ignoring
// names (formats-keras.md 5.7). Used only when no architecture layer name matches a weight group
// (a weights file saved from another instance of the model) and the counts agree.
void pair_by_position_when_no_name_matches(Ctx& c, const KGraph& g, const keras::H5File& file) {
  static const std::set<std::string> kWeighted = {"Dense", "Conv1D", "Conv2D", "Conv3D", "BatchNormalization", "Embedding",
                                                  "LocallyConnected1D", "LocallyConnected2D"};
  std::vector<const keras::H5Layer*> groups;
  for (const auto& l : file.layers)
    if (!l.weights.empty()) groups.push_back(&l);
  std::vector<std::string> layers;
  for (const auto& k : g.layers) {
    if (c.by_name.count(k.name) && !c.by_name[k.name]->weights.empty()) return;  // names match
    if (kWeighted.count(k.cls) || is_keras_rnn_class(k.cls)) layers.push_back(k.name);
  }
  if (groups.empty() || groups.size() != layers.size()) return;
  for (size_t i = 0; i < layers.size(); ++i) {
    c.by_name[layers[i]] = groups[i];
    c.model->prov.notes.push_back("layer " + layers[i] + ": weights from group '" + groups[i]->name + "' (by position)");
  }
}

}  // namespace

Model import_keras(const keras::H5File& file, const json& config, const std::string& keras3_version,
                   const ImportOptions& opt) {
  Model m;
  m.prov.format = file.layout;
  m.prov.version = keras3_version.empty() ? file.keras_version : keras3_version;
  m.prov.backend = file.backend;
  const bool keras1 = file.layout != "keras3-weights" && file.keras_version.empty();
  const bool keras_mxnet = file.backend == "mxnet" ||
                           std::count(file.keras_version.begin(), file.keras_version.end(), '.') == 3;
  m.prov.framework = keras_framework(file);
  if (keras1 && m.prov.version.empty()) m.prov.version = file.root_keras_version.empty() ? "1" : file.root_keras_version;
  if (config.is_null())
    fail(ErrorKind::Unsupported, "weights-only file without an architecture: name its model JSON as another file (or give --arch with a "
                                       "model JSON, .h5 or .keras), or use a full model file");
  // Keras 1 full-model saves carry no backend on the weights group; the root may have one.
  const std::string backend = file.backend.empty() ? file.root_backend : file.backend;
  Ctx c{file, opt, keras1, keras_mxnet, backend == "theano", false, {}, {}, &m, file.keras_version, false};
  c.no_backend = !keras1 && !keras_mxnet && backend.empty() && file.layout != "keras3-weights";
  if (c.writer_version.empty() && config.is_object() && config.contains("keras_version") && config["keras_version"].is_string())
    c.writer_version = config["keras_version"];  // model.to_json() records it
  if (c.theano2) m.prov.notes.push_back("backend theano: convolution kernels flipped to correlation form");
  if (keras_mxnet) m.prov.notes.push_back("keras-mxnet file: channels_first kernels read in MXNet (out, in, k...) order");
  check_numbers(config, 0);
  KGraph g;
  try {
    g = parse_graph(config);
  } catch (const json::exception& e) {
    bad_config(std::string("unexpected structure: ") + e.what());
  }
  {
    static const std::set<std::string> kKeras1Keys = {"dim_ordering", "border_mode", "nb_filter", "init", "W_regularizer",
                                                      "W_constraint", "subsample", "input_dtype", "consume_less"};
    for (const auto& k : g.layers)
      for (const auto& key : kKeras1Keys)
        if (k.cfg.is_object() && k.cfg.contains(key)) c.keras1_config = true;
  }
  // Weight groups by name: legacy files use layer names, Keras 3 files class-based paths.
  if (file.layout == "keras3-weights") {
    std::map<std::string, int> counts;
    std::map<std::string, const keras::H5Layer*> groups;
    for (const auto& l : file.layers) groups[l.name] = &l;
    for (const auto& k : g.layers) {
      if (g.sequential && k.cls == "InputLayer") continue;
      const std::string base = snake_case(k.cls == "Model" ? "Functional" : k.cls);
      const int i = counts[base]++;
      const std::string path = i == 0 ? base : base + "_" + std::to_string(i);
      if (auto it = groups.find(path); it != groups.end()) c.by_name[k.name] = it->second;
    }
    for (const auto& l : file.layers)  // layers whose group was named after them
      if (!l.display_name.empty() && !c.by_name.count(l.display_name)) c.by_name[l.display_name] = &l;
  } else if (file.layout == "keras0") {
    // Keras 0.x groups are positional (layer_0, layer_1, ...): pair them with the weighted layers.
    static const std::set<std::string> kWeighted = {"Dense", "Conv1D", "Conv2D", "Conv3D", "BatchNormalization", "Embedding"};
    size_t next = 0;
    for (const auto& k : g.layers) {
      if (!kWeighted.count(k.cls)) continue;
      while (next < file.layers.size() && file.layers[next].weights.empty()) ++next;
      if (next < file.layers.size()) c.by_name[k.name] = &file.layers[next++];
    }
  } else {
    for (const auto& l : file.layers) c.by_name[opt.map ? opt.map->apply(l.name) : l.name] = &l;
    pair_by_position_when_no_name_matches(c, g, file);
  }
  std::set<std::string> seen;
  // Keras masks: an Embedding with mask_zero=True sends a mask with its output. Layers that pass
  // it on unchanged leave the values alone; any other layer it reaches uses it (recurrent layers
  // skip the padded steps, average pooling and attention leave them out) or refuses it at build
  // time. The engine and the exporters do not model masks, so such a model is refused.
  static const std::set<std::string> kPassMask = {
      "Dense", "Activation", "LeakyReLU", "PReLU", "ELU", "Dropout", "SpatialDropout1D", "GaussianNoise",
      "GaussianDropout", "AlphaDropout", "BatchNormalization", "LayerNormalization", "Add", "Multiply", "Subtract",
      "Average", "Maximum", "Minimum", "Concatenate"};
  std::map<std::string, std::string> mask_from;  // layer -> the Embedding whose mask its output carries
  for (const auto& k : g.layers) {
    if (!seen.insert(k.name).second) bad_config("duplicate layer name '" + k.name + "'");
    // A layer called with training=True computes its training-time output when predicting
    // (BatchNormalization's batch statistics, Dropout's random drops).
    if (k.call_kwargs.is_object() && k.call_kwargs.contains("training") && k.call_kwargs["training"] == true)
      fail(ErrorKind::Unsupported, "called with training=True: at prediction it computes its training-time output "
                                   "(batch statistics, random dropout), which is not supported", {}, "layer '" + k.name + "'");
    Node n;
    n.name = k.name;
    n.inputs = k.inbound;
    for (const auto& i : n.inputs)
      if (!seen.count(parse_ref(i).node)) bad_config("layer '" + k.name + "' takes input from unknown layer '" + i + "'");
    for (const auto& i : n.inputs) {
      const auto masked = mask_from.find(parse_ref(i).node);
      if (masked == mask_from.end()) continue;
      if (!kPassMask.count(k.cls))
        fail(ErrorKind::Unsupported, "the mask of Embedding '" + masked->second + "' (mask_zero=True) reaches this " + k.cls +
                                         ", which uses it or refuses it (recurrent layers skip the padded steps, pooling and "
                                         "attention leave them out); masking is not supported",
             {}, "layer '" + n.name + "'");
      mask_from[n.name] = masked->second;
    }
    try {
      import_layer(c, k, n);
    } catch (const json::exception& e) {
      fail(ErrorKind::Malformed, std::string("model config: ") + e.what(), {}, "layer '" + k.name + "'");
    }
    if (n.op == "Embedding" && n.attrs.value("mask_zero", false)) mask_from[n.name] = n.name;
    if (n.op == "Conv" || n.op == "Pool" || n.op == "GlobalPool") m.prov.data_format = n.attrs.value("data_format", "");
    // Keras 3 redefined hard_sigmoid as relu6(x + 3) / 6: slope 1/6 instead of Keras 2's 0.2.
    if (m.prov.framework == "keras3" && n.attrs.value("activation", "") == "hard_sigmoid")
      n.attrs["hard_sigmoid_slope"] = 1.0 / 6.0;
    m.nodes.push_back(std::move(n));
  }
  m.outputs = g.outputs;
  // Strict: every stored layer with weights must have been consumed.
  auto consumed = [&](const keras::H5Layer& l) {
    for (const auto& [name, ptr] : c.by_name)
      if (ptr == &l && c.used.count(name)) return true;
    return c.used.count(l.name) > 0;
  };
  std::string extra;
  for (const auto& l : file.layers)
    if (!l.weights.empty() && !consumed(l))
      extra += (extra.empty() ? "" : "; ") + l.name + " [" + [&] {
        std::string s;
        for (const auto& w : l.weights) s += (s.empty() ? "" : ", ") + w.name + " " + shape_str(w.tensor.shape);
        return s;
      }() + "]";
  if (!extra.empty()) {
    if (!opt.policy.ignore_extra)
      fail(ErrorKind::Mapping, "weights in the file match no layer of the architecture: " + extra +
                                   " (--ignore-extra leaves them out, --map renames them)");
    m.prov.notes.push_back("left out (--ignore-extra): " + extra);
  }
  if (opt.map)
    for (const auto& r : opt.map->unused_rules()) m.prov.notes.push_back("--map rule matched no name: " + r);
  if (opt.policy.cast_dtype) cast_to_declared(m, g);
  return m;
}

}  // namespace wb
