// Dense, convolution (im2col + GEMM), pooling and global pooling.
//
// Windowed ops work on the channels_last form (N, spatial..., C); channels_first inputs are
// transposed in and out. Rank 1 and 2 are run as rank 3 with leading spatial dims of 1.
#include <fmt/format.h>

#include <array>
#include <cmath>

#include "engine/ops.h"

namespace wb::engine {

namespace {

using Dims = std::array<int64_t, 3>;

struct Window {
  Dims in{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1}, dil{1, 1, 1}, pad{0, 0, 0}, out{1, 1, 1};
  size_t positions() const { return static_cast<size_t>(out[0] * out[1] * out[2]); }
  size_t taps() const { return static_cast<size_t>(k[0] * k[1] * k[2]); }
};

std::vector<int64_t> ints(const nlohmann::json& attrs, const char* key, size_t rank, int64_t dflt) {
  if (!attrs.contains(key)) return std::vector<int64_t>(rank, dflt);
  auto v = attrs.at(key).get<std::vector<int64_t>>();
  if (v.size() != rank) bad_input(fmt::format("{} has {} values, expected {}", key, v.size(), rank));
  for (auto x : v)
    if (x < 1) bad_input(fmt::format("{} must be positive, got {}", key, x));
  return v;
}

// Geometry of a conv/pool over channels_last input x: padding valid, same (Keras: the odd pixel
// goes after, ir.cpp same_padding) or causal (rank 1: dilation * (k - 1) zeros before).
Window window(const nlohmann::json& attrs, const Shape& x, const char* size_key, bool dilated) {
  const size_t r = attrs.at("rank").get<size_t>();
  if (r < 1 || r > 3) unsupported(fmt::format("rank {} (1, 2 or 3 are supported)", r));
  if (x.size() != r + 2) bad_input(fmt::format("input of shape {} is not a batch of rank-{} feature maps", shape_str(x), r));
  const auto k = ints(attrs, size_key, r, 1), s = ints(attrs, "strides", r, 1);
  const auto d = dilated ? ints(attrs, "dilation", r, 1) : std::vector<int64_t>(r, 1);
  const std::string padding = attrs.value("padding", std::string("valid"));
  if (padding != "valid" && padding != "same" && !(padding == "causal" && r == 1))
    unsupported("padding '" + padding + "'");
  Window w;
  for (size_t i = 0; i < r; ++i) {
    const size_t j = 3 - r + i;
    w.in[j] = x[i + 1];
    w.k[j] = k[i];
    w.stride[j] = s[i];
    w.dil[j] = d[i];
    const int64_t dk = d[i] * (k[i] - 1) + 1;
    int64_t before = 0, after = 0;
    if (padding == "same") std::tie(before, after) = same_padding(x[i + 1], k[i], s[i], d[i]);
    if (padding == "causal") before = dk - 1;
    w.pad[j] = before;
    const int64_t span = x[i + 1] + before + after;
    if (span < dk) bad_input(fmt::format("input of shape {} is smaller than the window {}", shape_str(x), shape_str(k)));
    w.out[j] = (span - dk) / s[i] + 1;
  }
  return w;
}

Shape out_shape(const Shape& x, const Window& w, int64_t channels) {
  Shape out = {x[0]};
  const size_t r = x.size() - 2;
  for (size_t i = 0; i < r; ++i) out.push_back(w.out[3 - r + i]);
  out.push_back(channels);
  return out;
}

// One sample's patches, channels [c0, c0 + cg): row p = output position, columns (taps, cg).
void im2col(const float* x, const Window& w, size_t c, size_t c0, size_t cg, float* cols) {
  float* p = cols;
  for (int64_t od = 0; od < w.out[0]; ++od)
    for (int64_t oh = 0; oh < w.out[1]; ++oh)
      for (int64_t ow = 0; ow < w.out[2]; ++ow)
        for (int64_t kd = 0; kd < w.k[0]; ++kd)
          for (int64_t kh = 0; kh < w.k[1]; ++kh)
            for (int64_t kw = 0; kw < w.k[2]; ++kw, p += cg) {
              const int64_t id = od * w.stride[0] - w.pad[0] + kd * w.dil[0];
              const int64_t ih = oh * w.stride[1] - w.pad[1] + kh * w.dil[1];
              const int64_t iw = ow * w.stride[2] - w.pad[2] + kw * w.dil[2];
              if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1] || iw < 0 || iw >= w.in[2]) {
                std::fill(p, p + cg, 0.0f);
                continue;
              }
              const float* src = x + static_cast<size_t>((id * w.in[1] + ih) * w.in[2] + iw) * c + c0;
              std::copy(src, src + cg, p);
            }
}

