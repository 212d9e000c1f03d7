#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

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

TensorRef parse_ref(const std::string& ref) {
  const auto colon = ref.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == ref.size() || ref.size() - colon > 4) return {ref, 0};
  int k = 0;
  for (size_t i = colon + 1; i < ref.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(ref[i]))) return {ref, 0};
    k = k * 10 + (ref[i] - '0');
  }
  if (k == 0) return {ref, 0};
  return {ref.substr(0, colon), k};
}

std::string make_ref(const std::string& node, int index) {
  return index == 0 ? node : node + ":" + std::to_string(index);
}

int output_count(const Node& n) {
  if (!is_rnn_op(n.op) || !n.attrs.value("return_state", false)) return 1;
  const std::string cell = n.attrs.value("cell", "");
  const int states = cell == "lstm" || cell == "convlstm" ? 2 : 1;
  return 1 + (n.op == "Bidirectional" ? 2 : 1) * states;
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

// a * b for non-negative dims; nullopt when the product leaves int64.
std::optional<int64_t> mul_dims(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return std::nullopt;
  if (a != 0 && b > INT64_MAX / a) return std::nullopt;
  return a * b;
}

std::optional<int64_t> product(const Shape& s) {
  int64_t p = 1;
  for (auto d : s) {
    auto q = mul_dims(p, d);
    if (!q) return std::nullopt;
    p = *q;
  }
  return p;
}

// Spatial axes of a rank-r (without batch) channels_first / channels_last tensor.
std::optional<Shape> conv_like_shape(const Node& n, const Shape& in, int64_t channels_out, bool is_pool) {
  const auto rank = n.attrs.at("rank").get<size_t>();
  if (in.size() != rank + 1) return std::nullopt;
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const auto k = ints(n.attrs.at(is_pool ? "pool_size" : "kernel_size"));
  const auto s = ints(n.attrs.at("strides"));
  const std::vector<int64_t> d = is_pool ? std::vector<int64_t>(rank, 1) : ints(n.attrs.at("dilation"));
  const std::string padding = n.attrs.value("padding", "valid");
  if (k.size() != rank || s.size() != rank || d.size() != rank) return std::nullopt;
  // Bounds validate_model enforces; infer_shapes also runs on partly imported graphs.
  constexpr int64_t kMax = int64_t{1} << 40;
  Shape out = in;
  for (size_t i = 0; i < rank; ++i) {
    if (k[i] < 1 || s[i] < 1 || d[i] < 1 || k[i] > kMax || s[i] > kMax || d[i] > kMax) return std::nullopt;
    const int64_t x = in[cf ? i + 1 : i];
    if (x < 0 || x > kMax) return std::nullopt;
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    // 'causal' (rank 1) adds dk - 1 zeros before: ceil(x / s) outputs, as 'same'.
    const bool padded = padding == "same" || padding == "causal";
    int64_t o = padded ? (x + s[i] - 1) / s[i] : (x - dk) / s[i] + 1;
    if (!padded && x < dk) o = 0;
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
      if (ax >= out.size() || !pads[i].is_array() || pads[i].size() != 2) return std::nullopt;
      const int64_t b = pads[i][0].get<int64_t>(), a = pads[i][1].get<int64_t>();
      constexpr int64_t kMax = int64_t{1} << 40;
      if (b < 0 || a < 0 || b > kMax || a > kMax || out[ax] < 0 || out[ax] > kMax) return std::nullopt;
      out[ax] += b + a;
    }
    return out;
  }
  if (op == "Flatten") {
    const auto p = product(in);
    if (!p) return std::nullopt;
    return Shape{*p};
  }
  if (op == "Reshape") {
    Shape t = ints(n.attrs.at("target_shape"));
    int64_t known = 1;
    int unknown = -1;
    const auto total = product(in);
    if (!total) return std::nullopt;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == -1) {
        unknown = static_cast<int>(i);
      } else {
        const auto k = mul_dims(known, t[i]);
        if (!k) return std::nullopt;
        known = *k;
      }
    }
    if (unknown >= 0 && known > 0) t[static_cast<size_t>(unknown)] = *total / known;
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
      const int64_t d = s[static_cast<size_t>(a)];
      if (d < 0 || d > (int64_t{1} << 40)) return std::nullopt;
      out[static_cast<size_t>(a)] += d;
    }
    return out;
  }
  if (op == "Attention" && ins.size() >= 2 && !ins[1].empty()) {  // the query's shape, the value's width
    Shape out = in;
    if (out.empty()) return std::nullopt;
    out.back() = ins[1].back();
    return out;
  }
  if (op == "MatMul" && ins.size() == 2) {
    const bool ta = n.attrs.value("transpose_a", false), tb = n.attrs.value("transpose_b", false);
    const Shape& a = ins[0];
    const Shape& b = ins[1];
    if (a.empty() || a.size() != b.size()) return std::nullopt;
    if (a.size() == 1) {  // (N, x) x (N or x, y): a dimension is the batch size, unknown here
      if (ta) return std::nullopt;
      return tb ? Shape{-1} : Shape{b[0]};
    }
    Shape out(a.begin(), a.end() - 2);
    out.push_back(ta ? a.back() : a[a.size() - 2]);
    out.push_back(tb ? b[b.size() - 2] : b.back());
    return out;
  }
  if (op == "SliceAxis") {
    const int64_t axis = n.attrs.at("axis").get<int64_t>(), begin = n.attrs.at("begin").get<int64_t>(),
                  end = n.attrs.at("end").get<int64_t>();
    if (axis < 1 || static_cast<size_t>(axis) > in.size() || begin < 0 || end <= begin) return std::nullopt;
    Shape out = in;
    const int64_t have = out[static_cast<size_t>(axis - 1)];
    if (have >= 0 && end > have) return std::nullopt;
    out[static_cast<size_t>(axis - 1)] = end - begin;
    return out;
  }
  // Shape-preserving ops.
  return in;
}

}  // namespace

