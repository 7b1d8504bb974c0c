"""The `triton` kernels compile for an H100/H200 (sm_90a) on this CPU machine, without spills.

The interpreter tests (test_backend_triton.py) check the math; they never run the CUDA pipeline.
Here `python -m devtools.triton_aot` compiles the real launches (TTIR -> PTX -> ptxas)
for sm_90a in a fresh process (the interpreter flag, which other test modules set, must be off
when the kernels are decorated) and the table must show every kernel without register spills.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("triton", reason="triton is a dev dependency on Linux")

# the four kernel shapes: the widest LSTM preset, gate recurrence, reset-after and reset-before
VARIANTS = ["peephole", "fgr", "gru", "gru_cho"]


def test_kernels_compile_for_sm90_without_register_spills(tmp_path):
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1",
           "TRITON_CACHE_DIR": str(tmp_path / "triton-cache")}
    run = subprocess.run([sys.executable, "-m", "devtools.triton_aot", "--variants",
                          *VARIANTS], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = re.findall(r"^\| (\w+) \| ([\w-]+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|",
                      run.stdout, flags=re.MULTILINE)
    assert {(name, precision) for name, precision, *_ in rows} == {
        (name, precision) for name in VARIANTS for precision in ("fp32", "fp32-tf32", "bf16")}
    for name, precision, fwd_regs, fwd_spill, bwd_regs, bwd_spill in rows:
        assert int(fwd_regs) <= 255 and int(bwd_regs) <= 255
        assert (int(fwd_spill), int(bwd_spill)) == (0, 0), f"{name} {precision} spills"


def test_compiling_under_the_interpreter_flag_is_refused_in_one_line():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-m", "devtools.triton_aot", "--variants",
                          "rnn"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert "error: TRITON_INTERPRET is set" in run.stderr.splitlines()[-1]