bool is_pointwise(const Window& w) {
  for (size_t i = 0; i < 3; ++i)
    if (w.k[i] != 1 || w.stride[i] != 1 || w.pad[i] != 0) return false;
  return true;
}

void add_bias(Array& y, const Array* bias) {
  if (!bias) return;
  const size_t c = bias->data.size();  // the last axis
  for (size_t row = 0; row < y.data.size(); row += c)
    for (size_t j = 0; j < c; ++j) y.data[row + j] += bias->data[j];
}

Array conv_channels_last(const OpArgs& a, const Array& x) {
  const auto& at = a.node.attrs;
  const Window w = window(at, x.shape, "kernel_size", true);
  const int64_t filters = at.at("filters").get<int64_t>(), groups = at.value("groups", int64_t{1});
  const int64_t c = x.shape.back();
  if (groups < 1 || c % groups || filters % groups)
    bad_input(fmt::format("groups={} does not divide {} input channels and {} filters", groups, c, filters));
  const size_t cg = static_cast<size_t>(c / groups), fg = static_cast<size_t>(filters / groups);
  const size_t r = x.shape.size() - 2;
  Shape kshape;
  for (size_t i = 0; i < r; ++i) kshape.push_back(w.k[3 - r + i]);
  kshape.push_back(c / groups);
  kshape.push_back(filters);
  const Array& kernel = a.need_weight("kernel", kshape);
  const bool use_bias = at.value("use_bias", true);
  const Array* bias = use_bias ? &a.need_weight("bias", {filters}) : nullptr;
  Array y{out_shape(x.shape, w, filters), {}};
  y.data.resize(array_numel(y.shape));
  const size_t npos = w.positions(), kdim = w.taps() * cg, in_sample = x.data.size() / static_cast<size_t>(x.shape[0]);
  const bool direct = is_pointwise(w) && groups == 1;
  std::vector<float> cols(direct ? 0 : npos * kdim);
  for (size_t n = 0; n < static_cast<size_t>(x.shape[0]); ++n) {
    const float* xs = x.data.data() + n * in_sample;
    float* ys = y.data.data() + n * npos * static_cast<size_t>(filters);
    for (size_t g = 0; g < static_cast<size_t>(groups); ++g) {
      if (!direct) im2col(xs, w, static_cast<size_t>(c), g * cg, cg, cols.data());
      const float* lhs = direct ? xs : cols.data();
      sgemm(npos, fg, kdim, lhs, kdim, kernel.data.data() + g * fg, static_cast<size_t>(filters), 0.0f, ys + g * fg,
            static_cast<size_t>(filters));
    }
  }
  add_bias(y, bias);
  return y;
}

// Max, or average over the window positions inside the input (Keras 'same' excludes the padding).
Array pool_channels_last(const nlohmann::json& at, const Array& x) {
  const Window w = window(at, x.shape, "pool_size", false);
  const std::string type = at.value("pool_type", std::string("max"));
  if (type != "max" && type != "avg") unsupported("pool_type '" + type + "'");
  const bool is_max = type == "max";
  const size_t c = static_cast<size_t>(x.shape.back());
  Array y{out_shape(x.shape, w, x.shape.back()), {}};
  y.data.assign(array_numel(y.shape), 0.0f);
  const size_t in_sample = x.data.size() / static_cast<size_t>(x.shape[0]);
  float* out = y.data.data();
  std::vector<double> acc(c);
  for (size_t n = 0; n < static_cast<size_t>(x.shape[0]); ++n)
    for (int64_t od = 0; od < w.out[0]; ++od)
      for (int64_t oh = 0; oh < w.out[1]; ++oh)
        for (int64_t ow = 0; ow < w.out[2]; ++ow, out += c) {
          std::fill(acc.begin(), acc.end(), is_max ? -INFINITY : 0.0);
          size_t count = 0;
          for (int64_t kd = 0; kd < w.k[0]; ++kd)
            for (int64_t kh = 0; kh < w.k[1]; ++kh)
              for (int64_t kw = 0; kw < w.k[2]; ++kw) {
                const int64_t id = od * w.stride[0] - w.pad[0] + kd, ih = oh * w.stride[1] - w.pad[1] + kh,
                              iw = ow * w.stride[2] - w.pad[2] + kw;
                if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1] || iw < 0 || iw >= w.in[2]) continue;
                const float* src = x.data.data() + n * in_sample + static_cast<size_t>((id * w.in[1] + ih) * w.in[2] + iw) * c;
                for (size_t ch = 0; ch < c; ++ch) acc[ch] = is_max ? std::max(acc[ch], static_cast<double>(src[ch])) : acc[ch] + src[ch];
                ++count;
              }
          for (size_t ch = 0; ch < c; ++ch) out[ch] = static_cast<float>(is_max ? acc[ch] : acc[ch] / static_cast<double>(count));
        }
  return y;
}

