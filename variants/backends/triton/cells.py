"""Pointwise math of each cell as `@triton.jit` functions, plugged into the shared recurrent kernel.

Every cell provides two functions with fixed signatures (absent blocks/rows are zero tiles):
    fwd(x0..x3, r0..r3, h_prev, c_prev, p0..p2, FLAGS) -> (h, c, s0, s1, s2, s3)
    bwd(s0..s3, h_prev, c_prev, c, dh, dc, p0..p2, FLAGS)
        -> (dx0..dx3, dr0..dr3, dh_direct, dc_prev)
x_k: input projection of block k; r_k: recurrent projection (h_prev R_k^T, + b_hh,k if not
folded); p: peephole rows; s_k: what the cell saves for its backward. dx_k, dr_k: gradients of
x_k and r_k; dh_direct: gradient reaching h_prev other than through R; FLAGS: a constexpr int
the cell decodes (its gates and activations). Activation codes and flag bits come from
`variants.backends.kernel_table` (the C step reads the same table). Equations: `variants.cells`.
A cell with gate recurrence (fgr) has bwd take three more tiles after FLAGS: the gradients
reaching its gate values i, f, o from the next step's gate recurrence.
"""

from __future__ import annotations

import triton
import triton.language as tl

from variants.backends import kernel_table as table

# the table's numbers as compile-time constants of the jit functions
IDENTITY = tl.constexpr(table.ACTIVATION_CODES["identity"])
SIGMOID = tl.constexpr(table.ACTIVATION_CODES["sigmoid"])
TANH = tl.constexpr(table.ACTIVATION_CODES["tanh"])
HARD_SIGMOID = tl.constexpr(table.ACTIVATION_CODES["hard_sigmoid"])
RELU = tl.constexpr(table.ACTIVATION_CODES["relu"])
CODE_MASK = tl.constexpr(table.CODE_MASK)
# shifts as divisors, and every constant on the left of `&`: in the interpreter FLAGS is a plain
# int, and `int >> constexpr` / `int & constexpr` have no reflected form (`//` has)
GRU_REC_UNIT = tl.constexpr(1 << table.GRU_REC_SHIFT)
LSTM_ACT_UNIT = tl.constexpr(1 << table.LSTM_ACT_SHIFT)
LSTM_REC_UNIT = tl.constexpr(1 << table.LSTM_REC_SHIFT)
BIT_I = tl.constexpr(table.LSTM_FLAG_BITS["has_i"])
BIT_F = tl.constexpr(table.LSTM_FLAG_BITS["has_f"])
BIT_O = tl.constexpr(table.LSTM_FLAG_BITS["has_o"])
BIT_COUPLED = tl.constexpr(table.LSTM_FLAG_BITS["coupled"])
BIT_PEEP = tl.constexpr(table.LSTM_FLAG_BITS["peepholes"])
BIT_NO_INPUT_ACT = tl.constexpr(table.LSTM_FLAG_BITS["no_input_activation"])
BIT_NO_OUTPUT_ACT = tl.constexpr(table.LSTM_FLAG_BITS["no_output_activation"])


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def act_fwd(x, CODE: tl.constexpr):
    """Activation by code (tanh as 2 s(2x) - 1; Keras 2 hard_sigmoid clip(0.2 x + 0.5, 0, 1))."""
    if CODE == TANH:
        y = 2.0 * _sigmoid(2.0 * x) - 1.0
    elif CODE == SIGMOID:
        y = _sigmoid(x)
    elif CODE == HARD_SIGMOID:
        y = tl.minimum(tl.maximum(0.2 * x + 0.5, 0.0), 1.0)
    elif CODE == RELU:
        y = tl.maximum(x, 0.0)
    else:
        y = x
    return y


@triton.jit
def act_bwd(y, CODE: tl.constexpr):
    """Derivative of the activation, from its output y."""
    if CODE == TANH:
        d = 1.0 - y * y
    elif CODE == SIGMOID:
        d = y * (1.0 - y)
    elif CODE == HARD_SIGMOID:
        d = tl.where((y > 0.0) & (y < 1.0), 0.2, 0.0)
    elif CODE == RELU:
        d = tl.where(y > 0.0, 1.0, 0.0)
    else:
        d = y * 0.0 + 1.0
    return d


