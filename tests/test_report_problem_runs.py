"""`problem_runs`: one row per run and problem, each with its message, on a hand-made runs
frame where every rule fires once (and a complete run that must not appear)."""

from __future__ import annotations

import math

import pandas as pd

from gatebench.report.tables import problem_runs

NAN = math.nan


def _run(seed: int, status: str, **values) -> dict:
    row = {"task": "adding", "length": 10, "variant": "lstm", "seed": seed, "status": status,
           "message": None, "source": f"/r/{seed}", "final_metric": 0.1, "norm_loss": 0.6,
           "steps": 100, "steps_to_solve": NAN, "test_metric": 0.1, "record_problems": None,
           "config.trainer.max_steps": 100}  # fmt: skip
    row.update(values)
    return row


def test_every_problem_is_one_row_with_its_message() -> None:
    runs = pd.DataFrame([
        _run(0, "finished"),  # complete: no row
        _run(1, "diverged", message="non-finite train/loss"),
        _run(2, "finished", final_metric=NAN),
        _run(3, "finished", norm_loss="n/a"),  # a broken record: not a number
        _run(4, "solved", steps_to_solve=NAN),
        _run(5, "finished", steps=NAN),
        _run(6, "finished", test_metric=NAN),
        _run(7, "solved", steps_to_solve=50.0, record_problems="ended_at before started_at"),
    ])  # fmt: skip
    found = problem_runs(runs)
    rows = sorted(zip(found["seed"], found["message"], strict=True), key=lambda r: r[0])
    assert rows == [
        (1, "non-finite train/loss"),
        (2, "completed but recorded no final metric"),
        (3, "completed but recorded no finite norm_loss"),
        (4, "solved but recorded no steps_to_solve: left out of steps to solve"),
        (5, "unsolved but recorded no steps: left out of steps to solve"),
        (6, "completed but recorded no finite test metric: its table compares validation "
            "values instead"),
        (7, "ended_at before started_at"),
    ]


def test_a_frame_without_the_optional_columns_flags_what_is_absent() -> None:
    runs = pd.DataFrame([_run(0, "solved", steps_to_solve=10.0)]).drop(
        columns=["final_metric", "test_metric", "record_problems"]
    )
    messages = list(problem_runs(runs)["message"])
    assert messages == ["completed but recorded no final metric"]
