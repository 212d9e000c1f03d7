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
// Tensor of `n` copies of a float value in the given dtype.
Tensor filled(std::string name, DType dtype, Shape shape, double value);

}  // namespace wb
