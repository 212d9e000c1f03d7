// NumPy containers as MXNet 2.0 writes them.
//
// .npy: "\x93NUMPY" | u8 major (1, 2 or 3) | u8 minor | header length (u16 for v1, u32 for v2/v3),
// little-endian | ASCII (v3: UTF-8) Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces, ending '\n' |
// raw payload in C order (Fortran order when fortran_order is True).
// MXNet writes '<b2' for bfloat16, a descriptor NumPy itself does not know.
//
// npz: a ZIP archive with one member KEY.npy per array (MXNet stores them uncompressed; NumPy's
// savez_compressed deflates them). Members not ending in .npy are ignored. MXNet writes a sparse
// array K as a directory of members K/data.npy, K/indices.npy, ..., K/format.npy.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/io.h"
#include "weightbridge/mxnet_params.h"

namespace wb::npy {

inline constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
inline constexpr size_t kPreambleMax = 12;  // magic, version, u32 header length (v2/v3)

struct Header {
  DType dtype = DType::F32;
  Shape shape;
  bool fortran_order = false;
  uint64_t data_offset = 0;  // preamble + header text
  uint64_t nbytes = 0;       // payload bytes
};

// Size of preamble plus header text, from the first min(available, kPreambleMax) bytes.
// `where` names the array in error messages.
uint64_t header_size(const uint8_t* p, size_t n, const std::string& file, const std::string& where);

// Parses a complete preamble + header of header_size() bytes.
Header parse_header(const uint8_t* p, size_t n, const std::string& file, const std::string& where);

}  // namespace wb::npy

namespace wb::mxnet {

// A single .npy file: one unnamed record (version -1).
ParamsFile read_npy_file(std::shared_ptr<ByteSource> src);
// An npz archive read through libzip directly from the source (no whole-file buffer).
ParamsFile read_npz_file(std::shared_ptr<ByteSource> src);

}  // namespace wb::mxnet
