/* Fused pointwise steps of gatebench's `bptt` backend (CPU): the configurable LSTM, the
 * reset-after GRU and the sLSTM (slstm_step.h, included at the end).
 *
 * The recurrent matmuls stay in torch; one call here replaces the 6-10 torch ops of a forward
 * step and the 3-5 of a backward step (each a few microseconds of dispatch at small B*H), in one
 * pass over each batch row. Equations and storage: variants/backends/bptt/lstm.py (Greff et al.
 * 2017, Sec. 2) and bptt/gru.py. Compiled twice by variants/backends/bptt/native.py: REAL=float
 * (_f32 names) and REAL=double (_f64 names).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL
#define REAL float
#define SUFFIX _f32
#define REAL_IS_FLOAT 1
#endif

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define NAME(x) CAT(x, SUFFIX)

/* ACT_* codes and the lstm_spec struct (all int64 fields), generated from
 * variants/backends/kernel_table.py when this file is compiled (bptt/native.py). */
#include "kernel_table.h"

#ifdef REAL_IS_FLOAT
/* exp and tanh as branch-free polynomials (Cephes expf/tanhf), so the loops vectorise. */
static inline float exp_real(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float tanh_real(float x) {
    float ax = x < 0 ? -x : x;
    float t = exp_real(-2.0f * ax);
    float big = (1.0f - t) / (1.0f + t);
    big = x < 0 ? -big : big;
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    return ax < 0.625f ? small : big;
}
#else
static inline double exp_real(double x) { return exp(x); }
static inline double tanh_real(double x) { return tanh(x); }
#endif

/* y = act(x) in place over n elements; the switch sits outside the loops. */
static void act_inplace(int64_t kind, REAL *x, int64_t n) {
    int64_t j;
    switch (kind) {
    case ACT_SIGMOID:
        for (j = 0; j < n; j++) x[j] = (REAL)1 / ((REAL)1 + exp_real(-x[j]));
        break;
    case ACT_TANH:
        for (j = 0; j < n; j++) x[j] = tanh_real(x[j]);
        break;
    case ACT_HARD_SIGMOID:
        for (j = 0; j < n; j++) {
            REAL y = x[j] * (REAL)0.2 + (REAL)0.5;
            y = y < 0 ? 0 : y;
            x[j] = y > 1 ? 1 : y;
        }
        break;
    case ACT_RELU:
        for (j = 0; j < n; j++) x[j] = x[j] > 0 ? x[j] : 0;
        break;
    default:
        break;
    }
}

/* act_inplace over `rows` rows of n elements, row r at x + r * stride. */
static void act_rows(int64_t kind, REAL *x, int64_t rows, int64_t n, int64_t stride) {
    int64_t r, j;
    switch (kind) {
    case ACT_SIGMOID:
        for (r = 0; r < rows; r++) {
            REAL *y = x + r * stride;
            for (j = 0; j < n; j++) y[j] = (REAL)1 / ((REAL)1 + exp_real(-y[j]));
        }
        break;
    case ACT_TANH:
        for (r = 0; r < rows; r++) {
            REAL *y = x + r * stride;
            for (j = 0; j < n; j++) y[j] = tanh_real(y[j]);
        }
        break;
    default:
        for (r = 0; r < rows; r++) act_inplace(kind, x + r * stride, n);
        break;
    }
}

/* x (rows of n at stride) += p * c (c: rows of n, contiguous): a peephole's term. */
static void peep_add_rows(REAL *x, int64_t stride, const REAL *p, const REAL *c, int64_t rows,
                          int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        REAL *y = x + r * stride;
        const REAL *cr = c + r * n;
        for (int64_t j = 0; j < n; j++) y[j] += p[j] * cr[j];
    }
}

/* d act / dx from the output y, written into out. */
static void act_derivative(int64_t kind, const REAL *y, REAL *out, int64_t n) {
    int64_t j;
    switch (kind) {
    case ACT_SIGMOID:
        for (j = 0; j < n; j++) out[j] = y[j] * ((REAL)1 - y[j]);
        break;
    case ACT_TANH:
        for (j = 0; j < n; j++) out[j] = (REAL)1 - y[j] * y[j];
        break;
    case ACT_HARD_SIGMOID:
        for (j = 0; j < n; j++) out[j] = (y[j] > 0 && y[j] < 1) ? (REAL)0.2 : 0;
        break;
    case ACT_RELU:
        for (j = 0; j < n; j++) out[j] = y[j] > 0 ? 1 : 0;
        break;
    default:
        for (j = 0; j < n; j++) out[j] = 1;
        break;
    }
}