@triton.jit
def _pick(a0, a1, a2, a3, K: tl.constexpr):
    if K == 0:
        v = a0
    elif K == 1:
        v = a1
    elif K == 2:
        v = a2
    else:
        v = a3
    return v


# ---- Elman RNN: FLAGS = act code ----------------------------------------------------------------
@triton.jit
def rnn_fwd(x0, x1, x2, x3, r0, r1, r2, r3, h_prev, c_prev, p0, p1, p2, FLAGS: tl.constexpr):
    h = act_fwd(x0 + r0, FLAGS)
    return h, c_prev, h, h, h, h


@triton.jit
def rnn_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS: tl.constexpr):
    da = dh * act_bwd(s0, FLAGS)
    zero = dh * 0.0
    return da, zero, zero, zero, da, zero, zero, zero, zero, zero


# ---- GRU, reset after the matmul (torch.nn.GRU): FLAGS = `kernel_table.gru_flags` ---------------
@triton.jit
def gru_fwd(x0, x1, x2, x3, r0, r1, r2, r3, h_prev, c_prev, p0, p1, p2, FLAGS: tl.constexpr):
    reset = act_fwd(x0 + r0, CODE_MASK & (FLAGS // GRU_REC_UNIT))
    update = act_fwd(x1 + r1, CODE_MASK & (FLAGS // GRU_REC_UNIT))
    new = act_fwd(x2 + reset * r2, CODE_MASK & FLAGS)
    h = new + update * (h_prev - new)
    return h, c_prev, reset, update, new, r2


@triton.jit
def gru_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS: tl.constexpr):
    reset, update, new, rec_n = s0, s1, s2, s3
    da_n = dh * (1.0 - update) * act_bwd(new, CODE_MASK & FLAGS)
    da_z = dh * (h_prev - new) * act_bwd(update, CODE_MASK & (FLAGS // GRU_REC_UNIT))
    da_r = da_n * rec_n * act_bwd(reset, CODE_MASK & (FLAGS // GRU_REC_UNIT))
    zero = dh * 0.0
    return da_r, da_z, da_n, zero, da_r, da_z, da_n * reset, zero, dh * update, zero


# ---- configurable LSTM (lstm, peephole, cifg, nig, nfg, nog, niaf, noaf) ------------------------
# FLAGS = `kernel_table.lstm_flags`: gate/coupling/peephole bits, act and rec codes shifted in
# (no activation on g or on c is its own bit).
@triton.jit
def lstm_fwd(x0, x1, x2, x3, r0, r1, r2, r3, h_prev, c_prev, p0, p1, p2, FLAGS: tl.constexpr):
    HAS_I: tl.constexpr = (BIT_I & FLAGS) != 0
    HAS_F: tl.constexpr = (BIT_F & FLAGS) != 0
    HAS_O: tl.constexpr = (BIT_O & FLAGS) != 0
    COUPLED: tl.constexpr = (BIT_COUPLED & FLAGS) != 0
    PEEP: tl.constexpr = (BIT_PEEP & FLAGS) != 0
    ACT: tl.constexpr = CODE_MASK & (FLAGS // LSTM_ACT_UNIT)
    ACT_G: tl.constexpr = IDENTITY if (BIT_NO_INPUT_ACT & FLAGS) != 0 else ACT
    ACT_C: tl.constexpr = IDENTITY if (BIT_NO_OUTPUT_ACT & FLAGS) != 0 else ACT
    REC: tl.constexpr = CODE_MASK & (FLAGS // LSTM_REC_UNIT)
    POS_F: tl.constexpr = 1 if HAS_I else 0
    POS_G: tl.constexpr = POS_F + (1 if HAS_F else 0)
    PR_F: tl.constexpr = 1 if HAS_I else 0
    PR_O: tl.constexpr = PR_F + (1 if HAS_F else 0)
    one = c_prev * 0.0 + 1.0
    i = one
    f = one
    o = one
    if HAS_I:
        pre = x0 + r0
        if PEEP:
            pre += p0 * c_prev
        i = act_fwd(pre, REC)
    if COUPLED:
        f = 1.0 - i
    elif HAS_F:
        pre = _pick(x0, x1, x2, x3, POS_F) + _pick(r0, r1, r2, r3, POS_F)
        if PEEP:
            pre += _pick(p0, p1, p2, p2, PR_F) * c_prev
        f = act_fwd(pre, REC)
    g = act_fwd(_pick(x0, x1, x2, x3, POS_G) + _pick(r0, r1, r2, r3, POS_G), ACT_G)
    c = f * c_prev + i * g
    if HAS_O:
        pre = _pick(x0, x1, x2, x3, POS_G + 1) + _pick(r0, r1, r2, r3, POS_G + 1)
        if PEEP:
            pre += _pick(p0, p1, p2, p2, PR_O) * c
        o = act_fwd(pre, REC)
    h = o * act_fwd(c, ACT_C)
    return h, c, i, f, g, o


@triton.jit
def lstm_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS: tl.constexpr):
    zero = dh * 0.0
    return lstm_gate_rec_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS,
                             zero, zero, zero)


@triton.jit
def lstm_gate_rec_bwd(s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2,
                      FLAGS: tl.constexpr, q_i, q_f, q_o):
    """`lstm_bwd` plus gradients q_i, q_f, q_o reaching the gate values themselves (fgr: from the
    next step's gate recurrence)."""
    HAS_I: tl.constexpr = (BIT_I & FLAGS) != 0
    HAS_F: tl.constexpr = (BIT_F & FLAGS) != 0
    HAS_O: tl.constexpr = (BIT_O & FLAGS) != 0
    COUPLED: tl.constexpr = (BIT_COUPLED & FLAGS) != 0
    PEEP: tl.constexpr = (BIT_PEEP & FLAGS) != 0
    ACT: tl.constexpr = CODE_MASK & (FLAGS // LSTM_ACT_UNIT)
    ACT_G: tl.constexpr = IDENTITY if (BIT_NO_INPUT_ACT & FLAGS) != 0 else ACT
    ACT_C: tl.constexpr = IDENTITY if (BIT_NO_OUTPUT_ACT & FLAGS) != 0 else ACT
    REC: tl.constexpr = CODE_MASK & (FLAGS // LSTM_REC_UNIT)
    PR_F: tl.constexpr = 1 if HAS_I else 0
    PR_O: tl.constexpr = PR_F + (1 if HAS_F else 0)
    i, f, g, o = s0, s1, s2, s3
    zero = dh * 0.0
    y = act_fwd(c, ACT_C)
    da_o = zero
    if HAS_O:
        da_o = (dh * y + q_o) * act_bwd(o, REC)
    dc_total = dc + dh * o * act_bwd(y, ACT_C)
    if HAS_O and PEEP:
        dc_total += da_o * _pick(p0, p1, p2, p2, PR_O)
    da_g = dc_total * i * act_bwd(g, ACT_G)
    da_i = zero
    da_f = zero
    dc_prev = dc_total * f
    if COUPLED:
        da_i = (dc_total * (g - c_prev) - q_f + q_i) * act_bwd(i, REC)
    else:
        if HAS_I:
            da_i = (dc_total * g + q_i) * act_bwd(i, REC)
        if HAS_F:
            da_f = (dc_total * c_prev + q_f) * act_bwd(f, REC)
    if PEEP:
        if HAS_I:
            dc_prev += da_i * p0
        if HAS_F:
            dc_prev += da_f * _pick(p0, p1, p2, p2, PR_F)
    # pack the present blocks in order i, f, g, o
    d0 = da_g
    d1 = da_o
    d2 = zero
    d3 = zero
    if HAS_I and HAS_F:
        d0, d1, d2, d3 = da_i, da_f, da_g, da_o
    elif HAS_I:
        d0, d1, d2 = da_i, da_g, da_o
    elif HAS_F:
        d0, d1, d2 = da_f, da_g, da_o
    return d0, d1, d2, d3, d0, d1, d2, d3, zero, dc_prev
