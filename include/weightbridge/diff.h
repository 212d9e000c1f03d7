// Tensor-by-tensor comparison of two models in any supported formats.
#pragma once
#include <string>
#include <vector>

#include "weightbridge/model.h"

namespace wb {

struct TensorDiff {
  std::string layer_a, layer_b, role;
  std::string name_a, name_b;    // names as stored in each file ("" when unmatched on that side)
  // identical | transform | different | only-a | only-b
  std::string verdict;
  std::string transform;         // for "transform": e.g. "transpose(3, 2, 0, 1)", "kernel flip", "cast float32->float16"
  double max_abs = 0, max_rel = 0;
  std::vector<std::string> notes;  // e.g. "b is all zeros", "a has NaN/Inf"
  Shape shape_a, shape_b;
};

// Pairs weights by layer name and role (then, for layers left over, by order among layers of
// the same kind) and classifies each pair.
std::vector<TensorDiff> diff_models(const Model& a, const Model& b);

}  // namespace wb