/* The backward step of the common presets in one pass over each row (lstm_backward_step uses it
 * when lstm_std_case says so). */
#include "lstm_backward_std.h"

/* Forward of one step. On entry gates holds the pre-activations a = xp + R h (+ Q s) of step t
 * (B rows of `row`); on exit the activations i, f, g, o. Writes c_t and h_t. */
void NAME(lstm_forward_step)(const lstm_spec *s, REAL *gates, const REAL *c_prev, REAL *c,
                             REAL *h, const REAL *peep) {
    /* Gate by gate over all rows (one pass per gate, the activation's switch outside the loops):
     * at H = 32 a call of act_inplace per gate and row took ~40% longer (issue 27). */
    const int64_t H = s->hidden, B = s->batch, row = s->row;
    REAL *ai = s->off_i >= 0 ? gates + s->off_i : 0;
    REAL *af = s->off_f >= 0 ? gates + s->off_f : 0;
    REAL *ag = gates + s->off_g;
    REAL *ao = s->off_o >= 0 ? gates + s->off_o : 0;
    if (ai && s->peep_i >= 0) peep_add_rows(ai, row, peep + s->peep_i * H, c_prev, B, H);
    if (af && s->peep_f >= 0) peep_add_rows(af, row, peep + s->peep_f * H, c_prev, B, H);
    if (ai) act_rows(s->act_rec, ai, B, H, row);
    if (af) act_rows(s->act_rec, af, B, H, row);
    act_rows(s->act_in, ag, B, H, row);
    for (int64_t b = 0; b < B; b++) {
        const REAL *cp = c_prev + b * H, *gi = ai ? ai + b * row : 0, *gf = af ? af + b * row : 0;
        const REAL *gg = ag + b * row;
        REAL *cn = c + b * H;
        if (s->coupled) {
            for (int64_t j = 0; j < H; j++) cn[j] = cp[j] + gi[j] * (gg[j] - cp[j]);
        } else if (gi && gf) {
            for (int64_t j = 0; j < H; j++) cn[j] = gf[j] * cp[j] + gi[j] * gg[j];
        } else if (gf) {
            for (int64_t j = 0; j < H; j++) cn[j] = gf[j] * cp[j] + gg[j];
        } else if (gi) {
            for (int64_t j = 0; j < H; j++) cn[j] = cp[j] + gi[j] * gg[j];
        } else {
            for (int64_t j = 0; j < H; j++) cn[j] = cp[j] + gg[j];
        }
    }
    memcpy(h, c, (size_t)(B * H) * sizeof(REAL));
    act_inplace(s->act_out, h, B * H); /* y = act(c), then h = o y */
    if (ao) {
        if (s->peep_o >= 0) peep_add_rows(ao, row, peep + s->peep_o * H, c, B, H);
        act_rows(s->act_rec, ao, B, H, row);
        for (int64_t b = 0; b < B; b++) {
            const REAL *o = ao + b * row;
            REAL *hn = h + b * H;
            for (int64_t j = 0; j < H; j++) hn[j] *= o[j];
        }
    }
}

/* The per-element backward of the o block and of the c blocks, over one batch row (restrict
 * parameters: the row's blocks never overlap, so the loops vectorise without alias checks). */
static void backward_o(int64_t H, const REAL *restrict qo, const REAL *restrict rd_o,
                       const REAL *restrict g_h, const REAL *restrict y, const REAL *restrict dy,
                       const REAL *restrict po, REAL *restrict g_c, REAL *restrict ao) {
    for (int64_t j = 0; j < H; j++) {
        REAL e_o = qo[j] * rd_o[j];
        REAL d_ao = g_h[j] * y[j] * rd_o[j];
        g_c[j] += g_h[j] * ao[j] * dy[j] + (d_ao + e_o) * po[j];
        ao[j] = d_ao + e_o;
    }
}

