"""Backend `bptt` (CPU): hand-written backpropagation through time, one autograd node a layer.

`engine` (the autograd Functions, `run_bptt`, `supports_bptt`), `protocol` (the kernel interface a
cell's ``bptt_kernel()`` returns), the built-in kernels `rnn`, `lstm`, `gru`, `slstm`
(+ `activations`),
and `native` (the compiled C step, csrc/bptt_steps.c). Importing this package loads nothing.
"""
