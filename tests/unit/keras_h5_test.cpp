// Keras HDF5 / .keras reader and Keras 2 writer. Expected values come from h5dump/h5py readings
// of the real fixtures (see PROVENANCE.md) and from the failure-case fixtures (BR-15, BR-22, BR-23).
#include "weightbridge/keras_h5.h"

#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/hdf5_util.h"
#include "test_util.h"
#include "weightbridge/error.h"

using namespace wb;
using namespace wb::keras;
namespace fs = std::filesystem;

namespace {

Bytes f32_bytes(const std::vector<float>& v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> values(const Tensor& t) { return to_f32(t.load(), t.dtype); }

template <typename Fn>
void expect_error(Fn fn, ErrorKind kind, const std::string& phrase) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing: " << phrase;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.format();
    EXPECT_NE(e.format().find(phrase), std::string::npos) << e.format();
  }
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The Dense(2->1) layer of BR-15/BR-23: kernel [[0.5],[-1.0]], bias [0.25].
void write_dense(const h5::Object& g, const std::string& kernel, const std::string& bias) {
  h5::write_fixed_string_list_attr(g, "weight_names", {kernel, bias});
  h5::write_dataset(g, kernel, DType::F32, {2, 1}, f32_bytes({0.5f, -1.0f}));
  h5::write_dataset(g, bias, DType::F32, {1}, f32_bytes({0.25f}));
}

void expect_dense(const H5Layer& layer) {
  ASSERT_EQ(layer.weights.size(), 2u);
  const Tensor& k = layer.weights[0].tensor;
  const Tensor& b = layer.weights[1].tensor;
  EXPECT_EQ(k.dtype, DType::F32);
  EXPECT_EQ(k.shape, (Shape{2, 1}));
  EXPECT_EQ(values(k), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(b.shape, (Shape{1}));
  EXPECT_EQ(values(b), (std::vector<float>{0.25f}));
}

// A weights-only legacy file whose single layer "dense" is written by `fill`.
template <typename Fill>
std::string legacy_weights_file(const std::string& dir, Fill fill) {
  const std::string path = dir + "/w.h5";
  h5::Object f = h5::create_file(path, path);
  h5::write_fixed_string_list_attr(f, "layer_names", {"dense"});
  fill(f.create_group("dense"));
  return path;
}

void write_zip(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& members,
               bool deflate) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(za, nullptr);
  for (const auto& [name, data] : members) {
    zip_source_t* src = zip_source_buffer(za, data.data(), data.size(), 0);
    const zip_int64_t idx = zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(idx, 0);
    zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(za), 0);
}

Bytes file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

// ---- real fixtures ----------------------------------------------------------------------------

TEST(KerasH5Real, EveryKerasFixtureReadsAndLoads) {
  WB_FIXTURE(dir, "");
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".h5" && ext != ".hdf5") continue;
    const std::string p = e.path().string();
    SCOPED_TRACE(p);
    // DL4J's *_inputs_and_outputs.h5 are plain h5py dumps of test data, not Keras files.
    if (p.find("_inputs_and_outputs") != std::string::npos) {
      expect_error([&] { read_h5(p); }, ErrorKind::Malformed, "not a Keras weights file");
      continue;
    }
    const H5File f = read_h5(p);
    EXPECT_FALSE(f.layers.empty());
    for (const auto& l : f.layers)
      for (const auto& w : l.weights) EXPECT_EQ(w.tensor.load().size(), w.tensor.nbytes()) << w.path;
    for (const auto& w : f.optimizer_weights) EXPECT_EQ(w.tensor.load().size(), w.tensor.nbytes()) << w.path;
    ++files;
  }
  EXPECT_GE(files, 20);
}

