"""Callbacks against hand-worked values: SolvedTracker keeps the best `val/*` metrics in the
task's direction (min for mse, max for accuracies) and records the first solved step;
StepsPerSecond counts optimizer steps over training time only (validation time excluded).

The trainer and module passed to the callbacks are plain stand-ins carrying exactly the fields
the hooks read; the callbacks themselves are the real ones.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import tasks
from gatebench.training import callbacks
from gatebench.training.callbacks import SolvedTracker, StepsPerSecond


def _validate(tracker: SolvedTracker, step: int, metrics: dict[str, float]) -> SimpleNamespace:
    trainer = SimpleNamespace(sanity_checking=False, global_step=step, should_stop=False,
                              callback_metrics=metrics)
    tracker.on_validation_end(trainer, None)
    return trainer


@pytest.mark.parametrize("task_name,metric,values,best", [
    ("adding", "val/mse", [0.10, 0.03, 0.07, float("nan"), 0.05], 0.03),  # min mode
    ("copy", "val/recall_acc", [0.40, 0.70, 0.55, float("nan"), 0.60], 0.70),  # max mode
])  # fmt: skip
def test_best_follows_the_tasks_direction(task_name: str, metric: str, values: list[float],
                                          best: float) -> None:
    task = tasks.build(task_name, length=20)
    tracker = SolvedTracker(task)
    assert tracker.metric == metric
    for step, value in enumerate(values, start=1):
        _validate(tracker, 10 * step, {metric: value, "val/loss": float(step), "train/x": 9.0})
    assert tracker.best[metric] == best
    assert tracker.best["val/loss"] == float(values.index(best) + 1)  # the whole dict of that step
    assert tracker.final[metric] == values[-1] and tracker.final_step == 10 * len(values)
    assert "train/x" not in tracker.final
    assert tracker.steps_to_solve is None


def test_first_solved_step_is_recorded_and_stops_training() -> None:
    task = tasks.build("adding", length=20)  # solved: mse <= 0.05 / 6 = 0.008333...
    tracker = SolvedTracker(task)
    assert not _validate(tracker, 100, {"val/mse": 0.0084, "val/tol_acc": 0.5}).should_stop
    assert _validate(tracker, 200, {"val/mse": 0.0083, "val/tol_acc": 0.5}).should_stop
    _validate(tracker, 300, {"val/mse": 0.0001, "val/tol_acc": 0.5})
    assert tracker.steps_to_solve == 200
    # a sanity-check validation is not a validation of training
    trainer = SimpleNamespace(sanity_checking=True, global_step=0, should_stop=False,
                              callback_metrics={"val/mse": 0.0})
    fresh = SolvedTracker(task)
    fresh.on_validation_end(trainer, None)
    assert fresh.steps_to_solve is None and fresh.best == {}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_steps_per_sec_excludes_validation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 steps of 0.1 s with a 5 s validation after step 4: 10 steps / 1.0 s = 10 steps/s
    (counting validation it would be 10 / 6.0)."""
    clock = _Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    logged: list[tuple[str, float]] = []
    module = SimpleNamespace(log=lambda name, value, **_: logged.append((name, value)))
    trainer = SimpleNamespace(global_step=0)
    speed = StepsPerSecond(every_n_steps=10)
    speed.on_train_start(trainer, module)
    for step in range(1, 21):
        clock.now += 0.1
        trainer.global_step = step
        speed.on_train_batch_end(trainer, module)
        if step in (4, 15):
            speed.on_validation_start(trainer, module)
            clock.now += 5.0
            speed.on_validation_end(trainer, module)
    assert [name for name, _ in logged] == ["train/steps_per_sec"] * 2
    assert logged[0][1] == pytest.approx(10.0, rel=1e-9)
    assert logged[1][1] == pytest.approx(10.0, rel=1e-9)


def test_state_round_trip_and_a_resumed_solved_run_stops_at_once() -> None:
    task = tasks.build("adding", length=20)
    tracker = SolvedTracker(task)
    _validate(tracker, 100, {"val/mse": 0.5, "val/tol_acc": 0.1})
    _validate(tracker, 200, {"val/mse": 0.001, "val/tol_acc": 0.9})
    state = tracker.state_dict()
    assert state == {"final": {"val/mse": 0.001, "val/tol_acc": 0.9},
                     "best": {"val/mse": 0.001, "val/tol_acc": 0.9},
                     "final_step": 200, "steps_to_solve": 200}
    resumed = SolvedTracker(task)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    trainer = SimpleNamespace(should_stop=False)
    resumed.on_train_start(trainer, None)
    assert trainer.should_stop
    fresh = SolvedTracker(task)
    fresh.load_state_dict({})
    assert fresh.state_dict() == {"final": {}, "best": {}, "final_step": None,
                                  "steps_to_solve": None}
    trainer = SimpleNamespace(should_stop=False)
    fresh.on_train_start(trainer, None)
    assert not trainer.should_stop


def test_steps_per_sec_every_n_and_its_floor_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    logged: list[float] = []
    module = SimpleNamespace(log=lambda name, value, **_: logged.append(value))
    assert StepsPerSecond(every_n_steps=0).every_n_steps == 1
    speed, trainer = StepsPerSecond(every_n_steps=3), SimpleNamespace(global_step=5)
    speed.on_train_batch_end(trainer, module)  # before on_train_start: nothing
    speed.on_train_start(trainer, module)
    for step in range(6, 12):
        clock.now += 0.5
        trainer.global_step = step
        speed.on_train_batch_end(trainer, module)
    assert logged == [pytest.approx(2.0), pytest.approx(2.0)]  # steps 8 and 11: 3 / 1.5 s


def test_best_keeps_the_first_of_equal_values() -> None:
    for task_name, metric in (("adding", "val/mse"), ("copy", "val/recall_acc")):
        tracker = SolvedTracker(tasks.build(task_name, length=20))
        _validate(tracker, 10, {metric: 0.25, "val/loss": 1.0})
        _validate(tracker, 20, {metric: 0.25, "val/loss": 2.0})  # a tie is not an improvement
        assert tracker.best == {metric: 0.25, "val/loss": 1.0}
        assert tracker.final == {metric: 0.25, "val/loss": 2.0} and tracker.final_step == 20


def test_the_solved_line_names_the_step_and_the_metric(caplog) -> None:
    # what a user watching the log reads: the step and the value that met the criterion
    tracker = SolvedTracker(tasks.build("adding", length=20))
    with caplog.at_level("INFO", logger="gatebench"):
        _validate(tracker, 100, {"val/mse": 0.02, "val/tol_acc": 0.5})  # not solved: no line
        assert not [r for r in caplog.records if "solved" in r.getMessage()]
        _validate(tracker, 200, {"val/mse": 0.00125, "val/tol_acc": 0.5})
    lines = [r.getMessage() for r in caplog.records if "solved" in r.getMessage()]
    assert lines == ["solved at step 200 (val/mse=0.00125)"]
