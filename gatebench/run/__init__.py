"""Room: one run's life on disk. From its directory's lock to its last record.

`schema` and `records` (results.json, written atomically; no torch: the report reads them),
`record` and `history` (what a run's record holds across processes), `lock`, `resume` and
`checkpoints` (start fresh, resume or refuse), `metrics_csv` and `loggers` (CSV, W&B),
`progress` and `progress_bar` (what a run prints), `runtime` (threads, quiet Lightning),
`logging_setup`, `exit_codes`. Imports `config` and `training`; never `sweep`.
"""
