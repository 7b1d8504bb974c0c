"""Step budget: how far a study-size training step is from its arithmetic (FLOP) bound.

    python -m devtools.step_budget [--cells lstm gru rnn cifg] [--sizes 32x32x100 ...]
                                   [--backends auto bptt] [--paths lean previous]
                                   [--steps 30] [--repeats 7] [--threads 1]
                                   [--quick] [--no-lightning] [--no-run]
                                   [--write [--append]] [--json]

For each cell and size (B x H x T, input width = H as the model's encoder gives it) one process
measures:

- ``gemm_gflops``: the rate of a square float32 GEMM (``--gemm-size``) on ``--threads``
  threads, the arithmetic rate the bound is taken at;
- ``bound_ms``: the cell's matmul FLOPs of one forward + backward over the sequence at that rate:
  the forward does ``x W_ih^T`` and ``h W_hh^T`` (2 T B G H (I + H) FLOPs, G gate blocks) and the
  backward does it twice (d x, d W_ih, d h, d W_hh): 6 T B G H (I + H) in all;
- ``layer_ms``: the `variants` layer's forward + ``output.sum().backward()`` (input needs grad);
- ``bare_ms``: the training step without Lightning: a batch of the adding task drawn, encoder,
  layer, readout, loss, backward, gradient-norm clipping (1.0, as trainer/cpu.yaml), the
  model's own optimizer (`optimizer=adam`, lr 1e-3);
- ``lightning_ms``: per step of a real ``Trainer.fit`` (trainer/cpu.yaml's settings: clipping,
  log every 10 steps to a CSV logger, no validation, no checkpoints): the fastest window of 10
  consecutive steps after ``--warmup-steps`` (each holds one logging step) over 10;
- ``run_ms``: the same window in a real ``gatebench.train`` run (the composed config:
  every callback a run has, metrics.csv, checkpoints, progress lines; diagnostics off and no
  validation inside the timed steps);

``--paths previous`` adds rows of the step before issue 27's lean-step changes, measured in the
same process (torch's own ``torch.optim.Adam`` for ``adam``; `PREVIOUS`). Each time is given
as ms (the best of ``--repeats``: other processes on a shared machine only add time) and
as a ratio to ``bound_ms``. Times are this process's CPU time (``--clock cpu``, the default with
one thread: on a shared, loaded machine it stays near what an idle machine's wall clock gives,
while wall time grows with the load) or wall time (``--clock wall``; the default with more
threads, whose CPU times add up); the GEMM rate is measured again (best of ``--repeats``)
before each row. The ratios are within one process; on a shared machine only they count (state
``uptime``'s load with a written table).
``--write`` writes the table to ``results/speed/step-budget-<device>.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import variants
from variants.backends.bptt import native as bptt_native

# What `--paths previous` swaps back in: the optimizer classes before the lean step (and
# Lightning's own gradient clipping: `step_path`).
PREVIOUS = {"adam": torch.optim.Adam}

CELLS = ("lstm", "gru", "rnn", "cifg")
SIZES = ("32x32x100", "32x32x400", "32x32x1000", "32x64x100", "32x64x400", "32x64x1000")
QUICK_SIZES = ("4x8x10",)
LOG_EVERY = 10  # trainer/cpu.yaml's log_every_n_steps
CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
PATHS = ("lean", "previous")
COLUMNS = ("cell", "backend", "path", "B", "H", "T", "gemm_gflops", "bound_ms", "layer_ms",
           "bare_ms", "lightning_ms", "run_ms", "layer_x", "bare_x", "lightning_x", "run_x")


@dataclass
class BudgetRow:
    """One cell at one size: times in ms and their ratios to the FLOP bound."""

    cell: str
    backend: str
    path: str
    B: int
    H: int
    T: int
    gemm_gflops: float
    bound_ms: float
    layer_ms: float
    bare_ms: float
    lightning_ms: float | None
    run_ms: float | None
    layer_x: float
    bare_x: float
    lightning_x: float | None
    run_x: float | None
    resolved: str = ""


CLOCK: Callable[[], float] = time.process_time  # set by `main` from --clock


def gemm_gflops(size: int, repeats: int) -> float:
    """Single-process GEMM rate (GFLOP/s) of a float32 (size x size) @ (size x size) matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = float("inf")
    inner = max(1, int(2e8 // (2 * size**3)))  # ~0.2 GFLOP per sample
    for _ in range(repeats):
        start = CLOCK()
        for _ in range(inner):
            torch.mm(a, b, out=out)
        best = min(best, (CLOCK() - start) / inner)
    return 2 * size**3 / best / 1e9


def gate_blocks(cell: str, hidden: int) -> int:
    """G: the H-sized blocks of the cell's recurrent matrix (4 lstm, 3 gru and cifg, 1 rnn)."""
    layer = variants.build(cell, 1, hidden)
    return layer.weight_hh_l0.shape[0] // hidden


def matmul_flops(blocks: int, batch: int, hidden: int, length: int, inputs: int) -> float:
    """FLOPs of the layer's matmuls in one forward + backward: 6 T B G H (I + H)."""
    return 6.0 * length * batch * blocks * hidden * (inputs + hidden)


def best_ms(run: Callable[[], None], repeats: int, warmup: int) -> float:
    """The shortest wall time of `run` in ms over `repeats` calls, after `warmup` untimed ones
    (on a shared machine other processes only ever add time: the minimum is the estimate least
    inflated by them, as `timeit` takes it)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = CLOCK()
        run()
        times.append((CLOCK() - start) * 1e3)
    return min(times)


def build_model(cell: str, hidden: int, length: int, backend: str):
    """gatebench's SequenceModel on the adding task at `length` (Adam, lr 1e-3), and the task."""
    import tasks

    try:
        from gatebench.training.model import SequenceModel
    except ImportError:  # before the runner's move into rooms
        from gatebench.model import SequenceModel

    task = tasks.build("adding", length=length)
    torch.manual_seed(0)
    model = SequenceModel(task, {"name": cell, "hidden_size": hidden, "backend": backend},
                          {"name": "adam", "lr": 1e-3})
    return task, model


def layer_step(cell: str, batch: int, hidden: int, length: int, backend: str):
    """A closure running the layer's forward + backward once, and the backend `auto` resolved."""
    generator = torch.Generator().manual_seed(0)
    layer = variants.build(cell, hidden, hidden, backend=backend, batch_first=True,
                           generator=generator)
    x = torch.randn(batch, length, hidden, generator=generator, requires_grad=True)

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        output, _ = layer(x)
        output.sum().backward()

    run()  # sets layer.resolved_backend: what `auto` ran
    return run, str(layer.resolved_backend)


@contextlib.contextmanager
def step_path(path: str) -> Iterator[None]:
    """`lean`: the step as gatebench has it; `previous`: as it was before issue 27's lean-step
    changes (`PREVIOUS`), for a before/after measured in one process."""
    if path == "lean":
        yield
        return
    from gatebench.training import model, optim

    kept, clip = dict(optim.OPTIMIZERS), model.clip_grad_norm
    optim.OPTIMIZERS.update(PREVIOUS)
    model.clip_grad_norm = lambda parameters, max_norm: None  # Lightning's clipping runs
    try:
        yield
    finally:
        optim.OPTIMIZERS.update(kept)
        model.clip_grad_norm = clip


def bare_step(cell: str, batch: int, hidden: int, length: int, backend: str):
    """A closure running one training step without Lightning (data, model, loss, the model's own
    optimizer)."""
    from gatebench.training import model as home

    task, model = build_model(cell, hidden, length, backend)
    model.train()
    optimizer = model.configure_optimizers()
    clip = home.clip_grad_norm  # what the path's SequenceModel.configure_gradient_clipping runs
    generator = torch.Generator().manual_seed(1)
    params = list(model.parameters())

    def run() -> None:
        x, y, mask = task.batch(batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(model(x), y, mask)
        loss.backward()
        if clip(params, 1.0) is None:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return run


def lightning_ms(cell: str, batch: int, hidden: int, length: int, backend: str, steps: int,
                 warmup_steps: int) -> float:
    """ms per step of a real Trainer.fit (trainer/cpu.yaml settings, CSV logger, no validation):
    the fastest window of `LOG_EVERY` consecutive steps after `warmup_steps` (each window holds
    one logging step), divided by its steps."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    import tasks

    task, model = build_model(cell, hidden, length, backend)
    data = tasks.TaskDataModule(task, batch_size=batch, val_size=batch, test_size=batch, seed=0)
    marks: list[float] = []

    class Clock(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            if batch_idx >= warmup_steps:
                marks.append(CLOCK())

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if batch_idx == steps - 1:
                marks.append(CLOCK())

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            accelerator="cpu", devices=1, precision="32-true", max_steps=steps,
            gradient_clip_val=1.0, gradient_clip_algorithm="norm", log_every_n_steps=LOG_EVERY,
            limit_val_batches=0, num_sanity_val_steps=0, enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False,
            logger=CSVLogger(tmp, name="budget"), callbacks=[Clock()], default_root_dir=tmp)
        trainer.fit(model, datamodule=data)
    window = min(LOG_EVERY, len(marks) - 1)
    return min(b - a for a, b in zip(marks, marks[window:], strict=False)) * 1e3 / window


def run_ms(cell: str, batch: int, hidden: int, length: int, backend: str, steps: int,
           warmup_steps: int) -> float:
    """ms per step of a real `gatebench.train` run (the composed config, `trainer/cpu.yaml`,
    the csv logger, every callback of a run), timed as `lightning_ms` is; no validation or
    diagnostics inside the timed steps."""
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir

    import gatebench.train as entry

    marks: list[float] = []

    class Clock(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            if batch_idx >= warmup_steps:
                marks.append(CLOCK())

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if batch_idx == steps - 1:
                marks.append(CLOCK())

    build = entry.build_trainer

    def with_clock(cfg, callbacks, loggers, progress):
        return build(cfg, [*callbacks, Clock()], loggers, progress)

    overrides = [f"variant={cell}", f"variant.hidden_size={hidden}", f"variant.backend={backend}",
                 f"task.length={length}", f"data.batch_size={batch}", f"data.val_size={batch}",
                 f"trainer.max_steps={steps}", f"trainer.val_check_interval={steps + 1}",
                 f"trainer.log_every_n_steps={LOG_EVERY}", "trainer.enable_progress_bar=false",
                 "diagnostics.enabled=false", "test=false", "seed=0",
                 "optimizer.lr=0.001"]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
            cfg = compose("train", overrides=[*overrides, f"run_dir={tmp}/run"])
        entry.build_trainer = with_clock
        try:
            record = entry.train(cfg)
        finally:
            entry.build_trainer = build
    if record["status"] != "finished":
        raise RuntimeError(f"the timed run ended {record['status']}: {record.get('message')}")
    window = min(LOG_EVERY, len(marks) - 1)
    return min(b - a for a, b in zip(marks, marks[window:], strict=False)) * 1e3 / window


def measure(cell: str, batch: int, hidden: int, length: int, backend: str,
            args: argparse.Namespace, gflops: float, path: str = "lean") -> BudgetRow:
    """One row: bound, layer, bare step, Lightning step and run step of `cell` at one size,
    with the step `path` (`step_path`)."""
    blocks = gate_blocks(cell, hidden)
    bound = matmul_flops(blocks, batch, hidden, length, hidden) / (gflops * 1e9) * 1e3
    run_layer, resolved = layer_step(cell, batch, hidden, length, backend)
    layer = best_ms(run_layer, args.repeats, args.warmup)
    with step_path(path):
        bare = best_ms(bare_step(cell, batch, hidden, length, backend), args.repeats,
                       args.warmup)
        light = run = None
        if not args.no_lightning:
            light = lightning_ms(cell, batch, hidden, length, backend, args.steps,
                                 args.warmup_steps)
        if not args.no_run:
            run = run_ms(cell, batch, hidden, length, backend, args.steps, args.warmup_steps)

    def ratio(v: float | None) -> float | None:
        return None if v is None else round(v / bound, 2)

    def ms(v: float | None) -> float | None:  # 4 significant digits
        return None if v is None else float(f"{v:.4g}")

    return BudgetRow(cell, backend, path, batch, hidden, length, round(gflops, 1), ms(bound),
                     ms(layer), ms(bare), ms(light), ms(run), ratio(layer), ratio(bare),
                     ratio(light), ratio(run), resolved)


def format_table(rows: Sequence[BudgetRow]) -> str:
    """A plain-text table of the rows."""
    cells = [["n/a" if getattr(r, c) is None else str(getattr(r, c)) for c in COLUMNS]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def parse_sizes(texts: Sequence[str], parser: argparse.ArgumentParser) -> list[tuple[int, ...]]:
    sizes = []
    for text in texts:
        parts = text.split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            parser.error(f"--sizes {text!r}: expected BxHxT with positive integers")
        sizes.append(tuple(int(p) for p in parts))
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.step_budget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=list(CELLS))
    parser.add_argument("--sizes", nargs="+", default=None, metavar="BxHxT",
                        help=f"default: {' '.join(SIZES)}")
    parser.add_argument("--backends", nargs="+", default=["auto"],
                        choices=variants.backend_names(),
                        help="one row per backend, measured in the same process")
    parser.add_argument("--paths", nargs="+", default=["lean"], choices=PATHS,
                        help="the training step as it is (lean) and/or as it was before "
                             "issue 27's lean-step changes (previous), rows in one process")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=45, help="Lightning steps per fit")
    parser.add_argument("--warmup-steps", type=int, default=5,
                        help="Lightning steps not timed")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--gemm-size", type=int, default=256)
    parser.add_argument("--clock", choices=["cpu", "wall"], default=None,
                        help="process CPU time or wall time (default: cpu with 1 thread)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 1 repeat, 4 Lightning steps: checks that it runs")
    parser.add_argument("--no-lightning", action="store_true", help="skip the Trainer.fit column")
    parser.add_argument("--no-run", action="store_true", help="skip the gatebench.train column")
    parser.add_argument("--write", action="store_true",
                        help="write the table to results/speed/step-budget-<device>.md")
    parser.add_argument("--append", action="store_true", help="with --write: append")
    parser.add_argument("--json", action="store_true", help="one JSON record per row")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cells) - set(variants.names()))
    if unknown:
        parser.error(f"--cells: unknown {', '.join(unknown)}; accepted: "
                     f"{', '.join(variants.names())}")
    if args.quick:
        args.repeats, args.warmup, args.steps, args.warmup_steps = 1, 0, 4, 1
        args.gemm_size = min(args.gemm_size, 64)
    for key in ("repeats", "threads", "steps", "gemm_size"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if not 0 <= args.warmup_steps < args.steps:
        parser.error("--warmup-steps must be >= 0 and below --steps")
    args.size_list = parse_sizes(args.sizes or (QUICK_SIZES if args.quick else SIZES), parser)
    return args


def header(args: argparse.Namespace) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"torch {torch.__version__}, {args.threads} thread(s), CPU with {os.cpu_count()} "
            f"cores, load average {load:.2f}; {bptt_native.describe()}; "
            f"ms ({args.clock} clock) are the best of {args.repeats}; ratios (x) are to bound_ms, "
            "within this process")


def write_markdown(rows: Sequence[BudgetRow], args: argparse.Namespace) -> Path:
    """Write (or append) the table to results/speed/step-budget-cpu-<n>core.md."""
    path = Path("results") / "speed" / f"step-budget-cpu-{os.cpu_count()}core.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [] if args.append and path.exists() else ["# Step budget on CPU", ""]
    lines += [header(args) + ".", "",
              "Command: `python -m devtools.step_budget " + " ".join(sys.argv[1:]) + "`", "",
              "| " + " | ".join(COLUMNS) + " | resolved |", "|" + "---|" * (len(COLUMNS) + 1)]
    for r in rows:
        values = ["n/a" if getattr(r, c) is None else str(getattr(r, c)) for c in COLUMNS]
        lines.append("| " + " | ".join(values) + f" | {r.resolved or 'n/a'} |")
    lines.append("")
    with path.open("a" if args.append else "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> list[BudgetRow]:
    """Run the benchmark and print a table (or JSON lines); returns the rows."""
    global CLOCK
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = args.clock or ("cpu" if args.threads == 1 else "wall")
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    args.clock = clock
    if not args.json:
        print(header(args), flush=True)
    rows = []
    for batch, hidden, length in args.size_list:
        for cell in args.cells:
            for backend in args.backends:
                for path in args.paths:
                    gflops = gemm_gflops(args.gemm_size, max(3, args.repeats))
                    row = measure(cell, batch, hidden, length, backend, args, gflops, path)
                    rows.append(row)
                    if args.json:
                        print(json.dumps(asdict(row)), flush=True)
    if not args.json:
        print(format_table(rows))
    if args.write:
        print("wrote", write_markdown(rows, args))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