static void backward_c(int64_t H, REAL coupled, const REAL *restrict iv, const REAL *restrict fv,
                       const REAL *restrict cp, const REAL *restrict rd_i,
                       const REAL *restrict rd_f, const REAL *restrict dg,
                       const REAL *restrict pi, const REAL *restrict pf,
                       const REAL *restrict qi, const REAL *restrict qf, REAL *restrict g_c,
                       REAL *restrict ai, REAL *restrict af, REAL *restrict ag) {
    for (int64_t j = 0; j < H; j++) {
        REAL dcv = g_c[j], i = iv[j], f = fv[j], g = ag[j], cpj = cp[j];
        REAL k_i = (g - coupled * cpj) * rd_i[j];
        REAL k_f = cpj * rd_f[j];
        REAL f_total = coupled * (1 - i) + (1 - coupled) * f + k_i * pi[j] + k_f * pf[j];
        REAL e_i = qi[j] * rd_i[j], e_f = qf[j] * rd_f[j];
        ai[j] = dcv * k_i + e_i;
        af[j] = dcv * k_f + e_f;
        ag[j] = dcv * i * dg[j];
        g_c[j] = dcv * f_total + e_i * pi[j] + e_f * pf[j];
    }
}

/* Backward of one step. gates holds step t's activations and is overwritten with d a_t.
 * dh: total gradient into h_t. dc: on entry the gradient carried into c_t from step t+1, on exit
 * the gradient into c_{t-1}. q (fgr, or NULL): d s_{t+1} Q, the gradient into this step's
 * fed-back gates s_t before their derivative. work: 11 H scratch values. An absent block reads
 * as ones or zeros and writes into scratch, so every loop is branch-free and vectorises. */
void NAME(lstm_backward_step)(const lstm_spec *s, REAL *gates, const REAL *c_prev,
                              const REAL *c, const REAL *dh, REAL *dc, const REAL *q,
                              const REAL *peep, REAL *work) {
    const int which = q ? 0 : lstm_std_case(s);
    if (which) {
        NAME(lstm_backward_std)(s, which, gates, c_prev, c, dh, dc, peep);
        return;
    }
    const int64_t H = s->hidden, row = s->row, q_row = s->q_row;
    const int64_t off_i = s->off_i, off_f = s->off_f, off_g = s->off_g, off_o = s->off_o;
    const int64_t q_i = q ? s->q_i : -1, q_f = q ? s->q_f : -1, q_o = q ? s->q_o : -1;
    const REAL coupled = s->coupled ? 1 : 0;
    REAL *restrict y = work, *restrict dy = work + H, *restrict rd_i = work + 2 * H;
    REAL *restrict rd_f = work + 3 * H, *restrict rd_o = work + 4 * H, *restrict dg = work + 5 * H;
    REAL *restrict e = work + 6 * H, *restrict ones = work + 7 * H, *restrict zeros = work + 8 * H;
    REAL *restrict scratch_i = work + 9 * H, *restrict scratch_f = work + 10 * H;
    for (int64_t j = 0; j < H; j++) { ones[j] = 1; zeros[j] = 0; }
    const REAL *restrict pi = s->peep_i >= 0 ? peep + s->peep_i * H : zeros;
    const REAL *restrict pf = s->peep_f >= 0 ? peep + s->peep_f * H : zeros;
    const REAL *restrict po = s->peep_o >= 0 ? peep + s->peep_o * H : zeros;
    for (int64_t b = 0; b < s->batch; b++) {
        REAL *a = gates + b * row;
        const REAL *restrict cp = c_prev + b * H, *restrict cn = c + b * H;
        const REAL *restrict g_h = dh + b * H;
        REAL *restrict g_c = dc + b * H;
        const REAL *qb = q ? q + b * q_row : 0;
        REAL *restrict ag = a + off_g;
        memcpy(y, cn, (size_t)H * sizeof(REAL));
        act_inplace(s->act_out, y, H);
        act_derivative(s->act_out, y, dy, H);
        if (off_o >= 0) {  /* h = o y: d a_o = dh y o' (+ e_o); dc += dh (o y' + y o' p_o) + e_o p_o */
            REAL *restrict ao = a + off_o;
            act_derivative(s->act_rec, ao, rd_o, H);
            const REAL *restrict qo = q_o >= 0 ? qb + q_o : zeros;
            backward_o(H, qo, rd_o, g_h, y, dy, po, g_c, ao);
        } else {
            for (int64_t j = 0; j < H; j++) g_c[j] += g_h[j] * dy[j];
        }
        /* c blocks: d a = dc K, then dc <- dc F (+ the i, f peephole paths of e) */
        REAL *restrict ai = off_i >= 0 ? a + off_i : scratch_i;
        REAL *restrict af = off_f >= 0 ? a + off_f : scratch_f;
        const REAL *iv = off_i >= 0 ? ai : ones;
        if (off_i >= 0) act_derivative(s->act_rec, ai, rd_i, H);
        else memcpy(rd_i, zeros, (size_t)H * sizeof(REAL));
        if (off_f >= 0) act_derivative(s->act_rec, af, rd_f, H);
        else memcpy(rd_f, zeros, (size_t)H * sizeof(REAL));
        act_derivative(s->act_in, ag, dg, H);
        const REAL *fv = off_f >= 0 ? af : ones;
        const REAL *restrict qi = q_i >= 0 ? qb + q_i : zeros;
        const REAL *restrict qf = q_f >= 0 ? qb + q_f : zeros;
        for (int64_t j = 0; j < H; j++) e[j] = iv[j];  /* i, read before ai is overwritten */
        for (int64_t j = 0; j < H; j++) y[j] = fv[j];  /* f (y is free again) */
        backward_c(H, coupled, e, y, cp, rd_i, rd_f, dg, pi, pf, qi, qf, g_c, ai, af, ag);
    }
}

