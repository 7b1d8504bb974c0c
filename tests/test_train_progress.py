"""What a run and a sweep say while they run, through the real CLI: plain lines with step/total
and ETA off a terminal, a bar on one (a pseudo-terminal), sweep progress per finished job, the
start line's backend against the record, run names on every log line, Ctrl-C and resume."""

from __future__ import annotations

import collections
import json
import os
import pty
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "task=adding",
    "task.length=6",
    "variant.hidden_size=8",
    "data.batch_size=8",
    "data.val_size=16",
    "data.test_size=16",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "threads=1",
]
BAR_CHARACTERS = "█▏▎▍▌▋▊▉\r"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", **extra}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gatebench.train", *args],
        cwd=REPO,
        env=env or _env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_without_a_terminal_plain_lines_carry_step_total_eta_and_the_recorded_backend(
    tmp_path,
) -> None:
    run_dir = tmp_path / "run"
    done = _cli(*TINY, "variant=lstm", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert not any(c in out for c in BAR_CHARACTERS)
    steps = re.findall(r"\[lstm-adding-T6-s0\] step (\d+)/20 \(\d+%\)[^:]*ETA (\S+): val/", out)
    assert [int(s) for s, _ in steps] == [0, 10, 20]  # validations, step 0 = initial weights
    assert all(re.fullmatch(r"\d+s|\?", eta.rstrip(",")) for _, eta in steps)
    start = re.search(r"\[lstm-adding-T6-s0\] start: lstm on adding T=6, seed 0; "
                      r"backend (\S+)", out)
    record = _record(run_dir)
    assert start and start.group(1) == record["backend"]
    assert record["backend"] == "native"  # `auto` on CPU at H <= 128 for a C loop (README)
    assert record["config"]["variant"]["backend"] == "auto"


def _read_pty(args: list[str], timeout: float = 600) -> tuple[int, str]:
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatebench.train", *args],
        cwd=REPO, env=_env(), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_under_a_pseudo_terminal_a_step_bar_shows_rate_eta_and_metrics(tmp_path) -> None:
    code, out = _read_pty([*TINY, "variant=gru", f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 0, out[-2000:]
    assert "█" in out and "\r" in out
    bar = re.findall(r"train: +\d+%\|[^|]*\| *(\d+)/20 \[[^<]+<[^,]+, *[\d.?]+step/s(.*?)\]", out)
    assert bar and int(bar[-1][0]) == 20
    assert "loss=" in bar[-1][1] and "mse=" in bar[-1][1] and "norm_loss=" in bar[-1][1]
    assert "[gru-adding-T6-s0] start: gru on adding" in out  # log lines print above the bar


def test_three_job_multirun_prints_rising_progress_and_a_summary_matching_the_records(
    tmp_path,
) -> None:
    sweep = tmp_path / "sweep"
    diverge = ["optimizer=sgd", "optimizer.momentum=0", "trainer.gradient_clip_val=null"]
    done = _cli("-m", *TINY, *diverge, "optimizer.lr=1e30,0.01,0.02", f"hydra.sweep.dir={sweep}")
    assert done.returncode == 0, done.stderr[-2000:]
    progress = r"gatebench: jobs (\d+)/3 done \(([^)]*)\), elapsed \S+, ETA \S+"
    lines = re.findall(progress, done.stdout)
    assert [int(n) for n, _ in lines] == [1, 2, 3]
    statuses = collections.Counter(
        _record(d)["status"] for d in sweep.iterdir() if (d / "results.json").is_file()
    )
    assert statuses == {"finished": 2, "diverged": 1}
    final = re.search(r"sweep finished: jobs 3/3 done \(([^)]*)\)", done.stdout)
    assert final, done.stdout[-2000:]
    tally = {s: int(n) for n, s in (part.split() for part in final.group(1).split(", "))}
    assert tally == statuses
    last = {s: int(n) for n, s in (part.split() for part in lines[-1][1].split(", "))}
    assert last == statuses
    assert (sweep / "progress.log").read_text().count("done (") == 4
    # a second sweep into the same directory tallies its own job, not the first sweep's three
    again = _cli("-m", *TINY, "optimizer.lr=0.03", f"hydra.sweep.dir={sweep}",
                 "hydra.sweep.subdir=again")  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert re.search(r"sweep finished: jobs 1/1 done \(1 finished\)", again.stdout), again.stdout


def test_ctrl_c_names_the_checkpoint_and_its_resume_command_resumes(tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = [*TINY, "variant=rnn", "trainer.max_steps=1000", f"hydra.run.dir={run_dir}"]
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: the run would ignore Ctrl-C and finish with exit 0 (seen when
    # the suite ran under `make test &`). A terminal's Ctrl-C reaches a default handler.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatebench.train", *args],
        cwd=REPO, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    for line in proc.stdout:  # wait until the step-10 checkpoint is surely written
        seen.append(line)
        if re.search(r"step [2-9]\d/1000", line):
            break
    proc.send_signal(signal.SIGINT)
    out = "".join(seen) + proc.stdout.read()
    assert proc.wait(timeout=120) != 0
    hint = re.search(r"interrupted at step \d+: last checkpoint (\S+) \(step (\d+)\); "
                     r"resume with: (.+)", out)
    assert hint, out[-3000:]
    assert Path(hint.group(1)) == run_dir / "checkpoints" / "last.ckpt"
    saved = int(hint.group(2))
    assert saved >= 10 and saved % 10 == 0
    assert not (run_dir / "results.json").exists()

    command = shlex.split(hint.group(3))
    assert command[:3] == ["python", "-m", "gatebench.train"]
    resumed = _cli(*command[3:])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from step {saved}" in resumed.stdout + resumed.stderr, (
        out[-1500:] + "\n--- resumed:\n" + resumed.stdout[:2500] + resumed.stderr[-2000:])
    record = _record(run_dir)
    assert record["steps"] == 1000 and record["run_name"] == "rnn-adding-T6-s0"
