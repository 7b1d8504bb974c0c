"""Benchmark: time to generate a batch of each task next to one LSTM training step on that batch.

`python -m devtools.task_benchmark [--length 1000 --batch 128 --hidden 128 --repeats 5 --threads 1]`
prints, per task, the median ms to generate a batch, the median ms of one forward + backward
of `torch.nn.LSTM(hidden)` + linear readout on it (one-hot tokens), and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import tasks


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `fn()` in ms over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def lstm_step(task: tasks.Task, batch: tasks.Batch, hidden: int) -> Callable[[], None]:
    """One training step (forward, task loss, backward) of an LSTM + linear readout on `batch`."""
    x, y, mask = batch
    inputs = F.one_hot(x, task.input_size).float() if task.input_kind == "tokens" else x
    lstm = torch.nn.LSTM(task.input_size, hidden, batch_first=True)
    readout = torch.nn.Linear(hidden, task.output_size)

    def step() -> None:
        out, _ = lstm(inputs)
        pred = readout(out if task.readout == "every" else out[:, -1])
        task.loss(pred, y, mask).backward()

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000, help="T of every task")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(
        f"B = {args.batch}, T = {args.length}, LSTM H = {args.hidden}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    print("| task | steps | generate ms | LSTM fwd+bwd ms | generate / step |")
    print("|---|---|---|---|---|")
    for name in tasks.names():
        task = tasks.build(name, length=args.length)
        generator = torch.Generator().manual_seed(0)
        gen_ms = median_ms(lambda t=task, g=generator: t.batch(args.batch, g), args.repeats)
        batch = task.batch(args.batch, generator)
        step_ms = median_ms(lstm_step(task, batch, args.hidden), max(1, args.repeats // 2))
        print(
            f"| {name} | {batch[0].shape[1]} | {gen_ms:.2f} | {step_ms:.0f} | "
            f"{gen_ms / step_ms:.2%} |"
        )


if __name__ == "__main__":
    main()
