// A tensor as weightbridge moves it: metadata plus a loader that produces its bytes on demand,
// so that conversion streams one tensor at a time instead of holding a whole model.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "weightbridge/dtype.h"

namespace wb {

using Shape = std::vector<int64_t>;
using Bytes = std::vector<uint8_t>;
using Loader = std::function<Bytes()>;

std::string shape_str(const Shape& s);  // "(2, 3)"

// Element count of a shape; throws Malformed on negative dims or overflow past 2^62.
uint64_t checked_numel(const Shape& s);
// Byte size of a shape of the given dtype; throws Malformed on overflow.
uint64_t checked_nbytes(const Shape& s, DType t);

struct Tensor {
  std::string name;  // name as stored in the source (path, key)
  DType dtype = DType::F32;
  Shape shape;
  Loader load;  // returns exactly checked_nbytes(shape, dtype) bytes, little-endian, C order

  uint64_t numel() const { return checked_numel(shape); }
  uint64_t nbytes() const { return checked_nbytes(shape, dtype); }
};

// A tensor whose bytes are already in memory.
Tensor make_tensor(std::string name, DType dtype, Shape shape, Bytes bytes);
// A float32 tensor from values (tests and generated models).
Tensor make_f32(std::string name, Shape shape, const std::vector<float>& values);

// Permute axes with numpy semantics: out.shape[i] = in.shape[perm[i]].
Bytes permute_bytes(const Bytes& in, const Shape& in_shape, size_t elem_size,
                    const std::vector<int>& perm);
Shape permute_shape(const Shape& s, const std::vector<int>& perm);
// A tensor that loads `src` and permutes it lazily.
Tensor permuted(const Tensor& src, const std::vector<int>& perm, std::string new_name = {});
// A tensor that loads `src` and reinterprets its shape (same element count).
Tensor reshaped(const Tensor& src, Shape new_shape, std::string new_name = {});
// A tensor that loads `src` and casts element type (floats: IEEE round-to-nearest-even).
Tensor cast(const Tensor& src, DType to);

// Values as float64 (for comparisons, checks and the engine).
std::vector<double> to_f64(const Bytes& b, DType t);
std::vector<float> to_f32(const Bytes& b, DType t);

std::string sha256_hex(const uint8_t* data, size_t n);
inline std::string sha256_hex(const Bytes& b) { return sha256_hex(b.data(), b.size()); }

}  // namespace wb
