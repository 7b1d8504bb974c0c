"""`python -m devtools.startup` times a job up to its first training step (issue 27): its probe
goes into the job's `imports` next to any the user gave, and marks only the first step."""

from __future__ import annotations

from devtools import startup


def test_the_probe_joins_the_jobs_imports() -> None:
    assert startup.with_probe(["seed=1"]) == ["seed=1", f"imports=[{startup.PROBE}]"]
    assert startup.with_probe(["imports=[a, b.c]", "seed=1"]) == [
        "seed=1", f"imports=[a,b.c,{startup.PROBE}]"]


def test_the_probe_writes_one_mark_at_the_first_step(tmp_path, monkeypatch) -> None:
    from devtools import first_step_probe
    from gatebench.training.model import SequenceModel

    mark = tmp_path / "mark.txt"
    monkeypatch.setenv(startup.FIRST_STEP_ENV, str(mark))
    assert SequenceModel.on_train_batch_start is first_step_probe._mark
    first_step_probe._mark(None, None, 0)
    clock, cpu = (float(v) for v in mark.read_text().split())
    assert cpu > 0 and clock > 0
    text = mark.read_text()
    first_step_probe._mark(None, None, 1)  # later steps leave the mark as it is
    assert mark.read_text() == text

