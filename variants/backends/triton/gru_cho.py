"""Fused kernels for `gru_cho`, the GRU with the reset gate applied BEFORE the matmul.

Cho et al. (2014), eqs. 5-8: r = s(x_r + R_r h), z = s(x_z + R_z h), n = act(x_n + R_n (r * h)),
h' = (1 - z) n + z h (biases folded into x). The n block's matmul reads r * h_prev, which needs
every column of r first, so a step is two phases separated by a CTA barrier: (1) r, z and
r * h_prev for all columns; (2) the R_n matmul and the new h. The backward has three phases:
(1) d a_n, d a_z and z * dh; (2) d(r * h) = d a_n R_n, then d a_r and the r * d(r * h) term;
(3) d h_prev += [d a_r, d a_z] R_rz. Layout and blocking follow `triton_kernels`: each program
owns BLOCK_B rows for all T steps and tiles H. Saved per step (T, B, 4H): r, z, n, r * h_prev.
"""

from __future__ import annotations

import triton
import triton.language as tl

from variants.backends.triton.cells import act_bwd, act_fwd
from variants.backends.triton.kernels import _tile_load, _wload


@triton.jit
def gru_cho_forward_kernel(
    xp, w_hh, hs, saved, T, B, H, ACT: tl.constexpr, REC: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr, DOT_FP32: tl.constexpr,
):
    """xp (T, B, 3H), w_hh (3H, H) rows r, z, n; hs (T+1, B, H) with hs[0] set; saved (T, B, 4H)."""
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    rmask = rows < B
    gh = 3 * H
    sh = 4 * H
    for t in range(T):
        h_prev_ptr = hs + t * B * H
        s_t = saved + t * B * sh
        x_t = xp + t * B * gh
        for j0 in range(0, H, BLOCK_H):  # phase 1: r, z, r * h_prev
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            acc_r = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc_z = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < H
                hk = _tile_load(h_prev_ptr, rows, ks, H, rmask[:, None] & kmask[None, :])
                if DOT_FP32:
                    hk = hk.to(tl.float32)
                wm = kmask[:, None] & cmask[None, :]
                w_ptr = w_hh + cols[None, :] * H + ks[:, None]
                acc_r += tl.dot(hk, _wload(w_ptr, wm, DOT_FP32), input_precision=PRECISION)
                acc_z += tl.dot(hk, _wload(w_ptr + H * H, wm, DOT_FP32),
                                input_precision=PRECISION)
            r = act_fwd(_tile_load(x_t, rows, cols, gh, m).to(tl.float32) + acc_r, REC)
            z = act_fwd(_tile_load(x_t + H, rows, cols, gh, m).to(tl.float32) + acc_z, REC)
            h_prev = _tile_load(h_prev_ptr, rows, cols, H, m).to(tl.float32)
            ty = saved.dtype.element_ty
            s_ptr = s_t + rows[:, None] * sh + cols[None, :]
            tl.store(s_ptr, r.to(ty), mask=m)
            tl.store(s_ptr + H, z.to(ty), mask=m)
            tl.store(s_ptr + 3 * H, (r * h_prev).to(ty), mask=m)
        tl.debug_barrier()
        for j0 in range(0, H, BLOCK_H):  # phase 2: n = act(x_n + (r * h_prev) R_n^T), h
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            acc_n = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < H
                rh = _tile_load(s_t + 3 * H, rows, ks, sh, rmask[:, None] & kmask[None, :])
                if DOT_FP32:
                    rh = rh.to(tl.float32)
                w = _wload(w_hh + 2 * H * H + cols[None, :] * H + ks[:, None],
                           kmask[:, None] & cmask[None, :], DOT_FP32)
                acc_n += tl.dot(rh.to(w.dtype), w, input_precision=PRECISION)
            n = act_fwd(_tile_load(x_t + 2 * H, rows, cols, gh, m).to(tl.float32) + acc_n, ACT)
            s_ptr = s_t + rows[:, None] * sh + cols[None, :]
            z = tl.load(s_ptr + H, mask=m, other=0.0).to(tl.float32)
            h_prev = _tile_load(h_prev_ptr, rows, cols, H, m).to(tl.float32)
            h = n + z * (h_prev - n)
            tl.store(s_ptr + 2 * H, n.to(saved.dtype.element_ty), mask=m)
            tl.store(hs + (t + 1) * B * H + rows[:, None] * H + cols[None, :],
                     h.to(hs.dtype.element_ty), mask=m)
        tl.debug_barrier()


