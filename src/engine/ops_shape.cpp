// Ops that move data without arithmetic: Flatten, Reshape, Permute, Concat, ZeroPadding, Embedding.
#include <fmt/format.h>

#include <cmath>

#include "engine/ops.h"

namespace wb::engine {

namespace {

bool channels_first(const nlohmann::json& attrs) {
  return attrs.value("data_format", std::string("channels_last")) == "channels_first";
}

}  // namespace

Array op_flatten(const OpArgs& a) {
  const Array& x = a.one_input();
  // channels_last_first: the tensor is channels_first, its consumer expects channels_last order.
  Array y = a.node.attrs.value("channels_last_first", false) && x.shape.size() >= 3 ? channels_first_to_last(x) : x;
  const int64_t n = y.shape[0];
  y.shape = {n, n == 0 ? 0 : static_cast<int64_t>(y.data.size()) / n};
  return y;
}

Array op_reshape(const OpArgs& a) {
  Array y = a.one_input();
  const Shape target = a.node.attrs.at("target_shape").get<Shape>();
  const size_t per_sample = y.shape[0] == 0 ? 0 : y.data.size() / static_cast<size_t>(y.shape[0]);
  Shape out = {y.shape[0]};
  int unknown = -1;
  size_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1 && unknown < 0) unknown = static_cast<int>(i + 1);
    else if (target[i] < 0) bad_input("target_shape " + shape_str(target) + " has a negative dim or two -1");
    else known *= static_cast<size_t>(target[i]);
    out.push_back(target[i]);
  }
  if (unknown >= 0 && known > 0 && per_sample % known == 0)
    out[static_cast<size_t>(unknown)] = static_cast<int64_t>(per_sample / known);
  if (array_numel(out) != y.data.size())
    bad_input(fmt::format("cannot reshape {} to target_shape {}", shape_str(y.shape), shape_str(target)));
  y.shape = out;
  return y;
}

Array op_permute(const OpArgs& a) {
  const Array& x = a.one_input();
  const auto dims = a.node.attrs.at("dims").get<std::vector<int64_t>>();
  if (dims.size() + 1 != x.shape.size())
    bad_input(fmt::format("dims {} do not fit an input of shape {}", shape_str(dims), shape_str(x.shape)));
  std::vector<size_t> perm = {0};
  std::vector<bool> seen(x.shape.size(), false);
  for (auto d : dims) {
    if (d < 1 || static_cast<size_t>(d) >= x.shape.size() || seen[static_cast<size_t>(d)])
      bad_input("dims " + shape_str(dims) + " is not a permutation of 1.." + std::to_string(dims.size()));
    seen[static_cast<size_t>(d)] = true;
    perm.push_back(static_cast<size_t>(d));
  }
  return permute(x, perm);
}

Array op_concat(const OpArgs& a) {
  if (a.in.empty()) bad_input("Concat without inputs");
  const Shape& s0 = a.in[0]->shape;
  const size_t axis = keras_axis(a.node.attrs.value("axis", int64_t{-1}), s0.size(), "axis");
  Shape out = s0;
  out[axis] = 0;
  for (const Array* x : a.in) {
    bool fits = x->shape.size() == s0.size();
    for (size_t i = 0; fits && i < s0.size(); ++i) fits = i == axis || x->shape[i] == s0[i];
    if (!fits) bad_input(fmt::format("Concat of shapes {} and {} on axis {}", shape_str(s0), shape_str(x->shape), axis));
    out[axis] += x->shape[axis];
  }
  size_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(out[i]);
  for (size_t i = axis + 1; i < out.size(); ++i) inner *= static_cast<size_t>(out[i]);
  Array y{out, {}};
  y.data.reserve(array_numel(out));
  for (size_t o = 0; o < outer; ++o)
    for (const Array* x : a.in) {
      const size_t block = static_cast<size_t>(x->shape[axis]) * inner;
      y.data.insert(y.data.end(), x->data.begin() + static_cast<std::ptrdiff_t>(o * block),
                    x->data.begin() + static_cast<std::ptrdiff_t>((o + 1) * block));
    }
  return y;
}

