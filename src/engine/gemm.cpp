// Single-precision GEMM: OpenBLAS cblas_sgemm, and the plain-loop oracle it is tested against.
//
// Why OpenBLAS rather than Eigen (measured on the 2-core AMD EPYC development machine, Debian 12,
// OpenBLAS 0.3.21 pthread, Eigen 3.4.0, g++ 12 -O3; GFLOP/s, best of several runs, row-major
// C = A*B with the (M, N, K) a ResNet-50 convolution or dense layer hands to GEMM):
//
//   shape (M x N x K)               OpenBLAS 1 thr   Eigen -O3 (SSE2)   Eigen -march=native
//   64 x 3136 x 576   (3x3, 56x56)        76              5.6                 14-39
//   128 x 784 x 1152  (3x3, 28x28)        93              2.6                 14-75
//   256 x 3136 x 64   (1x1, 56x56)       100              4.4                 68-80
//   512 x 49 x 4608   (3x3, 7x7)         20-63            9.2                 14-66
//   1000 x 8 x 2048   (dense, batch 8)    45-49          46                   28-56
//   1024 x 1024 x 1024                    24-34          10                   8-22
//
// OpenBLAS selects its AVX2/FMA kernels at run time, so the project's portable build flags get
// them; Eigen only vectorises for the instruction set the code is compiled for, and -march=native
// would tie the binary to the build machine. Eigen was faster only for matrix-vector shapes
// (dense at batch 1, where cblas_sgemm's N=1 path is slow; we call sgemv there). The figures
// were noisy because other builds shared the two cores; OpenBLAS' second thread lost more than
// it gained under that load, so the engine runs OpenBLAS single-threaded (kThreads below; the
// reference engine is for checking, and verify runs beside other jobs).
#include <cblas.h>

#include <mutex>

#include "weightbridge/engine.h"

namespace wb {

namespace {

constexpr int kThreads = 1;

void init_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(kThreads); });
}

int as_int(size_t v) { return static_cast<int>(v); }

}  // namespace

const char* blas_name() { return "OpenBLAS (cblas_sgemm, single-threaded)"; }

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