/* ---- GRU, reset-after form (torch.nn.GRU): blocks r, z, n of H each ----
 * rec = R h_{t-1} (+ b_hh), computed by torch. r = s(a_r + rec_r), z = s(a_z + rec_z),
 * n = act(a_n + r rec_n), h = n + z (h_{t-1} - n). */
void NAME(gru_forward_step)(int64_t batch, int64_t hidden, int64_t act_rec, int64_t act,
                            REAL *gates, const REAL *rec, const REAL *h_prev, REAL *h) {
    const int64_t H = hidden;
    for (int64_t b = 0; b < batch; b++) {
        REAL *a = gates + b * 3 * H;
        const REAL *rc = rec + b * 3 * H, *hp = h_prev + b * H;
        REAL *hn = h + b * H;
        for (int64_t j = 0; j < 2 * H; j++) a[j] += rc[j];
        act_inplace(act_rec, a, 2 * H);
        for (int64_t j = 0; j < H; j++) a[2 * H + j] += a[j] * rc[2 * H + j];
        act_inplace(act, a + 2 * H, H);
        for (int64_t j = 0; j < H; j++) hn[j] = a[2 * H + j] + a[H + j] * (hp[j] - a[2 * H + j]);
    }
}

static void gru_backward_row(int64_t H, const REAL *restrict dh, const REAL *restrict hp,
                             const REAL *restrict rd_r, const REAL *restrict rd_z,
                             const REAL *restrict dn, const REAL *restrict d_out_prev,
                             REAL *restrict a, REAL *restrict rc, REAL *restrict dh_prev) {
    for (int64_t j = 0; j < H; j++) {
        REAL r = a[j], z = a[H + j], n = a[2 * H + j], g = dh[j];
        REAL k_n = (1 - z) * dn[j];
        REAL d_an = g * k_n;
        REAL d_ar = d_an * rc[2 * H + j] * rd_r[j];
        REAL d_az = g * (hp[j] - n) * rd_z[j];
        a[j] = d_ar;
        a[H + j] = d_az;
        a[2 * H + j] = d_an;
        rc[j] = d_ar;
        rc[H + j] = d_az;
        rc[2 * H + j] = d_an * r;
        dh_prev[j] = d_out_prev[j] + g * z;
    }
}

/* Backward of one GRU step. gates: step t's r, z, n, overwritten with d xp_t; rec: R h + b_hh,
 * overwritten with d rec_t; dh: total gradient into h_t; d_out_prev: the output gradient of
 * step t-1 (zeros for t = 0); dh_prev: receives d_out_prev + dh z, to which torch adds
 * d rec_t R. work: 3 H scratch values. */
void NAME(gru_backward_step)(int64_t batch, int64_t hidden, int64_t act_rec, int64_t act,
                             REAL *gates, REAL *rec, const REAL *h_prev, const REAL *dh,
                             const REAL *d_out_prev, int64_t d_out_stride, REAL *dh_prev,
                             REAL *work) {
    const int64_t H = hidden;
    REAL *rd_r = work, *rd_z = work + H, *dn = work + 2 * H;
    for (int64_t b = 0; b < batch; b++) {
        REAL *a = gates + b * 3 * H, *rc = rec + b * 3 * H;
        act_derivative(act_rec, a, rd_r, H);
        act_derivative(act_rec, a + H, rd_z, H);
        act_derivative(act, a + 2 * H, dn, H);
        gru_backward_row(H, dh + b * H, h_prev + b * H, rd_r, rd_z, dn,
                         d_out_prev + b * d_out_stride, a, rc, dh_prev + b * H);
    }
}

/* The activation of `code` (and its derivative from the output) over n elements: exported so that
 * tests/test_kernel_table.py can check every code against the torch function kernel_table names. */
