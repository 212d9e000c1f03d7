// Reference engine speed on a ResNet-50-shaped canonical model (bottleneck blocks of
// 1x1/3x3/1x1 Conv + BatchNorm + relu with Add shortcuts, global average pool, Dense 1000
// softmax; random weights), at batch 1 and 8, beside the BLAS library's own sgemm speed.
// GFLOP/s counts 2 x multiply-adds of the convolutions and dense layers only.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "weightbridge/engine.h"

namespace {

using wb::Model;
using wb::Node;
using wb::Shape;
using Clock = std::chrono::steady_clock;

struct Builder {
  Model m;
  std::mt19937 rng{42};
  int counter = 0;

  std::string add(const std::string& op, nlohmann::json attrs, std::vector<std::string> inputs,
                  std::vector<wb::Weight> weights = {}) {
    Node n;
    n.name = op + "_" + std::to_string(++counter);
    n.op = op;
    n.attrs = std::move(attrs);
    n.inputs = std::move(inputs);
    n.weights = std::move(weights);
    m.nodes.push_back(std::move(n));
    return m.nodes.back().name;
  }

  wb::Weight random(const std::string& role, Shape shape, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(wb::array_numel(shape));
    for (auto& x : v) x = u(rng);
    return wb::Weight{role, wb::make_f32(role, std::move(shape), v), role, ""};
  }

  wb::Weight filled(const std::string& role, int64_t n, float value) {
    return wb::Weight{role, wb::make_f32(role, {n}, std::vector<float>(static_cast<size_t>(n), value)), role, ""};
  }

  // Conv (channels_last, 'same') + BatchNorm (+ relu).
  std::string conv_bn(const std::string& in, int64_t cin, int64_t filters, int64_t k, int64_t stride, bool relu) {
    const float scale = std::sqrt(6.0f / static_cast<float>(k * k * cin));  // He-uniform: activations stay O(1)
    const std::string c = add("Conv",
                              {{"rank", 2}, {"filters", filters}, {"kernel_size", {k, k}}, {"strides", {stride, stride}},
                               {"dilation", {1, 1}}, {"groups", 1}, {"use_bias", false}, {"padding", "same"},
                               {"data_format", "channels_last"}, {"activation", "linear"}},
                              {in}, {random("kernel", {k, k, cin, filters}, scale)});
    const std::string b = add("BatchNorm", {{"axis", -1}, {"epsilon", 1e-3}, {"center", true}, {"scale", true}}, {c},
                              {filled("gamma", filters, 1), filled("beta", filters, 0), filled("moving_mean", filters, 0),
                               filled("moving_variance", filters, 1)});
    return relu ? add("Activation", {{"activation", "relu"}}, {b}) : b;
  }

  std::string bottleneck(const std::string& in, int64_t cin, int64_t width, int64_t stride) {
    std::string y = conv_bn(in, cin, width, 1, stride, true);
    y = conv_bn(y, width, width, 3, 1, true);
    y = conv_bn(y, width, 4 * width, 1, 1, false);
    const std::string shortcut = cin == 4 * width && stride == 1 ? in : conv_bn(in, cin, 4 * width, 1, stride, false);
    return add("Activation", {{"activation", "relu"}}, {add("Add", nlohmann::json::object(), {y, shortcut})});
  }
};

Model resnet50() {
  Builder b;
  b.m.nodes.push_back(Node{"image", "Input", {{"shape", {224, 224, 3}}}, {}, {}});
  std::string x = b.conv_bn("image", 3, 64, 7, 2, true);
  x = b.add("Pool", {{"rank", 2}, {"pool_type", "max"}, {"pool_size", {3, 3}}, {"strides", {2, 2}}, {"padding", "same"},
                     {"data_format", "channels_last"}}, {x});
  int64_t cin = 64;
  const int blocks[] = {3, 4, 6, 3};
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < blocks[s]; ++i) {
      const int64_t width = 64 << s;
      x = b.bottleneck(x, cin, width, s > 0 && i == 0 ? 2 : 1);
      cin = 4 * width;
    }
  x = b.add("GlobalPool", {{"rank", 2}, {"pool_type", "avg"}, {"data_format", "channels_last"}}, {x});
  x = b.add("Dense", {{"units", 1000}, {"use_bias", true}, {"activation", "softmax"}}, {x},
            {b.random("kernel", {cin, 1000}, 0.05f), b.filled("bias", 1000, 0)});
  b.m.outputs = {x};
  return std::move(b.m);
}

// Multiply-adds per sample of the Conv and Dense nodes, from the inferred output shapes.
double macs_per_sample(const Model& m) {
  const auto shapes = wb::infer_shapes(m);
  double macs = 0;
  for (const auto& n : m.nodes) {
    if (n.op != "Conv" && n.op != "Dense") continue;
    const Shape& k = n.weight("kernel")->tensor.shape;
    double per_output = 1;
    for (size_t i = 0; i + 1 < k.size(); ++i) per_output *= static_cast<double>(k[i]);
    double outputs = 1;
    for (auto d : shapes.at(n.name)) outputs *= static_cast<double>(d);
    macs += per_output * outputs;
  }
  return macs;
}

template <class F>
double best_seconds(F f, int reps) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t).count());
  }
  return best;
}

double sgemm_gflops(size_t m, size_t n, size_t k) {
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  const double s = best_seconds([&] { wb::sgemm(m, n, k, a.data(), k, b.data(), n, 0.0f, c.data(), n); }, 5);
  return 2.0 * static_cast<double>(m * n * k) / s * 1e-9;
}

}  // namespace

int main() {
  const Model m = resnet50();
  const double gmacs = macs_per_sample(m) * 1e-9;
  const wb::Engine engine(m);
  fmt::print("ResNet-50-shaped model: {} nodes, {:.3f} GMAC per image (conv + dense)\n", m.nodes.size(), gmacs);
  fmt::print("BLAS: {}\n", wb::blas_name());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0, 1);
  for (int64_t batch : {1, 8}) {
    wb::Array x{{batch, 224, 224, 3}, std::vector<float>(static_cast<size_t>(batch) * 224 * 224 * 3)};
    for (auto& v : x.data) v = u(rng);
    engine.run({{"image", x}});  // warm-up: page in buffers, start BLAS
    const double s = best_seconds([&] { engine.run({{"image", x}}); }, 3);
    fmt::print("batch {}: {:8.1f} ms per batch, {:6.1f} ms per image, {:5.1f} GFLOP/s\n", batch, s * 1e3,
               s * 1e3 / static_cast<double>(batch), 2.0 * gmacs * static_cast<double>(batch) / s);
  }
  fmt::print("sgemm 1024x1024x1024: {:5.1f} GFLOP/s\n", sgemm_gflops(1024, 1024, 1024));
  fmt::print("sgemm 3136x64x576 (3x3 conv at 56x56): {:5.1f} GFLOP/s\n", sgemm_gflops(3136, 64, 576));
  return 0;
}