TEST(KerasH5Real, CnnBatchNormKeras213) {
  WB_FIXTURE(p, "keras2/cnn_batch_norm.h5");
  const H5File f = read_h5(p);
  EXPECT_EQ(f.layout, "keras-legacy-model");
  EXPECT_EQ(f.keras_version, "2.1.3");
  EXPECT_EQ(f.backend, "tensorflow");
  ASSERT_TRUE(f.model_config.has_value());
  EXPECT_EQ(f.model_config->rfind("{\"class_name\": \"Sequential\"", 0), 0u);
  ASSERT_TRUE(f.training_config.has_value());
  ASSERT_EQ(f.layers.size(), 6u);
  EXPECT_EQ(f.layers[1].name, "batch_normalization_1");
  const auto& bn = f.layers[1].weights;
  ASSERT_EQ(bn.size(), 4u);
  const char* ends[] = {"gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"};
  for (size_t i = 0; i < 4; ++i) {
    const std::string& n = bn[i].name;
    EXPECT_EQ(n.substr(n.size() - std::strlen(ends[i])), ends[i]);
  }
  EXPECT_TRUE(f.layers[2].weights.empty());  // activation_1: empty float64 weight_names
  const Tensor& k = f.layers[0].weights[0].tensor;
  EXPECT_EQ(f.layers[0].weights[0].path, "/model_weights/conv2d_1/conv2d_1/kernel:0");
  EXPECT_EQ(k.shape, (Shape{3, 3, 3, 1}));
  // First values read with h5py: kernel[()].ravel()[:4]
  const auto v = values(k);
  EXPECT_FLOAT_EQ(v[0], 0.07474792003631592f);
  EXPECT_FLOAT_EQ(v[1], -0.15312251448631287f);
  EXPECT_FLOAT_EQ(v[2], 0.33854013681411743f);
  EXPECT_FLOAT_EQ(v[3], 0.2677498459815979f);
}

TEST(KerasH5Real, Keras1WeightsOnlyTheano) {
  WB_FIXTURE(p, "keras1/k2c_mnist_cnn_th_weights.h5");
  const H5File f = read_h5(p);
  EXPECT_EQ(f.layout, "keras-legacy-weights");
  EXPECT_EQ(f.keras_version, "");
  EXPECT_EQ(f.backend, "");
  EXPECT_FALSE(f.model_config.has_value());
  ASSERT_EQ(f.layers.size(), 12u);
  ASSERT_EQ(f.layers[0].weights.size(), 2u);
  EXPECT_EQ(f.layers[0].weights[0].name, "convolution2d_1_W");
  EXPECT_EQ(f.layers[0].weights[1].name, "convolution2d_1_b");
  EXPECT_EQ(f.layers[0].weights[0].tensor.shape, (Shape{4, 1, 3, 3}));
}

TEST(KerasH5Real, Keras1LstmTwelveArrays) {
  WB_FIXTURE(p, "keras1/simple_lstm_th_model.h5");
  const H5File f = read_h5(p);
  EXPECT_EQ(f.layout, "keras-legacy-model");
  EXPECT_EQ(f.keras_version, "");  // Keras 1 full saves put it on the root only
  EXPECT_EQ(f.root_keras_version, "1.2.2");
  ASSERT_EQ(f.layers.size(), 2u);
  EXPECT_EQ(f.layers[0].name, "lstm_1");
  EXPECT_EQ(f.layers[0].weights.size(), 12u);
  EXPECT_EQ(f.optimizer_weights.size(), 14u);
  EXPECT_EQ(f.optimizer_weights[0].name, "param_0");
}

TEST(KerasH5Real, WeightPathFollowsWeightNames) {
  WB_FIXTURE(p, "keras2/causal_conv1d_dilated_model.h5");
  const H5File f = read_h5(p);
  ASSERT_EQ(f.layers.size(), 1u);
  ASSERT_EQ(f.layers[0].weights.size(), 2u);
  EXPECT_EQ(f.layers[0].weights[0].name, "conv0_5/kernel:0");  // relative to group conv0
  EXPECT_EQ(f.layers[0].weights[0].path, "/model_weights/conv0/conv0_5/kernel:0");
}

TEST(KerasH5Real, TfKerasVlenNamesAndScalarIteration) {
  WB_FIXTURE(p, "tfkeras/attention_optimizer_weights.h5");
  const H5File f = read_h5(p);
  EXPECT_EQ(f.keras_version, "2.11.0");
  std::vector<std::string> names;
  for (const auto& l : f.layers) names.push_back(l.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"inputs", "dense", "attention", "concatenate", "dense_1", "outputs"}));
  EXPECT_TRUE(f.top_level_weights.empty());
  ASSERT_EQ(f.optimizer_weights.size(), 1u);
  const Tensor& it = f.optimizer_weights[0].tensor;
  EXPECT_EQ(f.optimizer_weights[0].name, "iteration:0");
  EXPECT_EQ(it.dtype, DType::I64);
  EXPECT_TRUE(it.shape.empty());
  EXPECT_EQ(it.load(), Bytes(8, 0));  // h5py: 0
}

