/* The backward step of the LSTM family's common presets in one pass (included by bptt_steps.c,
 * which defines REAL, NAME, exp_real, tanh_real and lstm_spec before it): sigmoid gates, tanh on
 * g and on c (lstm, peephole, cifg, nig, nfg, nog).
 * At H = 32 the general backward step (bptt_steps.c) makes ~10 passes over each 32-element block
 * (copies, a derivative buffer per gate, act_inplace per block and row) and took ~3.1 us a step at
 * B = 32, about as long as the step's four matmuls (issue 27). Here each row is one loop over j
 * with every value in registers (~2.3 us); the flags are constants after inlining, one copy of
 * the loop per preset, each with or without peepholes on all its gates. Same formulas as the
 * general path; absent gates read as 1. (The forward stays general: one pass with its five
 * transcendental functions in a row ran slower than the separate passes, 3.2-3.8 us against
 * 2.0.) */

/* One row's backward: the activations in ai..ao become d a; g_c: d c_t in, d c_{t-1} out. */
static inline __attribute__((always_inline)) void
NAME(lstm_row_backward_std)(int64_t H, const int hi, const int hf, const int ho, const int cpl,
                            const int pe, REAL *restrict ai, REAL *restrict af, REAL *restrict ag,
                            REAL *restrict ao, const REAL *restrict pi,
                            const REAL *restrict pf, const REAL *restrict po,
                            const REAL *restrict cp, const REAL *restrict cn,
                            const REAL *restrict g_h, REAL *restrict g_c) {
    for (int64_t j = 0; j < H; j++) {
        const REAL y = tanh_real(cn[j]), dy = (REAL)1 - y * y, gh = g_h[j];
        REAL dcv = g_c[j];
        if (ho) {  /* h = o y */
            const REAL o = ao[j], d_ao = gh * y * (o * ((REAL)1 - o));
            dcv += gh * o * dy + (pe ? d_ao * po[j] : 0);
            ao[j] = d_ao;
        } else {
            dcv += gh * dy;
        }
        const REAL i = hi ? ai[j] : 1, f = hf ? af[j] : 1, g = ag[j], cpj = cp[j];
        const REAL rd_i = hi ? i * ((REAL)1 - i) : 0, rd_f = hf ? f * ((REAL)1 - f) : 0;
        const REAL k_i = (g - (cpl ? cpj : 0)) * rd_i, k_f = cpj * rd_f;
        const REAL f_total = (cpl ? (REAL)1 - i : f)
                             + (pe ? (hi ? k_i * pi[j] : 0) + (hf ? k_f * pf[j] : 0) : 0);
        if (hi) ai[j] = dcv * k_i;
        if (hf) af[j] = dcv * k_f;
        ag[j] = dcv * i * ((REAL)1 - g * g);
        g_c[j] = dcv * f_total;
    }
}

/* Which one-pass copy serves spec s (1..10), or 0: the general path (other activations, or
 * peepholes on some gates only). */
static int lstm_std_case(const lstm_spec *s) {
    if (s->act_rec != ACT_SIGMOID || s->act_in != ACT_TANH || s->act_out != ACT_TANH) return 0;
    const int hi = s->off_i >= 0, hf = s->off_f >= 0, ho = s->off_o >= 0;
    const int pi = s->peep_i >= 0, pf = s->peep_f >= 0, po = s->peep_o >= 0;
    int pe;
    if (!pi && !pf && !po) pe = 0;
    else if (pi == hi && pf == hf && po == ho) pe = 5;
    else return 0;
    switch (hi << 3 | hf << 2 | ho << 1 | (s->coupled ? 1 : 0)) {
    case 0xE: return 1 + pe;  /* i f o: lstm, peephole */
    case 0xB: return 2 + pe;  /* i o, f = 1 - i: cifg */
    case 0x6: return 3 + pe;  /* f o: nig */
    case 0xA: return 4 + pe;  /* i o: nfg */
    case 0xC: return 5 + pe;  /* i f: nog */
    default: return 0;
    }
}

#define LSTM_STD_CASES(CALL) \
    switch (which) { \
    case 1: CALL(1, 1, 1, 0, 0); break; \
    case 2: CALL(1, 0, 1, 1, 0); break; \
    case 3: CALL(0, 1, 1, 0, 0); break; \
    case 4: CALL(1, 0, 1, 0, 0); break; \
    case 5: CALL(1, 1, 0, 0, 0); break; \
    case 6: CALL(1, 1, 1, 0, 1); break; \
    case 7: CALL(1, 0, 1, 1, 1); break; \
    case 8: CALL(0, 1, 1, 0, 1); break; \
    case 9: CALL(1, 0, 1, 0, 1); break; \
    case 10: CALL(1, 1, 0, 0, 1); break; \
    default: break; \
    }

static void NAME(lstm_backward_std)(const lstm_spec *s, int which, REAL *gates,
                                    const REAL *c_prev, const REAL *c, const REAL *dh, REAL *dc,
                                    const REAL *peep) {
    const int64_t H = s->hidden;
    const REAL *pi = s->peep_i >= 0 ? peep + s->peep_i * H : 0;
    const REAL *pf = s->peep_f >= 0 ? peep + s->peep_f * H : 0;
    const REAL *po = s->peep_o >= 0 ? peep + s->peep_o * H : 0;
    for (int64_t b = 0; b < s->batch; b++) {
        REAL *a = gates + b * s->row;
        REAL *ai = a + (s->off_i >= 0 ? s->off_i : 0), *af = a + (s->off_f >= 0 ? s->off_f : 0);
        REAL *ao = a + (s->off_o >= 0 ? s->off_o : 0), *ag = a + s->off_g;
#define BWD(HI, HF, HO, CPL, PE) \
        NAME(lstm_row_backward_std)(H, HI, HF, HO, CPL, PE, ai, af, ag, ao, pi, pf, po, \
                                    c_prev + b * H, c + b * H, dh + b * H, dc + b * H)
        LSTM_STD_CASES(BWD)
#undef BWD
    }
}
