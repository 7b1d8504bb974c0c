"""Compile the `triton` backend's kernels for a GPU without one, and read their resource use.

`triton.compile` with an explicit `GPUTarget` runs the whole CUDA pipeline (TTIR -> PTX) on any
machine, and Triton's own ptxas (`ptxas -v`, the flags Triton uses) then reports registers per
thread and spill bytes. So a kernel that would not compile for an H100/H200, or that
spills registers inside its time loop, shows up on a CPU-only machine. Each launch is built as
`variants.backends.triton.engine` builds it (`launch_config`). Used by the tests and by

    python -m devtools.triton_aot [--arch 90] [--write]

which prints a table of every built-in variant's two kernels at fp32 (exact and TF32) and bf16
and, with --write, writes it to results/speed/triton-sm<arch>-resources.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from variants.backends.triton.engine import gru_codes, launch_config, triton_spec
from variants.cell import Cell

_DTYPES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class KernelResources:
    """What ptxas allotted one compiled kernel: registers and spill-store bytes per thread."""

    kernel: str
    registers: int
    spill_bytes: int
    shared_bytes: int


def _signature(fn: Any, consts: dict[str, Any], ints: set[str], pointers: dict[str, str]):
    sig = {}
    for name in fn.arg_names:
        if name in consts:
            sig[name] = "constexpr"
        elif name in ints:
            sig[name] = "i32"
        else:
            sig[name] = pointers[name]
    return sig


@dataclass(frozen=True)
class KernelSource:
    """One launch as `triton.compile` takes it: function, signature, constexprs, options."""

    fn: Any
    signature: dict[str, str]
    constexprs: dict[str, Any]
    options: dict[str, int]


def kernel_sources(cell: Cell, hidden: int, dtype: torch.dtype = torch.float32,
                   precision: str = "ieee") -> list[KernelSource]:
    """The forward and backward launch of the `triton` backend for `cell`, as it makes them.

    ``precision``: "ieee" (fp32 default, exact dots), "tf32" (fp32 with
    torch.backends.cuda.matmul.allow_tf32) or "ieee" with bf16 (fp32 accumulation).
    """
    from variants.backends.triton import gru_cho as cho
    from variants.backends.triton import kernels as shared

    spec = triton_spec(cell)
    ty = "*" + _DTYPES[dtype]
    ints = {"T", "B", "H"}
    # fp32 whatever the dtype: the cell state and the backward's carried gradients
    fp32_buffers = {"cs": "*fp32" if spec.has_c else ty, "dh_buf": "*fp32", "dc_buf": "*fp32",
                    "dg_buf": "*fp32"}
    if spec.kernel == "gru_reset_before":
        kernels = [cho.gru_cho_forward_kernel, cho.gru_cho_backward_kernel]
        own = [gru_codes(spec.flags)] * 2
    else:
        kernels = [shared.recurrent_forward_kernel, shared.recurrent_backward_kernel]
        common = {"FLAGS": spec.flags, "N_BLOCKS": spec.n_blocks, "HAS_C": spec.has_c,
                  "N_PEEP": 3 if spec.peephole else 0, "N_SAVED": spec.n_saved,
                  "GATE_REC": spec.gate_recurrence is not None}
        own = [{"POINTWISE": spec.forward, "HAS_BHH": not cell.fold_recurrent_bias, **common},
               {"POINTWISE_BWD": spec.backward, "SEPARATE_REC": spec.separate_recurrent,
                **common}]
    sources = []
    for backward, (fn, consts) in enumerate(zip(kernels, own, strict=True)):
        config = launch_config(spec, hidden, backward=bool(backward))
        options = {k: config.pop(k) for k in ("num_warps", "num_stages")}
        consts = {**consts, **config, "PRECISION": precision, "DOT_FP32": False}
        pointers = {**dict.fromkeys(fn.arg_names, ty), **fp32_buffers}
        sources.append(KernelSource(fn, _signature(fn, consts, ints, pointers), consts, options))
    return sources


def compile_for(source: KernelSource, arch: int = 90) -> KernelResources:
    """Compile one kernel for sm_`arch` (no GPU needed); ptxas's own report of its resources.

    The PTX comes from `triton.compile`; ptxas (Triton's, with Triton's flags) then prints
    registers and spill-store bytes, which the cubin alone does not report.
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler import ASTSource

    fn = source.fn
    compiled = triton.compile(ASTSource(fn, source.signature, constexprs=source.constexprs),
                              target=GPUTarget("cuda", arch, 32), options=source.options)
    gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
    with tempfile.TemporaryDirectory() as folder:
        ptx = os.path.join(folder, "kernel.ptx")
        with open(ptx, "w") as f:
            f.write(compiled.asm["ptx"])
        log = subprocess.run([get_ptxas(arch).path, "-lineinfo", "-v", "--regAllocOptLevel=2",
                              f"--gpu-name={gpu}", ptx, "-o", os.path.join(folder, "k.o")],
                             capture_output=True, text=True, check=True).stderr
    spills = re.search(r"(\d+) bytes spill stores", log)
    registers = re.search(r"Used (\d+) registers", log)
    if spills is None or registers is None:
        raise RuntimeError(f"ptxas printed no resource report for {fn.__name__}: {log!r}")
    return KernelResources(fn.__name__, int(registers.group(1)), int(spills.group(1)),
                           int(compiled.metadata.shared))


