// Element-wise ops, activations and inference-time BatchNorm.
#include <fmt/format.h>

#include <cmath>

#include "engine/ops.h"

namespace wb::engine {

namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Applies f to every value; a template so that f is inlined into the loop.
template <class F>
void map(Array& x, F f) {
  for (float& v : x.data) v = f(v);
}

// Scalar activations. Constants are Keras 2's (keras/activations.py, backend elu/selu).
void scalar_activation(const std::string& name, const nlohmann::json& attrs, Array& x) {
  if (name == "relu") return map(x, [](float v) { return v > 0.0f ? v : 0.0f; });
  if (name == "sigmoid") return map(x, sigmoid);
  if (name == "tanh") return map(x, [](float v) { return std::tanh(v); });
  if (name == "softplus")
    return map(x, [](float v) { return v > 0.0f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
  if (name == "softsign") return map(x, [](float v) { return v / (1.0f + std::fabs(v)); });
  if (name == "elu") return map(x, [](float v) { return v > 0.0f ? v : std::expm1(v); });
  if (name == "selu")
    return map(x, [](float v) {
      constexpr float kAlpha = 1.6732632423543772f, kScale = 1.0507009873554805f;
      return kScale * (v > 0.0f ? v : kAlpha * std::expm1(v));
    });
  if (name == "hard_sigmoid") {
    // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3 uses slope 1/6 (set hard_sigmoid_slope).
    const float slope = attrs.value("hard_sigmoid_slope", 0.2f);
    return map(x, [slope](float v) { return std::min(1.0f, std::max(0.0f, slope * v + 0.5f)); });
  }
  if (name == "exponential") return map(x, [](float v) { return std::exp(v); });
  if (name == "swish" || name == "silu") return map(x, [](float v) { return v * sigmoid(v); });
  if (name == "gelu") {
    if (attrs.value("approximate", false))
      return map(x, [](float v) {
        constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * v * (1.0f + std::tanh(kC * (v + 0.044715f * v * v * v)));
      });
    return map(x, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.7071067811865476f)); });
  }
  unsupported("activation '" + name + "' is not implemented by the engine");
}

// Softmax along one axis, computed in double with the maximum subtracted.
void softmax(Array& x, size_t axis) {
  size_t outer = 1, inner = 1;
  const size_t n = static_cast<size_t>(x.shape[axis]);
  for (size_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(x.shape[i]);
  for (size_t i = axis + 1; i < x.shape.size(); ++i) inner *= static_cast<size_t>(x.shape[i]);
  for (size_t o = 0; o < outer; ++o)
    for (size_t in = 0; in < inner; ++in) {
      float* p = x.data.data() + o * n * inner + in;
      float mx = -INFINITY;
      for (size_t i = 0; i < n; ++i) mx = std::max(mx, p[i * inner]);
      double sum = 0;
      for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(p[i * inner]) - mx);
      for (size_t i = 0; i < n; ++i) p[i * inner] = static_cast<float>(std::exp(static_cast<double>(p[i * inner]) - mx) / sum);
    }
}

}  // namespace

void activate(const std::string& name, const nlohmann::json& attrs, Array& x) {
  if (name == "linear") return;
  if (name == "softmax") {
    softmax(x, keras_axis(attrs.value("axis", int64_t{-1}), x.shape.size(), "softmax axis"));
    return;
  }
  scalar_activation(name, attrs, x);
}

Array op_activation(const OpArgs& a) {
  Array y = a.one_input();
  activate(a.node.attrs.value("activation", std::string("linear")), a.node.attrs, y);
  return y;
}

Array op_leaky_relu(const OpArgs& a) {
  Array y = a.one_input();
  const float alpha = a.node.attrs.value("alpha", 0.3f);
  for (float& v : y.data) v = v >= 0.0f ? v : alpha * v;
  return y;
}

Array op_dropout(const OpArgs& a) { return a.one_input(); }  // identity at inference

