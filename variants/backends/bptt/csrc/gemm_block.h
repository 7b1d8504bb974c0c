/* C (+)= A B for the small matrices of one recurrent step (included by bptt_steps.c, which defines
 * REAL). A is M x K with element (r, k) at A[r * lda + k * ka] (ka = 1: row-major; lda = 1: A
 * stored transposed, as for the weight gradients d_a^T h); B is K x N (row stride ldb), C is M x N
 * (row stride ldc), both row-major. `beta` 0 overwrites C, 1 adds to it.
 * Register-blocked: a tile of MR rows x 2 vectors of C stays in registers while k runs over K
 * (2 loads of B and MR broadcasts of A per k). With AVX-512 (compiled with -mavx512f) the tile is
 * 8 rows x 2 zmm vectors (16 of 32 registers); with AVX2 and FMA 6 rows x 2 ymm vectors (12 of
 * 16); otherwise the 6-row blocking in plain C (fixed-size inner loops the compiler vectorises for
 * whatever the target has). Edges (M not a multiple of MR, N not a multiple of the tile) take
 * narrower tiles, then scalars. The sum over k runs in order 0..K-1 for every element, whatever
 * path computes it.
 */
#if defined(__AVX512F__)
#include <immintrin.h>
#ifdef REAL_IS_FLOAT
typedef __m512 vec_t;
#define VL 16
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_SET1 _mm512_set1_ps
#define V_FMA _mm512_fmadd_ps
#define V_ZERO _mm512_setzero_ps
#else
typedef __m512d vec_t;
#define VL 8
#define V_LOAD _mm512_loadu_pd
#define V_STORE _mm512_storeu_pd
#define V_SET1 _mm512_set1_pd
#define V_FMA _mm512_fmadd_pd
#define V_ZERO _mm512_setzero_pd
#endif
#define MR 8
#define GEMM_SIMD 2
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#ifdef REAL_IS_FLOAT
typedef __m256 vec_t;
#define VL 8
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_SET1 _mm256_set1_ps
#define V_FMA _mm256_fmadd_ps
#define V_ZERO _mm256_setzero_ps
#else
typedef __m256d vec_t;
#define VL 4
#define V_LOAD _mm256_loadu_pd
#define V_STORE _mm256_storeu_pd
#define V_SET1 _mm256_set1_pd
#define V_FMA _mm256_fmadd_pd
#define V_ZERO _mm256_setzero_pd
#endif
#define MR 6
#define GEMM_SIMD 1
#endif

#ifdef GEMM_SIMD
/* rows x (nv vectors) tile, rows in 1..MR, nv in 1..2 (constants after inlining). */
static inline __attribute__((always_inline)) void
NAME(tile)(int rows, int nv, int64_t K, const REAL *A, int64_t lda, int64_t ka, const REAL *B,
           int64_t ldb, REAL *C, int64_t ldc, int beta) {
    vec_t acc[MR][2];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = beta ? V_LOAD(C + r * ldc + v * VL) : V_ZERO();
    for (int64_t k = 0; k < K; k++) {
        vec_t b[2];
        for (int v = 0; v < nv; v++) b[v] = V_LOAD(B + k * ldb + v * VL);
        for (int r = 0; r < rows; r++) {
            vec_t a = V_SET1(A[r * lda + k * ka]);
            for (int v = 0; v < nv; v++) acc[r][v] = V_FMA(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) V_STORE(C + r * ldc + v * VL, acc[r][v]);
}
#else
#define VL 8
#define MR 6
#define GEMM_SIMD 0

/* The portable tile: rows x (nv * VL) columns in fixed-size accumulators. */
static inline __attribute__((always_inline)) void
NAME(tile)(int rows, int nv, int64_t K, const REAL *A, int64_t lda, int64_t ka, const REAL *B,
           int64_t ldb, REAL *C, int64_t ldc, int beta) {
    REAL acc[MR][2 * VL];
    const int n = nv * VL;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) acc[r][j] = beta ? C[r * ldc + j] : 0;
    for (int64_t k = 0; k < K; k++) {
        const REAL *b = B + k * ldb;
        for (int r = 0; r < rows; r++) {
            REAL a = A[r * lda + k * ka];
            for (int j = 0; j < n; j++) acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) C[r * ldc + j] = acc[r][j];
}
#endif

/* Columns [n0, N) of rows [0, rows): scalar, k in order. */
static void NAME(gemm_scalar_cols)(int64_t rows, int64_t n0, int64_t N, int64_t K,
                                   const REAL *A, int64_t lda, int64_t ka, const REAL *B,
                                   int64_t ldb, REAL *C, int64_t ldc, int beta) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = n0; j < N; j++) {
            REAL sum = beta ? C[r * ldc + j] : 0;
            for (int64_t k = 0; k < K; k++) sum += A[r * lda + k * ka] * B[k * ldb + j];
            C[r * ldc + j] = sum;
        }
}

/* One band of `rows` (1..MR) rows of C. */
static inline __attribute__((always_inline)) void
NAME(gemm_band)(int rows, int64_t N, int64_t K, const REAL *A, int64_t lda, int64_t ka,
                const REAL *B, int64_t ldb, REAL *C, int64_t ldc, int beta) {
    int64_t n0 = 0;
    for (; n0 + 2 * VL <= N; n0 += 2 * VL)
        NAME(tile)(rows, 2, K, A, lda, ka, B + n0, ldb, C + n0, ldc, beta);
    for (; n0 + VL <= N; n0 += VL)
        NAME(tile)(rows, 1, K, A, lda, ka, B + n0, ldb, C + n0, ldc, beta);
    if (n0 < N) NAME(gemm_scalar_cols)(rows, n0, N, K, A, lda, ka, B, ldb, C, ldc, beta);
}

/* C (M x N) (+)= A (M x K) B (K x N): bands of MR rows, then one band of the rows left, each
 * with its row count a constant. */
static void NAME(gemm)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t lda, int64_t ka,
                       const REAL *B, int64_t ldb, REAL *C, int64_t ldc, int beta) {
    int64_t m0 = 0;
    for (; m0 + MR <= M; m0 += MR)
        NAME(gemm_band)(MR, N, K, A + m0 * lda, lda, ka, B, ldb, C + m0 * ldc, ldc, beta);
    A += m0 * lda;
    C += m0 * ldc;
    switch (M - m0) {
#if MR > 6
    case 7: NAME(gemm_band)(7, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    case 6: NAME(gemm_band)(6, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
#endif
    case 5: NAME(gemm_band)(5, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    case 4: NAME(gemm_band)(4, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    case 3: NAME(gemm_band)(3, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    case 2: NAME(gemm_band)(2, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    case 1: NAME(gemm_band)(1, N, K, A, lda, ka, B, ldb, C, ldc, beta); break;
    default: break;
    }
}

/* C += A B with A row-major (the recurrent step's form). */
static inline void NAME(gemm_acc)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t lda,
                                  const REAL *B, int64_t ldb, REAL *C, int64_t ldc) {
    NAME(gemm)(M, N, K, A, lda, 1, B, ldb, C, ldc, 1);
}
