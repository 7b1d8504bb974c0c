"""Write the lag-scaling study's status line into its README and the ledger, from the records.

    python results/lag_scaling/status.py          # rewrite the lines
    python results/lag_scaling/status.py --print  # print them only

The line says how many of the planned runs hold a final record (the study tool's rule,
`gatebench.study.plan.is_final`) as of the last such record's end (`ended_at`), so a record that
lands later does not make a committed line false: `tests/test_lag_scaling_status.py` recounts it
from the records with an independent rule.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "conf" / "study" / "lag_scaling.yaml"
STUDY = ROOT / "results" / "lag_scaling"
README = STUDY / "README.md"
LEDGER = ROOT / "results" / "ledger.md"
STATUS = re.compile(r"Status at [0-9-]+ [0-9:]+ UTC: \d+ of \d+ runs final[^\n]*")
PENDING = re.compile(r"pending: results/lag_scaling, \d+ of \d+ runs")


def count() -> tuple[int, int, int, int, str, float]:
    """(final tuning runs, final evaluation runs, planned tuning, planned evaluation, stamp,
    their summed `wall_time_s` in hours)."""
    from gatebench.study.plan import is_final
    from gatebench.study.spec import load_spec

    spec = load_spec(SPEC)
    grid_points = 1
    for values in spec.grid.values():
        grid_points *= len(values)
    rows = sum(len(n) for c in spec.cells for n in c.tasks.values())
    planned_tuning = rows * grid_points * len(spec.tuning_seeds)
    planned_evaluation = rows * len(spec.evaluation_seeds)
    tuning = evaluation = 0
    ends = []
    seconds = 0.0
    for record in sorted(STUDY.glob("*/results.json")):
        if not is_final(record.parent, spec.max_steps):
            continue
        data = json.loads(record.read_text())
        if data["seed"] in spec.tuning_seeds:
            tuning += 1
        else:
            evaluation += 1
        ends.append(dt.datetime.fromisoformat(data["ended_at"]))
        seconds += float(data.get("wall_time_s") or 0.0)
    stamp = max(ends) if ends else dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return tuning, evaluation, planned_tuning, planned_evaluation, text, seconds / 3600


def lines() -> tuple[str, str]:
    tuning, evaluation, planned_tuning, planned_evaluation, stamp, hours = count()
    done, planned = tuning + evaluation, planned_tuning + planned_evaluation
    status = (f"Status at {stamp} UTC: {done} of {planned} runs final (tuning {tuning} of "
              f"{planned_tuning}, evaluation {evaluation} of {planned_evaluation}; their summed "
              f"wall_time_s {hours:.2f} h)" + ("." if done == planned else
                                                "; no answer yet."))  # fmt: skip
    return status, f"pending: results/lag_scaling, {done} of {planned} runs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    status, pending = lines()
    print(status)
    if not args.print:
        README.write_text(STATUS.sub(status, README.read_text()))
        LEDGER.write_text(PENDING.sub(pending, LEDGER.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
