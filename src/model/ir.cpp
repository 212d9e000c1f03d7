#include <fmt/format.h>

#include "weightbridge/error.h"
#include "weightbridge/model.h"
#include "model/conv_family.h"
#include "model/rnn_rules.h"

namespace wb {

const Weight* Node::weight(const std::string& role) const {
  for (const auto& w : weights)
    if (w.role == role) return &w;
  return nullptr;
}

const Node* Model::find(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

Node* Model::find(const std::string& name) {
  for (auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

void fill_stored(Model& m) {
  for (auto& n : m.nodes)
    for (auto& w : n.weights)
      if (!w.stored.load) w.stored = w.tensor;
}

std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t k, int64_t stride, int64_t dilation) {
  const int64_t dk = dilation * (k - 1) + 1;
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + dk - in, 0);
  return {total / 2, total - total / 2};
}

namespace {

std::vector<int64_t> ints(const nlohmann::json& j) { return j.get<std::vector<int64_t>>(); }

// Spatial axes of a rank-r (without batch) channels_first / channels_last tensor.
std::optional<Shape> conv_like_shape(const Node& n, const Shape& in, int64_t channels_out, bool is_pool) {
  const auto rank = n.attrs.at("rank").get<size_t>();
  if (in.size() != rank + 1) return std::nullopt;
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const auto k = ints(n.attrs.at(is_pool ? "pool_size" : "kernel_size"));
  const auto s = ints(n.attrs.at("strides"));
  const std::vector<int64_t> d = is_pool ? std::vector<int64_t>(rank, 1) : ints(n.attrs.at("dilation"));
  const std::string padding = n.attrs.value("padding", "valid");
  Shape out = in;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t x = in[cf ? i + 1 : i];
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    int64_t o = padding == "same" ? (x + s[i] - 1) / s[i] : (x - dk) / s[i] + 1;
    if (padding != "same" && x < dk) o = 0;
    out[cf ? i + 1 : i] = o;
  }
  out[cf ? 0 : rank] = channels_out < 0 ? in[cf ? 0 : rank] : channels_out;
  return out;
}

std::optional<Shape> infer_one(const Node& n, const std::vector<Shape>& ins) {
  const std::string& op = n.op;
  if (op == "Input") return ints(n.attrs.at("shape"));
  if (ins.empty()) return std::nullopt;
  const Shape& in = ins[0];
  if (std::optional<Shape> family; convfam_infer_shape(n, ins, family)) return family;  // conv_family.cpp
  if (is_rnn_op(op)) return rnn_output_shape(n, in);  // recurrent layers: rnn_rules.cpp
  if (op == "Dense") {
    Shape out = in;
    if (out.empty()) return std::nullopt;
    out.back() = n.attrs.at("units").get<int64_t>();
    return out;
  }
  if (op == "Conv") return conv_like_shape(n, in, n.attrs.at("filters").get<int64_t>(), false);
  if (op == "Pool") return conv_like_shape(n, in, -1, true);
  if (op == "GlobalPool") {
    if (in.size() < 2) return std::nullopt;
    const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
    return Shape{cf ? in.front() : in.back()};
  }
  if (op == "ZeroPadding") {
    const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
    Shape out = in;
    const auto& pads = n.attrs.at("padding");
    for (size_t i = 0; i < pads.size(); ++i) {
      const size_t ax = cf ? i + 1 : i;
      if (ax >= out.size()) return std::nullopt;
      out[ax] += pads[i][0].get<int64_t>() + pads[i][1].get<int64_t>();
    }
    return out;
  }
  if (op == "Flatten") {
    int64_t p = 1;
    for (auto d : in) p *= d;
    return Shape{p};
  }
  if (op == "Reshape") {
    Shape t = ints(n.attrs.at("target_shape"));
    int64_t known = 1, total = 1;
    int unknown = -1;
    for (auto d : in) total *= d;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == -1) unknown = static_cast<int>(i);
      else known *= t[i];
    }
    if (unknown >= 0 && known > 0) t[static_cast<size_t>(unknown)] = total / known;
    return t;
  }
  if (op == "Permute") {
    const auto dims = ints(n.attrs.at("dims"));
    if (dims.size() != in.size()) return std::nullopt;
    Shape out(in.size());
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] < 1 || static_cast<size_t>(dims[i]) > in.size()) return std::nullopt;
      out[i] = in[static_cast<size_t>(dims[i] - 1)];
    }
    return out;
  }
  if (op == "Embedding") {
    Shape out = in;
    out.push_back(n.attrs.at("output_dim").get<int64_t>());
    return out;
  }
  if (op == "Concat") {
    Shape out = in;
    auto ax = n.attrs.value("axis", -1);
    const auto r = static_cast<int64_t>(in.size());
    // axis counts the batch axis in Keras: axis 1 = first non-batch axis; negative from the end
    int64_t a = ax < 0 ? r + ax : ax - 1;
    if (a < 0 || a >= r) return std::nullopt;
    out[static_cast<size_t>(a)] = 0;
    for (const auto& s : ins) {
      if (s.size() != in.size()) return std::nullopt;
      out[static_cast<size_t>(a)] += s[static_cast<size_t>(a)];
    }
    return out;
  }
  // Shape-preserving ops.
  return in;
}

}  // namespace

std::map<std::string, Shape> infer_shapes(const Model& m) {
  std::map<std::string, Shape> shapes;
  for (const auto& n : m.nodes) {
    std::vector<Shape> ins;
    bool known = true;
    for (const auto& i : n.inputs) {
      auto it = shapes.find(i);
      if (it == shapes.end()) { known = false; break; }
      ins.push_back(it->second);
    }
    if (!known) continue;
    try {
      if (auto s = infer_one(n, ins)) shapes[n.name] = *s;
    } catch (const nlohmann::json::exception&) {
      // attributes incomplete: leave unknown
    }
  }
  return shapes;
}

}  // namespace wb
