"""README routes from a fresh clone (issue 24): the diagnostics demo writes outside the committed
`results/`, a sweep into a committed study is refused before anything is written, and a config
key added later with a null default leaves the runs recorded before it the same runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from gatebench.config.validation import ConfigError
from gatebench.run import exit_codes
from gatebench.run.resume import first_difference
from gatebench.sweep.tracked import ALLOW_ENV, refuse_tracked, tracked_files

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def test_a_key_added_later_with_a_null_default_compares_equal_to_unset() -> None:
    old = {"data": {"batch_size": 32, "test_length": None}, "seed": 0}
    new = {"data": {"batch_size": 32, "test_length": None, "test_lengths": None}, "seed": 0}
    assert first_difference(old, new) is None
    assert first_difference(new, old) is None
    changed = {**new, "data": {**new["data"], "test_lengths": [50]}}
    assert first_difference(old, changed) == ("data.test_lengths", "<unset>", [50])


def test_the_diagnostics_demo_writes_outside_committed_files() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose("train", overrides=["experiment=diagnostics_demo"],
                      return_hydra_config=True)  # fmt: skip
    sweep_dir = REPO / cfg.hydra.sweep.dir
    assert not sweep_dir.resolve().is_relative_to(REPO / "results")
    assert tracked_files(sweep_dir) == 0
    ignored = subprocess.run(["git", "check-ignore", "-q", str(sweep_dir)], cwd=REPO)
    assert ignored.returncode == 0  # git status stays clean after the demo


def _git_repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "results" / "study").mkdir(parents=True)
    (root / "results" / "study" / "report.md").write_text("committed\n")
    subprocess.run(["git", "-C", str(root), "add", "results"], check=True)
    return root / "results" / "study"


def test_a_sweep_dir_holding_committed_files_is_refused_unless_allowed(tmp_path, monkeypatch):
    study = _git_repo(tmp_path / "clone")
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"^hydra\.sweep\.dir='.*study' \(the config's "
                       r"default\) holds 1 files committed to git"):
        refuse_tracked(study, ["seed=0,1"])
    refuse_tracked(tmp_path / "clone" / "results" / "new_study")  # nothing committed there
    refuse_tracked(tmp_path / "elsewhere")  # not a git work tree
    refuse_tracked(study, [f"hydra.sweep.dir={study}"])  # named on purpose (a study's driver)
    monkeypatch.setenv(ALLOW_ENV, "1")
    refuse_tracked(study)  # regenerating a committed study on purpose


@pytest.mark.slow
def test_an_experiment_defaulting_into_a_committed_study_exits_2_changing_nothing() -> None:
    status = ["git", "status", "--porcelain", "--", "results/reference_study"]
    before = subprocess.run(status, cwd=REPO, capture_output=True, text=True).stdout
    env = {k: v for k, v in ENV.items() if k != ALLOW_ENV}
    result = subprocess.run([sys.executable, "-m", "gatebench.train",
                             "experiment=reference_study"],
                            cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == exit_codes.CONFIG, result.stderr[-2000:]
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("gatebench: error: hydra.sweep.dir='results/reference_study' "
                                    "(the config's default) holds")
    assert subprocess.run(status, cwd=REPO, capture_output=True, text=True).stdout == before