std::map<std::string, Shape> infer_shapes(const Model& m) {
  std::map<std::string, Shape> shapes;
  infer_shapes_from(m, 0, shapes);
  return shapes;
}

void infer_shapes_from(const Model& m, size_t first, std::map<std::string, Shape>& shapes) {
  for (size_t idx = first; idx < m.nodes.size(); ++idx) {
    const Node& n = m.nodes[idx];
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
      if (is_rnn_op(n.op) && !ins.empty())  // the states of return_state: "name:1", ...
        if (auto st = rnn_state_shape(n, ins[0]))
          for (int k = 1; k < output_count(n); ++k) shapes[make_ref(n.name, k)] = *st;
    } catch (const nlohmann::json::exception&) {
      // attributes incomplete: leave unknown
    }
  }
}

namespace {

// Sizes beyond these are never real layers; refusing them keeps shape arithmetic in int64.
constexpr int64_t kMaxUnits = int64_t{1} << 40;   // units, filters, channels, dims
constexpr int64_t kMaxWindow = int64_t{1} << 20;  // kernel, stride, dilation, pool, padding

[[noreturn]] void bad_node(const Node& n, const std::string& what) {
  fail(ErrorKind::Malformed, what, {}, fmt::format("layer '{}' ({})", n.name, n.op));
}

int64_t int_attr(const Node& n, const char* key) {
  const auto& v = n.attrs.at(key);
  if (!v.is_number_integer()) bad_node(n, fmt::format("{} must be an integer, not {}", key, v.dump()));
  return v.get<int64_t>();
}

int64_t int_in(const Node& n, const char* key, int64_t lo, int64_t hi) {
  const int64_t v = int_attr(n, key);
  if (v < lo || v > hi) bad_node(n, fmt::format("{} = {} is out of range ({}..{})", key, v, lo, hi));
  return v;
}

std::vector<int64_t> ints_in(const Node& n, const char* key, size_t count, int64_t lo, int64_t hi) {
  const auto& v = n.attrs.at(key);
  if (!v.is_array() || v.size() != count)
    bad_node(n, fmt::format("{} must be a list of {} integers, not {}", key, count, v.dump()));
  std::vector<int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < lo || x.get<int64_t>() > hi)
      bad_node(n, fmt::format("{} = {} is out of range ({}..{})", key, v.dump(), lo, hi));
    out.push_back(x.get<int64_t>());
  }
  return out;
}

