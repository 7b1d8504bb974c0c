"""Room: configuration. What a run's config may say and what it builds.

`validation` (one-line ConfigErrors naming the key), `build` (task and model from a config),
`param_budget` (the hidden size that meets a parameter budget), `plugins` (user cells and tasks
from `imports` and entry points), `preflight` (the accelerator and memory a run needs are there).
Imports `training` below it; never `run`, `sweep` or the entry points above it.
"""
