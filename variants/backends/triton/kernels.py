"""The shared fused recurrent kernels: one launch runs the whole time loop forward, one backward.

Each program owns BLOCK_B batch rows and loops over all T steps; inside a step it tiles H
(BLOCK_H output columns, BLOCK_K reduction chunks), so H = 256 fits without spilling. Per step
and tile: the recurrent matmul for every gate block (`tl.dot`, fp32 accumulate), then the cell's
`@triton.jit` pointwise function (`cells`). h_t goes to a (T+1, B, H) buffer that the next
step reads back (a CTA barrier separates steps). The backward kernel runs the cell's pointwise
derivative, writes d(pre-activations) to (T, B, G*H) buffers, and computes d h_prev = dR_t W_hh
in the same launch. Weight gradients are single matmuls over all steps afterwards (cuBLAS).
Greff's FGR (GATE_REC) adds the previous step's gates times its (3H, 3H) matrix to the i, f, o
accumulators, and its backward carries d(gates) one step back in a (B, 3H) buffer.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _tile_load(ptr, rows, cols, row_stride, mask):
    return tl.load(ptr + rows[:, None] * row_stride + cols[None, :], mask=mask, other=0.0)


@triton.jit
def _wload(ptr, mask, DOT_FP32: tl.constexpr):
    w = tl.load(ptr, mask=mask, other=0.0)
    if DOT_FP32:
        w = w.to(tl.float32)
    return w


@triton.jit
def _ifo_columns(k, H):
    """Column of gate index k in [0, 3H) of [i, f, o] within a 4H row laid out i, f, g, o."""
    return k + tl.where(k >= 2 * H, H, 0)


@triton.jit
def recurrent_forward_kernel(
    xp, w_hh, b_hh, peep, w_gate, hs, cs, saved, T, B, H,
    POINTWISE: tl.constexpr, FLAGS: tl.constexpr, N_BLOCKS: tl.constexpr,
    HAS_C: tl.constexpr, HAS_BHH: tl.constexpr, N_PEEP: tl.constexpr, N_SAVED: tl.constexpr,
    GATE_REC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr, PRECISION: tl.constexpr, DOT_FP32: tl.constexpr,
):
    """xp (T, B, G*H), w_hh (G*H, H), hs/cs (T+1, B, H) with hs[0]/cs[0] set, saved (T, B, S*H).

    GATE_REC (Greff's FGR): blocks 0, 1, 3 (i, f, o) also get the previous step's saved slots
    0, 1, 3 (zero at t = 0) times w_gate (3H, 3H; rows receiving gate, columns previous gate).
    """
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    rmask = rows < B
    gh = N_BLOCKS * H
    for t in range(T):
        h_prev_ptr = hs + t * B * H
        for j0 in range(0, H, BLOCK_H):
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            acc0 = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc1 = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc2 = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc3 = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < H
                hk = _tile_load(h_prev_ptr, rows, ks, H, rmask[:, None] & kmask[None, :])
                if DOT_FP32:  # Triton's interpreter mis-computes bf16 dots: upcast there
                    hk = hk.to(tl.float32)
                wm = kmask[:, None] & cmask[None, :]
                w_ptr = w_hh + cols[None, :] * H + ks[:, None]  # W_hh^T tile (BLOCK_K, BLOCK_H)
                acc0 += tl.dot(hk, _wload(w_ptr, wm, DOT_FP32), input_precision=PRECISION)
                if N_BLOCKS > 1:
                    acc1 += tl.dot(hk, _wload(w_ptr + H * H, wm, DOT_FP32),
                                   input_precision=PRECISION)
                if N_BLOCKS > 2:
                    acc2 += tl.dot(hk, _wload(w_ptr + 2 * H * H, wm, DOT_FP32),
                                   input_precision=PRECISION)
                if N_BLOCKS > 3:
                    acc3 += tl.dot(hk, _wload(w_ptr + 3 * H * H, wm, DOT_FP32),
                                   input_precision=PRECISION)
            if HAS_BHH:
                acc0 += tl.load(b_hh + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
                if N_BLOCKS > 1:
                    acc1 += tl.load(b_hh + H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
                if N_BLOCKS > 2:
                    acc2 += tl.load(b_hh + 2 * H + cols, mask=cmask, other=0.0).to(
                        tl.float32)[None, :]
                if N_BLOCKS > 3:
                    acc3 += tl.load(b_hh + 3 * H + cols, mask=cmask, other=0.0).to(
                        tl.float32)[None, :]
            if GATE_REC:
                # previous gates [i, f, o] (3H wide) are saved slots 0, 1, 3 of step t - 1
                g_prev = saved + tl.maximum(t - 1, 0) * B * (N_SAVED * H)
                for k0 in range(0, 3 * H, BLOCK_K):
                    ks = k0 + tl.arange(0, BLOCK_K)
                    kmask = ks < 3 * H
                    gk = _tile_load(g_prev, rows, _ifo_columns(ks, H), N_SAVED * H,
                                    rmask[:, None] & kmask[None, :] & (t > 0))
                    if DOT_FP32:
                        gk = gk.to(tl.float32)
                    wm = kmask[:, None] & cmask[None, :]
                    wg_ptr = w_gate + cols[None, :] * (3 * H) + ks[:, None]  # rows: receiving
                    acc0 += tl.dot(gk, _wload(wg_ptr, wm, DOT_FP32), input_precision=PRECISION)
                    acc1 += tl.dot(gk, _wload(wg_ptr + 3 * H * H, wm, DOT_FP32),
                                   input_precision=PRECISION)
                    acc3 += tl.dot(gk, _wload(wg_ptr + 6 * H * H, wm, DOT_FP32),
                                   input_precision=PRECISION)
            x_ptr = xp + t * B * gh
            x0 = _tile_load(x_ptr, rows, cols, gh, m).to(tl.float32)
            x1 = x0 * 0.0
            x2 = x0 * 0.0
            x3 = x0 * 0.0
            if N_BLOCKS > 1:
                x1 = _tile_load(x_ptr + H, rows, cols, gh, m).to(tl.float32)
            if N_BLOCKS > 2:
                x2 = _tile_load(x_ptr + 2 * H, rows, cols, gh, m).to(tl.float32)
            if N_BLOCKS > 3:
                x3 = _tile_load(x_ptr + 3 * H, rows, cols, gh, m).to(tl.float32)
            h_prev = _tile_load(h_prev_ptr, rows, cols, H, m).to(tl.float32)
            c_prev = h_prev * 0.0
            if HAS_C:
                c_prev = _tile_load(cs + t * B * H, rows, cols, H, m).to(tl.float32)
            zrow = tl.zeros((BLOCK_H,), dtype=tl.float32)
            p0 = zrow[None, :]
            p1 = zrow[None, :]
            p2 = zrow[None, :]
            if N_PEEP > 0:
                p0 = tl.load(peep + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if N_PEEP > 1:
                p1 = tl.load(peep + H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if N_PEEP > 2:
                p2 = tl.load(peep + 2 * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            h, c, s0, s1, s2, s3 = POINTWISE(x0, x1, x2, x3, acc0, acc1, acc2, acc3,
                                             h_prev, c_prev, p0, p1, p2, FLAGS)
            out = rows[:, None] * H + cols[None, :]
            tl.store(hs + (t + 1) * B * H + out, h.to(hs.dtype.element_ty), mask=m)
            if HAS_C:
                tl.store(cs + (t + 1) * B * H + out, c.to(cs.dtype.element_ty), mask=m)
            sh = N_SAVED * H
            s_ptr = saved + t * B * sh + rows[:, None] * sh + cols[None, :]
            ty = saved.dtype.element_ty
            tl.store(s_ptr, s0.to(ty), mask=m)
            if N_SAVED > 1:
                tl.store(s_ptr + H, s1.to(ty), mask=m)
            if N_SAVED > 2:
                tl.store(s_ptr + 2 * H, s2.to(ty), mask=m)
            if N_SAVED > 3:
                tl.store(s_ptr + 3 * H, s3.to(ty), mask=m)
        tl.debug_barrier()


@triton.jit
def recurrent_backward_kernel(
    d_out, hs, cs, saved, w_hh, peep, w_gate, d_xp, d_rec, dh_buf, dc_buf, dg_buf, T, B, H,
    POINTWISE_BWD: tl.constexpr, FLAGS: tl.constexpr, N_BLOCKS: tl.constexpr,
    HAS_C: tl.constexpr, SEPARATE_REC: tl.constexpr, N_PEEP: tl.constexpr,
    N_SAVED: tl.constexpr, GATE_REC: tl.constexpr, BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
    DOT_FP32: tl.constexpr,
):
    """dh_buf/dc_buf (B, H) hold d h_T / d c_T on entry and d h_0 / d c_0 on exit (fp32).

    d_xp (T, B, G*H) gets d(input projection); d_rec the same for the recurrent projection when
    SEPARATE_REC (else d_rec is d_xp). GATE_REC: dg_buf (B, 3H, fp32, zero on entry) carries the
    gradient reaching the gate values [i, f, o] of step t from step t + 1 through w_gate; the cell's
    backward then takes it as three more tiles.
    """
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    rmask = rows < B
    gh = N_BLOCKS * H
    sh = N_SAVED * H
    for step in range(T):
        t = T - 1 - step
        for j0 in range(0, H, BLOCK_H):
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            out = rows[:, None] * H + cols[None, :]
            dh = tl.load(dh_buf + out, mask=m, other=0.0)
            dh += tl.load(d_out + t * B * H + out, mask=m, other=0.0).to(tl.float32)
            dc = dh * 0.0
            c_prev = dh * 0.0
            c = dh * 0.0
            if HAS_C:
                dc = tl.load(dc_buf + out, mask=m, other=0.0)
                c_prev = tl.load(cs + t * B * H + out, mask=m, other=0.0).to(tl.float32)
                c = tl.load(cs + (t + 1) * B * H + out, mask=m, other=0.0).to(tl.float32)
            h_prev = tl.load(hs + t * B * H + out, mask=m, other=0.0).to(tl.float32)
            s_ptr = saved + t * B * sh + rows[:, None] * sh + cols[None, :]
            s0 = tl.load(s_ptr, mask=m, other=0.0).to(tl.float32)
            s1 = s0 * 0.0
            s2 = s0 * 0.0
            s3 = s0 * 0.0
            if N_SAVED > 1:
                s1 = tl.load(s_ptr + H, mask=m, other=0.0).to(tl.float32)
            if N_SAVED > 2:
                s2 = tl.load(s_ptr + 2 * H, mask=m, other=0.0).to(tl.float32)
            if N_SAVED > 3:
                s3 = tl.load(s_ptr + 3 * H, mask=m, other=0.0).to(tl.float32)
            zrow = tl.zeros((BLOCK_H,), dtype=tl.float32)
            p0 = zrow[None, :]
            p1 = zrow[None, :]
            p2 = zrow[None, :]
            if N_PEEP > 0:
                p0 = tl.load(peep + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if N_PEEP > 1:
                p1 = tl.load(peep + H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if N_PEEP > 2:
                p2 = tl.load(peep + 2 * H + cols, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if GATE_REC:
                g_out = rows[:, None] * (3 * H) + cols[None, :]
                q0 = tl.load(dg_buf + g_out, mask=m, other=0.0)
                q1 = tl.load(dg_buf + g_out + H, mask=m, other=0.0)
                q2 = tl.load(dg_buf + g_out + 2 * H, mask=m, other=0.0)
                dx0, dx1, dx2, dx3, dr0, dr1, dr2, dr3, dh_direct, dc_prev = POINTWISE_BWD(
                    s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS, q0, q1, q2)
            else:
                dx0, dx1, dx2, dx3, dr0, dr1, dr2, dr3, dh_direct, dc_prev = POINTWISE_BWD(
                    s0, s1, s2, s3, h_prev, c_prev, c, dh, dc, p0, p1, p2, FLAGS)
            g_ptr = rows[:, None] * gh + cols[None, :] + t * B * gh
            ty = d_xp.dtype.element_ty
            tl.store(d_xp + g_ptr, dx0.to(ty), mask=m)
            if N_BLOCKS > 1:
                tl.store(d_xp + g_ptr + H, dx1.to(ty), mask=m)
            if N_BLOCKS > 2:
                tl.store(d_xp + g_ptr + 2 * H, dx2.to(ty), mask=m)
            if N_BLOCKS > 3:
                tl.store(d_xp + g_ptr + 3 * H, dx3.to(ty), mask=m)
            if SEPARATE_REC:
                tl.store(d_rec + g_ptr, dr0.to(ty), mask=m)
                if N_BLOCKS > 1:
                    tl.store(d_rec + g_ptr + H, dr1.to(ty), mask=m)
                if N_BLOCKS > 2:
                    tl.store(d_rec + g_ptr + 2 * H, dr2.to(ty), mask=m)
                if N_BLOCKS > 3:
                    tl.store(d_rec + g_ptr + 3 * H, dr3.to(ty), mask=m)
            tl.store(dh_buf + out, dh_direct, mask=m)
            if HAS_C:
                tl.store(dc_buf + out, dc_prev, mask=m)
        tl.debug_barrier()
        # d h_prev = dh_direct + dR_t W_hh, reducing over all G*H gate columns
        for j0 in range(0, H, BLOCK_H):
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            out = rows[:, None] * H + cols[None, :]
            acc = tl.load(dh_buf + out, mask=m, other=0.0)
            for k0 in range(0, gh, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < gh
                dk = _tile_load(d_rec + t * B * gh, rows, ks, gh, rmask[:, None] & kmask[None, :])
                w = _wload(w_hh + ks[:, None] * H + cols[None, :],
                           kmask[:, None] & cmask[None, :], DOT_FP32)
                acc += tl.dot(dk.to(w.dtype), w, input_precision=PRECISION)
            tl.store(dh_buf + out, acc, mask=m)
        if GATE_REC:
            # d [i, f, o]_{t-1} = [da_i, da_f, da_o]_t w_gate (d a: blocks 0, 1, 3 of d_xp)
            for j0 in range(0, 3 * H, BLOCK_H):
                cols = j0 + tl.arange(0, BLOCK_H)
                cmask = cols < 3 * H
                acc = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
                for k0 in range(0, 3 * H, BLOCK_K):
                    ks = k0 + tl.arange(0, BLOCK_K)
                    kmask = ks < 3 * H
                    dk = _tile_load(d_xp + t * B * gh, rows, _ifo_columns(ks, H), gh,
                                    rmask[:, None] & kmask[None, :])
                    w = _wload(w_gate + ks[:, None] * (3 * H) + cols[None, :],
                               kmask[:, None] & cmask[None, :], DOT_FP32)
                    acc += tl.dot(dk.to(w.dtype), w, input_precision=PRECISION)
                tl.store(dg_buf + rows[:, None] * (3 * H) + cols[None, :], acc,
                         mask=rmask[:, None] & cmask[None, :])
        tl.debug_barrier()
