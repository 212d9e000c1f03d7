// weightbridge demo [DIR]: the main job on an embedded default. Generates a small keras-mxnet
// style model (channels_first CNN with BatchNorm, conv kernels stored in MXNet order, weight
// names like conv2d_1/kernel1), converts it to an MXNet checkpoint and back to a standard Keras 2
// file, shows that every tensor survives the round trip bit for bit, and runs the source and the
// MXNet model on the same input to show that they predict the same.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "weightbridge/error.h"
#include "weightbridge/load.h"
#include "core/io.h"

using nlohmann::json;

namespace wbcli {
namespace {

std::vector<float> pseudo_random(size_t n, uint32_t seed, float scale) {
  std::vector<float> v(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (auto& f : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    f = (static_cast<float>(x % 20001u) / 10000.0f - 1.0f) * scale;
  }
  return v;
}

wb::Tensor rnd(const std::string& name, wb::Shape shape, uint32_t seed, float scale = 0.5f, float offset = 0.0f) {
  auto v = pseudo_random(wb::checked_numel(shape), seed, scale);
  for (auto& f : v) f += offset;
  return wb::make_f32(name, std::move(shape), v);
}

json layer(const std::string& cls, json cfg) {
  const std::string name = cfg["name"];
  return json{{"class_name", cls}, {"config", std::move(cfg)}};
}

// A keras-mxnet 2.2.4.3 Sequential model, channels_first, as its own save() would write it.
void write_sample(const std::string& path) {
  json layers = json::array();
  layers.push_back(layer("Conv2D", {{"name", "conv2d_1"}, {"filters", 4}, {"kernel_size", {3, 3}}, {"strides", {1, 1}},
                                    {"padding", "same"}, {"data_format", "channels_first"}, {"dilation_rate", {1, 1}},
                                    {"activation", "linear"}, {"use_bias", true}, {"batch_input_shape", {nullptr, 2, 8, 8}},
                                    {"dtype", "float32"}, {"trainable", true}}));
  layers.push_back(layer("BatchNormalization", {{"name", "batch_normalization_1"}, {"axis", 1}, {"momentum", 0.99},
                                                {"epsilon", 0.001}, {"center", true}, {"scale", true}, {"trainable", true}}));
  layers.push_back(layer("Activation", {{"name", "activation_1"}, {"activation", "relu"}, {"trainable", true}}));
  layers.push_back(layer("MaxPooling2D", {{"name", "max_pooling2d_1"}, {"pool_size", {2, 2}}, {"strides", {2, 2}},
                                          {"padding", "valid"}, {"data_format", "channels_first"}, {"trainable", true}}));
  layers.push_back(layer("Flatten", {{"name", "flatten_1"}, {"data_format", "channels_first"}, {"trainable", true}}));
  layers.push_back(layer("Dense", {{"name", "dense_1"}, {"units", 3}, {"activation", "softmax"}, {"use_bias", true},
                                   {"trainable", true}}));
  const json config = {{"class_name", "Sequential"}, {"config", {{"name", "sequential_1"}, {"layers", layers}}}};
  std::vector<wb::keras::H5WriteLayer> w;
  // keras-mxnet keeps channels_first kernels in MXNet order (filters, in, kh, kw) and names them kernel1.
  w.push_back({"conv2d_1", {{"conv2d_1/kernel1", rnd("k", {4, 2, 3, 3}, 1)}, {"conv2d_1/bias1", rnd("b", {4}, 2, 0.1f)}}});
  w.push_back({"batch_normalization_1",
               {{"batch_normalization_1/gamma1", rnd("g", {4}, 3, 0.2f, 1.0f)},
                {"batch_normalization_1/beta1", rnd("b", {4}, 4, 0.1f)},
                {"batch_normalization_1/moving_mean1", rnd("m", {4}, 5, 0.1f)},
                {"batch_normalization_1/moving_variance1", rnd("v", {4}, 6, 0.3f, 1.0f)}}});
  w.push_back({"activation_1", {}});
  w.push_back({"max_pooling2d_1", {}});
  w.push_back({"flatten_1", {}});
  w.push_back({"dense_1", {{"dense_1/kernel1", rnd("k", {64, 3}, 7, 0.3f)}, {"dense_1/bias1", rnd("b", {3}, 8, 0.1f)}}});
  wb::keras::write_keras2_h5(path, w, config.dump(), "2.2.4.3", "mxnet");
}

void show(const wb::Model& m, const std::string& title) {
  std::cout << fmt::format("\n{} — {} {} ({})\n", title, m.prov.framework, m.prov.version, m.prov.format);
  for (const auto& note : m.prov.notes) std::cout << "  note: " << note << "\n";
  for (const auto& n : m.nodes)
    for (const auto& w : n.weights)
      std::cout << fmt::format("  {:<38} -> {:<37} {:<14} {}\n", w.source, n.name + "." + w.role,
                               wb::shape_str(w.tensor.shape), w.transform.empty() ? "as stored" : w.transform);
}

int compare(const wb::Model& a, const wb::Model& b) {
  int differing = 0, total = 0;
  std::cout << "\nround trip keras-mxnet .h5 -> MXNet -> Keras 2 .h5, canonical tensors compared byte for byte:\n";
  for (const auto& n : a.nodes) {
    for (const auto& w : n.weights) {
      ++total;
      const wb::Node* other = b.find(n.name);
      const wb::Weight* ow = other ? other->weight(w.role) : nullptr;
      const bool same = ow && ow->tensor.shape == w.tensor.shape && ow->tensor.load() == w.tensor.load();
      differing += same ? 0 : 1;
      std::cout << fmt::format("  {:<37} {}\n", n.name + "." + w.role, same ? "identical" : "DIFFERENT");
    }
  }
  std::cout << fmt::format("{} of {} tensors identical\n", total - differing, total);
  return differing == 0 ? 0 : 1;
}

}  // namespace

void setup_demo(CLI::App& app) {
  auto dir = std::make_shared<std::string>("weightbridge-demo");
  auto* cmd = app.add_subcommand("demo", "Run the main job on an embedded sample model (keras-mxnet CNN -> MXNet -> Keras)");
  cmd->add_option("dir", *dir, "Directory for the generated files (default ./weightbridge-demo)");
  cmd->callback([dir] {
    namespace fs = std::filesystem;
    if (dir->empty()) wb::fail(wb::ErrorKind::Usage, "demo: the directory name is empty");
    if (fs::exists(*dir) && !fs::is_directory(*dir)) wb::fail(wb::ErrorKind::Usage, "not a directory (demo writes its files into it)", *dir);
    fs::create_directories(*dir);
    const std::string src = *dir + "/sample_kerasmxnet.h5", mx = *dir + "/sample", back = *dir + "/sample_keras2.h5";
    // The demo's own earlier outputs are replaced; anything else under those names is left alone.
    const std::vector<std::string> outputs = {src, mx + "-symbol.json", mx + "-0000.params", back};
    for (const auto& p : outputs) {
      const fs::file_status st = fs::symlink_status(p);
      if (fs::exists(st) && !fs::is_regular_file(st) && !fs::is_symlink(st))
        wb::fail(wb::ErrorKind::Io, "exists and is not a file; the demo writes a file of this name (nothing was changed)", p);
    }
    for (const auto& p : outputs) fs::remove(p);
    write_sample(src);
    std::cout << "generated " << src << " (keras-mxnet 2.2.4.3, channels_first, MXNet-order kernels)\n";
    const wb::Model k = wb::load_model({src}, std::nullopt, {});
    show(k, "read " + src);
    const wb::MxnetExport ex = wb::export_mxnet(k);
    {
      wb::AtomicFile f(mx + "-symbol.json");
      f.write(wb::mxnet::write_symbol(ex.symbol));
      wb::mxnet::write_params(mx + "-0000.params", ex.params);
      f.commit();
    }
    std::cout << "\nwrote " << mx << "-symbol.json and " << mx << "-0000.params (" << ex.params.size() << " arrays)\n";
    const wb::Model m = wb::load_model({mx + "-symbol.json", mx + "-0000.params"}, std::nullopt, {});
    show(m, "read back the MXNet checkpoint weightbridge wrote (its symbol declares the MXNet version it targets)");
    std::cout << "\nforward pass: the keras-mxnet source and the MXNet checkpoint on the same input\n";
    const wb::VerifyOptions vopt;
    if (!print_verify(wb::verify_models(k, m, {}, vopt), vopt))
      throw wb::Error(wb::ErrorKind::Mapping, "the MXNet checkpoint does not predict what the source does");
    const wb::KerasExport kx = wb::export_keras(m);
    wb::keras::write_keras2_h5(back, kx.layers, kx.model_config.dump());
    std::cout << "\nwrote " << back << " (standard Keras 2 layout, loadable by tf.keras load_model)\n";
    const wb::Model k2 = wb::load_model({back}, std::nullopt, {});
    if (compare(k, k2) != 0) throw wb::Error(wb::ErrorKind::Mapping, "round trip changed tensors");
    std::cout << "\nthe same on your own files:\n"
              << "  weightbridge inspect " << src << "\n"
              << "  weightbridge convert " << src << " --to mxnet -o " << *dir << "/yours --verify --manifest " << *dir
              << "/manifest.json\n"
              << "  weightbridge diff " << src << " -- " << mx << "-symbol.json " << mx << "-0000.params\n"
              << "  weightbridge doctor " << mx << "-symbol.json " << mx << "-0000.params --to keras\n";
  });
}

}  // namespace wbcli