bool channels_first(const nlohmann::json& attrs) {
  return attrs.value("data_format", std::string("channels_last")) == "channels_first";
}

}  // namespace

Array op_dense(const OpArgs& a) {
  const Array& x = a.one_input();
  const int64_t units = a.node.attrs.at("units").get<int64_t>();
  if (x.shape.size() < 2) bad_input("input of shape " + shape_str(x.shape) + " has no feature axis");
  const int64_t in = x.shape.back();
  const Array& kernel = a.need_weight("kernel", {in, units});
  Shape out = x.shape;
  out.back() = units;
  Array y{out, std::vector<float>(array_numel(out))};
  const size_t rows = in == 0 ? 0 : x.data.size() / static_cast<size_t>(in);
  sgemm(rows, static_cast<size_t>(units), static_cast<size_t>(in), x.data.data(), static_cast<size_t>(in),
        kernel.data.data(), static_cast<size_t>(units), 0.0f, y.data.data(), static_cast<size_t>(units));
  if (a.node.attrs.value("use_bias", true)) add_bias(y, &a.need_weight("bias", {units}));
  activate(a.node.attrs.value("activation", std::string("linear")), a.node.attrs, y);
  return y;
}

Array op_conv(const OpArgs& a) {
  const Array& x = a.one_input();
  const bool cf = channels_first(a.node.attrs);
  Array y = cf ? channels_last_to_first(conv_channels_last(a, channels_first_to_last(x))) : conv_channels_last(a, x);
  activate(a.node.attrs.value("activation", std::string("linear")), a.node.attrs, y);
  return y;
}

Array op_pool(const OpArgs& a) {
  const Array& x = a.one_input();
  if (channels_first(a.node.attrs)) return channels_last_to_first(pool_channels_last(a.node.attrs, channels_first_to_last(x)));
  return pool_channels_last(a.node.attrs, x);
}

Array op_global_pool(const OpArgs& a) {
  const Array& in = a.one_input();
  const size_t r = a.node.attrs.at("rank").get<size_t>();
  if (in.shape.size() != r + 2) bad_input(fmt::format("input of shape {} is not a batch of rank-{} feature maps", shape_str(in.shape), r));
  const Array x = channels_first(a.node.attrs) ? channels_first_to_last(in) : in;
  const std::string type = a.node.attrs.value("pool_type", std::string("max"));
  if (type != "max" && type != "avg") unsupported("pool_type '" + type + "'");
  const bool is_max = type == "max";
  const size_t n = static_cast<size_t>(x.shape[0]), c = static_cast<size_t>(x.shape.back());
  const size_t npos = n * c == 0 ? 0 : x.data.size() / (n * c);
  Array y{{x.shape[0], x.shape.back()}, std::vector<float>(n * c)};
  for (size_t s = 0; s < n; ++s)
    for (size_t ch = 0; ch < c; ++ch) {
      double acc = is_max ? -INFINITY : 0.0;
      for (size_t p = 0; p < npos; ++p) {
        const double v = x.data[(s * npos + p) * c + ch];
        acc = is_max ? std::max(acc, v) : acc + v;
      }
      y.data[s * c + ch] = static_cast<float>(is_max ? acc : acc / static_cast<double>(npos));
    }
  return y;
}

}  // namespace wb::engine
