"""The compiled pointwise steps of the `bptt` LSTM, GRU and sLSTM kernels: csrc/bptt_steps.c.

At small B*H a `bptt` step is dominated by per-op dispatch (a torch op costs a few microseconds
whatever its size) and by torch's CPU tanh (~4 ns an element); one C call per step does the
whole pointwise forward (or backward) of a step instead. The source is compiled with the system
C compiler (``$CC``, default ``cc``) into ``$GATEBENCH_CACHE`` (default
``~/.cache/gatebench``), once per source, flags and machine; concurrent first builds are safe
(atomic rename). The activation codes and the ``lstm_spec`` struct come from
`variants.backends.kernel_table`: its header is generated next to the source at build time and is
part of the cache key, as is the ctypes `Spec` below. Without a compiler, or with
``GATEBENCH_NATIVE=0``, the kernel runs its torch-op path instead (same results to rounding;
tested both ways).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from variants import native_cache
from variants.backends import kernel_table

SOURCE = Path(__file__).with_name("csrc") / "bptt_steps.c"
# included by SOURCE: part of the cache key (and of pyproject's package-data)
HEADERS = tuple(SOURCE.with_name(name) for name in (
    "gemm_block.h", "slstm_step.h", "lstm_backward_std.h"))
ENABLE_ENV = "GATEBENCH_NATIVE"  # "0": never use the compiled step
SUFFIX = {torch.float32: "_f32", torch.float64: "_f64"}


class Spec(ctypes.Structure):
    """`lstm_spec` of bptt_steps.c (`kernel_table.LSTM_SPEC_FIELDS`, all int64, in order)."""

    _fields_ = [(name, ctypes.c_int64) for name, _ in kernel_table.LSTM_SPEC_FIELDS]


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def compile_flags() -> list[str]:
    """C flags: -O3, plus AVX2/FMA where this CPU has them (the cache key includes them).

    ``-ffp-contract=fast`` lets the compiler fuse a * b + c into one FMA, as GNU C does by
    default and ISO C (``-std=c11``) does not: the float32 exp/tanh polynomials ran 25-35%
    slower without it (issue 27); results move by rounding only (tested against the reference)."""
    flags = ["-O3", "-std=c11", "-ffp-contract=fast", "-fPIC", "-fno-math-errno",
             "-fno-trapping-math"]
    if platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma"} <= _cpu_flags():
        flags += ["-mavx2", "-mfma"]
        if "avx512f" in _cpu_flags():  # the 8 x 32 tile of gemm_block.h (2x AVX2's FMA rate)
            flags += ["-mavx512f"]
    return flags


def cache_dir() -> Path:
    """Where built libraries live: $GATEBENCH_CACHE, else $XDG_CACHE_HOME/gatebench (default
    ~/.cache/gatebench), else, when that cannot be created, a per-user folder in the temp dir."""
    if os.environ.get("GATEBENCH_CACHE"):
        return Path(os.environ["GATEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    path = Path(base) / "gatebench"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        user = os.getuid() if hasattr(os, "getuid") else "user"
        path = Path(tempfile.gettempdir()) / f"gatebench-{user}"
    return path


def library_path(compiler: str) -> Path:
    """Where the library built by `compiler` lives: keyed by the source, the generated header
    (`kernel_table.c_header`), the compiler, its flags and the machine."""
    sources = SOURCE.read_bytes() + b"".join(h.read_bytes() for h in HEADERS)
    key = hashlib.sha256(sources + kernel_table.c_header().encode() + " ".join(
        [compiler, *compile_flags(), platform.machine()]).encode()).hexdigest()[:16]
    return cache_dir() / f"bptt_steps-{key}.so"


def build(compiler: str | None = None) -> Path:
    """Compile bptt_steps.c (float and double entry points) into the cache; returns the .so."""
    compiler = compiler or os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise FileNotFoundError(f"C compiler {compiler!r} not found")
    flags = compile_flags()
    header = kernel_table.c_header()
    target = library_path(compiler)
    bad = native_cache.problem(target)
    if bad is None:
        return target
    if target.exists():
        warnings.warn(f"bptt backend: cached library {target} is not trusted ({bad}); "
                      "rebuilding it", RuntimeWarning, stacklevel=3)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        (Path(tmp) / "kernel_table.h").write_text(header)
        objects = []
        for real, suffix in (("float", "_f32"), ("double", "_f64")):
            obj = Path(tmp) / f"bptt_steps{suffix}.o"
            defines = [] if real == "float" else ["-DREAL=double", "-DSUFFIX=_f64"]
            command = [compiler, *flags, *defines, f"-I{tmp}", "-c", str(SOURCE), "-o", str(obj)]
            subprocess.run(command, check=True, capture_output=True, text=True)
            objects.append(str(obj))
        built = Path(tmp) / "bptt_steps.so"
        subprocess.run([compiler, "-shared", *objects, "-o", str(built), "-lm"], check=True,
                       capture_output=True, text=True)
        os.replace(built, target)  # atomic: a concurrent build of the same key is harmless
    native_cache.write_stamp(target)
    problem = native_cache.problem(target)
    if problem is not None:  # e.g. a concurrent build replaced it between the two lines above
        raise OSError(f"built library {target} failed its check: {problem}")
    return target


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        library = ctypes.CDLL(str(build()))
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        warnings.warn(f"bptt backend: the compiled LSTM step is unavailable ({detail}); "
                      "running its torch-op path", RuntimeWarning, stacklevel=3)
        return None
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    signatures = {
        "lstm_forward_step": [ctypes.POINTER(Spec)] + [pointer] * 5,
        "lstm_backward_step": [ctypes.POINTER(Spec)] + [pointer] * 8,
        "gru_forward_step": [i64] * 4 + [pointer] * 4,
        "gru_backward_step": [i64] * 4 + [pointer] * 5 + [i64] + [pointer] * 2,
        "slstm_forward_step": [i64] * 4 + [pointer] * 10,
        "slstm_backward_step": [i64] * 3 + [pointer] * 12,
        "lstm_layer_forward": [ctypes.POINTER(Spec), i64, i64, pointer, i64, i64]
        + [pointer] * 7,
        "lstm_layer_backward": [ctypes.POINTER(Spec), i64, i64] + [pointer] * 6 + [i64] * 2
        + [pointer] + [i64] * 3 + [pointer] * 5 + [i64] * 2 + [pointer] * 4,
        "gru_layer_forward": [i64] * 6 + [pointer, i64, i64] + [pointer] * 7,
        "gru_layer_backward": [i64] * 6 + [pointer] * 6 + [i64] * 2 + [pointer] + [i64] * 3
        + [pointer] * 4 + [i64] * 2 + [pointer] * 4,
        "rnn_layer_forward": [i64] * 5 + [pointer, i64, i64] + [pointer] * 4,
        "rnn_layer_backward": [i64] * 5 + [pointer] * 4 + [i64] * 2 + [pointer] + [i64] * 3
        + [pointer] * 3 + [i64] * 2 + [pointer] * 3,
        "gemm_acc_test": [i64] * 3 + [pointer, i64, pointer, i64, pointer, i64],
        "activation_forward": [i64, pointer, i64],
        "activation_derivative": [i64, pointer, pointer, i64],
    }
    for suffix in SUFFIX.values():
        for name, argtypes in signatures.items():
            function = getattr(library, name + suffix)
            function.argtypes, function.restype = argtypes, None
        getattr(library, "lstm_spec_bytes" + suffix).restype = i64
        getattr(library, "gemm_simd" + suffix).restype = i64
    return library


def enabled() -> bool:
    """Whether the compiled step may be used (``GATEBENCH_NATIVE`` is not ``0``)."""
    return os.environ.get(ENABLE_ENV, "1") != "0"


def library() -> ctypes.CDLL | None:
    """The compiled library (None without a compiler), whatever ``GATEBENCH_NATIVE`` says."""
    return _library()


def steps_for(dtype: torch.dtype, cell: str = "lstm"):
    """(forward, backward) C functions of `cell` ("lstm", "gru" or "slstm") for `dtype`, or None
    (bfloat16, disabled, no compiler)."""
    if dtype not in SUFFIX or not enabled():
        return None
    library = _library()
    if library is None:
        return None
    suffix = SUFFIX[dtype]
    return (getattr(library, f"{cell}_forward_step{suffix}"),
            getattr(library, f"{cell}_backward_step{suffix}"))


def sequence_for(dtype: torch.dtype, cell: str):
    """(forward, backward) whole-layer C functions of `cell` ("lstm", "gru" or "rnn") for
    `dtype`, or None (bfloat16, disabled, no compiler); see `sequence_unavailable`."""
    if sequence_unavailable(dtype) is not None:
        return None
    library, suffix = _library(), SUFFIX[dtype]
    return (getattr(library, f"{cell}_layer_forward{suffix}"),
            getattr(library, f"{cell}_layer_backward{suffix}"))


def sequence_unavailable(dtype: torch.dtype) -> str | None:
    """Why the whole-sequence C loops cannot run `dtype` here (a one-line reason), or None."""
    if dtype not in SUFFIX:
        return f"dtype {dtype} (accepted: float32, float64)"
    if not enabled():
        return f"the compiled kernels are disabled ({ENABLE_ENV}=0)"
    if _library() is None:
        return "no C compiler to build csrc/bptt_steps.c"
    return None


def describe() -> str:
    """One line for benchmark headers: which path the `bptt` LSTM/GRU/sLSTM kernels take on CPU."""
    if not enabled():
        return f"bptt LSTM/GRU/sLSTM step: torch ops ({ENABLE_ENV}=0)"
    if _library() is None:
        return "bptt LSTM/GRU/sLSTM step: torch ops (no C compiler)"
    return f"bptt LSTM/GRU/sLSTM step: compiled C ({' '.join(compile_flags())})"