TEST(KerasH5Real, Keras3WeightsFile) {
  WB_FIXTURE(p, "keras3/flownet_mlp.weights.h5");
  const H5File f = read_h5(p);
  EXPECT_EQ(f.layout, "keras3-weights");
  ASSERT_EQ(f.layers.size(), 7u);
  const char* expected[] = {"dense",   "dense_1",     "dense_2",      "dense_3",
                            "dropout", "leaky_re_lu", "leaky_re_lu_1"};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(f.layers[i].name, expected[i]);
  EXPECT_EQ(f.layers[0].display_name, "dense");
  ASSERT_EQ(f.layers[0].weights.size(), 2u);
  EXPECT_EQ(f.layers[0].weights[0].name, "vars/0");
  EXPECT_EQ(f.layers[0].weights[0].path, "/layers/dense/vars/0");
  EXPECT_EQ(f.layers[0].weights[0].tensor.shape, (Shape{2, 128}));
  EXPECT_TRUE(f.layers[4].weights.empty());
  // h5py: layers/dense/vars/0[0, :3]
  const auto v = values(f.layers[0].weights[0].tensor);
  EXPECT_FLOAT_EQ(v[0], -1.3490440845489502f);
  EXPECT_FLOAT_EQ(v[1], 0.3964523375034332f);
  EXPECT_FLOAT_EQ(v[2], -1.1934033632278442f);
  ASSERT_EQ(f.optimizer_weights.size(), 18u);
  for (size_t i = 0; i < 18; ++i) EXPECT_EQ(f.optimizer_weights[i].name, "vars/" + std::to_string(i));
  const Tensor& iter = f.optimizer_weights[0].tensor;
  EXPECT_EQ(iter.dtype, DType::I64);
  EXPECT_TRUE(iter.shape.empty());
  EXPECT_EQ(to_f64(iter.load(), DType::I64)[0], 21600.0);
  EXPECT_EQ(f.optimizer_weights[10].tensor.shape, (Shape{64, 32}));
  EXPECT_TRUE(f.top_level_weights.empty());
}

TEST(KerasH5Real, KerasArchiveMatchesExtractedWeights) {
  WB_FIXTURE(zp, "keras3/flownet_mlp.keras");
  WB_FIXTURE(hp, "keras3/flownet_mlp.weights.h5");
  const KerasArchive a = read_keras_archive(zp);
  EXPECT_NE(a.metadata_json.find("3.9.2"), std::string::npos);
  EXPECT_NE(a.config_json.find("Sequential"), std::string::npos);
  const H5File h = read_h5(hp);
  ASSERT_EQ(a.weights.layers.size(), h.layers.size());
  for (size_t i = 0; i < h.layers.size(); ++i) {
    ASSERT_EQ(a.weights.layers[i].weights.size(), h.layers[i].weights.size());
    for (size_t j = 0; j < h.layers[i].weights.size(); ++j)
      EXPECT_EQ(sha256_hex(a.weights.layers[i].weights[j].tensor.load()),
                sha256_hex(h.layers[i].weights[j].tensor.load()));
  }
  EXPECT_EQ(a.weights.optimizer_weights.size(), 18u);
}

TEST(KerasH5Real, DeflatedArchiveReads) {
  WB_FIXTURE(hp, "keras3/flownet_mlp.weights.h5");
  const std::string zp = wbtest::tmp_dir() + "/m.keras";
  write_zip(
      zp, {{"metadata.json", {'{', '}'}}, {"config.json", {'{', '}'}}, {"model.weights.h5", file_bytes(hp)}},
      true);
  const KerasArchive a = read_keras_archive(zp);
  EXPECT_EQ(a.weights.layers.size(), 7u);
  EXPECT_EQ(sha256_hex(a.weights.layers[3].weights[0].tensor.load()),
            sha256_hex(read_h5(hp).layers[3].weights[0].tensor.load()));
}

TEST(KerasH5Real, TensorLoadsAfterFileObjectIsGone) {
  WB_FIXTURE(p, "keras2/cnn_batch_norm.h5");
  Tensor t = read_h5(p).layers[0].weights[0].tensor;
  EXPECT_EQ(t.load().size(), 27u * 4u);
}

// ---- BR-23: one Dense layer in three layouts ------------------------------------------------

