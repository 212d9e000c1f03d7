// Writes a Keras 2 full-model .h5 of roughly the requested size: an MLP of square Dense layers
// whose kernels are filled with a cheap pseudo-random pattern, generated one tensor at a time.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "weightbridge/keras_h5.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: wb_gen_large OUT.h5 SIZE_MIB\n");
    return 2;
  }
  const std::string out = argv[1];
  const long mib = std::atol(argv[2]);
  const int64_t width = 8192;  // one kernel = 256 MiB
  const int layers = static_cast<int>(std::max<long>(1, mib / 256));
  nlohmann::json cfg_layers = nlohmann::json::array();
  std::vector<wb::keras::H5WriteLayer> w;
  for (int i = 0; i < layers; ++i) {
    const std::string name = "dense_" + std::to_string(i + 1);
    nlohmann::json c = {{"name", name}, {"units", width}, {"activation", "relu"}, {"use_bias", true}};
    if (i == 0) c["batch_input_shape"] = {nullptr, width};
    cfg_layers.push_back({{"class_name", "Dense"}, {"config", c}});
    wb::Tensor k;
    k.name = name + "/kernel:0";
    k.shape = {width, width};
    k.load = [i, width] {
      wb::Bytes b(static_cast<size_t>(width * width * 4));
      uint32_t x = 2463534242u + static_cast<uint32_t>(i);
      for (size_t j = 0; j < b.size(); j += 4) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        const float f = static_cast<float>(x & 0xffff) / 65536.0f - 0.5f;
        std::memcpy(b.data() + j, &f, 4);
      }
      return b;
    };
    std::vector<float> bias(static_cast<size_t>(width), 0.01f);
    w.push_back({name, {{name + "/kernel:0", k}, {name + "/bias:0", wb::make_f32(name + "/bias:0", {width}, bias)}}});
  }
  const nlohmann::json config = {{"class_name", "Sequential"}, {"config", {{"name", "big"}, {"layers", cfg_layers}}}};
  wb::keras::write_keras2_h5(out, w, config.dump());
  std::printf("wrote %s: %d Dense(%lld) layers\n", out.c_str(), layers, static_cast<long long>(width));
  return 0;
}
