/* Fused pointwise step of the sLSTM's `bptt` kernel (Beck et al. 2024, Sec. 2.2): forward and
 * backward, the same math as the torch-op path of variants/backends/bptt/slstm.py (its module
 * docstring has the backward's equations). The head-wise recurrent matmul stays in torch.
 * Included by bptt_steps.c after exp_real/tanh_real and NAME (float and double builds).
 *
 * Storage per step: gates (B, 4H) rows [i~, f~, z~, o~] -> [i', f', z, o] (forward) ->
 * d(pre-activation) (backward); c, n, m, h (B, H); sel (B, H): 1 where m_t = i~, 0 where
 * m_t = log f + m_{t-1}, 1/2 on a tie (torch.maximum's gradient split); dlf (B, H):
 * d log sigmoid(f~) / d f~ = sigmoid(-f~), only with the sigmoid forget gate (else NULL).
 */

#ifdef REAL_IS_FLOAT
/* log(x) for normal x > 0, branch-free (Cephes logf), so the loops vectorise. */
static inline float slstm_log(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 126; /* x = u 2^e, u in [0.5, 1) */
    bits = (bits & (int32_t)0x807fffff) | 0x3f000000;
    float u;
    memcpy(&u, &bits, sizeof u);
    const int below = u < 0.707106781186547524f;
    e = below ? e - 1 : e;
    u = below ? u + u - 1.0f : u - 1.0f;
    const float z = u * u;
    float y = 7.0376836292e-2f;
    y = y * u - 1.1514610310e-1f;
    y = y * u + 1.1676998740e-1f;
    y = y * u - 1.2420140846e-1f;
    y = y * u + 1.4249322787e-1f;
    y = y * u - 1.6668057665e-1f;
    y = y * u + 2.0000714765e-1f;
    y = y * u - 2.4999993993e-1f;
    y = y * u + 3.3333331174e-1f;
    y = y * u * z;
    const float fe = (float)e;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return u + y + 0.693359375f * fe;
}

/* log1p(t) for t in [0, 1] (Goldberg: log(1 + t) t / ((1 + t) - 1), exact rounding of 1 + t). */
static inline float slstm_log1p(float t) {
    const float u = 1.0f + t, d = u - 1.0f;
    return d == 0.0f ? t : slstm_log(u) * (t / d);
}
#else
static inline double slstm_log1p(double t) { return log1p(t); }
#endif

/* log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), as torch's log_sigmoid. */
static inline REAL slstm_logsigmoid(REAL x) {
    const REAL ax = x < 0 ? -x : x;
    return (x < 0 ? x : 0) - slstm_log1p(exp_real(-ax));
}

/* One batch row of the forward step (H units); a* are the four gate blocks of the row. */
static inline void slstm_forward_row(int64_t H, int64_t sigmoid_forget, int64_t first,
                                     REAL *restrict ai, REAL *restrict af, REAL *restrict az,
                                     REAL *restrict ao, const REAL *restrict cp,
                                     const REAL *restrict np, const REAL *restrict mp,
                                     REAL *restrict c, REAL *restrict n, REAL *restrict m,
                                     REAL *restrict h, REAL *restrict sel, REAL *restrict dlf) {
    if (sigmoid_forget) { /* m holds m_f = log f + m_{t-1} until the next loop */
        for (int64_t j = 0; j < H; j++) {
            dlf[j] = (REAL)1 / ((REAL)1 + exp_real(af[j])); /* sigmoid(-f~) */
            m[j] = mp[j] + slstm_logsigmoid(af[j]);
        }
    } else {
        for (int64_t j = 0; j < H; j++) m[j] = mp[j] + af[j];
    }
    const int fresh = first != 0;
    for (int64_t j = 0; j < H; j++) {
        const REAL ia = ai[j], m_f = m[j];
        const int empty = fresh & (np[j] == 0); /* t = 0 with n_{t-1} = 0: m = i~ */
        REAL mt = ia > m_f ? ia : m_f;
        REAL s = ia > m_f ? (REAL)1 : (ia < m_f ? (REAL)0 : (REAL)0.5);
        mt = empty ? ia : mt;
        s = empty ? (REAL)1 : s;
        m[j] = mt;
        sel[j] = s;
        ai[j] = exp_real(ia - mt);
        af[j] = exp_real(m_f - mt);
    }
    for (int64_t j = 0; j < H; j++) {
        const REAL iv = ai[j], fv = af[j];
        const REAL zv = tanh_real(az[j]);
        const REAL ov = (REAL)1 / ((REAL)1 + exp_real(-ao[j]));
        az[j] = zv;
        ao[j] = ov;
        const REAL cv = fv * cp[j] + iv * zv;
        const REAL nv = fv * np[j] + iv;
        c[j] = cv;
        n[j] = nv;
        h[j] = ov * cv / nv;
    }
}

