// Numerical proof of a conversion: both models run by the reference engine on the same input,
// every output compared element by element.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weightbridge/engine.h"
#include "weightbridge/model.h"

namespace wb {

struct VerifyOptions {
  double atol = 1e-5;
  double rtol = 1e-5;
  uint64_t seed = 0;       // for the random input when none is given
  int64_t batch = 2;       // batch size of the random input
};

struct OutputComparison {
  std::string name_a, name_b;
  Shape shape, shape_b;  // they differ only when the models disagree on the output's shape
  double max_abs = 0, max_rel = 0;
  size_t worst_index = 0;
  float worst_a = 0, worst_b = 0;
  bool within = true;
};

struct VerifyResult {
  bool ok = true;
  std::string input_description;        // "random uniform [-1, 1), seed 0, shape (2, 10, 10, 3)" or the file
  std::vector<OutputComparison> outputs;
  std::string first_divergence;          // layer name, "" when the outputs agree or nothing could be localised
  double divergence_max_abs = 0;
  std::vector<std::string> notes;        // e.g. how the input was laid out for b
};

// Runs a and b on `inputs` (one per Input node of a, batch axis included), or on a seeded random
// input when `inputs` is empty. b's inputs are a's, transposed when b holds the same input in the
// other data format. Outputs are compared in order; an element passes when
// |a - b| <= atol + rtol * |a|.
VerifyResult verify_models(const Model& a, const Model& b, std::vector<Array> inputs, const VerifyOptions& opt);

}  // namespace wb
