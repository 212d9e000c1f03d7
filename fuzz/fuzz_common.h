// Shared pieces of the libFuzzer targets. A target calls a reader on the bytes it is given and,
// when the reader accepts them, checks a round-trip oracle. Only wb::Error may escape a reader;
// any other exception, a crash, a sanitizer report or a failed oracle is a finding (abort).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "core/io.h"
#include "weightbridge/error.h"
#include "weightbridge/mxnet_params.h"
#include "weightbridge/tensor.h"

namespace wbfuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs fn; wb::Error is an accepted outcome (returns false), anything else thrown is a finding.
template <typename Fn>
bool guarded(const char* stage, Fn fn) {
  try {
    fn();
    return true;
  } catch (const wb::Error&) {
    return false;
  } catch (const std::exception& e) {
    finding(std::string(stage) + ": exception other than wb::Error: " + e.what());
  } catch (...) {
    finding(std::string(stage) + ": non-standard exception");
  }
}

inline wb::Bytes to_bytes(const uint8_t* data, size_t size) { return wb::Bytes(data, data + size); }

// Dense tensors larger than this are not materialised by the harness: a sparse record may
// legitimately describe a dense array far larger than its file (the CLI caps it at 16 GiB).
constexpr uint64_t kMaxHarnessTensor = uint64_t{64} << 20;

// params oracle: every loadable record, written with write_params and read back, keeps its
// name, dtype, shape and bytes (rank 0 comes back as shape (1,), as documented).
inline void params_round_trip(const wb::mxnet::ParamsFile& pf) {
  std::vector<wb::Tensor> tensors;
  std::vector<wb::Bytes> bytes;
  for (size_t i = 0; i < pf.records.size(); ++i) {
    const auto& r = pf.records[i];
    if (r.none) continue;
    wb::Tensor t;
    if (!guarded("record_tensor", [&] { t = wb::mxnet::record_tensor(pf, i, true); })) continue;
    uint64_t nbytes = 0;
    if (!guarded("nbytes", [&] { nbytes = t.nbytes(); }) || nbytes > kMaxHarnessTensor) continue;
    wb::Bytes b;
    if (!guarded("load", [&] { b = t.load(); })) continue;
    if (b.size() != nbytes) finding("loader returned a byte count that differs from the shape");
    tensors.push_back(wb::make_tensor(t.name, t.dtype, t.shape, b));
    bytes.push_back(std::move(b));
  }
  wb::Bytes image;
  if (!guarded("write_params_image", [&] { image = wb::mxnet::write_params_image(tensors); })) return;
  wb::mxnet::ParamsFile back;
  if (!guarded("read back", [&] { back = wb::mxnet::read_params(wb::memory_source(image, "roundtrip")); }))
    finding("write_params output is not readable");
  if (back.records.size() != tensors.size()) finding("round trip changed the record count");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& r = back.records[i];
    const wb::Shape want = tensors[i].shape.empty() ? wb::Shape{1} : tensors[i].shape;
    if (r.name != tensors[i].name || r.dtype != tensors[i].dtype || r.shape != want)
      finding("round trip changed name, dtype or shape of record " + std::to_string(i));
    if (r.load_raw() != bytes[i]) finding("round trip changed the bytes of record " + std::to_string(i));
  }
}

}  // namespace wbfuzz
