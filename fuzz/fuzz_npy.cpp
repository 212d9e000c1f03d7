// Single .npy arrays (MXNet 2.0 mx.np.save).
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || data[0] != 0x93) return 0;
  wb::mxnet::ParamsFile pf;
  if (!wbfuzz::guarded("read_params", [&] { pf = wb::mxnet::read_params(wb::memory_source(wbfuzz::to_bytes(data, size), "fuzz.npy")); }))
    return 0;
  if (pf.container != "npy" || pf.records.size() != 1) wbfuzz::finding("npy input not read as one npy record");
  wbfuzz::params_round_trip(pf);
  return 0;
}