void check_node(const Node& n) {
  const std::string& op = n.op;
  if (op == "Input") {
    const auto& s = n.attrs.at("shape");
    if (!s.is_array()) bad_node(n, "shape must be a list");
    for (const auto& d : s)
      if (!d.is_number_integer() || (d.get<int64_t>() != -1 && (d.get<int64_t>() < 1 || d.get<int64_t>() > kMaxUnits)))
        bad_node(n, fmt::format("input shape {} has a dimension that is not -1 (unknown) or 1..{}", s.dump(), kMaxUnits));
  } else if (op == "Dense") {
    int_in(n, "units", 1, kMaxUnits);
  } else if (op == "Conv" || op == "Pool") {
    const auto rank = static_cast<size_t>(int_in(n, "rank", 1, 3));
    ints_in(n, op == "Conv" ? "kernel_size" : "pool_size", rank, 1, kMaxWindow);
    ints_in(n, "strides", rank, 1, kMaxWindow);
    if (op == "Conv") {
      ints_in(n, "dilation", rank, 1, kMaxWindow);
      const int64_t filters = int_in(n, "filters", 1, kMaxUnits);
      const int64_t groups = int_in(n, "groups", 1, kMaxUnits);
      if (filters % groups != 0) bad_node(n, fmt::format("groups = {} does not divide filters = {}", groups, filters));
    }
  } else if (op == "GlobalPool") {
    int_in(n, "rank", 1, 3);
  } else if (op == "Embedding") {
    int_in(n, "input_dim", 1, kMaxUnits);
    int_in(n, "output_dim", 1, kMaxUnits);
  } else if (op == "ZeroPadding") {
    const auto rank = static_cast<size_t>(int_in(n, "rank", 1, 3));
    const auto& p = n.attrs.at("padding");
    if (!p.is_array() || p.size() != rank) bad_node(n, "padding must hold one (before, after) pair per axis");
    for (const auto& pair : p)
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_number_integer() ||
          pair[0].get<int64_t>() < 0 || pair[1].get<int64_t>() < 0 || pair[0].get<int64_t>() > kMaxWindow ||
          pair[1].get<int64_t>() > kMaxWindow)
        bad_node(n, fmt::format("padding {} is not a list of non-negative (before, after) pairs", p.dump()));
  } else if (op == "Reshape") {
    const auto& t = n.attrs.at("target_shape");
    if (!t.is_array()) bad_node(n, "target_shape must be a list");
    int unknown = 0;
    for (const auto& d : t) {
      if (!d.is_number_integer() || (d.get<int64_t>() != -1 && (d.get<int64_t>() < 1 || d.get<int64_t>() > kMaxUnits)))
        bad_node(n, fmt::format("target_shape {} has a dimension that is not -1 or 1..{}", t.dump(), kMaxUnits));
      unknown += d.get<int64_t>() == -1;
    }
    if (unknown > 1) bad_node(n, "target_shape has more than one -1");
  } else if (op == "Permute") {
    const auto& d = n.attrs.at("dims");
    if (!d.is_array()) bad_node(n, "dims must be a list");
    std::set<int64_t> seen;
    for (const auto& x : d)
      if (!x.is_number_integer() || x.get<int64_t>() < 1 || x.get<int64_t>() > static_cast<int64_t>(d.size()) ||
          !seen.insert(x.get<int64_t>()).second)
        bad_node(n, fmt::format("dims {} is not a permutation of 1..{}", d.dump(), d.size()));
  } else if (op == "SliceAxis") {
    int_in(n, "axis", 1, 64);
    const int64_t begin = int_in(n, "begin", 0, kMaxUnits);
    if (int_in(n, "end", 1, kMaxUnits) <= begin) bad_node(n, "end must be greater than begin");
  } else if (op == "Dropout") {
    const auto& r = n.attrs.at("rate");
    if (!r.is_number() || !(r.get<double>() >= 0.0 && r.get<double>() <= 1.0))
      bad_node(n, fmt::format("rate {} is not in [0, 1]", r.dump()));
  }
}

