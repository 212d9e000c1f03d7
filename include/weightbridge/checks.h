// Checks convert runs on the model it is about to write (doctor reports more, on request).
#pragma once
#include <string>
#include <vector>

#include "weightbridge/model.h"

namespace wb {

// BatchNorm layers whose running statistics hold their initial values (mean all 0, variance all 1)
// while gamma or beta are trained (not 1 / not 0): the checkpoint most likely lacks the statistics
// (failure case BR-26). Returns the layer names.
std::vector<std::string> batchnorm_statistics_at_initial_values(const Model& m);

// What casting a tensor to another float dtype does to its values (--dtype).
struct CastReport {
  size_t count = 0;      // values
  size_t changed = 0;    // values that do not survive the cast exactly (NaN counts as exact)
  size_t overflow = 0;   // finite values that become +-inf
  size_t underflow = 0;  // non-zero values that become 0
  double max_abs = 0;    // largest |cast - original| over the finite results
  double max_rel = 0;    // largest |cast - original| / |original| over the finite, non-zero originals
  double largest = 0;    // largest finite |original| that overflowed
};
CastReport cast_report(const Tensor& original, const Tensor& cast_result);

}  // namespace wb
