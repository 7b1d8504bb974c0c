"""Room: sweeps (Hydra multiruns). What a set of jobs shares and how it ends.

`job_outcome` (one job's outcome -> its exit code and its file in the sweep), `status` (the
multirun's exit code), `progress` (`jobs n/N done`, ETA), `hydra_callbacks` (where the results
are). Imports `run` and below; only the entry points import it.
"""