void NAME(activation_forward)(int64_t code, REAL *x, int64_t n) { act_inplace(code, x, n); }

void NAME(activation_derivative)(int64_t code, const REAL *y, REAL *out, int64_t n) {
    act_derivative(code, y, out, n);
}

/* sizeof(lstm_spec), to check the ctypes struct against the header. */
int64_t NAME(lstm_spec_bytes)(void) { return (int64_t)sizeof(lstm_spec); }

/* ---- Whole layers: the time loop in C, every matmul inside it (gemm_block.h) ----
 * One call runs a layer-direction's forward (or backward) over all T steps, the input projection
 * and the weight gradients included: per step the projection x_t W_ih^T (+ bias) and the
 * recurrent matmul into the step's gate row, then the pointwise step above; backward, per step,
 * the pointwise backward, d h_{t-1} += d a_t W_hh, d x_t = d a_t W_ih, d W_hh += d a_t^T h_{t-1},
 * d W_ih += d a_t^T x_t and d bias += the rows of d a_t, while d a_t is in cache. At study sizes
 * (B = 32, H = 32-64) torch's GEMM over all steps ran these skinny shapes at about half its square
 * rate, and its (T, B, G H) buffers were page-faulted in every call (issue 27).
 * Layouts: gates, recs (T, B, row); hs, cs (T + 1, B, H) with step 0 the initial state; x_t's row
 * b at x + t sxt + b sxb (a batch-first input needs no copy), likewise d_out (element stride sdj,
 * 0 for an expanded gradient) and d x. Weights as stored: W_ih (row x I), W_hh (row x H); the
 * forward reads them transposed (wih_t: I x row, wt: H x row). Gradient buffers (dwih, dwhh,
 * dbias, ...) are added to: the caller zeroes them. The sums over steps run in two levels: each
 * block of SUM_BLOCK steps into a scratch sum, which is then added to the total, so that float32
 * rounding grows with about T / SUM_BLOCK + SUM_BLOCK terms rather than T (one running sum over
 * T = 1000 steps had ~10x the relative error of torch's GEMM). */
#include "gemm_block.h"

#define SUM_BLOCK 32

/* Scratch for the block sums of n values (NULL when out of memory: then the totals are summed
 * into directly). */
static REAL *NAME(block_sums)(int64_t n) {
    return (REAL *)malloc((size_t)(n > 0 ? n : 1) * sizeof(REAL));
}

/* total += part over n values (part may be NULL: nothing). */
static void NAME(flush)(REAL *total, const REAL *part, int64_t n) {
    if (part && part != total)
        for (int64_t j = 0; j < n; j++) total[j] += part[j];
}

/* beta of step k (counted from the first step the backward runs) into its block's scratch sum:
 * 0 (overwrite) at the block's first step, else 1; always 1 without scratch. */
static inline int block_beta(const void *mem, int64_t k) { return mem ? (k % SUM_BLOCK) != 0 : 1; }

static inline int block_last(const void *mem, int64_t k, int64_t t) {
    return mem && ((k % SUM_BLOCK) == SUM_BLOCK - 1 || t == 0);
}

/* dst (B x H, contiguous) = the rows of d_out at step t (row stride sdb, element stride sdj). */
static void NAME(load_rows)(int64_t B, int64_t H, const REAL *src, int64_t sdb, int64_t sdj,
                            REAL *dst) {
    for (int64_t b = 0; b < B; b++) {
        const REAL *row = src + b * sdb;
        REAL *out = dst + b * H;
        if (sdj == 1) memcpy(out, row, (size_t)H * sizeof(REAL));
        else for (int64_t j = 0; j < H; j++) out[j] = row[j * sdj];
    }
}

/* dst (B x H) += the rows of d_out at step t. */
static void NAME(add_rows)(int64_t B, int64_t H, const REAL *src, int64_t sdb, int64_t sdj,
                           REAL *dst) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++) dst[b * H + j] += src[b * sdb + j * sdj];
}

/* a (B x row) = bias (or 0) + x_t W_ih^T. */
static void NAME(project)(int64_t B, int64_t row, int64_t I, const REAL *xt, int64_t sxb,
                          const REAL *wih_t, const REAL *bias, REAL *a) {
    if (bias) {
        for (int64_t b = 0; b < B; b++) memcpy(a + b * row, bias, (size_t)row * sizeof(REAL));
    }
    NAME(gemm)(B, row, I, xt, sxb, 1, wih_t, row, a, row, bias ? 1 : 0);
}

