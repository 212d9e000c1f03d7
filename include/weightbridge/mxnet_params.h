// MXNet parameter containers.
//
// NDArray list file (every MXNet version's `.params`, `mx.nd.save`):
//   u64 0x112 | u64 reserved | u64 N | N records | u64 K (0 or N) | K x (u64 len, bytes) names
// Each record starts with a u32: 0xF993FAC8 (V1), 0xF993FAC9 (V2), 0xF993FACA (V3), or anything
// else = legacy V0 whose value is ndim (u32 dims follow). V2/V3 add an i32 storage type (0 dense,
// 1 row_sparse, 2 csr) and, for sparse, a storage shape; then the shape (u32/i32 ndim + i64 dims),
// context (2 x i32, ignored), i32 type_flag, sparse aux types/shapes, payload, aux payloads.
// V2 ndim 0 = "none" array; V3 ndim 0 = 0-d scalar, ndim -1 = none. All little-endian.
// MXNet 2.0 also writes npz (zip of .npy members, `KEY.npy`) and single .npy files.
// See docs in formats-mxnet.md sections 2-4.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "weightbridge/tensor.h"

namespace wb {
class ByteSource;
class AtomicFile;
}

namespace wb::mxnet {

struct AuxArray {
  DType dtype = DType::I64;
  Shape shape;
  uint64_t offset = 0;  // payload offset in the source
};

struct NDRecord {
  std::string name;        // "" when the file stores no names
  int version = 2;         // 0 legacy, 1, 2, 3; -1 for npy/npz members
  int stype = 0;           // 0 dense, 1 row_sparse, 2 csr
  bool none = false;       // a "none" array: no dtype, no data
  DType dtype = DType::F32;
  Shape shape;             // logical shape
  Shape storage_shape;     // sparse only: shape of the stored values
  bool fortran_order = false;  // npy only: payload is column-major (record_tensor transposes)
  uint64_t offset = 0;     // payload offset (list files)
  uint64_t nbytes = 0;     // payload size in bytes (values only)
  std::vector<AuxArray> aux;  // sparse only: row_sparse idx / csr indptr, indices
  Loader load_raw;         // stored value bytes, exactly as on disk
};

struct ParamsFile {
  std::string path;
  std::string container;   // "ndarray-list", "npz" or "npy"
  bool has_names = false;
  std::vector<NDRecord> records;
  std::shared_ptr<ByteSource> source;
};

// Recognises the container by content. Throws wb::Error (Malformed/Unsupported) with the file name.
ParamsFile read_params(const std::string& path);
ParamsFile read_params(std::shared_ptr<ByteSource> src);

// The record as a dense tensor named by the record's name. Sparse records are densified only when
// densify is true (otherwise Unsupported); none records are Unsupported.
Tensor record_tensor(const ParamsFile& file, size_t index, bool densify = false);

// Writes an NDArray list file with V2 dense records (cpu(0)) and the tensors' names, atomically.
// Tensors are loaded one at a time. Rank-0 tensors are written as shape (1,) (MXNet 1.x has no
// 0-d arrays outside V3). Throws Unsupported for dtypes MXNet 1.x cannot store.
void write_params(const std::string& path, const std::vector<Tensor>& tensors);
// The same bytes into an open AtomicFile that the caller commits (several files committed
// together, see cli/cmd_convert.cpp), or into memory (tests and fuzz round trips).
void write_params(AtomicFile& out, const std::vector<Tensor>& tensors);
Bytes write_params_image(const std::vector<Tensor>& tensors);

}  // namespace wb::mxnet