// Once shapes are known: windowed layers get inputs of their rank (+ channels), and grouped
// convolutions input channels divisible by groups.
// Inputs that cannot meet: a Dense whose input width is not its kernel's rows, an Attention whose
// query and key widths or key and value lengths differ.
void check_operands(const Node& n, const std::map<std::string, Shape>& shapes) {
  auto shape = [&](size_t i) -> const Shape* {
    if (i >= n.inputs.size()) return nullptr;
    auto it = shapes.find(n.inputs[i]);
    return it == shapes.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (n.op == "Dense") {
    const Weight* k = n.weight("kernel");
    const Shape* in = shape(0);
    if (k && in && k->tensor.shape.size() == 2 && in->back() >= 0 && in->back() != k->tensor.shape[0])
      bad_node(n, fmt::format("its input has {} features, its kernel {} takes {}", in->back(), shape_str(k->tensor.shape),
                              k->tensor.shape[0]));
  } else if (n.op == "Attention") {
    const Shape *q = shape(0), *v = shape(1), *k = n.inputs.size() > 2 ? shape(2) : shape(1);
    if (!q || !v || !k) return;
    if (q->size() != v->size() || k->size() != v->size())
      bad_node(n, fmt::format("query {}, value {} and key {} differ in rank", shape_str(*q), shape_str(*v), shape_str(*k)));
    if (q->back() >= 0 && k->back() >= 0 && q->back() != k->back())
      bad_node(n, fmt::format("query width {} differs from key width {}", q->back(), k->back()));
    if (k->size() >= 2 && (*k)[k->size() - 2] >= 0 && (*v)[v->size() - 2] >= 0 && (*k)[k->size() - 2] != (*v)[v->size() - 2])
      bad_node(n, fmt::format("key length {} differs from value length {}", (*k)[k->size() - 2], (*v)[v->size() - 2]));
  }
}

void check_groups(const Node& n, const std::map<std::string, Shape>& shapes) {
  check_operands(n, shapes);
  const bool windowed = n.op == "Conv" || n.op == "Pool" || n.op == "GlobalPool" || n.op == "ZeroPadding";
  if (!windowed || n.inputs.empty()) return;
  auto it = shapes.find(n.inputs[0]);
  if (it == shapes.end()) return;
  const auto rank = n.attrs.at("rank").get<size_t>();
  if (it->second.size() != rank + 1)
    bad_node(n, fmt::format("a {}-D layer needs inputs of rank {} (without batch), got shape {}", rank, rank + 1,
                            shape_str(it->second)));
  if (n.op != "Conv") return;
  const int64_t groups = n.attrs.at("groups").get<int64_t>();
  const bool cf = n.attrs.value("data_format", "channels_last") == "channels_first";
  const int64_t ch = cf ? it->second.front() : it->second.back();
  if (ch > 0 && ch % groups != 0)
    bad_node(n, fmt::format("groups = {} does not divide the {} input channels", groups, ch));
}

}  // namespace

void validate_node(const Node& n) {
  try {
    check_node(n);
  } catch (const nlohmann::json::exception& e) {
    bad_node(n, std::string("attribute missing or of the wrong type: ") + e.what());
  }
}

void validate_model(const Model& m) {
  std::map<std::string, int> seen;  // name -> output count
  auto known = [&](const std::string& ref) {
    const TensorRef r = parse_ref(ref);
    auto it = seen.find(r.node);
    return it != seen.end() && r.index < it->second;
  };
  for (const auto& n : m.nodes) {
    if (n.name.empty()) fail(ErrorKind::Malformed, "a layer has an empty name");
    for (const auto& i : n.inputs)
      if (!known(i))
        fail(ErrorKind::Malformed,
             parse_ref(i).node == n.name ? "layer takes its own output as input (cycle)"
             : seen.count(parse_ref(i).node) ? fmt::format("input '{}' names an output the layer does not have", i)
                                             : fmt::format("input '{}' is not an earlier layer (dangling edge or cycle)", i),
             {}, fmt::format("layer '{}'", n.name));
    if (!seen.emplace(n.name, output_count(n)).second) fail(ErrorKind::Malformed, fmt::format("duplicate layer name '{}'", n.name));
  }
  for (const auto& o : m.outputs)
    if (!known(o)) fail(ErrorKind::Malformed, fmt::format("model output '{}' is not a layer output", o));
  for (const auto& n : m.nodes) {
    validate_node(n);
    if (n.op == "Input" ? !n.inputs.empty() : n.inputs.empty())
      bad_node(n, n.op == "Input" ? "an Input takes no inputs" : "layer has no inputs");
  }
  // Shapes are inferred only once every attribute is known to be in range.
  const auto shapes = infer_shapes(m);
  for (const auto& n : m.nodes) check_groups(n, shapes);
}

}  // namespace wb
