"""A run's progress text without Lightning: the bar setting, durations, the resume command.

Split from `gatebench.run.progress` (whose callback needs Lightning) so that Hydra's sweep
callbacks, instantiated before any job runs, import no Lightning: a `--help`, a config error
or a joblib sweep's parent process then starts in ~0.5 s of CPU instead of ~4 s.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path


def use_bar(setting: bool | None, parallel: bool = False) -> bool:
    """`trainer.enable_progress_bar`: true/false as set; null = a bar when stdout is a terminal
    and no parallel launcher shares it (bars of side-by-side jobs would overwrite each other)."""
    if setting is not None:
        return bool(setting)
    return sys.stdout.isatty() and not parallel


def duration(seconds: float | None) -> str:
    """`45s`, `3m05s`, `2h04m`; `?` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def hydra_value(text: str) -> str:
    """`text` as a value Hydra's override lexer reads back unchanged: as is when it is plain
    ASCII path characters, else single-quoted with quotes, closing backslashes and `${`
    escaped (a non-ASCII or spaced directory name)."""
    if re.fullmatch(r"[A-Za-z0-9_./\-+:@]*", text):
        return text
    # Hydra's quoted strings: backslashes are literal except before a quote or at the end
    quoted = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    quoted = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, quoted).replace("${", "\\${")
    return f"'{quoted}'"


def resume_command(run_dir: Path, overrides: list[str]) -> str:
    """The command that resumes this run from its last checkpoint, in its own directory (quoted
    for Hydra's lexer, then for the shell)."""
    skip = ("hydra.run.dir=", "hydra.mode=", "ckpt_path=", "hydra.sweep.", "hydra/launcher=")
    kept = [o for o in overrides if not o.lstrip("+~").startswith(skip)]
    args = [*kept, "hydra.mode=RUN", f"hydra.run.dir={hydra_value(str(run_dir))}",
            "ckpt_path=last"]
    return "python -m gatebench.train " + " ".join(shlex.quote(a) for a in args)
