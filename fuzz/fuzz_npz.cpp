// MXNet 2.0 npz archives (zip of .npy members), read through libzip from memory.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || data[0] != 'P' || data[1] != 'K') return 0;
  wb::mxnet::ParamsFile pf;
  if (!wbfuzz::guarded("read_params", [&] { pf = wb::mxnet::read_params(wb::memory_source(wbfuzz::to_bytes(data, size), "fuzz.npz")); }))
    return 0;
  wbfuzz::params_round_trip(pf);
  return 0;
}
