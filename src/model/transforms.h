// Layout transforms on lazy tensors used by the importers and exporters.
#pragma once
#include <string>
#include <vector>

#include "weightbridge/tensor.h"

namespace wb {

std::string perm_str(const std::vector<int>& perm);  // "(2, 3, 1, 0)"
// Reverses the first `rank` axes (the spatial axes of a canonical (k..., in, out) kernel).
Tensor flipped_spatial(const Tensor& t, int rank);
// Inverse permutation.
std::vector<int> inverse_perm(const std::vector<int>& perm);
// Rows (first axis) gathered: row i of the result is row src_rows[i] of `t` (a permutation of the
// first axis; the other axes move with their row).
Tensor rows_gathered(const Tensor& t, std::vector<int64_t> src_rows);
// Rows [begin, end) of the first axis, loaded lazily (the other axes move with their row).
Tensor rows_range(const Tensor& t, int64_t begin, int64_t end);
// Tensor of `n` copies of a float value in the given dtype.
Tensor filled(std::string name, DType dtype, Shape shape, double value);

}  // namespace wb