/* The input side of a backward step from d a_t (B x row, row stride ld): d x_t (when dx),
 * d W_ih (+)= d a_t^T x_t, d bias (+)= the rows of d a_t (when dbias); beta 0 overwrites. */
static void NAME(input_grads)(int64_t B, int64_t row, int64_t I, const REAL *da, int64_t ld,
                              const REAL *wih, const REAL *xt, int64_t sxb, REAL *dxt,
                              int64_t sdxb, REAL *dwih, REAL *dbias, int beta) {
    if (dxt) NAME(gemm)(B, I, row, da, ld, 1, wih, I, dxt, sdxb, 0);
    NAME(gemm)(row, I, B, da, 1, ld, xt, sxb, dwih, I, beta);
    if (dbias) {
        if (!beta) memset(dbias, 0, (size_t)row * sizeof(REAL));
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < row; j++) dbias[j] += da[b * ld + j];
    }
}

/* LSTM family (no fed-back gates). On exit gates holds the activations. */
void NAME(lstm_layer_forward)(const lstm_spec *s, int64_t T, int64_t I, const REAL *x,
                              int64_t sxt, int64_t sxb, const REAL *wih_t, const REAL *bias,
                              REAL *gates, REAL *hs, REAL *cs, const REAL *wt, const REAL *peep) {
    const int64_t B = s->batch, H = s->hidden, row = s->row, BH = B * H;
    for (int64_t t = 0; t < T; t++) {
        REAL *a = gates + t * B * row;
        NAME(project)(B, row, I, x + t * sxt, sxb, wih_t, bias, a);
        NAME(gemm_acc)(B, row, H, hs + t * BH, H, wt, row, a, row);
        NAME(lstm_forward_step)(s, a, cs + t * BH, cs + (t + 1) * BH, hs + (t + 1) * BH, peep);
    }
}

/* gates: the activations, overwritten with d a. dh: on entry the gradient into the final h, on
 * exit the gradient into h_0; dc likewise for c. dpeep (peephole rows x H) or NULL. work: 11 H
 * scratch values. */
void NAME(lstm_layer_backward)(const lstm_spec *s, int64_t T, int64_t I, REAL *gates,
                               const REAL *hs, const REAL *cs, const REAL *w, const REAL *wih,
                               const REAL *x, int64_t sxt, int64_t sxb, const REAL *d_out,
                               int64_t sdt, int64_t sdb, int64_t sdj, REAL *dh, REAL *dc,
                               const REAL *peep, REAL *work, REAL *dx, int64_t sdxt,
                               int64_t sdxb, REAL *dwhh, REAL *dwih, REAL *dbias, REAL *dpeep) {
    const int64_t B = s->batch, H = s->hidden, row = s->row, BH = B * H;
    const int64_t n_whh = row * H, n_wih = row * I, n_b = dbias ? row : 0, n_p = dpeep ? 3 * H : 0;
    REAL *mem = NAME(block_sums)(n_whh + n_wih + n_b + n_p);
    REAL *pwhh = mem ? mem : dwhh, *pwih = mem ? mem + n_whh : dwih;
    REAL *pb = dbias && mem ? mem + n_whh + n_wih : dbias;
    REAL *pp = dpeep && mem ? mem + n_whh + n_wih + n_b : dpeep;
    for (int64_t t = T - 1; t >= 0; t--) {
        REAL *da = gates + t * B * row;
        const int64_t k = T - 1 - t;
        const int beta = block_beta(mem, k);
        if (t == T - 1) {
            NAME(add_rows)(B, H, d_out + t * sdt, sdb, sdj, dh);
        } else {
            NAME(load_rows)(B, H, d_out + t * sdt, sdb, sdj, dh);
            NAME(gemm_acc)(B, H, row, da + B * row, row, w, H, dh, H);
        }
        NAME(lstm_backward_step)(s, da, cs + t * BH, cs + (t + 1) * BH, dh, dc, 0, peep, work);
        NAME(gemm)(row, H, B, da, 1, row, hs + t * BH, H, pwhh, H, beta);
        NAME(input_grads)(B, row, I, da, row, wih, x + t * sxt, sxb, dx ? dx + t * sdxt : 0,
                          sdxb, pwih, pb, beta);
        if (dpeep) {  /* i and f peek at c_{t-1}, o at c_t */
            const int64_t off[3] = {s->off_i, s->off_f, s->off_o};
            const int64_t prow[3] = {s->peep_i, s->peep_f, s->peep_o};
            if (!beta) memset(pp, 0, (size_t)n_p * sizeof(REAL));
            for (int q = 0; q < 3; q++) {
                if (prow[q] < 0) continue;
                const REAL *c_used = cs + (q == 2 ? t + 1 : t) * BH;
                REAL *dp = pp + prow[q] * H;
                for (int64_t b = 0; b < B; b++)
                    for (int64_t j = 0; j < H; j++)
                        dp[j] += da[b * row + off[q] + j] * c_used[b * H + j];
            }
        }
        if (block_last(mem, k, t)) {
            NAME(flush)(dwhh, pwhh, n_whh);
            NAME(flush)(dwih, pwih, n_wih);
            NAME(flush)(dbias, pb, n_b);
            NAME(flush)(dpeep, pp, n_p);
        }
    }
    free(mem);
    NAME(gemm)(B, H, row, gates, row, 1, w, H, dh, H, 0);
}

