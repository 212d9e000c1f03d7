// MXNet NDArray list files (.params / mx.nd.save), every record version.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // npz and npy have their own targets; keep this one on the list-file reader.
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') return 0;
  if (size >= 1 && data[0] == 0x93) return 0;
  wb::mxnet::ParamsFile pf;
  if (!wbfuzz::guarded("read_params", [&] { pf = wb::mxnet::read_params(wb::memory_source(wbfuzz::to_bytes(data, size), "fuzz.params")); }))
    return 0;
  if (pf.container != "ndarray-list") wbfuzz::finding("list input read as " + pf.container);
  wbfuzz::params_round_trip(pf);
  return 0;
}