@triton.jit
def gru_cho_backward_kernel(
    d_out, hs, saved, w_hh, d_xp, dh_buf, T, B, H, ACT: tl.constexpr, REC: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr, DOT_FP32: tl.constexpr,
):
    """dh_buf (B, H, fp32) holds d h_T on entry and d h_0 on exit; d_xp (T, B, 3H) gets d a."""
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    rmask = rows < B
    gh = 3 * H
    sh = 4 * H
    for step in range(T):
        t = T - 1 - step
        s_t = saved + t * B * sh
        dx_t = d_xp + t * B * gh
        ty = d_xp.dtype.element_ty
        for j0 in range(0, H, BLOCK_H):  # phase 1: d a_n, d a_z; dh_buf := z * dh
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            out = rows[:, None] * H + cols[None, :]
            dh = tl.load(dh_buf + out, mask=m, other=0.0)
            dh += tl.load(d_out + t * B * H + out, mask=m, other=0.0).to(tl.float32)
            s_ptr = s_t + rows[:, None] * sh + cols[None, :]
            z = tl.load(s_ptr + H, mask=m, other=0.0).to(tl.float32)
            n = tl.load(s_ptr + 2 * H, mask=m, other=0.0).to(tl.float32)
            h_prev = tl.load(hs + t * B * H + out, mask=m, other=0.0).to(tl.float32)
            da_n = dh * (1.0 - z) * act_bwd(n, ACT)
            da_z = dh * (h_prev - n) * act_bwd(z, REC)
            g_ptr = dx_t + rows[:, None] * gh + cols[None, :]
            tl.store(g_ptr + H, da_z.to(ty), mask=m)
            tl.store(g_ptr + 2 * H, da_n.to(ty), mask=m)
            tl.store(dh_buf + out, dh * z, mask=m)
        tl.debug_barrier()
        for j0 in range(0, H, BLOCK_H):  # phase 2: d(r h) = d a_n R_n; d a_r; dh_buf += r d(r h)
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            out = rows[:, None] * H + cols[None, :]
            d_rh = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < H
                dk = _tile_load(dx_t + 2 * H, rows, ks, gh, rmask[:, None] & kmask[None, :])
                w = _wload(w_hh + 2 * H * H + ks[:, None] * H + cols[None, :],
                           kmask[:, None] & cmask[None, :], DOT_FP32)
                d_rh += tl.dot(dk.to(w.dtype), w, input_precision=PRECISION)
            r = tl.load(s_t + rows[:, None] * sh + cols[None, :], mask=m, other=0.0).to(
                tl.float32)
            h_prev = tl.load(hs + t * B * H + out, mask=m, other=0.0).to(tl.float32)
            da_r = d_rh * h_prev * act_bwd(r, REC)
            tl.store(dx_t + rows[:, None] * gh + cols[None, :], da_r.to(ty), mask=m)
            dh_direct = tl.load(dh_buf + out, mask=m, other=0.0)
            tl.store(dh_buf + out, dh_direct + r * d_rh, mask=m)
        tl.debug_barrier()
        for j0 in range(0, H, BLOCK_H):  # phase 3: d h_prev += [d a_r, d a_z] R_rz
            cols = j0 + tl.arange(0, BLOCK_H)
            cmask = cols < H
            m = rmask[:, None] & cmask[None, :]
            out = rows[:, None] * H + cols[None, :]
            acc = tl.load(dh_buf + out, mask=m, other=0.0)
            for k0 in range(0, 2 * H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                kmask = ks < 2 * H
                dk = _tile_load(dx_t, rows, ks, gh, rmask[:, None] & kmask[None, :])
                w = _wload(w_hh + ks[:, None] * H + cols[None, :],
                           kmask[:, None] & cmask[None, :], DOT_FP32)
                acc += tl.dot(dk.to(w.dtype), w, input_precision=PRECISION)
            tl.store(dh_buf + out, acc, mask=m)
        tl.debug_barrier()