namespace {

// a (B..., m, k) x b (B..., k, n) over the last two axes (transposes as asked), leading axes batched.
Array matmul(const Array& a, const Array& b, bool ta, bool tb) {
  const size_t r = a.shape.size();
  if (r < 2 || b.shape.size() != r) bad_input(fmt::format("matmul of shapes {} and {}", shape_str(a.shape), shape_str(b.shape)));
  size_t batch = 1;
  for (size_t i = 0; i + 2 < r; ++i) {
    if (a.shape[i] != b.shape[i]) bad_input(fmt::format("matmul batch axes of {} and {} differ", shape_str(a.shape), shape_str(b.shape)));
    batch *= static_cast<size_t>(a.shape[i]);
  }
  const auto m = static_cast<size_t>(a.shape[r - (ta ? 1 : 2)]), k = static_cast<size_t>(a.shape[r - (ta ? 2 : 1)]);
  const auto kb = static_cast<size_t>(b.shape[r - (tb ? 1 : 2)]), n = static_cast<size_t>(b.shape[r - (tb ? 2 : 1)]);
  if (k != kb) bad_input(fmt::format("matmul of shapes {} and {}: inner sizes {} and {}", shape_str(a.shape), shape_str(b.shape), k, kb));
  Shape out(a.shape.begin(), a.shape.end() - 2);
  out.push_back(static_cast<int64_t>(m));
  out.push_back(static_cast<int64_t>(n));
  Array y{out, std::vector<float>(batch * m * n)};
  for (size_t q = 0; q < batch; ++q) {
    const float* pa = a.data.data() + q * m * k;
    const float* pb = b.data.data() + q * k * n;
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) {
        double s = 0;
        for (size_t t = 0; t < k; ++t)
          s += static_cast<double>(ta ? pa[t * m + i] : pa[i * k + t]) * (tb ? pb[j * k + t] : pb[t * n + j]);
        y.data[q * m * n + i * n + j] = static_cast<float>(s);
      }
  }
  return y;
}

}  // namespace

// y times the node's one-number "scale" weight (an attention scale).
static void apply_scale(const Array& scale, Array& y, const char* what) {
  if (scale.data.size() != 1) bad_input(fmt::format("{} scale must be one number", what));
  for (auto& x : y.data) x *= scale.data[0];
}

Array op_matmul(const OpArgs& a) {
  if (a.in.size() != 2) bad_input(fmt::format("MatMul takes two inputs, got {}", a.in.size()));
  Array y = matmul(*a.in[0], *a.in[1], a.node.attrs.value("transpose_a", false), a.node.attrs.value("transpose_b", false));
  if (const Array* scale = a.weight("scale")) apply_scale(*scale, y, "MatMul");  // read from MXNet: broadcast_mul by one number
  return y;
}

// Keras' dot-product Attention: softmax(q k^T) v over the last two axes; with use_scale the
// scores are multiplied by the layer's one trained scalar first.
Array op_attention(const OpArgs& a) {
  if (a.in.size() != 2 && a.in.size() != 3) bad_input(fmt::format("Attention takes 2 or 3 inputs, got {}", a.in.size()));
  const Array& q = *a.in[0];
  const Array& v = *a.in[1];
  const Array& k = a.in.size() == 3 ? *a.in[2] : v;
  Array w = matmul(q, k, false, true);
  if (a.node.attrs.value("use_scale", false)) {  // scores times the trained scalar
    const Array* scale = a.weight("scale");
    if (!scale) bad_input("Attention with use_scale has no scale weight");
    apply_scale(*scale, w, "Attention");
  }
  activate("softmax", nlohmann::json{{"axis", -1}}, w);
  return matmul(w, v, false, false);
}

