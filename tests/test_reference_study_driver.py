"""scripts/reference_study.py on a two-length chain of tiny runs, with real Hydra multiruns in
subprocesses: it tunes the learning rate on seeds 0-1, runs seeds 2-4 at the setting the
report's rule selects (recomputed here from the records), and a second invocation into the same
sweep directory trains nothing and changes no record. The budget check reruns the selected
setting at one length, seeds 0-4, with a longer step budget into its own directory."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "variant.hidden_size=4", "data.batch_size=8", "data.val_size=16", "data.test_size=16",
    "trainer.max_steps=20", "trainer.val_check_interval=10", "diagnostics.enabled=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def study_module():
    spec = importlib.util.spec_from_file_location("reference_study", REPO / "scripts" /
                                                  "reference_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/results.json")}


def test_tune_select_evaluate_then_a_rerun_trains_nothing(study_module, tmp_path, monkeypatch):
    # copy_k4: a preset whose records name their task `copy`, scored by recall (max is best)
    chain = study_module.Chain("test", "rnn", "copy_k4", (5, 6))
    monkeypatch.setattr(study_module, "chains", lambda: [chain])
    monkeypatch.setattr(study_module, "longer_budget", lambda: [chain])
    monkeypatch.setattr(study_module, "LONG_LENGTH", 6)
    monkeypatch.setattr(study_module, "LONG_STEPS", 30)
    sweep, long = tmp_path / "study", tmp_path / "long"
    args = ["--sweep-dir", str(sweep), "--long-dir", str(long), "--no-report",
            *(f"--override={o}" for o in TINY)]  # fmt: skip
    assert study_module.main(args) == 0
    records = _records(sweep)
    assert len(records) == 2 * 3 * 2 + 2 * 3  # tuning: T x lr x seeds 0-1; then seeds 2-4
    for length in (5, 6):
        tuning = [r for r in records.values() if r["length"] == length and r["seed"] < 2]
        medians = {
            lr: statistics.median(r["final"]["val/recall_acc"] for r in tuning
                                  if r["config"]["optimizer"]["lr"] == lr)
            for lr in study_module.LRS
        }  # fmt: skip
        chosen = max(sorted(medians), key=lambda lr: medians[lr])
        evaluation = [r for r in records.values() if r["length"] == length and r["seed"] >= 2]
        assert sorted(r["seed"] for r in evaluation) == [2, 3, 4]
        assert {r["config"]["optimizer"]["lr"] for r in evaluation} == {chosen}
        if length == 6:
            longer = _records(long).values()
            assert sorted(r["seed"] for r in longer) == [0, 1, 2, 3, 4]
            assert {r["config"]["optimizer"]["lr"] for r in longer} == {chosen}
            assert {(r["length"], r["config"]["trainer"]["max_steps"]) for r in longer} == {(6, 30)}
    files = [*sweep.glob("*/results.json"), *long.glob("*/results.json")]
    before = {p: p.read_bytes() for p in files}
    assert study_module.main(args) == 0
    assert {p: p.read_bytes() for p in files} == before
    logs = "".join(p.read_text() for p in sweep.glob("study-*.log"))
    assert logs.count("nothing to do") == len(before)
