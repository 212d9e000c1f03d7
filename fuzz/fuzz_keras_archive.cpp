// Keras 3 .keras archives (zip with config.json, metadata.json, model.weights.h5), from memory.
// No writer exists for this format: the reader and every tensor load must fail only with wb::Error.
#include "fuzz_common.h"
#include "hdf5_init.h"
#include "weightbridge/keras_h5.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const wb::Bytes zip = wbfuzz::to_bytes(data, size);
  wb::keras::KerasArchive a;
  if (!wbfuzz::guarded("read_keras_archive_image", [&] { a = wb::keras::read_keras_archive_image(zip, "fuzz.keras"); }))
    return 0;
  for (const auto& l : a.weights.layers)
    for (const auto& w : l.weights) {
      uint64_t n = 0;
      wb::Bytes b;
      if (!wbfuzz::guarded("nbytes", [&] { n = w.tensor.nbytes(); }) || n > wbfuzz::kMaxHarnessTensor) continue;
      if (wbfuzz::guarded("load", [&] { b = w.tensor.load(); }) && b.size() != n)
        wbfuzz::finding("dataset loader returned a byte count that differs from the shape");
    }
  return 0;
}
