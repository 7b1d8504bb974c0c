"""The study spec: refused in one line naming the key (overlapping seeds above all), stored in the
study directory and refused when changed; selection, grid edges and their extension."""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from gatebench.study.plan import Resolved, job_dir, multiruns, subdir_pattern, tuning_jobs
from gatebench.study.select import choose, extended, grid_edges, next_point
from gatebench.study.spec import check_stored, parse_spec

RAW = {
    "name": "unit",
    "cells": ["rnn", "gru", {"label": "rnn_pm", "variant": "rnn",
                             "overrides": ["model.param_budget=300"], "tasks": {"adding": [10]}}],
    "tasks": {"adding": [10, 20]},
    "grid": {"optimizer.lr": [0.001, 0.003, 0.01]},
    "tuning_seeds": [0, 1],
    "evaluation_seeds": [2, 3, 4],
    "max_steps": 100,
    "primary": [{"cell": "gru", "against": "rnn", "task": "adding", "length": 20,
                 "endpoint": "solved"}],
}  # fmt: skip


def _with(**changes):
    raw = copy.deepcopy(RAW)
    raw.update(changes)
    return raw


def test_overlapping_seeds_are_refused_in_one_line(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"tuning_seeds and evaluation_seeds share seed\(s\) 1, 2"):
        parse_spec(_with(tuning_seeds=[0, 1, 2], evaluation_seeds=[1, 2, 3]))
    path = tmp_path / "overlap.yaml"
    path.write_text(yaml.safe_dump(_with(evaluation_seeds=[1, 5])))
    result = subprocess.run([sys.executable, "-m", "gatebench.study", str(path)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "share seed(s) 1: they must be disjoint" in lines[0]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"grid": {"seed": [1, 2]}}, "grid.seed"),
        ({"grid": {"optimizer.lr": []}}, "grid.optimizer.lr"),
        ({"tasks": {"no_such_task": [10]}}, "tasks.no_such_task"),
        ({"cells": ["rnn", "nope"]}, "cells[1].variant"),
        ({"max_steps": 0}, "max_steps"),
        ({"plateau": {"patience": 0}}, "plateau"),
        ({"solved": "strict"}, "solved"),
        ({"typo": 1}, "typo"),
        ({"primary": []}, "primary"),
        ({"primary": [{"cell": "lstm", "against": "rnn", "task": "adding", "length": 20,
                       "endpoint": "solved"}]}, "primary[0].cell"),
        ({"primary": [{"cell": "rnn_pm", "against": "rnn", "task": "adding", "length": 20,
                       "endpoint": "solved"}]}, "primary[0].task"),
        ({"primary": [{"cell": "gru", "against": "rnn", "task": "adding", "length": 20,
                       "endpoint": "accuracy"}]}, "primary[0].endpoint"),
        ({"overrides": ["trainer.max_steps=5"]}, "overrides"),
    ],
)  # fmt: skip
def test_bad_specs_name_their_key_in_one_line(changes, key) -> None:
    with pytest.raises(ValueError) as error:
        parse_spec(_with(**changes), "bad.yaml")
    text = str(error.value)
    assert "\n" not in text and f"bad.yaml: {key}" in text


def test_defaults_a_study_owes_its_reader() -> None:
    spec = parse_spec(RAW)
    assert spec.plateau is None and spec.extend_edges is False and spec.solved == "default"
    assert [c.name for c in spec.cells] == ["rnn", "gru", "rnn_pm"]
    assert spec.cell("rnn_pm").overrides == ("++variant.label=rnn_pm", "model.param_budget=300")
    assert spec.cell("rnn_pm").tasks == {"adding": (10,)}


def test_a_changed_spec_is_refused_naming_the_key(tmp_path) -> None:
    spec = parse_spec(_with(dir=str(tmp_path / "s")))
    check_stored(spec)
    check_stored(parse_spec(_with(dir=str(tmp_path / "s"), launcher="local")))  # how, not what
    changed = parse_spec(_with(dir=str(tmp_path / "s"), grid={"optimizer.lr": [0.001, 0.01, 0.03]}))
    with pytest.raises(ValueError, match=r"^study spec: grid\.optimizer\.lr\[1\] differs .*"
                                         r"\(0\.003 there, 0\.01 now\)"):  # fmt: skip
        check_stored(changed)
    moved = parse_spec(_with(dir=str(tmp_path / "s"), evaluation_seeds=[2, 3, 4, 5]))
    with pytest.raises(ValueError, match=r"^study spec: evaluation_seeds differs"):
        check_stored(moved)


def test_jobs_multiruns_and_directories() -> None:
    spec = parse_spec(RAW)
    resolved = {(c.name, "adding"): Resolved(c.name, "adding", True) for c in spec.cells}
    jobs = tuning_jobs(spec, spec.grid)
    assert len(jobs) == (2 * 2 + 1) * 3 * 2  # (rnn, gru at 2 lengths + rnn_pm at 1) x lr x seed
    runs = multiruns(spec, jobs, resolved)
    # rnn and gru share one multirun (variant=rnn,gru); rnn_pm has overrides: its own
    assert len(runs) == 2 and sum(len(r.jobs) for r in runs) == len(jobs)
    shared = next(r for r in runs if len(r.cells) == 2)
    assert "variant=rnn,gru" in shared.command and "optimizer.lr=0.001,0.003,0.01" in shared.command
    assert "plateau.patience=null" in shared.command  # no plateau rule unless the spec sets one
    assert subdir_pattern(spec.grid) == "${run_name}-lr${optimizer.lr}"
    job = jobs[0]
    assert job_dir(spec, job, resolved[(job.cell, job.task)]).name == "rnn-adding-T10-s0-lr0.001"