TEST(KerasH5BR23, WeightsOnlyFullModelAndKeras0Agree) {
  const std::string dir = wbtest::tmp_dir();
  const std::string a = dir + "/a.h5", b = dir + "/b.h5", c = dir + "/c.h5";
  {
    h5::Object f = h5::create_file(a, a);
    h5::write_fixed_string_list_attr(f, "layer_names", {"dense_1"});
    h5::write_fixed_string_attr(f, "backend", "tensorflow");
    h5::write_fixed_string_attr(f, "keras_version", "2.2.4");
    write_dense(f.create_group("dense_1"), "dense_1/kernel:0", "dense_1/bias:0");
  }
  {
    h5::Object f = h5::create_file(b, b);
    h5::write_vlen_string_attr(f, "model_config", R"({"class_name": "Sequential", "config": []})");
    h5::write_vlen_string_attr(f, "training_config", R"({"loss": "mse"})");
    h5::write_vlen_string_attr(f, "keras_version", "2.2.4");
    h5::write_vlen_string_attr(f, "backend", "tensorflow");
    const h5::Object w = f.create_group("model_weights");
    h5::write_fixed_string_list_attr(w, "layer_names", {"dense_1"});
    h5::write_vlen_string_attr(w, "keras_version", "2.2.4");
    write_dense(w.create_group("dense_1"), "dense_1/kernel:0", "dense_1/bias:0");
    const h5::Object o = f.create_group("optimizer_weights");
    h5::write_fixed_string_list_attr(o, "weight_names", {"Adam/iterations:0"});
    h5::write_dataset(o, "Adam/iterations:0", DType::I64, {}, Bytes(8, 0));
  }
  {
    h5::Object f = h5::create_file(c, c);
    h5::write_numeric_attr(f, "nb_layers", DType::I64, {}, Bytes{1, 0, 0, 0, 0, 0, 0, 0});
    const h5::Object g = f.create_group("layer_0");
    h5::write_numeric_attr(g, "nb_params", DType::I64, {}, Bytes{2, 0, 0, 0, 0, 0, 0, 0});
    h5::write_dataset(g, "param_0", DType::F32, {2, 1}, f32_bytes({0.5f, -1.0f}));
    h5::write_dataset(g, "param_1", DType::F32, {1}, f32_bytes({0.25f}));
  }
  const H5File fa = read_h5(a), fb = read_h5(b), fc = read_h5(c);
  EXPECT_EQ(fa.layout, "keras-legacy-weights");
  EXPECT_EQ(fb.layout, "keras-legacy-model");
  EXPECT_EQ(fc.layout, "keras0");
  for (const H5File* f : {&fa, &fb, &fc}) {
    ASSERT_EQ(f->layers.size(), 1u);
    expect_dense(f->layers[0]);
  }
  EXPECT_EQ(fb.keras_version, "2.2.4");
  EXPECT_EQ(fb.training_config.value_or(""), R"({"loss": "mse"})");
  ASSERT_EQ(fb.optimizer_weights.size(), 1u);  // listed separately, never a layer
  EXPECT_EQ(fb.optimizer_weights[0].name, "Adam/iterations:0");
  EXPECT_EQ(fc.layers[0].name, "layer_0");
  EXPECT_EQ(fc.layers[0].weights[1].name, "param_1");
}

// ---- BR-15: Keras 2 vs Keras 3 legacy naming ------------------------------------------------

TEST(KerasH5BR15, K2AndK3LegacyGiveSameTensors) {
  const std::string dir = wbtest::tmp_dir();
  const std::string k2 = dir + "/k2.h5", k3 = dir + "/k3.h5";
  {
    h5::Object f = h5::create_file(k2, k2);
    h5::write_fixed_string_attr(f, "keras_version", "2.15.0");
    h5::write_fixed_string_attr(f, "backend", "tensorflow");
    const h5::Object w = f.create_group("model_weights");
    h5::write_fixed_string_list_attr(w, "layer_names", {"dense"});
    write_dense(w.create_group("dense"), "dense/kernel:0", "dense/bias:0");
  }
  {
    h5::Object f = h5::create_file(k3, k3);
    h5::write_vlen_string_attr(f, "keras_version", "3.3.3");
    const h5::Object w = f.create_group("model_weights");
    h5::write_fixed_string_list_attr(w, "layer_names", {"dense"});
    h5::write_vlen_string_attr(w, "keras_version", "3.3.3");
    write_dense(w.create_group("dense"), "kernel", "bias");
    h5::write_empty_f64_attr(w.create_group("top_level_model_weights"), "weight_names");
  }
  const H5File a = read_h5(k2), b = read_h5(k3);
  expect_dense(a.layers.at(0));
  expect_dense(b.layers.at(0));
  EXPECT_EQ(a.layers[0].weights[0].path, "/model_weights/dense/dense/kernel:0");
  EXPECT_EQ(b.layers[0].weights[0].path, "/model_weights/dense/kernel");
  EXPECT_EQ(b.keras_version, "3.3.3");
  EXPECT_EQ(b.layers.size(), 1u);
  EXPECT_TRUE(b.top_level_weights.empty());
}