PRECISIONS = {"fp32": (torch.float32, "ieee"), "fp32-tf32": (torch.float32, "tf32"),
              "bf16": (torch.bfloat16, "ieee")}


def resource_table(names: list[str], arch: int = 90, hidden: int = 128) -> list[str]:
    """Markdown rows: variant, precision, then registers / spill bytes of forward and backward."""
    import variants

    rows = ["| variant | precision | forward regs | forward spill B | backward regs "
            "| backward spill B | shared KiB (fwd/bwd) |", "|---|---|---|---|---|---|---|"]
    for name in names:
        cell = variants.build(name, 1, hidden).cell
        for label, (dtype, precision) in PRECISIONS.items():
            fwd, bwd = (compile_for(s, arch) for s in kernel_sources(cell, hidden, dtype,
                                                                        precision))
            rows.append(f"| {name} | {label} | {fwd.registers} | {fwd.spill_bytes} | "
                        f"{bwd.registers} | {bwd.spill_bytes} | {fwd.shared_bytes // 1024}/"
                        f"{bwd.shared_bytes // 1024} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    """CLI: the resource table of the `triton` backend's kernels for one GPU architecture."""
    import variants

    parser = argparse.ArgumentParser(prog="python -m devtools.triton_aot",
                                     description=main.__doc__)
    parser.add_argument("--arch", type=int, default=90, help="compute capability, 90 = H100/H200")
    parser.add_argument("--hidden", type=int, default=128, help="H (tiles are 64 wide from 64)")
    parser.add_argument("--variants", nargs="+", default=variants.names())
    parser.add_argument("--write", action="store_true",
                        help="write results/speed/triton-sm<arch>-resources.md")
    args = parser.parse_args(argv)
    from variants.backends.triton.engine import interpreting

    if interpreting():
        parser.error("TRITON_INTERPRET is set: the kernels are then interpreted, not compiled; "
                     "accepted: TRITON_INTERPRET unset or 0")
    import triton

    head = [f"# Triton kernels compiled for sm_{args.arch}a (no GPU), H={args.hidden}", "",
            f"triton {triton.__version__}, torch {torch.__version__}; "
            "`python -m devtools.triton_aot`. Registers per thread and spill-store "
            "bytes as Triton's ptxas reports them; launch options from "
            "`variants.backends.triton.engine.launch_config`. Static facts, not timings.", ""]
    lines = head + resource_table(args.variants, args.arch, args.hidden)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.write:
        path = Path("results/speed") / f"triton-sm{args.arch}-resources.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.replace(path)


if __name__ == "__main__":
    main()
