"""The compiled-kernel cache verifies a library before loading it (issue 12, item 8): a
truncated cached kernel is rebuilt with a warning instead of crashing the process (SIGBUS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from variants import native_cache

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None,
                                reason="needs a C compiler to build the kernel")  # fmt: skip

# In a fresh process (a SIGBUS would end it, not the test run): find the cached library,
# truncate it, then run the bptt backend, which loads the library, against the reference.
SCRIPT = """
import warnings, torch, variants
from variants.backends.bptt import native as bptt_native
library = bptt_native.build()
size = library.stat().st_size
library.write_bytes(library.read_bytes()[: size // 3])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert bptt_native.steps_for(torch.float64) is not None
print("warned:", [str(w.message) for w in caught if "not trusted" in str(w.message)])
print("size:", size, library.stat().st_size)
gen = torch.Generator().manual_seed(0)
layer = variants.build("lstm", 3, 4, backend="bptt", dtype=torch.float64, generator=gen)
x = torch.randn(7, 2, 3, dtype=torch.float64, generator=gen)
out = layer(x)[0]
layer.backend = "reference"
torch.testing.assert_close(out, layer(x)[0], atol=1e-12, rtol=0)
print("equal")
"""


def test_truncated_cached_kernel_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    env = {**os.environ, "GATEBENCH_CACHE": str(tmp_path), "GATEBENCH_NATIVE": "1"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert "(truncated or overwritten)); rebuilding it" in lines["warned"]
    original, rebuilt = lines["size"].split()
    assert original == rebuilt and "equal" in result.stdout
    (library,) = tmp_path.glob("bptt_steps-*.so")
    assert native_cache.problem(library) is None  # the rebuilt library carries a valid stamp


def test_a_library_without_a_matching_stamp_is_not_trusted(tmp_path: Path) -> None:
    library = tmp_path / "lib.so"
    library.write_bytes(b"\x7fELF" + bytes(100))
    assert native_cache.problem(library) == "no valid checksum stamp next to it"
    native_cache.write_stamp(library)
    assert native_cache.problem(library) is None
    library.write_bytes(b"\x7fELF" + bytes(99) + b"\x01")  # same size, other bytes
    assert "checksum differs" in native_cache.problem(library)
    library.write_bytes(b"\x7fELF")
    assert "size 4 bytes, expected 104" in native_cache.problem(library)
