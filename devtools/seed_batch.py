"""Seeds as a batch, measured before it is built (issue 27 item 5): would training R runs that
differ only in seed in one process, with stacked weights, beat R runs of today's step?

    python -m devtools.seed_batch [--sizes 32x32x100 32x32x400 32x64x100] [--seeds 8]
                                  [--repeats 7] [--write]

Per size (B x H x T, the LSTM on the adding task, input width H from the encoder) one process
measures, as CPU time per seed per step (one thread; the best of ``--repeats``):

- ``solo_ms``: today's bare training step of one run (`devtools.step_budget.bare_step`: data,
  encoder, the `auto` layer (the native C kernel on CPU), readout, loss, backward, clipping,
  FlatAdam);
- ``layer_ms``: that step's layer forward + backward alone: what stacking could not remove;
- ``stacked_ms``: one step of R runs with stacked weights, divided by R: the same model written
  with ``bmm`` over R weight sets and a time loop in torch (torch has no batched-weights LSTM, and
  the native kernel takes one weight set), R data batches, per-run gradient-norm clipping, one
  Adam over the stacked tensors (Adam is elementwise, so this is R Adams). Its time loop reads
  the input projection with ``unbind`` (indexing ``xw[:, :, t]`` made each step's backward fill
  a zero tensor the size of all of ``xw``: quadratic in T, ~200x the solo step at T = 400).

``ceiling`` = 1 - layer_ms / solo_ms: the share of a solo step that stacking could amortise at
most, if a stacked native layer cost exactly R native layers. ``stacked / solo`` > 1 means the
stacked step, as torch can write it, is slower than running the runs one by one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from devtools.step_budget import CLOCK, bare_step, best_ms, layer_step


def stacked_forward(params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """R models at once: encoder (x W_e + b_e), an LSTM with gates in torch.nn.LSTM's order
    (i, f, g, o; one bias), the readout of the last h. `x` [R, B, T, I] -> [R, B, 1]."""
    enc_w, enc_b, w_ih, w_hh, bias, out_w, out_b = params
    r, batch, length, inputs = x.shape
    h = w_hh.shape[1]
    e = torch.baddbmm(enc_b, x.reshape(r, batch * length, inputs), enc_w)
    xw = torch.baddbmm(bias, e, w_ih).reshape(r, batch, length, 4 * h)
    hs = x.new_zeros(r, batch, h)
    cs = x.new_zeros(r, batch, h)
    for step in xw.unbind(2):  # one backward stack, not a full-size zero tensor per step
        gates = step + torch.bmm(hs, w_hh)
        ig, fg, gg, og = gates.chunk(4, dim=-1)
        cs = torch.sigmoid(fg) * cs + torch.sigmoid(ig) * torch.tanh(gg)
        hs = torch.sigmoid(og) * torch.tanh(cs)
    return torch.baddbmm(out_b, hs, out_w)


def stacked_step(seeds: int, batch: int, hidden: int, length: int):
    """One training step of `seeds` LSTMs on the adding task with stacked weights ([R, ...],
    ``bmm``), a torch time loop and autograd, per-run clipping at norm 1 and one Adam."""
    import tasks

    task = tasks.build("adding", length=length)
    g = torch.Generator().manual_seed(0)
    r, h, i = seeds, hidden, task.input_size
    scale = h ** -0.5

    def weight(*shape: int) -> torch.Tensor:
        return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).requires_grad_()

    params = [weight(r, i, h), weight(r, 1, h),            # encoder
              weight(r, h, 4 * h), weight(r, h, 4 * h),    # W_ih, W_hh
              weight(r, 1, 4 * h), weight(r, h, 1), weight(r, 1, 1)]  # bias, readout
    optimizer = torch.optim.Adam(params, lr=1e-3)
    data = torch.Generator().manual_seed(1)

    def run() -> None:
        x, y, mask = zip(*(task.batch(batch, data) for _ in range(r)), strict=True)
        pred = stacked_forward(params, torch.stack(x))  # [R, B, 1]
        y = torch.stack(y)
        loss = ((pred.reshape(r, -1) - y.reshape(r, -1)) ** 2).mean(dim=1).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms = torch.stack([p.grad.reshape(r, -1).pow(2).sum(1) for p in params]).sum(0).sqrt()
        factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad.mul_(factor.reshape(r, *([1] * (p.dim() - 1))))
        optimizer.step()

    return run


def measure(batch: int, hidden: int, length: int, seeds: int, repeats: int) -> dict:
    solo = best_ms(bare_step("lstm", batch, hidden, length, "auto"), repeats, 2)
    layer_run, backend = layer_step("lstm", batch, hidden, length, "auto")
    layer = best_ms(layer_run, repeats, 2)
    stacked = best_ms(stacked_step(seeds, batch, hidden, length), repeats, 1) / seeds
    return {"B": batch, "H": hidden, "T": length, "R": seeds, "backend": backend,
            "solo_ms": solo, "layer_ms": layer, "stacked_ms": stacked,
            "ceiling": 1 - layer / solo, "stacked/solo": stacked / solo}  # fmt: skip


def table(rows: Sequence[dict]) -> str:
    lines = ["| B | H | T | R | solo layer | solo step ms | layer ms | stacked ms per run | "
             "stacked / solo | ceiling (1 - layer / solo) |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['B']} | {row['H']} | {row['T']} | {row['R']} | {row['backend']} | "
                     f"{row['solo_ms']:.3g} | {row['layer_ms']:.3g} | {row['stacked_ms']:.3g} | "
                     f"{row['stacked/solo']:.2f} | {row['ceiling']:.0%} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m devtools.seed_batch",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--sizes", nargs="+", default=["32x32x100", "32x32x400", "32x64x100"],
                        help="B x H x T")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=8, help="R, the runs stacked")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true",
                        help="write results/speed/seed-batch-cpu.md")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = []
    for text in args.sizes:
        parts = text.split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            parser.error(f"--sizes: {text!r}; expected BxHxT, e.g. 32x32x100")
        sizes.append(tuple(int(p) for p in parts))
    if args.seeds < 1:
        parser.error(f"--seeds: {args.seeds}; expected a positive integer")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = [measure(b, h, t, args.seeds, args.repeats) for b, h, t in sizes]
    finally:
        torch.set_num_threads(threads)
    text = table(rows)
    print(text)
    if args.write:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        out = Path(__file__).resolve().parent.parent / "results" / "speed" / "seed-batch-cpu.md"
        out.write_text(f"# Seeds as a batch, measured before building it (issue 27 item 5)\n\n"
                       f"`python -m devtools.seed_batch --seeds {args.seeds}`: torch "
                       f"{torch.__version__}, 1 thread, {CLOCK.__name__} (CPU time), load "
                       f"average {load:.1f} when written. Times per run per step.\n\n"
                       f"{text}\n")  # fmt: skip
        print(out, file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
