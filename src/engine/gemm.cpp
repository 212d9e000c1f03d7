// Single-precision GEMM: OpenBLAS cblas_sgemm, and the plain-loop oracle it is tested against.
//
// Why OpenBLAS rather than Eigen. Measured on the 2-core AMD EPYC development machine (Debian 12,
// OpenBLAS 0.3.21 pthread, Eigen 3.4.0, g++ 12 -O3), GFLOP/s, best of 10-60 calls, row-major
// C = A*B in the orientation the engine uses (M = output positions, N = filters, K = taps x
// input channels) for ResNet-50's GEMMs; other builds were sharing the two cores (load ~4.5):
//
//   M x N x K                            OpenBLAS  Eigen -O3  Eigen -march=native  (1 thread)
//   12544 x 64 x 147   conv1 7x7/2          71        32            60
//   3136 x 64 x 576    3x3, 56x56           86        35            76
//   3136 x 256 x 64    1x1, 56x56          101        38            84
//   784 x 128 x 1152   3x3, 28x28          101        37            78
//   49 x 512 x 4608    3x3, 7x7             78        26            51
//   1 x 1000 x 2048    dense, batch 1       43 (sgemv) 28           41
//   8 x 1000 x 2048    dense, batch 8       54        21            52
//   1024 x 1024 x 1024                      71        26            58
//
// OpenBLAS picks its AVX2/FMA kernels at run time, so the project's portable flags get them;
// Eigen vectorises only for the instruction set it is compiled for (-march=native would tie the
// binary to the build machine) and is slower even then. With two threads OpenBLAS gained
// 0.9-2.2x (1024^3: 93) while the other core was busy, and Eigen's OpenMP threads collapsed to
// 2-30. The engine therefore runs OpenBLAS single-threaded unless OPENBLAS_NUM_THREADS is set:
// it is a checking tool that often runs beside other jobs (ctest -j), and one thread keeps its
// timings steady.
#include <cblas.h>

#include <cstdlib>
#include <mutex>

#include "weightbridge/engine.h"

namespace wb {

namespace {

void init_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  });
}

int as_int(size_t v) { return static_cast<int>(v); }

}  // namespace

const char* blas_name() { return "OpenBLAS cblas_sgemm"; }

void sgemm(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, float beta,
           float* c, size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // empty sum: BLAS rejects a zero leading dimension here
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  init_blas();
  if (m == 1) {  // vector-matrix (dense layer at batch 1): c = B^T a
    cblas_sgemv(CblasRowMajor, CblasTrans, as_int(k), as_int(n), 1.0f, b, as_int(ldb), a, 1, beta, c, 1);
    return;
  }
  if (n == 1) {  // matrix-vector: B and C are columns with strides ldb, ldc
    cblas_sgemv(CblasRowMajor, CblasNoTrans, as_int(m), as_int(k), 1.0f, a, as_int(lda), b, as_int(ldb), beta, c,
                as_int(ldc));
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(m), as_int(n), as_int(k), 1.0f, a, as_int(lda), b,
              as_int(ldb), beta, c, as_int(ldc));
}

void sgemm_reference(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
                     float beta, float* c, size_t ldc) {
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double acc = 0;
      for (size_t p = 0; p < k; ++p) acc += static_cast<double>(a[i * lda + p]) * b[p * ldb + j];
      c[i * ldc + j] = static_cast<float>(acc + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * c[i * ldc + j]));
    }
}

}  // namespace wb