/* Reset-after GRU. gates: r, z, n on exit; recs: R h + b_hh per step; bhh: b_hh (3H) or NULL. */
void NAME(gru_layer_forward)(int64_t batch, int64_t hidden, int64_t act_rec, int64_t act,
                             int64_t T, int64_t I, const REAL *x, int64_t sxt, int64_t sxb,
                             const REAL *wih_t, const REAL *bias, REAL *gates, REAL *recs,
                             REAL *hs, const REAL *wt, const REAL *bhh) {
    const int64_t H = hidden, G = 3 * hidden, BH = batch * hidden;
    for (int64_t t = 0; t < T; t++) {
        REAL *rec = recs + t * batch * G, *a = gates + t * batch * G;
        NAME(project)(batch, G, I, x + t * sxt, sxb, wih_t, bias, a);
        NAME(project)(batch, G, H, hs + t * BH, H, wt, bhh, rec);
        NAME(gru_forward_step)(batch, hidden, act_rec, act, a, rec, hs + t * BH, hs + (t + 1) * BH);
    }
}

/* gates -> d xp, recs -> d rec. dh: on entry the gradient into the final h, on exit the gradient
 * into h_0. scratch: 2 B H values; work: 3 H. dbhh (3H) or NULL. */
void NAME(gru_layer_backward)(int64_t batch, int64_t hidden, int64_t act_rec, int64_t act,
                              int64_t T, int64_t I, REAL *gates, REAL *recs, const REAL *hs,
                              const REAL *w, const REAL *wih, const REAL *x, int64_t sxt,
                              int64_t sxb, const REAL *d_out, int64_t sdt, int64_t sdb,
                              int64_t sdj, REAL *dh, REAL *scratch, REAL *work, REAL *dx,
                              int64_t sdxt, int64_t sdxb, REAL *dwhh, REAL *dwih, REAL *dbias,
                              REAL *dbhh) {
    const int64_t H = hidden, G = 3 * hidden, BH = batch * hidden;
    REAL *cur = dh, *prev = scratch, *d_prev = scratch + BH;
    const int64_t n_whh = G * H, n_wih = G * I, n_b = dbias ? G : 0, n_bhh = dbhh ? G : 0;
    REAL *mem = NAME(block_sums)(n_whh + n_wih + n_b + n_bhh);
    REAL *pwhh = mem ? mem : dwhh, *pwih = mem ? mem + n_whh : dwih;
    REAL *pb = dbias && mem ? mem + n_whh + n_wih : dbias;
    REAL *pbhh = dbhh && mem ? mem + n_whh + n_wih + n_b : dbhh;
    NAME(add_rows)(batch, H, d_out + (T - 1) * sdt, sdb, sdj, dh);
    for (int64_t t = T - 1; t >= 0; t--) {
        REAL *da = gates + t * batch * G, *dr = recs + t * batch * G;
        const int64_t k = T - 1 - t;
        const int beta = block_beta(mem, k);
        if (t > 0) NAME(load_rows)(batch, H, d_out + (t - 1) * sdt, sdb, sdj, d_prev);
        else memset(d_prev, 0, (size_t)BH * sizeof(REAL));
        NAME(gru_backward_step)(batch, hidden, act_rec, act, da, dr, hs + t * BH, cur, d_prev, H,
                                prev, work);
        NAME(gemm_acc)(batch, H, G, dr, G, w, H, prev, H);
        NAME(gemm)(G, H, batch, dr, 1, G, hs + t * BH, H, pwhh, H, beta);
        if (dbhh) {
            if (!beta) memset(pbhh, 0, (size_t)G * sizeof(REAL));
            for (int64_t b = 0; b < batch; b++)
                for (int64_t j = 0; j < G; j++) pbhh[j] += dr[b * G + j];
        }
        NAME(input_grads)(batch, G, I, da, G, wih, x + t * sxt, sxb, dx ? dx + t * sdxt : 0,
                          sdxb, pwih, pb, beta);
        if (block_last(mem, k, t)) {
            NAME(flush)(dwhh, pwhh, n_whh);
            NAME(flush)(dwih, pwih, n_wih);
            NAME(flush)(dbias, pb, n_b);
            NAME(flush)(dbhh, pbhh, n_bhh);
        }
        REAL *swap = cur;
        cur = prev;
        prev = swap;
    }
    free(mem);
    if (cur != dh) memcpy(dh, cur, (size_t)BH * sizeof(REAL));
}

