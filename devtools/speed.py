"""Speed benchmark: forward+backward time of every variant beside torch's module of its family.

    python -m devtools.speed [--json] [--variants lstm gru ...] [--backends auto bptt ...]
                              [--sizes 128x128x200 32x64x1000] [--device cpu|cuda]
                              [--dtype float32|bfloat16] [--repeats 5] [--threads 1]
                              [--write [--append] [--out PATH]] [--against torch|BACKEND]

Each row times one training step (forward, ``output.sum().backward()``) of a `variants` layer
and of torch's own module of the same family (nn.RNN for rnn, nn.LSTM for the LSTM family, nn.GRU
for the GRU family), measured alternately in the same run; ``ms`` and ``reference_ms`` are
medians over ``--repeats`` after ``--warmup`` untimed runs. ``ratio`` is the median of the
per-pair ratios (each layer step over the reference step timed right after it), so drift in the
machine's speed cancels; ``ratio_q1``/``ratio_q3`` are their quartiles.
``--json`` prints one JSON record per row. Timings on a shared machine are noisy: compare ratios.
On CUDA, ``peak_mb`` is `torch.cuda.max_memory_allocated` during one step of the layer and
``reference_peak_mb`` the same for torch's module (on CPU neither is measured: n/a).
``--write`` writes the table to ``results/speed/<device>.md`` (``--append`` adds to it).
A backend that cannot serve a variant (``cudnn`` for ``peephole``; ``triton`` for a user cell
without ``triton_pointwise()``) is listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

import variants
from variants.backends.bptt import native as bptt_native
from variants.cell import cell_class


@dataclass
class Row:
    """One benchmark record."""

    variant: str
    backend: str
    device: str
    B: int
    H: int
    T: int
    ms: float
    reference: str
    reference_ms: float
    ratio: float
    threads: int
    ratio_q1: float | None = None
    ratio_q3: float | None = None
    dtype: str = "float32"
    peak_mb: float | None = None
    reference_peak_mb: float | None = None


def reference_module(variant: str) -> type[nn.Module]:
    """torch's module of the variant's family (`Cell.torch_family`: nn.RNN, nn.GRU or nn.LSTM);
    for a cell of no family, nn.LSTM when its state has a ``c``, else nn.GRU."""
    cell = cell_class(variant)(1)
    family = cell.torch_family()
    if family is not None:
        return family
    return nn.LSTM if "c" in cell.state_names else nn.GRU


def time_step(module: nn.Module, x: torch.Tensor) -> float:
    """Milliseconds of one forward + backward of ``module(x)[0].sum()`` (CUDA: synchronised)."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    output, _ = module(x)
    output.sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def peak_memory_mb(module: nn.Module, x: torch.Tensor) -> float | None:
    """Peak CUDA memory (MiB, max_memory_allocated) of one step; None on CPU."""
    if not x.is_cuda:
        return None
    module.zero_grad(set_to_none=True)
    x.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    output, _ = module(x)
    output.sum().backward()
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def device_name(device: str) -> str:
    """A file-name-safe name of the device, e.g. ``nvidia-h200`` or ``cpu-2core``."""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = f"cpu-{os.cpu_count()}core"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class PairedTiming:
    """Two measurements taken alternately: their medians and the quartiles of a_i / b_i."""

    first: float
    second: float
    ratio: float
    ratio_q1: float
    ratio_q3: float


def median_pair(first: Callable[[], float], second: Callable[[], float], repeats: int,
                warmup: int) -> PairedTiming:
    """Time `first` and `second` alternately; the ratio is taken pair by pair (drift cancels)."""
    for _ in range(warmup):
        first()
        second()
    a, b = [], []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    q1, median, q3 = (statistics.quantiles(ratios, n=4, method="inclusive") if repeats > 1
                      else ratios * 3)
    return PairedTiming(statistics.median(a), statistics.median(b), median, q1, q3)


