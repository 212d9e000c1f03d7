// The reference engine: runs a canonical Model (model.h) forward on the CPU in float32.
//
// It exists to prove conversions numerically (verify) and to run a model for a user (run), so it
// favours obviously-correct code over speed: one explicit op table (engine/ops.h), plain loops,
// and GEMM (Dense, convolution as im2col + GEMM) through a BLAS library.
//
// Arrays are float32, C order, batch axis first. Weights of any float dtype are converted to
// float32 when the Engine is built. An op the table does not know, an attribute it cannot honour
// or an input shape that does not fit is a wb::Error (Unsupported or Malformed): never a guess.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "weightbridge/model.h"

namespace wb {

struct Array {
  Shape shape;              // batch axis included
  std::vector<float> data;  // C order, numel(shape) values
};

// Element count of an Array's shape (checked: throws Malformed on negative dims or overflow).
size_t array_numel(const Shape& s);

class Engine {
 public:
  // Checks every node's op against the op table and loads every weight as float32. The model
  // must outlive the Engine.
  explicit Engine(const Model& m);
  explicit Engine(Model&&) = delete;  // would leave the Engine pointing at a temporary

  // Names of the Input nodes in model order (the order positional inputs are matched in).
  const std::vector<std::string>& input_names() const { return inputs_; }

  // Runs the model. `inputs` is keyed by Input node name; every Input must be given, with the
  // same batch size. Returns the outputs of m.outputs, or, when keep_all, the output of every
  // node (Input nodes included), keyed by node name.
  std::map<std::string, Array> run(const std::map<std::string, Array>& inputs, bool keep_all = false) const;

 private:
  const Model& m_;
  std::vector<std::string> inputs_;
  std::map<std::string, std::map<std::string, Array>> weights_;  // node -> role -> float32 weight
  std::vector<std::vector<size_t>> producers_;  // per node: indices of its input nodes
  std::vector<size_t> last_use_;  // per node: index of the last node reading its output (0: none)
};

// Engine(m).run(inputs, keep_all).
std::map<std::string, Array> run_model(const Model& m, const std::map<std::string, Array>& inputs,
                                       bool keep_all = false);

// Canonical op names the engine implements, sorted.
std::vector<std::string> engine_ops();

// Name of the BLAS library the engine's GEMM calls, and a single-precision GEMM through it:
// C (m x n) = A (m x k) * B (k x n) + beta * C, row-major, with leading dimensions.
const char* blas_name();
void sgemm(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, float beta,
           float* c, size_t ldc);
// The same product with plain loops: the oracle the BLAS path is tested against.
void sgemm_reference(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
                     float beta, float* c, size_t ldc);

}  // namespace wb
