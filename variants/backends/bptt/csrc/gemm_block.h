/* C += A B for the small matrices of one recurrent step (included by bptt_steps.c, which defines
 * REAL). A is M x K (row stride lda), B is K x N (row stride ldb), C is M x N (row stride ldc),
 * all row-major. Register-blocked: a tile of 6 rows x 2 vectors of C stays in registers while
 * k runs over K (12 accumulators, 2 loads of B and 6 broadcasts of A per k). With AVX2 and FMA
 * (compiled with -mavx2 -mfma) the tile is written with intrinsics; otherwise the same blocking
 * in plain C (fixed-size inner loops the compiler vectorises for whatever the target has).
 * Edges (M not a multiple of 6, N not a multiple of the tile) take narrower tiles, then scalars.
 * The sum over k runs in order 0..K-1 for every element, whatever path computes it.
 */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#ifdef REAL_IS_FLOAT
typedef __m256 vec_t;
#define VL 8
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_SET1 _mm256_set1_ps
#define V_FMA _mm256_fmadd_ps
#else
typedef __m256d vec_t;
#define VL 4
#define V_LOAD _mm256_loadu_pd
#define V_STORE _mm256_storeu_pd
#define V_SET1 _mm256_set1_pd
#define V_FMA _mm256_fmadd_pd
#endif

/* rows x (NV vectors) tile, rows in 1..6, NV in 1..2 (constants after inlining). */
static inline __attribute__((always_inline)) void
NAME(tile)(int rows, int nv, int64_t K, const REAL *A, int64_t lda, const REAL *B, int64_t ldb,
           REAL *C, int64_t ldc) {
    vec_t acc[6][2];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = V_LOAD(C + r * ldc + v * VL);
    for (int64_t k = 0; k < K; k++) {
        vec_t b[2];
        for (int v = 0; v < nv; v++) b[v] = V_LOAD(B + k * ldb + v * VL);
        for (int r = 0; r < rows; r++) {
            vec_t a = V_SET1(A[r * lda + k]);
            for (int v = 0; v < nv; v++) acc[r][v] = V_FMA(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) V_STORE(C + r * ldc + v * VL, acc[r][v]);
}
#define GEMM_SIMD 1
#else
#define VL 8

/* The portable tile: rows x (nv * VL) columns in fixed-size accumulators. */
static inline __attribute__((always_inline)) void
NAME(tile)(int rows, int nv, int64_t K, const REAL *A, int64_t lda, const REAL *B, int64_t ldb,
           REAL *C, int64_t ldc) {
    REAL acc[6][2 * VL];
    const int n = nv * VL;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) acc[r][j] = C[r * ldc + j];
    for (int64_t k = 0; k < K; k++) {
        const REAL *b = B + k * ldb;
        for (int r = 0; r < rows; r++) {
            REAL a = A[r * lda + k];
            for (int j = 0; j < n; j++) acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) C[r * ldc + j] = acc[r][j];
}
#define GEMM_SIMD 0
#endif

/* Columns [n0, N) of rows [m0, m0 + rows): scalar, k in order. */
static void NAME(gemm_scalar_cols)(int64_t rows, int64_t n0, int64_t N, int64_t K,
                                   const REAL *A, int64_t lda, const REAL *B, int64_t ldb,
                                   REAL *C, int64_t ldc) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = n0; j < N; j++) {
            REAL sum = C[r * ldc + j];
            for (int64_t k = 0; k < K; k++) sum += A[r * lda + k] * B[k * ldb + j];
            C[r * ldc + j] = sum;
        }
}

/* One band of `rows` (1..6) rows of C. */
static inline __attribute__((always_inline)) void
NAME(gemm_band)(int rows, int64_t N, int64_t K, const REAL *A, int64_t lda, const REAL *B,
                int64_t ldb, REAL *C, int64_t ldc) {
    int64_t n0 = 0;
    for (; n0 + 2 * VL <= N; n0 += 2 * VL)
        NAME(tile)(rows, 2, K, A, lda, B + n0, ldb, C + n0, ldc);
    for (; n0 + VL <= N; n0 += VL) NAME(tile)(rows, 1, K, A, lda, B + n0, ldb, C + n0, ldc);
    if (n0 < N) NAME(gemm_scalar_cols)(rows, n0, N, K, A, lda, B, ldb, C, ldc);
}

/* C (M x N) += A (M x K) B (K x N): bands of 6 rows (12 accumulators of 16 registers), then
 * one band of the 1-5 rows left, each with its row count a constant. */
static void NAME(gemm_acc)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t lda,
                           const REAL *B, int64_t ldb, REAL *C, int64_t ldc) {
    int64_t m0 = 0;
    for (; m0 + 6 <= M; m0 += 6)
        NAME(gemm_band)(6, N, K, A + m0 * lda, lda, B, ldb, C + m0 * ldc, ldc);
    A += m0 * lda;
    C += m0 * ldc;
    switch (M - m0) {
    case 5: NAME(gemm_band)(5, N, K, A, lda, B, ldb, C, ldc); break;
    case 4: NAME(gemm_band)(4, N, K, A, lda, B, ldb, C, ldc); break;
    case 3: NAME(gemm_band)(3, N, K, A, lda, B, ldb, C, ldc); break;
    case 2: NAME(gemm_band)(2, N, K, A, lda, B, ldb, C, ldc); break;
    case 1: NAME(gemm_band)(1, N, K, A, lda, B, ldb, C, ldc); break;
    default: break;
    }
}