TEST(KerasH5BR15, DuplicateWeightNamesRejected) {
  const std::string p = wbtest::tmp_dir() + "/dup.h5";
  {
    h5::Object f = h5::create_file(p, p);
    h5::write_fixed_string_list_attr(f, "layer_names", {"block"});
    const h5::Object g = f.create_group("block");
    h5::write_fixed_string_list_attr(g, "weight_names", {"kernel", "kernel"});
    h5::write_dataset(g, "kernel", DType::F32, {2, 1}, f32_bytes({0.5f, -1.0f}));
  }
  expect_error([&] { read_h5(p); }, ErrorKind::Malformed, "duplicate weight names in layer block");
}

// ---- BR-22: bfloat16 as 2-byte opaque ----------------------------------------------------

TEST(KerasH5BR22, OpaqueBfloat16WithDtypeAttribute) {
  const std::string p = legacy_weights_file(wbtest::tmp_dir(), [](const h5::Object& g) {
    h5::write_fixed_string_list_attr(g, "weight_names", {"conv2d/kernel"});
    h5::write_opaque_dataset(g, "conv2d/kernel", 2, {3}, Bytes{0x80, 0x3F, 0x49, 0x40, 0x00, 0xC0});
    h5::write_vlen_string_attr(g.open_dataset("conv2d/kernel"), "dtype", "bfloat16");
  });
  const H5File f = read_h5(p);
  const Tensor& t = f.layers.at(0).weights.at(0).tensor;
  EXPECT_EQ(t.dtype, DType::BF16);
  EXPECT_EQ(t.shape, (Shape{3}));
  const Bytes b = t.load();
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(bf16_to_float(static_cast<uint16_t>(b[0] | b[1] << 8)), 1.0f);
  EXPECT_EQ(bf16_to_float(static_cast<uint16_t>(b[2] | b[3] << 8)), 3.140625f);
  EXPECT_EQ(bf16_to_float(static_cast<uint16_t>(b[4] | b[5] << 8)), -2.0f);
}

TEST(KerasH5BR22, OpaqueWithoutDtypeAttributeIsUnsupported) {
  const std::string p = legacy_weights_file(wbtest::tmp_dir(), [](const h5::Object& g) {
    h5::write_fixed_string_list_attr(g, "weight_names", {"conv2d/kernel"});
    h5::write_opaque_dataset(g, "conv2d/kernel", 2, {3}, Bytes(6, 0));
  });
  expect_error([&] { read_h5(p); }, ErrorKind::Unsupported, "/dense/conv2d/kernel");
}

// ---- dtypes and byte order ------------------------------------------------------------------

