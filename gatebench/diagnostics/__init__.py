"""Why a cell remembers or forgets: gate activity, memory retention and gradient flow in time.

`snapshot` measures a model on a fixed validation batch; `store` writes/reads diagnostics.npz
(numpy only); `callback` does it during training; `gatebench.diagnose` for finished runs.
Importing this package imports nothing heavy: import the submodules you need.
"""