// y = (x - mean) / sqrt(var + eps) * gamma + beta, with gamma = 1 / beta = 0 when scale / center are off.
Array op_batch_norm(const OpArgs& a) {
  Array y = a.one_input();
  const size_t axis = keras_axis(a.node.attrs.value("axis", int64_t{-1}), y.shape.size(), "axis");
  const Shape c_shape = {y.shape[axis]};
  const size_t c = static_cast<size_t>(y.shape[axis]);
  const auto& mean = a.need_weight("moving_mean", c_shape).data;
  const auto& var = a.need_weight("moving_variance", c_shape).data;
  const bool scale = a.node.attrs.value("scale", true), center = a.node.attrs.value("center", true);
  const std::vector<float> ones(c, 1.0f), zeros(c, 0.0f);
  const auto& gamma = scale ? a.need_weight("gamma", c_shape).data : ones;
  const auto& beta = center ? a.need_weight("beta", c_shape).data : zeros;
  const double eps = a.node.attrs.value("epsilon", 1e-3);
  std::vector<float> mul(c), add(c);
  for (size_t i = 0; i < c; ++i) {
    const double m = gamma[i] / std::sqrt(static_cast<double>(var[i]) + eps);
    mul[i] = static_cast<float>(m);
    add[i] = static_cast<float>(beta[i] - mean[i] * m);
  }
  size_t inner = 1;
  for (size_t i = axis + 1; i < y.shape.size(); ++i) inner *= static_cast<size_t>(y.shape[i]);
  const size_t outer = c * inner == 0 ? 0 : y.data.size() / (c * inner);
  float* p = y.data.data();
  for (size_t o = 0; o < outer; ++o)
    for (size_t ch = 0; ch < c; ++ch)
      for (size_t i = 0; i < inner; ++i, ++p) *p = *p * mul[ch] + add[ch];
  return y;
}

namespace {

// Keras merge layers: inputs of one shape combined element by element, left to right.
template <typename Combine>
Array merge(const OpArgs& a, const char* name, Combine combine) {
  if (a.in.size() < 2) bad_input(fmt::format("{} takes at least two inputs, got {}", name, a.in.size()));
  Array y = *a.in[0];
  for (size_t k = 1; k < a.in.size(); ++k) {
    if (a.in[k]->shape != y.shape)
      bad_input(fmt::format("{} of shapes {} and {} (broadcasting is not supported)", name, shape_str(y.shape),
                            shape_str(a.in[k]->shape)));
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = combine(y.data[i], a.in[k]->data[i]);
  }
  return y;
}

}  // namespace

Array op_add(const OpArgs& a) { return merge(a, "Add", [](float x, float y) { return x + y; }); }
Array op_multiply(const OpArgs& a) { return merge(a, "Multiply", [](float x, float y) { return x * y; }); }
Array op_maximum(const OpArgs& a) { return merge(a, "Maximum", [](float x, float y) { return std::max(x, y); }); }
Array op_minimum(const OpArgs& a) { return merge(a, "Minimum", [](float x, float y) { return std::min(x, y); }); }

Array op_subtract(const OpArgs& a) {
  if (a.in.size() != 2) bad_input(fmt::format("Subtract takes exactly two inputs, got {}", a.in.size()));
  return merge(a, "Subtract", [](float x, float y) { return x - y; });
}

// Keras Average: the sum divided by the input count (a division, as Keras computes it).
Array op_average(const OpArgs& a) {
  Array y = op_add(a);
  const auto n = static_cast<float>(a.in.size());
  for (auto& v : y.data) v /= n;
  return y;
}

// MXNet scalar arithmetic (_mul_scalar, _div_scalar, _plus_scalar, _minus_scalar, _rminus_scalar).
Array op_scalar(const OpArgs& a) {
  const std::string fn = a.node.attrs.value("fn", "");
  const auto s = static_cast<float>(a.node.attrs.value("scalar", 0.0));
  Array y = *a.in.at(0);
  for (auto& v : y.data) {
    if (fn == "mul") v *= s;
    else if (fn == "div") v /= s;
    else if (fn == "add") v += s;
    else if (fn == "sub") v -= s;
    else if (fn == "rsub") v = s - v;
    else if (fn == "zero") v = 0.0f;  // MXNet zeros_like
    else bad_input("unknown scalar function '" + fn + "'");
  }
  return y;
}

}  // namespace wb::engine