TEST(KerasH5Dtypes, BigEndianAndIntegerDatasetsReadLittleEndian) {
  const std::string p = legacy_weights_file(wbtest::tmp_dir(), [](const h5::Object& g) {
    h5::write_fixed_string_list_attr(g, "weight_names", {"f", "i", "u"});
    h5::write_dataset(g, "f", DType::F32, {2}, f32_bytes({1.5f, -2.25f}), true);
    h5::write_dataset(g, "i", DType::I16, {2}, Bytes{0x01, 0x02, 0xFF, 0xFF}, true);
    h5::write_dataset(g, "u", DType::U8, {1}, Bytes{200});
  });
  const H5File f = read_h5(p);
  const auto& w = f.layers.at(0).weights;
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(values(w[0].tensor), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(w[1].tensor.dtype, DType::I16);
  EXPECT_EQ(w[1].tensor.load(), (Bytes{0x01, 0x02, 0xFF, 0xFF}));  // 513, -1
  EXPECT_EQ(w[2].tensor.dtype, DType::U8);
}

// ---- Keras 3 nesting and ordering -----------------------------------------------------------

TEST(KerasH5Keras3, NestedGroupsAndNumericOrder) {
  for (const std::string root : {"layers", "_layer_checkpoint_dependencies"}) {
    SCOPED_TRACE(root);
    const std::string p = wbtest::tmp_dir() + "/m.weights.h5";
    {
      h5::Object f = h5::create_file(p, p);
      f.create_group("vars");
      const h5::Object bidi = f.create_group(root + "/bidirectional");
      h5::write_vlen_string_attr(bidi.create_group("vars"), "name", "bidi");
      for (const std::string side : {"forward_layer", "backward_layer"})
        for (int i = 0; i < 3; ++i)
          h5::write_dataset(bidi, side + "/cell/vars/" + std::to_string(i), DType::F32, {1},
                            f32_bytes({float(i)}));
      for (int i = 0; i < 12; ++i)
        h5::write_dataset(f, root + "/dense/vars/" + std::to_string(i), DType::F32, {1},
                          f32_bytes({float(i)}));
      h5::write_dataset(f, "optimizer/vars/0", DType::I64, {}, Bytes(8, 0));
    }
    const H5File f = read_h5(p);
    EXPECT_EQ(f.layout, "keras3-weights");
    ASSERT_EQ(f.layers.size(), 2u);
    EXPECT_EQ(f.layers[0].name, "bidirectional");
    EXPECT_EQ(f.layers[0].display_name, "bidi");
    std::vector<std::string> names;
    for (const auto& w : f.layers[0].weights) names.push_back(w.name);
    EXPECT_EQ(names, (std::vector<std::string>{"backward_layer/cell/vars/0", "backward_layer/cell/vars/1",
                                               "backward_layer/cell/vars/2", "forward_layer/cell/vars/0",
                                               "forward_layer/cell/vars/1", "forward_layer/cell/vars/2"}));
    ASSERT_EQ(f.layers[1].weights.size(), 12u);
    for (int i = 0; i < 12; ++i) {
      EXPECT_EQ(f.layers[1].weights[static_cast<size_t>(i)].name, "vars/" + std::to_string(i));
      EXPECT_EQ(values(f.layers[1].weights[static_cast<size_t>(i)].tensor)[0], float(i));
    }
    ASSERT_EQ(f.optimizer_weights.size(), 1u);
    EXPECT_EQ(f.optimizer_weights[0].path, "/optimizer/vars/0");
  }
}

// ---- rejections -----------------------------------------------------------------------------

TEST(KerasH5Reject, NotHdf5) {
  const std::string p = wbtest::tmp_dir() + "/model.h5";
  write_text(p, "<html>404 Not Found</html>");
  expect_error([&] { read_h5(p); }, ErrorKind::Malformed, "not an HDF5 file");
  EXPECT_FALSE(looks_like_hdf5(p));
  expect_error([&] { read_h5(p + ".missing"); }, ErrorKind::Io, "cannot open");
}

TEST(KerasH5Reject, Hdf5WithoutKerasLayout) {
  const std::string p = wbtest::tmp_dir() + "/x.h5";
  {
    h5::Object f = h5::create_file(p, p);
    h5::write_dataset(f, "inputs/x", DType::F32, {1}, f32_bytes({1.0f}));
  }
  EXPECT_TRUE(looks_like_hdf5(p));
  expect_error(
      [&] { read_h5(p); }, ErrorKind::Malformed,
      "neither layer_names nor model_weights nor layers/: not a Keras weights file (root holds: inputs)");
}

TEST(KerasH5Reject, LayerNamesPointAtMissingGroup) {
  const std::string p = wbtest::tmp_dir() + "/x.h5";
  {
    h5::Object f = h5::create_file(p, p);
    h5::write_fixed_string_list_attr(f, "layer_names", {"dense", "ghost"});
    write_dense(f.create_group("dense"), "kernel", "bias");
  }
  expect_error([&] { read_h5(p); }, ErrorKind::Malformed,
               "layer_names lists 'ghost' but there is no group /ghost");
}

TEST(KerasH5Reject, WeightNamesPointAtMissingDataset) {
  const std::string p = legacy_weights_file(wbtest::tmp_dir(), [](const h5::Object& g) {
    h5::write_fixed_string_list_attr(g, "weight_names", {"dense/kernel:0", "dense/bias:0"});
    h5::write_dataset(g, "dense/kernel:0", DType::F32, {1}, f32_bytes({1.0f}));
  });
  expect_error(
      [&] { read_h5(p); }, ErrorKind::Malformed,
      "layer dense: weight 'dense/bias:0' listed in weight_names has no dataset at /dense/dense/bias:0");
}

TEST(KerasH5Reject, WeightNamesOfWrongType) {
  const std::string p = legacy_weights_file(wbtest::tmp_dir(), [](const h5::Object& g) {
    h5::write_numeric_attr(g, "weight_names", DType::I32, {2}, Bytes(8, 0));
  });
  expect_error([&] { read_h5(p); }, ErrorKind::Malformed, "weight_names is a int32 array, expected strings");
}

TEST(KerasH5Reject, TruncatedFile) {
  WB_FIXTURE(src, "keras2/cnn_batch_norm.h5");
  const Bytes all = file_bytes(src);
  const std::string p = wbtest::tmp_dir() + "/half.h5";
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(all.data()), static_cast<std::streamsize>(all.size() / 2));
  expect_error([&] { read_h5(p); }, ErrorKind::Malformed, "truncated");
}