def _tuning_frame(scores: dict[str, dict[float, list[float]]]) -> pd.DataFrame:
    rows = []
    for variant, by_lr in scores.items():
        for lr, values in by_lr.items():
            for seed, value in enumerate(values):
                rows.append({
                    "task": "adding", "length": 20, "variant": variant, "seed": seed,
                    "status": "finished", "final_metric": value, "metric": "mse",
                    "metric_mode": "min", "config.optimizer.lr": lr,
                    "source": f"/x/{variant}-{lr}-{seed}",
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_selection_on_validation_flags_and_extends_grid_edges() -> None:
    spec = parse_spec(RAW)
    resolved = {(c.name, "adding"): Resolved(c.name, "adding", True) for c in spec.cells}
    tuning = _tuning_frame({
        "rnn": {0.001: [0.5, 0.6], 0.003: [0.2, 0.9], 0.01: [0.4, 0.4]},  # medians .55 .55 .4
        "gru": {0.001: [0.3, 0.1], 0.003: [0.1, 0.1], 0.01: [0.3, 0.3]},  # medians .2 .1 .3
    })  # fmt: skip
    choice = choose(spec, spec.grid, tuning, resolved)
    assert choice.setting[("rnn", "adding", 20)] == (("optimizer.lr", 0.01),)
    assert choice.setting[("gru", "adding", 20)] == (("optimizer.lr", 0.003),)
    assert choice.edges == {("rnn", "adding", 20): ["optimizer.lr=0.01 (top)"]}
    wider = extended(spec.grid, choice)
    assert wider == {"optimizer.lr": [0.001, 0.003, 0.01, 0.03]}  # for every cell alike
    assert grid_edges(wider, (("optimizer.lr", 0.01),)) == []
    assert next_point([0.001, 0.003, 0.01], upward=False) == 0.0003
    assert next_point([1000, 3000], upward=True) == 9000


def test_cells_with_overrides_run_apart_and_length_tokens_fill_per_length() -> None:
    raw = _with(cells=[
        {"label": "lstm_h8", "variant": "lstm", "overrides": ["variant.hidden_size=8"]},
        {"label": "lstm_h16", "variant": "lstm", "overrides": ["variant.hidden_size=16"]},
        {"variant": "lstm_chrono", "overrides": ["variant.chrono_t_max={T*1.5}"]},
    ], primary=[{"cell": "lstm_h8", "against": "lstm_h16", "task": "adding", "length": 10,
                 "endpoint": "metric"}])  # fmt: skip
    spec = parse_spec(raw)
    resolved = {(c.name, "adding"): Resolved(c.name, "adding", True) for c in spec.cells}
    runs = multiruns(spec, tuning_jobs(spec, spec.grid), resolved)
    widths = sorted(a for r in runs for a in r.command if a.startswith("variant.hidden_size"))
    assert widths == ["variant.hidden_size=16", "variant.hidden_size=8"]  # never merged
    chrono = sorted((a for r in runs for a in r.command if "chrono_t_max" in a),
                    key=len)  # fmt: skip
    assert sorted(chrono) == ["variant.chrono_t_max=15", "variant.chrono_t_max=30"]  # T = 10, 20
    assert sum(len(r.jobs) for r in runs) == 3 * 2 * 3 * 2


def test_a_study_stored_by_the_first_version_still_matches(tmp_path) -> None:
    spec = parse_spec(_with(dir=str(tmp_path / "s")))
    old = dict(spec.raw)
    old["cells"] = [{"name": c.name, "variant": c.variant, "overrides": list(c.overrides),
                     "tasks": {t: list(n) for t, n in c.tasks.items()}} for c in spec.cells]
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "study.yaml").write_text(yaml.safe_dump(old))
    check_stored(spec)  # same design: accepted
    assert yaml.safe_load((tmp_path / "s" / "study.yaml").read_text()) == old  # left as it was
    with pytest.raises(ValueError, match=r"cells\[2\]\.label differs"):
        check_stored(parse_spec(_with(dir=str(tmp_path / "s"), cells=[
            "rnn", "gru", {"label": "rnn_small", "variant": "rnn",
                           "overrides": ["model.param_budget=300"], "tasks": {"adding": [10]}}],
            primary=RAW["primary"])))  # fmt: skip


def test_steps_median_selects_the_setting_that_solves_soonest() -> None:
    spec = parse_spec(_with(selection="steps_median"))
    resolved = {(c.name, "adding"): Resolved(c.name, "adding", True) for c in spec.cells}
    tuning = _tuning_frame({"gru": {0.001: [0.01, 0.01], 0.003: [0.02, 0.02],
                                    0.01: [0.03, 0.5]}})  # fmt: skip
    solved_at = {0.001: [900.0, 1100.0], 0.003: [300.0, 500.0], 0.01: [100.0, None]}
    tuning = tuning.assign(
        status=["solved" if s is not None else "finished" for v in solved_at.values() for s in v],
        steps_to_solve=[s for v in solved_at.values() for s in v],
        **{"config.trainer.max_steps": 2000},
    )
    choice = choose(spec, spec.grid, tuning, resolved)
    # medians: 1000, 400, (100 + 2000) / 2 = 1050; the validation rule would pick 0.001
    assert choice.setting[("gru", "adding", 20)] == (("optimizer.lr", 0.003),)
    assert choice.selection is None and len(choice.table) == 1
    assert choose(parse_spec(RAW), spec.grid, tuning, resolved).setting[
        ("gru", "adding", 20)] == (("optimizer.lr", 0.001),)


def test_the_specs_in_docs_studies_md_are_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "studies.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```yaml")[1:]]
    assert len(blocks) == 2
    for block in blocks:
        spec = parse_spec(yaml.safe_load(block), "docs/studies.md")
        assert set(spec.tuning_seeds).isdisjoint(spec.evaluation_seeds)
