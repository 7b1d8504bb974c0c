"""Faults injected into real processes (issue 12): SIGKILL then resume, a locked run folder, a
full filesystem, requests that cannot run, and the exit code of every outcome."""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import compose_config

from gatebench.run import exit_codes
from gatebench.run.lock import holder
from gatebench.train import train

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task=adding",
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.val_check_interval=10",
    "trainer.log_every_n_steps=5",
    "threads=1",
    "logger=csv",
]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gatebench.train", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k != "train/steps_per_sec"} for r in rows]


def _state(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def test_sigkill_after_a_checkpoint_then_resume_equals_an_uninterrupted_run(tmp_path) -> None:
    run_dir, common = tmp_path / "killed", [*TINY, "trainer.max_steps=300"]
    command = [sys.executable, "-m", "gatebench.train", *common, f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = _state(run_dir)["global_step"]
    assert 10 <= killed_at < 300 and not (run_dir / "results.json").exists()

    resumed = cli(*common, "ckpt_path=last", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = train(compose_config(common, tmp_path / "straight"))
    a, b = _state(run_dir)["state_dict"], _state(tmp_path / "straight")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(run_dir) == _rows(tmp_path / "straight")  # every step exactly once, same values
    record = json.loads((run_dir / "results.json").read_text())
    assert record["final"] == straight["final"] and record["steps"] == 300
    assert [s["steps"] for s in record["segments"]] == [[0, killed_at], [killed_at, 300]]
    assert record["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in record["segments"]))


def test_second_process_on_a_locked_run_folder_fails_naming_the_holder(tmp_path) -> None:
    hold = ("import sys, time; from gatebench.run.lock import RunLock; lock = RunLock(sys.argv[1])"
            ".acquire(); print('held', flush=True); time.sleep(120)")  # fmt: skip
    holder_proc = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], cwd=REPO,
                                   env=ENV, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder_proc.stdout.readline().strip() == "held"
        result = cli(*TINY, "trainer.max_steps=10", "ckpt_path=last", f"hydra.run.dir={tmp_path}")
    finally:
        holder_proc.send_signal(signal.SIGKILL)
        holder_proc.wait()
    assert result.returncode == exit_codes.LOCKED
    assert result.stderr.count("\n") == 1
    assert f"is in use by pid {holder_proc.pid} on host" in result.stderr
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "checkpoints").exists()
    assert holder(tmp_path) is None  # released by the kernel when the holder was killed


def test_requests_that_cannot_run_fail_before_training(tmp_path) -> None:
    big = cli("task.length=100000000", f"hydra.run.dir={tmp_path / 'big'}")
    assert big.returncode == exit_codes.CONFIG and big.stderr.count("\n") == 1
    assert big.stderr.startswith("gatebench: error: task.length=100000000 with data.batch_size=64")
    assert "GB for its activations (estimate)" in big.stderr
    if not torch.cuda.is_available():  # on a GPU machine trainer=gpu is a valid request
        gpu = cli(*TINY, "trainer=gpu", f"hydra.run.dir={tmp_path / 'gpu'}")
        assert gpu.returncode == exit_codes.CONFIG and gpu.stderr.count("\n") == 1
        assert "trainer.accelerator='gpu' is invalid here: torch sees no CUDA GPU" in gpu.stderr
    for run_dir in tmp_path.iterdir():  # nothing trained, nothing recorded
        assert {p.name for p in run_dir.iterdir()} <= {".hydra", ".gatebench.lock", "train.log"}


def test_a_diverged_run_exits_with_its_code_and_a_failed_one_with_its_own(tmp_path) -> None:
    diverge = ["optimizer=sgd", "optimizer.lr=3", "optimizer.momentum=0.9",
               "trainer.gradient_clip_val=null", "trainer.max_steps=60"]  # fmt: skip
    result = cli(*TINY, *diverge, f"hydra.run.dir={tmp_path / 'diverged'}")
    assert result.returncode == exit_codes.DIVERGED
    assert json.loads((tmp_path / "diverged" / "results.json").read_text())["status"] == "diverged"
    # the same path in-process (no second interpreter start): a failed run's code
    from gatebench.sweep.job_outcome import run_job

    exit_codes.set_pending(exit_codes.OK)
    run_job(train, compose_config([*TINY, "+trainer.no_such_option=1"], tmp_path / "failed"))
    assert exit_codes.pending() == exit_codes.FAILED
    assert json.loads((tmp_path / "failed" / "results.json").read_text())["status"] == "failed"
    exit_codes.set_pending(exit_codes.OK)


@contextmanager
def _tiny_filesystem(path: Path):
    """A 4 MiB tmpfs at `path` (root), else None: the caller then caps file sizes instead."""
    path.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], capture_output=True
    ).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=True)


@contextmanager
def _disk_full(mount: Path, mounted: bool, free: int):
    """Leave `free` bytes on the tmpfs (a filler file), or cap new file sizes at `free` bytes
    (RLIMIT_FSIZE, EFBIG instead of ENOSPC) where no tmpfs could be mounted."""
    if mounted:
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - free)
        try:
            yield
        finally:
            filler.unlink()
    else:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (free, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)


def test_full_filesystem_leaves_no_truncated_checkpoint_and_resumes_cleanly(tmp_path) -> None:
    common = [*TINY, "scheduler.total_steps=20"]
    with _tiny_filesystem(tmp_path / "fs") as mounted:
        run_dir = tmp_path / "fs" / "run"
        train(compose_config([*common, "trainer.max_steps=10"], run_dir))
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        at_ten = ckpt.read_bytes()
        with _disk_full(tmp_path / "fs", mounted, free=len(at_ten) // 2):
            try:  # the step-20 checkpoint does not fit; results.json may not either
                record = train(compose_config([*common, "trainer.max_steps=20", "ckpt_path=last"],
                                              run_dir))  # fmt: skip
                assert record["status"] == "failed" and "Errno" in record["message"]
            except OSError:
                pass
        assert ckpt.read_bytes() == at_ten  # the step-10 checkpoint, whole
        assert [p.name for p in ckpt.parent.iterdir()] == ["last.ckpt"]  # no temp file left
        resumed = train(compose_config([*common, "trainer.max_steps=20", "ckpt_path=last"],
                                       run_dir))  # fmt: skip
        assert resumed["status"] == "finished" and resumed["steps"] == 20
        train(compose_config([*common, "trainer.max_steps=20"], tmp_path / "straight"))
        a, b = _state(run_dir)["state_dict"], _state(tmp_path / "straight")["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert _rows(run_dir) == _rows(tmp_path / "straight")
