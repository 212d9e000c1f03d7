// Convolution family ops (model/conv_family.h): transposed, depthwise and separable convolution,
// PReLU, layer and group normalisation, cropping and nearest upsampling. Reference loops with
// double accumulation; windowed ops work on the channels_last form (N, spatial..., C).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "engine/ops.h"
#include "model/conv_family.h"

namespace wb::engine {

namespace {

using nlohmann::json;

bool channels_first(const json& attrs) { return attrs.value("data_format", std::string("channels_last")) == "channels_first"; }

// Runs f on the channels_last form of the single input and gives the result in the node's layout.
Array channels_last_op(const OpArgs& a, const std::function<Array(const Array&)>& f) {
  const Array& x = a.one_input();
  const auto r = a.node.attrs.at("rank").get<size_t>();
  if (r < 1 || r > 3) unsupported(fmt::format("rank {}", r));
  if (x.shape.size() != r + 2) bad_input(fmt::format("input of shape {} is not a batch of rank-{} feature maps", shape_str(x.shape), r));
  Array y = channels_first(a.node.attrs) ? channels_last_to_first(f(channels_first_to_last(x))) : f(x);
  activate(a.node.attrs.value("activation", std::string("linear")), a.node.attrs, y);
  return y;
}

// Spatial geometry padded to 3 axes (leading axes of length 1).
struct Geo {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  int64_t in_pos() const { return in[0] * in[1] * in[2]; }
  int64_t out_pos() const { return out[0] * out[1] * out[2]; }
};

std::vector<int64_t> ints(const json& at, const char* key, size_t r) {
  if (!at.contains(key)) return std::vector<int64_t>(r, 1);
  auto v = at.at(key).get<std::vector<int64_t>>();
  if (v.size() != r) bad_input(fmt::format("{} has {} values, expected {}", key, v.size(), r));
  for (auto e : v)
    if (e < 1) bad_input(fmt::format("{} must be positive", key));
  return v;
}

// Forward (depthwise) convolution geometry, Keras valid/same.
Geo conv_geo(const json& at, const Shape& x) {
  const size_t r = x.size() - 2;
  const auto k = ints(at, "kernel_size", r), s = ints(at, "strides", r), d = ints(at, "dilation", r);
  const std::string padding = at.value("padding", std::string("valid"));
  if (padding != "valid" && padding != "same") unsupported("padding '" + padding + "'");
  Geo g;
  for (size_t i = 0; i < r; ++i) {
    const size_t j = 3 - r + i;
    g.in[j] = x[i + 1], g.k[j] = k[i], g.s[j] = s[i], g.d[j] = d[i];
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    if (padding == "same") {
      g.pad[j] = same_padding(x[i + 1], k[i], s[i], d[i]).first;
      g.out[j] = (x[i + 1] + s[i] - 1) / s[i];
    } else {
      if (x[i + 1] < dk) bad_input(fmt::format("input of shape {} is smaller than the kernel", shape_str(x)));
      g.out[j] = (x[i + 1] - dk) / s[i] + 1;
    }
  }
  return g;
}

Shape out_shape(const Shape& x, const Geo& g, int64_t channels) {
  Shape o = {x[0]};
  const size_t r = x.size() - 2;
  for (size_t i = 0; i < r; ++i) o.push_back(g.out[3 - r + i]);
  o.push_back(channels);
  return o;
}

// Index of input position for output o and tap t on one axis, or -1 outside the input.
int64_t tap(const Geo& g, size_t ax, int64_t o, int64_t t) {
  const int64_t i = o * g.s[ax] - g.pad[ax] + t * g.d[ax];
  return i < 0 || i >= g.in[ax] ? -1 : i;
}

// y[n, p, c*mult+m] = sum_taps x[n, p', c] * k[taps, c, m] (no bias).
Array depthwise(const Array& x, const Geo& g, const Array& kernel, int64_t mult) {
  const int64_t c = x.shape.back(), n = x.shape[0];
  Array y{out_shape(x.shape, g, c * mult), {}};
  y.data.assign(array_numel(y.shape), 0.0f);
  std::vector<double> acc(static_cast<size_t>(c * mult));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t t0 = 0; t0 < g.k[0]; ++t0)
            for (int64_t t1 = 0; t1 < g.k[1]; ++t1)
              for (int64_t t2 = 0; t2 < g.k[2]; ++t2) {
                const int64_t i0 = tap(g, 0, o0, t0), i1 = tap(g, 1, o1, t1), i2 = tap(g, 2, o2, t2);
                if (i0 < 0 || i1 < 0 || i2 < 0) continue;
                const float* xp = x.data.data() + static_cast<size_t>((((b * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2) * c);
                const float* kp = kernel.data.data() + static_cast<size_t>(((t0 * g.k[1] + t1) * g.k[2] + t2) * c * mult);
                for (int64_t j = 0; j < c * mult; ++j) acc[static_cast<size_t>(j)] += static_cast<double>(xp[j / mult]) * kp[j];
              }
          float* yp = y.data.data() + static_cast<size_t>((((b * g.out[0] + o0) * g.out[1] + o1) * g.out[2] + o2) * c * mult);
          for (size_t j = 0; j < acc.size(); ++j) yp[j] = static_cast<float>(acc[j]);
        }
  return y;
}

Shape kernel_shape(const Geo& g, size_t r, int64_t a, int64_t b) {
  Shape s;
  for (size_t i = 0; i < r; ++i) s.push_back(g.k[3 - r + i]);
  s.push_back(a);
  s.push_back(b);
  return s;
}

void add_bias(Array& y, const OpArgs& a, int64_t channels) {
  if (!a.node.attrs.value("use_bias", true)) return;
  const Array& b = a.need_weight("bias", {channels});
  for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += b.data[i % static_cast<size_t>(channels)];
}

Array depthwise_cl(const OpArgs& a, const Array& x) {
  const Geo g = conv_geo(a.node.attrs, x.shape);
  const int64_t mult = a.node.attrs.value("depth_multiplier", int64_t{1}), c = x.shape.back();
  const Array& k = a.need_weight("depthwise_kernel", kernel_shape(g, x.shape.size() - 2, c, mult));
  Array y = depthwise(x, g, k, mult);
  add_bias(y, a, c * mult);
  return y;
}

Array separable_cl(const OpArgs& a, const Array& x) {
  const Geo g = conv_geo(a.node.attrs, x.shape);
  const int64_t mult = a.node.attrs.value("depth_multiplier", int64_t{1}), c = x.shape.back();
  const int64_t f = a.node.attrs.at("filters").get<int64_t>();
  const size_t r = x.shape.size() - 2;
  const Array& dk = a.need_weight("depthwise_kernel", kernel_shape(g, r, c, mult));
  Shape pws(r, 1);
  pws.push_back(c * mult);
  pws.push_back(f);
  const Array& pw = a.need_weight("pointwise_kernel", pws);
  const Array mid = depthwise(x, g, dk, mult);
  Shape os = mid.shape;
  os.back() = f;
  Array y{os, std::vector<float>(array_numel(os))};
  const size_t rows = static_cast<size_t>(array_numel(os) / static_cast<size_t>(f));
  sgemm_reference(rows, static_cast<size_t>(f), static_cast<size_t>(c * mult), mid.data.data(), static_cast<size_t>(c * mult),
                  pw.data.data(), static_cast<size_t>(f), 0.0f, y.data.data(), static_cast<size_t>(f));
  add_bias(y, a, f);
  return y;
}

// Scatter form: input position i, tap t lands on output i*s + t*d - crop_before.
Array transpose_cl(const OpArgs& a, const Array& x) {
  const auto& at = a.node.attrs;
  const size_t r = x.shape.size() - 2;
  const auto k = ints(at, "kernel_size", r), s = ints(at, "strides", r), d = ints(at, "dilation", r);
  const std::string padding = at.value("padding", std::string("valid"));
  if (padding != "valid" && padding != "same") unsupported("padding '" + padding + "'");
  const json op = at.value("output_padding", json());
  Geo g;
  for (size_t i = 0; i < r; ++i) {
    const size_t j = 3 - r + i;
    const auto t = conv_transpose_axis(x.shape[i + 1], k[i], s[i], d[i], padding,
                                       op.is_null() ? std::nullopt : std::optional<int64_t>(op.at(i).get<int64_t>()));
    g.in[j] = x.shape[i + 1], g.k[j] = k[i], g.s[j] = s[i], g.d[j] = d[i], g.pad[j] = t.crop_before, g.out[j] = t.out;
    if (t.out < 1) bad_input("transposed convolution output would be empty");
  }
  const int64_t f = at.at("filters").get<int64_t>(), c = x.shape.back(), n = x.shape[0];
  const Array& k_ = a.need_weight("kernel", kernel_shape(g, r, f, c));
  std::vector<double> acc(static_cast<size_t>(n * g.out_pos() * f), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i0 = 0; i0 < g.in[0]; ++i0)
      for (int64_t i1 = 0; i1 < g.in[1]; ++i1)
        for (int64_t i2 = 0; i2 < g.in[2]; ++i2) {
          const float* xp = x.data.data() + static_cast<size_t>((((b * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2) * c);
          for (int64_t t0 = 0; t0 < g.k[0]; ++t0)
            for (int64_t t1 = 0; t1 < g.k[1]; ++t1)
              for (int64_t t2 = 0; t2 < g.k[2]; ++t2) {
                const int64_t o0 = i0 * g.s[0] + t0 * g.d[0] - g.pad[0], o1 = i1 * g.s[1] + t1 * g.d[1] - g.pad[1],
                              o2 = i2 * g.s[2] + t2 * g.d[2] - g.pad[2];
                if (o0 < 0 || o0 >= g.out[0] || o1 < 0 || o1 >= g.out[1] || o2 < 0 || o2 >= g.out[2]) continue;
                double* yp = acc.data() + static_cast<size_t>((((b * g.out[0] + o0) * g.out[1] + o1) * g.out[2] + o2) * f);
                const float* kp = k_.data.data() + static_cast<size_t>(((t0 * g.k[1] + t1) * g.k[2] + t2) * f * c);
                for (int64_t fo = 0; fo < f; ++fo)
                  for (int64_t ci = 0; ci < c; ++ci) yp[fo] += static_cast<double>(xp[ci]) * kp[fo * c + ci];
              }
        }
  Array y{out_shape(x.shape, g, f), {}};
  y.data.assign(acc.begin(), acc.end());
  add_bias(y, a, f);
  return y;
}

Array cropping_cl(const json& at, const Array& x) {
  const size_t r = x.shape.size() - 2;
  const auto& crop = at.at("cropping");
  Shape os = x.shape;
  std::vector<int64_t> before(3, 0);
  for (size_t i = 0; i < r; ++i) {
    before[3 - r + i] = crop.at(i).at(0).get<int64_t>();
    os[i + 1] -= crop.at(i).at(0).get<int64_t>() + crop.at(i).at(1).get<int64_t>();
    if (os[i + 1] < 1 || crop.at(i).at(0).get<int64_t>() < 0 || crop.at(i).at(1).get<int64_t>() < 0)
      bad_input(fmt::format("cropping {} does not fit input {}", crop.dump(), shape_str(x.shape)));
  }
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  for (size_t i = 0; i < r; ++i) in[3 - r + i] = x.shape[i + 1], out[3 - r + i] = os[i + 1];
  const int64_t c = x.shape.back();
  Array y{os, std::vector<float>(array_numel(os))};
  float* yp = y.data.data();
  for (int64_t b = 0; b < x.shape[0]; ++b)
    for (int64_t o0 = 0; o0 < out[0]; ++o0)
      for (int64_t o1 = 0; o1 < out[1]; ++o1)
        for (int64_t o2 = 0; o2 < out[2]; ++o2, yp += c) {
          const float* xp = x.data.data() +
              static_cast<size_t>((((b * in[0] + o0 + before[0]) * in[1] + o1 + before[1]) * in[2] + o2 + before[2]) * c);
          std::copy(xp, xp + c, yp);
        }
  return y;
}

Array upsampling_cl(const json& at, const Array& x) {
  const size_t r = x.shape.size() - 2;
  if (at.value("interpolation", std::string("nearest")) != "nearest") unsupported("interpolation other than nearest");
  const auto size = ints(at, "size", r);
  Shape os = x.shape;
  int64_t in[3] = {1, 1, 1}, sz[3] = {1, 1, 1};
  for (size_t i = 0; i < r; ++i) os[i + 1] *= size[i], in[3 - r + i] = x.shape[i + 1], sz[3 - r + i] = size[i];
  const int64_t c = x.shape.back();
  Array y{os, std::vector<float>(array_numel(os))};
  float* yp = y.data.data();
  for (int64_t b = 0; b < x.shape[0]; ++b)
    for (int64_t o0 = 0; o0 < in[0] * sz[0]; ++o0)
      for (int64_t o1 = 0; o1 < in[1] * sz[1]; ++o1)
        for (int64_t o2 = 0; o2 < in[2] * sz[2]; ++o2, yp += c) {
          const float* xp = x.data.data() +
              static_cast<size_t>((((b * in[0] + o0 / sz[0]) * in[1] + o1 / sz[1]) * in[2] + o2 / sz[2]) * c);
          std::copy(xp, xp + c, yp);
        }
  return y;
}

// Normalises x over the axes in `norm` (sorted, batch excluded) for every index of the other
// axes; gamma/beta are indexed by the flat position within `param_axes`.
Array normalise(const OpArgs& a, const Array& x, const std::vector<size_t>& norm, const std::vector<size_t>& param_axes,
                const Shape& param_shape) {
  const double eps = a.node.attrs.value("epsilon", 1e-3);
  const Array* gamma = a.node.attrs.value("scale", true) ? &a.need_weight("gamma", param_shape) : nullptr;
  const Array* beta = a.node.attrs.value("center", true) ? &a.need_weight("beta", param_shape) : nullptr;
  const size_t rank = x.shape.size();
  std::vector<size_t> stride(rank, 1);
  for (size_t i = rank; i-- > 1;) stride[i - 1] = stride[i] * static_cast<size_t>(x.shape[i]);
  std::vector<bool> is_norm(rank, false);
  for (auto ax : norm) is_norm[ax] = true;
  // Group elements by their index on the non-normalised axes.
  std::map<size_t, std::vector<size_t>> groups;
  for (size_t e = 0; e < x.data.size(); ++e) {
    size_t key = 0;
    for (size_t ax = 0; ax < rank; ++ax)
      if (!is_norm[ax]) key += (e / stride[ax] % static_cast<size_t>(x.shape[ax])) * stride[ax];
    groups[key].push_back(e);
  }
  Array y{x.shape, std::vector<float>(x.data.size())};
  for (const auto& [key, idx] : groups) {
    double mean = 0, var = 0;
    for (auto e : idx) mean += x.data[e];
    mean /= static_cast<double>(idx.size());
    for (auto e : idx) var += (x.data[e] - mean) * (x.data[e] - mean);
    var /= static_cast<double>(idx.size());
    for (auto e : idx) {
      size_t p = 0;
      for (auto ax : param_axes) p = p * static_cast<size_t>(x.shape[ax]) + e / stride[ax] % static_cast<size_t>(x.shape[ax]);
      double v = (x.data[e] - mean) / std::sqrt(var + eps);
      if (gamma) v *= gamma->data[p];
      if (beta) v += beta->data[p];
      y.data[e] = static_cast<float>(v);
    }
  }
  return y;
}

}  // namespace

Array op_conv_transpose(const OpArgs& a) { return channels_last_op(a, [&](const Array& x) { return transpose_cl(a, x); }); }
Array op_depthwise_conv(const OpArgs& a) { return channels_last_op(a, [&](const Array& x) { return depthwise_cl(a, x); }); }
Array op_separable_conv(const OpArgs& a) { return channels_last_op(a, [&](const Array& x) { return separable_cl(a, x); }); }
Array op_cropping(const OpArgs& a) { return channels_last_op(a, [&](const Array& x) { return cropping_cl(a.node.attrs, x); }); }
Array op_upsampling(const OpArgs& a) { return channels_last_op(a, [&](const Array& x) { return upsampling_cl(a.node.attrs, x); }); }

// y = x if x > 0 else alpha * x; alpha has the input shape with shared axes of length 1.
Array op_prelu(const OpArgs& a) {
  const Array& x = a.one_input();
  Shape as(x.shape.begin() + 1, x.shape.end());
  for (const auto& ax : a.node.attrs.value("shared_axes", json::array())) {
    const auto i = ax.get<int64_t>();
    if (i < 1 || static_cast<size_t>(i) > as.size()) bad_input("shared_axes " + ax.dump() + " out of range");
    as[static_cast<size_t>(i - 1)] = 1;
  }
  const Array& alpha = a.need_weight("alpha", as);
  Array y = x;
  const size_t per = y.data.size() / static_cast<size_t>(std::max<int64_t>(x.shape[0], 1));
  std::vector<size_t> stride(as.size(), 1);
  for (size_t i = as.size(); i-- > 1;) stride[i - 1] = stride[i] * static_cast<size_t>(x.shape[i + 1]);
  for (size_t e = 0; e < y.data.size(); ++e) {
    if (y.data[e] > 0) continue;
    size_t p = 0;
    for (size_t i = 0; i < as.size(); ++i) p = p * static_cast<size_t>(as[i]) + (as[i] == 1 ? 0 : e % per / stride[i] % static_cast<size_t>(as[i]));
    y.data[e] = alpha.data[p] * y.data[e];
  }
  return y;
}

Array op_layer_norm(const OpArgs& a) {
  const Array& x = a.one_input();
  std::vector<size_t> axes;
  Shape ps;
  for (const auto& ax : a.node.attrs.at("axis")) axes.push_back(keras_axis(ax.get<int64_t>(), x.shape.size(), "axis"));
  std::sort(axes.begin(), axes.end());
  for (auto ax : axes) ps.push_back(x.shape[ax]);
  return normalise(a, x, axes, axes, ps);
}

// Channels split into `groups` contiguous groups; statistics per (sample, group) over the group's
// channels and every other non-batch axis; gamma/beta per channel.
Array op_group_norm(const OpArgs& a) {
  const Array& x = a.one_input();
  const size_t ch = keras_axis(a.node.attrs.value("axis", int64_t{-1}), x.shape.size(), "axis");
  const int64_t groups = a.node.attrs.at("groups").get<int64_t>(), c = x.shape[ch];
  if (groups < 1 || c % groups) bad_input(fmt::format("groups={} does not divide {} channels", groups, c));
  // View as (..., G, C/G, ...): the group axis stays, the rest is normalised.
  Shape view;
  for (size_t i = 0; i < x.shape.size(); ++i) {
    if (i == ch) { view.push_back(groups); view.push_back(c / groups); }
    else view.push_back(x.shape[i]);
  }
  Array xv{view, x.data};
  std::vector<size_t> norm;
  for (size_t i = 1; i < view.size(); ++i)
    if (i != ch) norm.push_back(i);
  Array y = normalise(a, xv, norm, {ch, ch + 1}, {c});
  y.shape = x.shape;
  return y;
}

// Unshared convolution (model/conv_family.h, LocallyConnected): the stored kernel of any
// implementation is first gathered into implementation 1's (P, A*C, F) form, then each output
// position p is the product of its input patch (in the kernel's feature order) with kernel[p].
Array op_locally_connected(const OpArgs& a) {
  const Array& x = a.one_input();
  const auto& at = a.node.attrs;
  const auto r = at.at("rank").get<size_t>();
  if (r < 1 || r > 2) unsupported(fmt::format("rank {}", r));
  if (at.value("padding", std::string("valid")) != "valid") unsupported("padding '" + at.value("padding", std::string()) + "'");
  const int64_t impl = at.value("implementation", int64_t{1});
  if (impl < 1 || impl > 3) unsupported(fmt::format("implementation {}", impl));
  if (x.shape.size() != r + 2) bad_input(fmt::format("input of shape {} is not a batch of rank-{} feature maps", shape_str(x.shape), r));
  const bool cf = channels_first(at);
  const Shape in(x.shape.begin() + 1, x.shape.end());
  const LocallyConnectedShapes sh = locally_connected_shapes(a.node, in);
  const auto k = ints(at, "kernel_size", r), s = ints(at, "strides", r);
  const int64_t n = x.shape[0], c = cf ? in.front() : in.back(), f = at.at("filters").get<int64_t>();
  // Spatial geometry padded to 2 axes (a leading axis of length 1 for rank 1).
  int64_t I[2] = {1, 1}, O[2] = {1, 1}, K[2] = {1, 1}, S[2] = {1, 1};
  for (size_t i = 0; i < r; ++i) {
    const size_t j = 2 - r + i;
    I[j] = in[cf ? i + 1 : i], O[j] = sh.bias[i], K[j] = k[i], S[j] = s[i];
  }
  const int64_t P = O[0] * O[1], A = K[0] * K[1], Q = I[0] * I[1], D = A * c;
  const Array& kw = a.need_weight("kernel", sh.kernel);
  const auto feat = [&](int64_t t, int64_t ch) { return cf ? ch * A + t : t * c + ch; };
  const auto in_pos = [&](int64_t p, int64_t t) {  // flat input position of output p, tap t
    return (p / O[1] * S[0] + t / K[1]) * I[1] + p % O[1] * S[1] + t % K[1];
  };
  std::vector<float> w1;  // (P, D, F)
  const std::vector<float>* w = &kw.data;
  if (impl != 1) {
    w1.assign(static_cast<size_t>(P * D * f), 0.0f);
    struct Entry {
      int64_t out, in, dst;
    };
    std::vector<Entry> entries;
    if (impl == 3) entries.reserve(static_cast<size_t>(P * D * f));
    for (int64_t p = 0; p < P; ++p)
      for (int64_t t = 0; t < A; ++t) {
        const int64_t q = in_pos(p, t);
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t fo = 0; fo < f; ++fo) {
            const int64_t dst = (p * D + feat(t, ch)) * f + fo;
            if (impl == 2) {
              const int64_t src = cf ? ((ch * Q + q) * f + fo) * P + p : ((q * c + ch) * P + p) * f + fo;
              w1[static_cast<size_t>(dst)] = kw.data[static_cast<size_t>(src)];
            } else {
              entries.push_back({cf ? fo * P + p : p * f + fo, cf ? ch * Q + q : q * c + ch, dst});
            }
          }
      }
    if (impl == 3) {
      // Keras sorts the (out_flat, in_flat) index pairs; the stored values follow that order.
      std::sort(entries.begin(), entries.end(),
                [](const Entry& l, const Entry& rr) { return l.out != rr.out ? l.out < rr.out : l.in < rr.in; });
      for (size_t e = 0; e < entries.size(); ++e) w1[static_cast<size_t>(entries[e].dst)] = kw.data[e];
    }
    w = &w1;
  }
  const Array* b = at.value("use_bias", true) ? &a.need_weight("bias", sh.bias) : nullptr;
  Array y{Shape{n}, std::vector<float>(static_cast<size_t>(n * P * f))};
  y.shape.insert(y.shape.end(), sh.out.begin(), sh.out.end());
  std::vector<double> patch(static_cast<size_t>(D)), acc(static_cast<size_t>(f));
  for (int64_t b0 = 0; b0 < n; ++b0) {
    const float* xs = x.data.data() + b0 * Q * c;
    float* ys = y.data.data() + b0 * P * f;
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t t = 0; t < A; ++t) {
        const int64_t q = in_pos(p, t);
        for (int64_t ch = 0; ch < c; ++ch) patch[static_cast<size_t>(feat(t, ch))] = xs[cf ? ch * Q + q : q * c + ch];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* wp = w->data() + p * D * f;
      for (int64_t j = 0; j < D; ++j) {
        const double v = patch[static_cast<size_t>(j)];
        const float* row = wp + j * f;
        for (int64_t fo = 0; fo < f; ++fo) acc[static_cast<size_t>(fo)] += v * row[fo];
      }
      for (int64_t fo = 0; fo < f; ++fo) ys[cf ? fo * P + p : p * f + fo] = static_cast<float>(acc[static_cast<size_t>(fo)]);
    }
    // The bias buffer is added to the sample's output as it is laid out (Keras bias_add reshapes
    // the (out..., F) bias to (F, out...) for channels_first).
    if (b)
      for (int64_t i = 0; i < P * f; ++i) ys[i] += b->data[static_cast<size_t>(i)];
  }
  activate(at.value("activation", std::string("linear")), at, y);
  return y;
}

}  // namespace wb::engine
