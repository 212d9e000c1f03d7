// Keras HDF5 weight files, opened by the HDF5 library from an in-memory image.
// Oracle: the layers and weights that load, written with write_keras2_h5 and read back, keep
// their names, dtypes, shapes and bytes.
#include <unistd.h>

#include "fuzz_common.h"
#include "hdf5_init.h"
#include "weightbridge/keras_h5.h"

namespace {

struct Loaded {
  std::string layer, weight;
  wb::Tensor tensor;
  wb::Bytes bytes;
};

std::string temp_path() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/wbfuzz-h5-" + std::to_string(::getpid()) + ".h5";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wb::Bytes image = wbfuzz::to_bytes(data, size);
  wb::keras::H5File f;
  if (!wbfuzz::guarded("read_h5_image", [&] { f = wb::keras::read_h5_image(image, "fuzz.h5"); })) return 0;
  std::vector<wb::keras::H5WriteLayer> layers;
  std::vector<Loaded> loaded;
  bool all = true;
  for (const auto& l : f.layers) {
    wb::keras::H5WriteLayer wl{l.name, {}};
    for (const auto& w : l.weights) {
      uint64_t n = 0;
      wb::Bytes b;
      if (!wbfuzz::guarded("nbytes", [&] { n = w.tensor.nbytes(); }) || n > wbfuzz::kMaxHarnessTensor ||
          !wbfuzz::guarded("load", [&] { b = w.tensor.load(); })) {
        all = false;
        continue;
      }
      if (b.size() != n) wbfuzz::finding("dataset loader returned a byte count that differs from the shape");
      wl.weights.emplace_back(w.name, wb::make_tensor(w.name, w.tensor.dtype, w.tensor.shape, b));
      loaded.push_back(Loaded{l.name, w.name, w.tensor, std::move(b)});
    }
    layers.push_back(std::move(wl));
  }
  for (const auto* extra : {&f.optimizer_weights, &f.top_level_weights})
    for (const auto& w : *extra) {
      uint64_t n = 0;
      if (wbfuzz::guarded("nbytes", [&] { n = w.tensor.nbytes(); }) && n <= wbfuzz::kMaxHarnessTensor)
        wbfuzz::guarded("load", [&] { w.tensor.load(); });
    }
  if (!all || layers.empty()) return 0;
  const std::string out = temp_path();
  ::unlink(out.c_str());
  if (!wbfuzz::guarded("write_keras2_h5", [&] { wb::keras::write_keras2_h5(out, layers, "{}"); })) return 0;
  wb::keras::H5File back;
  if (!wbfuzz::guarded("read back", [&] { back = wb::keras::read_h5(out); }))
    wbfuzz::finding("write_keras2_h5 output is not readable");
  size_t k = 0;
  if (back.layers.size() != layers.size()) wbfuzz::finding("round trip changed the layer count");
  for (size_t i = 0; i < layers.size(); ++i) {
    if (back.layers[i].name != layers[i].name) wbfuzz::finding("round trip changed a layer name");
    if (back.layers[i].weights.size() != layers[i].weights.size()) wbfuzz::finding("round trip changed a weight count");
    for (const auto& w : back.layers[i].weights) {
      const Loaded& want = loaded[k++];
      if (w.name != want.weight || w.tensor.dtype != want.tensor.dtype || w.tensor.shape != want.tensor.shape)
        wbfuzz::finding("round trip changed weight " + want.layer + "/" + want.weight);
      wb::Bytes got;
      if (!wbfuzz::guarded("load back", [&] { got = w.tensor.load(); }) || got != want.bytes)
        wbfuzz::finding("round trip changed the bytes of " + want.layer + "/" + want.weight);
    }
  }
  ::unlink(out.c_str());
  return 0;
}
