"""Speed benchmark: forward+backward time of every variant beside torch's module of its family.

    python -m gatebench.speed [--json] [--variants lstm gru ...] [--batch 128 --hidden 128
                              --length 200] [--repeats 5] [--threads 1]

Each row times one training step (forward, ``output.sum().backward()``) of a `variants` layer
and of torch's own module of the same family (nn.RNN for rnn, nn.LSTM for the LSTM family, nn.GRU
for the GRU family), measured alternately in the same run; ``ms`` and ``reference_ms`` are
medians over ``--repeats`` after ``--warmup`` untimed runs, ``ratio = ms / reference_ms``.
``--json`` prints one JSON record per row. Timings on a shared machine are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

import variants
from variants.cell import cell_class
from variants.cells import ElmanCell, GRUCell, LSTMCell


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


def reference_module(variant: str) -> type[nn.Module]:
    """torch's module of the variant's family: nn.RNN, nn.GRU or nn.LSTM."""
    cls = cell_class(variant)
    if issubclass(cls, ElmanCell):
        return nn.RNN
    if issubclass(cls, GRUCell):
        return nn.GRU
    if issubclass(cls, LSTMCell) or "c" in cls.state_names:
        return nn.LSTM
    return nn.GRU


def time_step(module: nn.Module, x: torch.Tensor) -> float:
    """Milliseconds of one forward + backward of ``module(x)[0].sum()``."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    start = time.perf_counter()
    output, _ = module(x)
    output.sum().backward()
    return (time.perf_counter() - start) * 1e3


def median_pair(first: Callable[[], float], second: Callable[[], float], repeats: int,
                warmup: int) -> tuple[float, float]:
    """Median times of two measurements taken alternately (so noise hits both alike)."""
    for _ in range(warmup):
        first()
        second()
    a, b = [], []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    return statistics.median(a), statistics.median(b)


def measure(variant: str, backend: str, batch: int, hidden: int, length: int, input_size: int,
            repeats: int, warmup: int, threads: int, device: str = "cpu") -> Row:
    """Benchmark one variant on one backend against torch's module of its family."""
    generator = torch.Generator().manual_seed(0)
    layer = variants.build(variant, input_size, hidden, backend=backend, generator=generator)
    torch_cls = reference_module(variant)
    reference = torch_cls(input_size, hidden)
    layer.to(device)
    reference.to(device)
    x = torch.randn(length, batch, input_size, generator=generator).to(device).requires_grad_()
    ms, reference_ms = median_pair(lambda: time_step(layer, x), lambda: time_step(reference, x),
                                   repeats, warmup)
    return Row(variant, backend, device, batch, hidden, length, round(ms, 2),
               f"nn.{torch_cls.__name__}", round(reference_ms, 2), round(ms / reference_ms, 3),
               threads)


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table of the rows."""
    columns = ["variant", "backend", "device", "B", "H", "T", "ms", "reference", "reference_ms",
               "ratio"]
    cells = [[str(getattr(r, c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gatebench.speed", description=__doc__,
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
    parser.add_argument("--json", action="store_true", help="one JSON record per row")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants or []) - set(variants.names()))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; "
                     f"accepted: {', '.join(variants.names())}")
    for key in ("batch", "hidden", "length", "repeats", "threads"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the benchmark and print a table (or JSON lines); returns the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    input_size = args.input_size or args.hidden
    if not args.json:
        print(f"forward+backward ms, median of {args.repeats}; torch {torch.__version__}, "
              f"{args.threads} thread(s), input_size={input_size}", flush=True)
    rows = []
    for variant in args.variants or variants.names():
        for backend in args.backends:
            row = measure(variant, backend, args.batch, args.hidden, args.length, input_size,
                          args.repeats, args.warmup, args.threads)
            rows.append(row)
            if args.json:
                print(json.dumps(asdict(row)), flush=True)
    if not args.json:
        print(format_table(rows))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