/* Elman RNN: hs[t+1] = act(bias + x_t W_ih^T + hs[t] W_hh^T). */
void NAME(rnn_layer_forward)(int64_t batch, int64_t hidden, int64_t act, int64_t T, int64_t I,
                             const REAL *x, int64_t sxt, int64_t sxb, const REAL *wih_t,
                             const REAL *bias, REAL *hs, const REAL *wt) {
    const int64_t H = hidden, BH = batch * hidden;
    for (int64_t t = 0; t < T; t++) {
        REAL *h = hs + (t + 1) * BH;
        NAME(project)(batch, H, I, x + t * sxt, sxb, wih_t, bias, h);
        NAME(gemm_acc)(batch, H, H, hs + t * BH, H, wt, H, h, H);
        act_inplace(act, h, BH);
    }
}

/* dh: on entry the gradient into the final h, on exit the gradient into h_0. da: B H scratch. */
void NAME(rnn_layer_backward)(int64_t batch, int64_t hidden, int64_t act, int64_t T, int64_t I,
                              const REAL *hs, const REAL *w, const REAL *wih, const REAL *x,
                              int64_t sxt, int64_t sxb, const REAL *d_out, int64_t sdt,
                              int64_t sdb, int64_t sdj, REAL *dh, REAL *da, REAL *dx,
                              int64_t sdxt, int64_t sdxb, REAL *dwhh, REAL *dwih, REAL *dbias) {
    const int64_t H = hidden, BH = batch * hidden;
    const int64_t n_whh = H * H, n_wih = H * I, n_b = dbias ? H : 0;
    REAL *mem = NAME(block_sums)(n_whh + n_wih + n_b);
    REAL *pwhh = mem ? mem : dwhh, *pwih = mem ? mem + n_whh : dwih;
    REAL *pb = dbias && mem ? mem + n_whh + n_wih : dbias;
    NAME(add_rows)(batch, H, d_out + (T - 1) * sdt, sdb, sdj, dh);
    for (int64_t t = T - 1; t >= 0; t--) {
        const int64_t k = T - 1 - t;
        const int beta = block_beta(mem, k);
        act_derivative(act, hs + (t + 1) * BH, da, BH);
        for (int64_t j = 0; j < BH; j++) da[j] *= dh[j];
        NAME(gemm)(H, H, batch, da, 1, H, hs + t * BH, H, pwhh, H, beta);
        NAME(input_grads)(batch, H, I, da, H, wih, x + t * sxt, sxb, dx ? dx + t * sdxt : 0,
                          sdxb, pwih, pb, beta);
        if (block_last(mem, k, t)) {
            NAME(flush)(dwhh, pwhh, n_whh);
            NAME(flush)(dwih, pwih, n_wih);
            NAME(flush)(dbias, pb, n_b);
        }
        if (t > 0) NAME(load_rows)(batch, H, d_out + (t - 1) * sdt, sdb, sdj, dh);
        NAME(gemm)(batch, H, H, da, H, 1, w, H, dh, H, t > 0 ? 1 : 0);
    }
    free(mem);
}

/* C += A B through the tiles above: exported for the tests (tests/test_backend_native_seq.py). */
void NAME(gemm_acc_test)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t lda,
                         const REAL *B, int64_t ldb, REAL *C, int64_t ldc) {
    NAME(gemm_acc)(M, N, K, A, lda, B, ldb, C, ldc);
}

/* 1 when the tiles use AVX2/FMA intrinsics, 0 for the portable tiles. */
int64_t NAME(gemm_simd)(void) { return GEMM_SIMD; }

/* ---- sLSTM (Beck et al. 2024): pointwise forward/backward of bptt/slstm.py's kernel ---- */
#include "slstm_step.h"
