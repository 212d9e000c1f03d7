// Model -> Keras 2 full-model file content (model_config + per-layer weight groups).
// The config is the Keras 2.2.4 functional form ({"class_name": "Model"}), which Keras 2.2-2.3,
// tf.keras 2.x and Keras 3's legacy loader all accept.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "model/conv_family.h"
#include "model/rnn_rules.h"
#include "weightbridge/convert.h"
#include "weightbridge/error.h"

using nlohmann::json;

namespace wb {
namespace {

json base_config(const Node& n, DType dtype) {
  return json{{"name", n.name}, {"trainable", true}, {"dtype", dtype_name(dtype)}};
}

DType layer_dtype(const Node& n) {
  if (n.weights.empty()) return DType::F32;
  const DType t = n.weights[0].tensor.dtype;
  if (t == DType::BF16)
    fail(ErrorKind::Unsupported, "bfloat16 weights cannot be loaded by Keras 2; pass --dtype float32", {},
         "layer '" + n.name + "'");
  return t;
}

std::string conv_class(const Node& n) { return fmt::format("Conv{}D", n.attrs.at("rank").get<int>()); }

std::pair<std::string, json> layer_config(const Node& n) {
  const DType dt = layer_dtype(n);
  if (n.attrs.value("activation", "") == "hard_sigmoid" && n.attrs.value("hard_sigmoid_slope", 0.2) != 0.2)
    fail(ErrorKind::Unsupported,
         fmt::format("hard_sigmoid with slope {:.6g} (Keras 3's definition) has no Keras 2 equivalent (slope 0.2)",
                     n.attrs.value("hard_sigmoid_slope", 0.2)),
         {}, "layer '" + n.name + "'");
  if (is_rnn_op(n.op)) return keras_rnn_layer_config(n, dtype_name(dt));  // rnn_rules.cpp
  json cfg = base_config(n, dt);
  const std::string& op = n.op;
  if (op == "Input") {
    json shape = json::array({nullptr});
    for (auto d : n.attrs.at("shape")) shape.push_back(d.get<int64_t>() < 0 ? json(nullptr) : d);
    return {"InputLayer", {{"name", n.name}, {"batch_input_shape", shape}, {"dtype", n.attrs.value("dtype", "float32")},
                           {"sparse", false}}};
  }
  if (op == "Dense") {
    cfg.update({{"units", n.attrs.at("units")}, {"activation", n.attrs.value("activation", "linear")},
                {"use_bias", n.attrs.value("use_bias", true)}});
    return {"Dense", cfg};
  }
  if (op == "Conv") {
    cfg.update({{"filters", n.attrs.at("filters")}, {"kernel_size", n.attrs.at("kernel_size")},
                {"strides", n.attrs.at("strides")}, {"padding", n.attrs.value("padding", "valid")},
                {"data_format", n.attrs.value("data_format", "channels_last")},
                {"dilation_rate", n.attrs.at("dilation")}, {"activation", n.attrs.value("activation", "linear")},
                {"use_bias", n.attrs.value("use_bias", true)}});
    if (n.attrs.value("groups", 1) != 1) cfg["groups"] = n.attrs.at("groups");
    return {conv_class(n), cfg};
  }
  if (op == "BatchNorm") {
    cfg.update({{"axis", n.attrs.value("axis", -1)}, {"momentum", n.attrs.value("momentum", 0.99)},
                {"epsilon", n.attrs.value("epsilon", 1e-3)}, {"center", n.attrs.value("center", true)},
                {"scale", n.attrs.value("scale", true)}});
    return {"BatchNormalization", cfg};
  }
  if (op == "Embedding") {
    cfg.update({{"input_dim", n.attrs.at("input_dim")}, {"output_dim", n.attrs.at("output_dim")}});
    return {"Embedding", cfg};
  }
  if (op == "Activation") {
    if (n.attrs.value("activation", "") == "softmax" && n.attrs.value("axis", -1) != -1) {
      cfg["axis"] = n.attrs.at("axis");
      return {"Softmax", cfg};
    }
    cfg["activation"] = n.attrs.at("activation");
    return {"Activation", cfg};
  }
  if (op == "LeakyReLU") {
    cfg["alpha"] = n.attrs.at("alpha");
    return {"LeakyReLU", cfg};
  }
  if (op == "Pool") {
    cfg.update({{"pool_size", n.attrs.at("pool_size")}, {"strides", n.attrs.at("strides")},
                {"padding", n.attrs.value("padding", "valid")}, {"data_format", n.attrs.value("data_format", "channels_last")}});
    return {fmt::format("{}Pooling{}D", n.attrs.at("pool_type") == "max" ? "Max" : "Average", n.attrs.at("rank").get<int>()), cfg};
  }
  if (op == "GlobalPool") {
    cfg["data_format"] = n.attrs.value("data_format", "channels_last");
    return {fmt::format("Global{}Pooling{}D", n.attrs.at("pool_type") == "max" ? "Max" : "Average", n.attrs.at("rank").get<int>()), cfg};
  }
  if (op == "ZeroPadding") {
    if (n.attrs.at("rank") == 1) {
      require_keras_steps_axis(n, "ZeroPadding1D");
      cfg["padding"] = n.attrs.at("padding")[0];  // ZeroPadding1D takes its one (left, right) pair
      return {"ZeroPadding1D", cfg};
    }
    cfg.update({{"padding", n.attrs.at("padding")}, {"data_format", n.attrs.value("data_format", "channels_last")}});
    return {fmt::format("ZeroPadding{}D", n.attrs.at("rank").get<int>()), cfg};
  }
  if (op == "Flatten") {
    cfg["data_format"] = n.attrs.value("channels_last_first", false) ? "channels_first" : "channels_last";
    return {"Flatten", cfg};
  }
  if (op == "Reshape") {
    cfg["target_shape"] = n.attrs.at("target_shape");
    return {"Reshape", cfg};
  }
  if (op == "Permute") {
    cfg["dims"] = n.attrs.at("dims");
    return {"Permute", cfg};
  }
  if (op == "Dropout") {
    cfg["rate"] = n.attrs.value("rate", 0.0);
    return {"Dropout", cfg};
  }
  if (op == "Add" || op == "Multiply" || op == "Subtract" || op == "Average" || op == "Maximum" || op == "Minimum")
    return {op, cfg};
  if (op == "Scalar") {  // tf.keras >= 2.6 Rescaling: x * scale + offset
    const std::string fn = n.attrs.value("fn", "");
    const double s = n.attrs.value("scalar", 0.0);
    if (fn == "mul") cfg.update({{"scale", s}, {"offset", 0.0}});
    else if (fn == "add" || fn == "sub") cfg.update({{"scale", 1.0}, {"offset", fn == "add" ? s : -s}});
    else fail(ErrorKind::Unsupported, "scalar '" + fn + "' has no exact Keras layer (Rescaling multiplies and adds)", {},
              "layer '" + n.name + "'");
    return {"Rescaling", cfg};
  }
  if (op == "Concat") {
    cfg["axis"] = n.attrs.value("axis", -1);
    return {"Concatenate", cfg};
  }
  if (op == "Attention") {
    // score_mode is left out: "dot" is its default, and tf.keras before 2.9 rejects the key.
    cfg.update({{"use_scale", n.attrs.value("use_scale", false)}, {"dropout", n.attrs.value("dropout", 0.0)}});
    return {"Attention", cfg};
  }
  if (auto family = convfam_keras_config(n, cfg)) return *family;  // conv_family.cpp
  fail(ErrorKind::Unsupported, "layer kind " + op + " cannot be exported to Keras yet", {}, "layer '" + n.name + "'");
}

}  // namespace

// Keras' layer order (Network._map_graph_network in Keras 2 and tf.keras, map_graph in Keras 3):
// the outputs at depth 0, each layer one deeper than its deepest consumer, deepest first; ties in
// the order a depth-first walk from the outputs (each layer's inputs in order) first reaches them.
std::vector<size_t> keras_layer_order(const Model& m) {
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < m.nodes.size(); ++i) at[m.nodes[i].name] = i;
  std::vector<size_t> post;                 // post-order: inputs before their users
  std::vector<int> reached(m.nodes.size(), -1);  // pre-order index: when the walk first reaches it
  int n_reached = 0;
  std::vector<char> done(m.nodes.size(), 0);
  auto walk = [&](size_t root) {  // iterative: a long chain of layers must not exhaust the stack
    std::vector<std::pair<size_t, size_t>> stack;  // (layer, next input to visit)
    auto enter = [&](size_t i) {
      if (done[i] || reached[i] >= 0) return;
      reached[i] = n_reached++;
      stack.emplace_back(i, 0);
    };
    enter(root);
    while (!stack.empty()) {
      auto& [i, next] = stack.back();
      const auto& ins = m.nodes[i].inputs;
      if (next < ins.size()) {
        const auto it = at.find(parse_ref(ins[next++]).node);
        if (it != at.end()) enter(it->second);
        continue;
      }
      done[i] = 1;
      post.push_back(i);
      stack.pop_back();
    }
  };
  for (const auto& o : m.outputs)
    if (auto it = at.find(parse_ref(o).node); it != at.end()) walk(it->second);
  std::vector<int64_t> depth(m.nodes.size(), 0);
  for (auto it = post.rbegin(); it != post.rend(); ++it)
    for (const auto& in : m.nodes[*it].inputs)
      if (auto p = at.find(parse_ref(in).node); p != at.end()) depth[p->second] = std::max(depth[p->second], depth[*it] + 1);
  std::vector<size_t> order = post;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return depth[a] != depth[b] ? depth[a] > depth[b] : reached[a] < reached[b];
  });
  for (size_t i = 0; i < m.nodes.size(); ++i)  // nothing reaches them: Keras would not list them
    if (!done[i]) order.push_back(i);
  return order;
}

