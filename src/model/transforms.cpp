#include "model/transforms.h"

#include <cstring>

#include <fmt/format.h>

#include "weightbridge/error.h"

namespace wb {

std::string perm_str(const std::vector<int>& perm) {
  std::string s = "(";
  for (size_t i = 0; i < perm.size(); ++i) s += (i ? ", " : "") + std::to_string(perm[i]);
  return s + ")";
}

std::vector<int> inverse_perm(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int>(i);
  return inv;
}

Tensor flipped_spatial(const Tensor& src, int rank) {
  Tensor t = src;
  auto load = src.load;
  const Shape shape = src.shape;
  const size_t es = dtype_size(src.dtype);
  t.load = [load, shape, es, rank] {
    const Bytes in = load();
    Bytes out(in.size());
    // inner = product of the non-spatial trailing axes, in elements
    uint64_t inner = 1;
    for (size_t i = static_cast<size_t>(rank); i < shape.size(); ++i) inner *= static_cast<uint64_t>(shape[i]);
    uint64_t outer = 1;
    for (int i = 0; i < rank; ++i) outer *= static_cast<uint64_t>(shape[static_cast<size_t>(i)]);
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (uint64_t o = 0; o < outer; ++o) {
      uint64_t flipped = 0;
      for (int a = 0; a < rank; ++a) {
        const auto ua = static_cast<size_t>(a);
        flipped = flipped * static_cast<uint64_t>(shape[ua]) + static_cast<uint64_t>(shape[ua] - 1 - idx[ua]);
      }
      std::memcpy(out.data() + flipped * inner * es, in.data() + o * inner * es, inner * es);
      for (int a = rank; a-- > 0;) {
        const auto ua = static_cast<size_t>(a);
        if (++idx[ua] < shape[ua]) break;
        idx[ua] = 0;
      }
    }
    return out;
  };
  return t;
}

Tensor rows_gathered(const Tensor& src, std::vector<int64_t> src_rows) {
  if (src.shape.empty() || static_cast<int64_t>(src_rows.size()) != src.shape[0])
    fail(ErrorKind::Malformed, "row permutation of " + std::to_string(src_rows.size()) + " rows does not fit shape " +
                                   shape_str(src.shape), {}, "tensor " + src.name);
  Tensor t = src;
  auto load = src.load;
  const uint64_t row_bytes = src.shape[0] == 0 ? 0 : src.nbytes() / static_cast<uint64_t>(src.shape[0]);
  t.load = [load, rows = std::move(src_rows), row_bytes] {
    const Bytes in = load();
    Bytes out(in.size());
    for (size_t i = 0; i < rows.size(); ++i)
      std::memcpy(out.data() + i * row_bytes, in.data() + static_cast<uint64_t>(rows[i]) * row_bytes, row_bytes);
    return out;
  };
  return t;
}

Tensor rows_range(const Tensor& src, int64_t begin, int64_t end) {
  if (src.shape.empty() || begin < 0 || end <= begin || end > src.shape[0])
    fail(ErrorKind::Malformed, fmt::format("rows [{}, {}) do not fit shape {}", begin, end, shape_str(src.shape)), {},
         "tensor " + src.name);
  Tensor t = src;
  t.shape[0] = end - begin;
  const uint64_t row_bytes = src.nbytes() / static_cast<uint64_t>(src.shape[0]);
  t.load = [load = src.load, begin, end, row_bytes] {
    const Bytes in = load();
    return Bytes(in.begin() + static_cast<std::ptrdiff_t>(static_cast<uint64_t>(begin) * row_bytes),
                 in.begin() + static_cast<std::ptrdiff_t>(static_cast<uint64_t>(end) * row_bytes));
  };
  return t;
}

Tensor filled(std::string name, DType dtype, Shape shape, double value) {
  const uint64_t n = checked_numel(shape);
  std::vector<float> v(n, static_cast<float>(value));
  return cast(make_f32(std::move(name), std::move(shape), v), dtype);
}

}  // namespace wb