/* Forward of step t. first != 0 at t = 0: there m_t = i~ (sel = 1) where n_{t-1} = 0. */
void NAME(slstm_forward_step)(int64_t batch, int64_t hidden, int64_t sigmoid_forget,
                              int64_t first, REAL *gates, const REAL *c_prev, const REAL *n_prev,
                              const REAL *m_prev, REAL *c, REAL *n, REAL *m, REAL *h, REAL *sel,
                              REAL *dlf) {
    const int64_t H = hidden;
    for (int64_t b = 0; b < batch; b++) {
        REAL *a = gates + b * 4 * H;
        const int64_t r = b * H;
        slstm_forward_row(H, sigmoid_forget, first, a, a + H, a + 2 * H, a + 3 * H, c_prev + r,
                          n_prev + r, m_prev + r, c + r, n + r, m + r, h + r, sel + r,
                          sigmoid_forget ? dlf + r : 0);
    }
}

/* One batch row of the backward step; `sig` is a constant at each call (the loop specialises). */
static inline void slstm_backward_row(int64_t H, const int sig, REAL *restrict gi,
                                      REAL *restrict gf, REAL *restrict gz, REAL *restrict go,
                                      const REAL *restrict cp, const REAL *restrict c,
                                      const REAL *restrict np, const REAL *restrict n,
                                      const REAL *restrict h, const REAL *restrict sel,
                                      const REAL *restrict dlf, const REAL *restrict dh,
                                      REAL *restrict dc, REAL *restrict dn, REAL *restrict dm) {
    for (int64_t j = 0; j < H; j++) {
        const REAL iv = gi[j], fv = gf[j], zv = gz[j], ov = go[j];
        const REAL nv = n[j], g = dh[j];
        go[j] = g * (c[j] / nv * ov * ((REAL)1 - ov));
        const REAL dcv = dc[j] + g * (ov / nv);
        const REAL dnv = dn[j] - g * (h[j] / nv);
        gz[j] = dcv * (iv * ((REAL)1 - zv * zv));
        const REAL g_i = dcv * (zv * iv) + dnv * iv;
        const REAL g_f = dcv * (cp[j] * fv) + dnv * (np[j] * fv);
        REAL dmv = dm[j] - g_i - g_f;
        const REAL s = sel[j];
        gi[j] = g_i + s * dmv;
        dmv = dmv - s * dmv + g_f; /* d m_f */
        gf[j] = sig ? dmv * dlf[j] : dmv;
        dm[j] = dmv;
        dc[j] = dcv * fv;
        dn[j] = dnv * fv;
    }
}

/* Backward of step t: dh is the gradient into h_t (the output's plus R's from step t + 1);
 * dc, dn, dm carry from t + 1 to t in place; gates (i', f', z, o of step t) become d a_t. */
void NAME(slstm_backward_step)(int64_t batch, int64_t hidden, int64_t sigmoid_forget,
                               REAL *gates, const REAL *c_prev, const REAL *c,
                               const REAL *n_prev, const REAL *n, const REAL *h,
                               const REAL *sel, const REAL *dlf, const REAL *dh, REAL *dc,
                               REAL *dn, REAL *dm) {
    const int64_t H = hidden;
    for (int64_t b = 0; b < batch; b++) {
        REAL *a = gates + b * 4 * H;
        const int64_t r = b * H;
        if (sigmoid_forget)
            slstm_backward_row(H, 1, a, a + H, a + 2 * H, a + 3 * H, c_prev + r, c + r,
                               n_prev + r, n + r, h + r, sel + r, dlf + r, dh + r, dc + r,
                               dn + r, dm + r);
        else
            slstm_backward_row(H, 0, a, a + H, a + 2 * H, a + 3 * H, c_prev + r, c + r,
                               n_prev + r, n + r, h + r, sel + r, 0, dh + r, dc + r, dn + r,
                               dm + r);
    }
}