KerasExport export_keras(const Model& m) {
  KerasExport out;
  json layers = json::array(), inputs = json::array(), outputs = json::array();
  for (const auto& n : m.nodes)
    if (n.op == "Input") inputs.push_back(json::array({n.name, 0, 0}));  // the model's input order
  for (const size_t at : keras_layer_order(m)) {
    const Node& n = m.nodes[at];
    auto [cls, cfg] = layer_config(n);
    json inbound = json::array();
    if (!n.inputs.empty()) {
      json call = json::array();
      for (const auto& i : n.inputs) {
        const TensorRef r = parse_ref(i);
        call.push_back(json::array({r.node, 0, r.index, json::object()}));
      }
      inbound.push_back(call);
    }
    layers.push_back({{"name", n.name}, {"class_name", cls}, {"config", cfg}, {"inbound_nodes", inbound}});
    keras::H5WriteLayer wl;
    wl.name = n.name;
    for (const auto& w : n.weights)
      wl.weights.emplace_back(is_rnn_op(n.op) ? keras_rnn_weight_name(n, w) : n.name + "/" + w.role + ":0", w.tensor);
    out.layers.push_back(std::move(wl));
  }
  for (const auto& o : m.outputs) {
    const TensorRef r = parse_ref(o);
    outputs.push_back(json::array({r.node, 0, r.index}));
  }
  out.model_config = {{"class_name", "Model"},
                      {"config", {{"name", "model_1"}, {"layers", layers}, {"input_layers", inputs}, {"output_layers", outputs}}}};
  return out;
}

}  // namespace wb