def measure(variant: str, backend: str, batch: int, hidden: int, length: int, input_size: int,
            repeats: int, warmup: int, threads: int, device: str = "cpu",
            dtype: torch.dtype = torch.float32, against: str = "torch") -> Row:
    """Benchmark one variant on one backend against torch's module of its family (``against``
    "torch"), or against the same layer on backend `against` (e.g. scan against reference)."""
    generator = torch.Generator().manual_seed(0)
    layer = variants.build(variant, input_size, hidden, backend=backend, generator=generator)
    if against == "torch":
        torch_cls = reference_module(variant)
        reference, label = torch_cls(input_size, hidden), f"nn.{torch_cls.__name__}"
    else:
        reference = variants.build(variant, input_size, hidden, backend=against)
        reference.load_state_dict(layer.state_dict())
        label = f"{variant}/{against}"
    layer.to(device, dtype)
    reference.to(device, dtype)
    x = torch.randn(length, batch, input_size, generator=generator).to(device, dtype)
    x.requires_grad_()
    timing = median_pair(lambda: time_step(layer, x), lambda: time_step(reference, x),
                         repeats, warmup)
    return Row(variant, backend, device, batch, hidden, length, round(timing.first, 2),
               label, round(timing.second, 2), round(timing.ratio, 3),
               threads, round(timing.ratio_q1, 3), round(timing.ratio_q3, 3),
               str(dtype).removeprefix("torch."), peak_memory_mb(layer, x),
               peak_memory_mb(reference, x))


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table of the rows."""
    columns = ["variant", "backend", "device", "dtype", "B", "H", "T", "ms", "reference",
               "reference_ms", "ratio", "ratio_q1", "ratio_q3", "peak_mb", "reference_peak_mb"]
    cells = [["n/a" if getattr(r, c) is None else str(getattr(r, c)) for c in columns]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=None, help="default: all")
    parser.add_argument("--backends", nargs="+", default=["reference"],
                        choices=variants.backend_names())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--input-size", type=int, default=None, help="default: --hidden")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--sizes", nargs="+", default=None, metavar="BxHxT",
                        help="several sizes, e.g. 128x128x200 32x64x1000 (overrides "
                             "--batch/--hidden/--length)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--write", action="store_true",
                        help="write the table to results/speed/<device>.md")
    parser.add_argument("--append", action="store_true", help="with --write: append")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="with --write: this file instead of results/speed/<device>.md")
    parser.add_argument("--json", action="store_true", help="one JSON record per row")
    parser.add_argument("--against", default="torch",
                        choices=["torch", *variants.backend_names()],
                        help="the paired baseline: torch's module of the family (default), or "
                             "the same layer on this backend")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants or []) - set(variants.names()))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; "
                     f"accepted: {', '.join(variants.names())}")
    for key in ("batch", "hidden", "length", "repeats", "threads"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be >= 1")
    sizes = []
    for text in args.sizes or [f"{args.batch}x{args.hidden}x{args.length}"]:
        parts = text.split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            parser.error(f"--sizes {text!r}: expected BxHxT with positive integers")
        sizes.append(tuple(int(p) for p in parts))
    args.size_list = sizes
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available; accepted here: cpu")
    return args


def write_markdown(rows: Sequence[Row], skipped: Sequence[str], args: argparse.Namespace,
                   append: bool) -> Path:
    """Write (or append) the table to results/speed/<device>.md; returns the path."""
    name = device_name(args.device)
    out = getattr(args, "out", None)
    path = Path(out) if out else Path("results") / "speed" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["variant", "backend", "dtype", "B", "H", "T", "ms", "reference", "reference_ms",
               "ratio", "ratio_q1", "ratio_q3", "peak_mb", "reference_peak_mb"]
    lines = [] if append and path.exists() else [f"# Speed on {name}", ""]
    label = (torch.cuda.get_device_name(torch.device(args.device))
             if args.device.startswith("cuda") else f"CPU, {os.cpu_count()} cores")
    lines += [f"Device: {label}; torch {torch.__version__}; {args.threads} thread(s); "
              f"forward+backward ms, median of {args.repeats}; ratio = median of per-pair "
              f"ratios (q1, q3 its quartiles); {bptt_native.describe()}; load average "
              f"{'/'.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min) when written.", "",
              "Command: `python -m devtools.speed " + " ".join(sys.argv[1:]) + "`", "",
              "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        values = ["n/a" if getattr(r, c) is None else str(getattr(r, c)) for c in columns]
        lines.append("| " + " | ".join(values) + " |")
    lines += [f"- skipped: {s}" for s in skipped] + [""]
    with path.open("a" if append else "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the benchmark and print a table (or JSON lines); returns the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.json:
        print(f"forward+backward ms, median of {args.repeats}; torch {torch.__version__}, "
              f"{args.threads} thread(s), input_size={args.input_size or 'H'}, "
              f"device={args.device}; {bptt_native.describe()}", flush=True)
    rows, skipped = [], []
    dtype = getattr(torch, args.dtype)
    for batch, hidden, length in args.size_list:
        size_input = args.input_size or hidden
        for variant in args.variants or variants.names():
            for backend in args.backends:
                try:
                    row = measure(variant, backend, batch, hidden, length, size_input,
                                  args.repeats, args.warmup, args.threads, args.device, dtype,
                                  args.against)
                except ValueError as error:  # a backend that cannot serve this variant
                    skipped.append(f"{variant}/{backend} at {batch}x{hidden}x{length}: {error}")
                    continue
                rows.append(row)
                if args.json:
                    print(json.dumps(asdict(row)), flush=True)
    if not args.json:
        print(format_table(rows))
        for line in skipped:
            print("skipped:", line)
    if args.write:
        print("wrote", write_markdown(rows, skipped, args, args.append))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