TEST(KerasH5Reject, ZipWithoutWeights) {
  const std::string p = wbtest::tmp_dir() + "/m.keras";
  write_zip(p, {{"metadata.json", {'{', '}'}}, {"config.json", {'{', '}'}}, {"model.weights.npz", {0}}},
            false);
  expect_error([&] { read_keras_archive(p); }, ErrorKind::Malformed,
               "zip without model.weights.h5 (members: metadata.json, config.json, model.weights.npz)");
}

TEST(KerasH5Reject, KerasFileThatIsNotAZip) {
  const std::string p = wbtest::tmp_dir() + "/m.keras";
  write_text(p, "definitely not a zip archive");
  expect_error([&] { read_keras_archive(p); }, ErrorKind::Malformed, "not a zip archive");
}

// ---- writer ---------------------------------------------------------------------------------

namespace {

std::vector<H5WriteLayer> sample_layers() {
  std::vector<float> k(18);
  for (size_t i = 0; i < k.size(); ++i) k[i] = 0.5f * float(i) - 3.0f;
  H5WriteLayer conv{"conv2d_1", {}};
  conv.weights.emplace_back("conv2d_1/kernel:0", make_f32("k", {3, 3, 1, 2}, k));
  // float16 1.5 = 0x3E00, -2.0 = 0xC000
  conv.weights.emplace_back("conv2d_1/bias:0",
                            make_tensor("b", DType::F16, {2}, Bytes{0x00, 0x3E, 0x00, 0xC0}));
  H5WriteLayer act{"activation_1", {}};
  H5WriteLayer dense{"dense_1", {}};
  dense.weights.emplace_back("dense_1/kernel:0",
                             make_tensor("k", DType::F64, {1}, Bytes{0, 0, 0, 0, 0, 0, 0xF0, 0x3F}));
  dense.weights.emplace_back("dense_1/step:0",
                             make_tensor("s", DType::I64, {}, Bytes{7, 0, 0, 0, 0, 0, 0, 0}));
  return {conv, act, dense};
}

}  // namespace

TEST(KerasH5Writer, RoundTripIsByteExact) {
  const std::string p = wbtest::tmp_dir() + "/out.h5";
  const auto layers = sample_layers();
  const std::string config = R"({"class_name": "Sequential", "config": {"layers": []}})";
  write_keras2_h5(p, layers, config);
  const H5File f = read_h5(p);
  EXPECT_EQ(f.layout, "keras-legacy-model");
  EXPECT_EQ(f.keras_version, "2.2.4");
  EXPECT_EQ(f.root_keras_version, "2.2.4");
  EXPECT_EQ(f.backend, "tensorflow");
  EXPECT_EQ(f.model_config.value_or(""), config);
  EXPECT_FALSE(f.training_config.has_value());
  ASSERT_EQ(f.layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(f.layers[i].name, layers[i].name);
    ASSERT_EQ(f.layers[i].weights.size(), layers[i].weights.size());
    for (size_t j = 0; j < layers[i].weights.size(); ++j) {
      const Tensor& in = layers[i].weights[j].second;
      const H5Weight& out = f.layers[i].weights[j];
      EXPECT_EQ(out.name, layers[i].weights[j].first);
      EXPECT_EQ(out.tensor.dtype, in.dtype);
      EXPECT_EQ(out.tensor.shape, in.shape);
      EXPECT_EQ(out.tensor.load(), in.load());
    }
  }
  EXPECT_EQ(f.layers[0].weights[0].path, "/model_weights/conv2d_1/conv2d_1/kernel:0");
}

