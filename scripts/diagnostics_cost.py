"""Benchmark: the cost of diagnostics as a share of a run's wall time (not a test).

    PYTHONPATH=. python scripts/diagnostics_cost.py [--lengths 50 200] [--variants rnn lstm gru]

Trains each variant at the quickstart's size (adding, H = 32, B = 32, lr 0.003, <= 1000 steps,
validation every 100, stops when solved) at each length, with the default diagnostics (init and
end), 1 torch thread, and prints the seconds spent in diagnostics, per snapshot, the run's wall
time and their ratio; `every=100` is projected from the per-snapshot cost (11 snapshots).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from gatebench.train import CONFIG_DIR, train

QUICKSTART = ["task=adding", "variant.hidden_size=32", "optimizer.lr=0.003",
              "data.batch_size=32", "trainer.max_steps=1000", "trainer.val_check_interval=100",
              "threads=1", "logger=csv", "seed=0"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--variants", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--max-steps", type=int, default=1000)
    args = parser.parse_args()
    print("| T | variant | status | steps | run wall s | diag s | per snapshot s | share "
          "| share, every=100 (projected) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.lengths:
            for variant in args.variants:
                overrides = [*QUICKSTART, f"task.length={length}", f"variant={variant}",
                             f"trainer.max_steps={args.max_steps}",
                             f"run_dir={Path(tmp) / f'{variant}-{length}'}"]
                with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
                    cfg = compose("train", overrides=overrides)
                record = train(cfg)
                diag = record["diagnostics"]
                shots = len(diag["snapshots"])
                per = diag["cost_s"] / shots
                wall = record["wall_time_s"]
                projected = (per * (record["steps"] // 100 + 1)) / wall
                print(f"| {length} | {variant} | {record['status']} | {record['steps']} | "
                      f"{wall:.1f} | {diag['cost_s']:.3f} | {per:.3f} | "
                      f"{100 * diag['cost_s'] / wall:.2f}% | {100 * projected:.1f}% |",
                      flush=True)


if __name__ == "__main__":
    main()
