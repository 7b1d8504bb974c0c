"""Backend `triton` (GPU): the whole time loop in one fused launch forward and one backward.

`engine` (the autograd Functions, `run_triton`, `supports_triton`; imports triton lazily), `spec`
(the interface a cell's ``triton_pointwise()`` returns), `kernels` (the shared recurrent kernels),
`cells` (each built-in cell's `@triton.jit` pointwise math), `gru_cho` (its own two-phase
kernels) and `probe` (`auto`'s check against the reference). Importing this package loads nothing.
"""