TEST(KerasH5Writer, AttributeEncodings) {
  const std::string p = wbtest::tmp_dir() + "/out.h5";
  write_keras2_h5(p, sample_layers(), "{}", "2.2.4", "tensorflow");
  const h5::Object root = h5::open_file(p);
  const h5::AttrInfo kv = h5::attr_info(root, "keras_version");
  EXPECT_EQ(kv.type, "string");
  EXPECT_FALSE(kv.vlen);
  EXPECT_EQ(kv.rank, 0);
  EXPECT_EQ(kv.size, 5u);
  EXPECT_FALSE(h5::attr_info(root, "backend").vlen);
  EXPECT_TRUE(h5::attr_info(root, "model_config").vlen);
  EXPECT_FALSE(root.has_attr("training_config"));
  const h5::Object w = root.open_group("model_weights");
  const h5::AttrInfo ln = h5::attr_info(w, "layer_names");
  EXPECT_EQ(ln.type, "string");
  EXPECT_FALSE(ln.vlen);
  EXPECT_TRUE(ln.nullpad);
  EXPECT_TRUE(ln.ascii);
  EXPECT_EQ(ln.rank, 1);
  EXPECT_EQ(ln.count, 3u);
  EXPECT_EQ(ln.size, std::string("activation_1").size());
  EXPECT_FALSE(h5::attr_info(w, "keras_version").vlen);
  const h5::AttrInfo empty = h5::attr_info(w.open_group("activation_1"), "weight_names");
  EXPECT_EQ(empty.type, "float64");
  EXPECT_EQ(empty.rank, 1);
  EXPECT_EQ(empty.count, 0u);
  EXPECT_EQ(w.kind_of("conv2d_1/conv2d_1"), h5::Kind::Group);
  EXPECT_EQ(w.kind_of("conv2d_1/conv2d_1/bias:0"), h5::Kind::Dataset);
}

TEST(KerasH5Writer, LongNameListsAreChunkedLikeKeras) {
  // 3001 names of 40 bytes = 120040 bytes > 64512: numpy.array_split into 2 pieces (1501, 1500).
  std::vector<H5WriteLayer> layers;
  for (int i = 0; i < 3001; ++i) {
    std::string name = "layer_" + std::to_string(i) + "_";
    name.resize(40, 'x');
    layers.push_back(H5WriteLayer{name, {}});
  }
  const std::string p = wbtest::tmp_dir() + "/big.h5";
  write_keras2_h5(p, layers, "{}");
  {
    const h5::Object root = h5::open_file(p);
    const h5::Object w = root.open_group("model_weights");
    EXPECT_FALSE(w.has_attr("layer_names"));
    EXPECT_EQ(h5::attr_info(w, "layer_names0").count, 1501u);
    EXPECT_EQ(h5::attr_info(w, "layer_names1").count, 1500u);
    EXPECT_FALSE(w.has_attr("layer_names2"));
  }
  const H5File f = read_h5(p);
  ASSERT_EQ(f.layers.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) ASSERT_EQ(f.layers[i].name, layers[i].name);
}

TEST(KerasH5Writer, FailureLeavesNothingAtTarget) {
  const std::string dir = wbtest::tmp_dir();
  const std::string p = dir + "/out.h5";
  auto layers = sample_layers();
  Tensor bad = make_f32("bad", {2}, {1.0f, 2.0f});
  bad.load = []() -> Bytes { throw Error(ErrorKind::Io, "source vanished"); };
  layers[2].weights.emplace_back("dense_1/bad:0", bad);
  expect_error([&] { write_keras2_h5(p, layers, "{}"); }, ErrorKind::Io, "source vanished");
  EXPECT_TRUE(fs::is_empty(dir));

  auto bf = sample_layers();
  bf[0].weights.emplace_back("conv2d_1/x:0", make_tensor("x", DType::BF16, {1}, Bytes{0x80, 0x3F}));
  expect_error([&] { write_keras2_h5(p, bf, "{}"); }, ErrorKind::Unsupported, "bfloat16");
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(KerasH5Writer, RefusesDuplicateAndInvalidNames) {
  const std::string p = wbtest::tmp_dir() + "/out.h5";
  std::vector<H5WriteLayer> dup{{"d", {}}, {"d", {}}};
  expect_error([&] { write_keras2_h5(p, dup, "{}"); }, ErrorKind::Unsupported, "duplicate layer name 'd'");
  std::vector<H5WriteLayer> slash{{"d", {{"/abs:0", make_f32("a", {1}, {1.0f})}}}};
  expect_error([&] { write_keras2_h5(p, slash, "{}"); }, ErrorKind::Unsupported,
               "cannot be written as an HDF5 path");
  EXPECT_FALSE(fs::exists(p));
}