// x[..., begin:end, ...] on one axis (counting the batch axis, >= 1); the range must lie inside it.
Array op_slice_axis(const OpArgs& a) {
  const Array& x = a.one_input();
  const size_t axis = keras_axis(a.node.attrs.value("axis", int64_t{-1}), x.shape.size(), "axis");
  const int64_t begin = a.node.attrs.value("begin", int64_t{0}), end = a.node.attrs.value("end", int64_t{0});
  if (begin < 0 || end <= begin || end > x.shape[axis])
    bad_input(fmt::format("slice [{}, {}) of axis {} does not fit an input of shape {}", begin, end, axis, shape_str(x.shape)));
  Shape out = x.shape;
  out[axis] = end - begin;
  size_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= static_cast<size_t>(x.shape[i]);
  for (size_t i = axis + 1; i < x.shape.size(); ++i) inner *= static_cast<size_t>(x.shape[i]);
  Array y{out, {}};
  y.data.reserve(array_numel(out));
  const size_t row = static_cast<size_t>(x.shape[axis]) * inner;
  for (size_t o = 0; o < outer; ++o) {
    const auto from = x.data.begin() + static_cast<std::ptrdiff_t>(o * row + static_cast<size_t>(begin) * inner);
    y.data.insert(y.data.end(), from, from + static_cast<std::ptrdiff_t>(static_cast<size_t>(end - begin) * inner));
  }
  return y;
}

// Zero padding of the spatial axes, on the channels_last form (N, spatial..., C).
Array op_zero_padding(const OpArgs& a) {
  const bool cf = channels_first(a.node.attrs);
  const Array& in = a.one_input();
  const Array x = cf ? channels_first_to_last(in) : in;
  const auto pads = a.node.attrs.at("padding").get<std::vector<std::vector<int64_t>>>();
  if (pads.size() + 2 != x.shape.size())
    bad_input(fmt::format("{} padding pairs for an input of shape {}", pads.size(), shape_str(in.shape)));
  Shape out = x.shape;
  for (size_t i = 0; i < pads.size(); ++i) {
    if (pads[i].size() != 2 || pads[i][0] < 0 || pads[i][1] < 0) bad_input("padding must be pairs of non-negative ints");
    out[i + 1] += pads[i][0] + pads[i][1];
  }
  Array y{out, std::vector<float>(array_numel(out), 0.0f)};
  const size_t r = x.shape.size();
  const size_t row = static_cast<size_t>(x.shape[r - 1]);  // channels: copied as one run
  std::vector<int64_t> idx(r - 1, 0);                       // (n, spatial...) of the input
  for (size_t src = 0; src < x.data.size(); src += row) {
    size_t dst = 0;
    for (size_t d = 0; d + 1 < r; ++d)
      dst = dst * static_cast<size_t>(out[d]) + static_cast<size_t>(idx[d] + (d == 0 ? 0 : pads[d - 1][0]));
    std::copy(x.data.begin() + static_cast<std::ptrdiff_t>(src), x.data.begin() + static_cast<std::ptrdiff_t>(src + row),
              y.data.begin() + static_cast<std::ptrdiff_t>(dst * row));
    for (size_t d = r - 1; d-- > 0;) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  return cf ? channels_last_to_first(y) : y;
}

// Indices arrive as floats; they are truncated and clipped to [0, input_dim - 1] as MXNet's
// Embedding does. Keras does not clip (TensorFlow raises on CPU for an index out of range), so a
// clipped index is a difference from Keras only for inputs Keras would reject.
Array op_embedding(const OpArgs& a) {
  const Array& x = a.one_input();
  const int64_t input_dim = a.node.attrs.at("input_dim").get<int64_t>();
  const int64_t dim = a.node.attrs.at("output_dim").get<int64_t>();
  const Array& table = a.need_weight("embeddings", {input_dim, dim});
  if (input_dim <= 0) bad_input("input_dim must be positive");
  Shape out = x.shape;
  out.push_back(dim);
  Array y{out, std::vector<float>(array_numel(out))};
  const size_t d = static_cast<size_t>(dim);
  for (size_t i = 0; i < x.data.size(); ++i) {
    const float v = x.data[i];
    const int64_t idx = !(v > 0.0f) ? 0 : v >= static_cast<float>(input_dim - 1) ? input_dim - 1 : static_cast<int64_t>(v);
    std::copy(table.data.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(idx) * d),
              table.data.begin() + static_cast<std::ptrdiff_t>((static_cast<size_t>(idx) + 1) * d),
              y.data.begin() + static_cast<std::ptrdiff_t>(i * d));
  }
  return y;
}

}  // namespace wb::engine
