"""Every number results/lag_scaling/README.md and results/ledger.md state, recomputed from the
records and the spec with rules written here (not the study tool's).

While the study runs, the only numbers are its status: n of N runs final as of a stamp. N is
recounted from conf/study/lag_scaling.yaml by arithmetic on the YAML (rows x (grid points x
tuning seeds + evaluation seeds)); n is the number of records in results/lag_scaling whose status
is final (solved, diverged, or finished at the step budget) and whose `ended_at` is not after the
stamp, so records that land after a commit do not falsify it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "results" / "lag_scaling"
SPEC = ROOT / "conf" / "study" / "lag_scaling.yaml"
STATUS = re.compile(r"Status at ([0-9-]+ [0-9:]+) UTC: (\d+) of (\d+) runs final \(tuning (\d+) "
                    r"of (\d+), evaluation (\d+) of (\d+); their summed wall_time_s "
                    r"([0-9.]+) h\)")  # fmt: skip
PENDING = re.compile(r"pending: results/lag_scaling, (\d+) of (\d+) runs")


def planned() -> tuple[int, int]:
    spec = yaml.safe_load(SPEC.read_text())
    rows = 0
    for cell in spec["cells"]:
        tasks = cell.get("tasks") if isinstance(cell, dict) else None
        rows += sum(len(v) for v in (tasks or spec["tasks"]).values())
    points = 1
    for values in spec["grid"].values():
        points *= len(values)
    return rows * points * len(spec["tuning_seeds"]), rows * len(spec["evaluation_seeds"])


def final_by(stamp: dt.datetime) -> tuple[int, int, float]:
    """Final tuning and evaluation records that ended by `stamp`, and their summed wall time (h)."""
    spec = yaml.safe_load(SPEC.read_text())
    tuning = evaluation = 0
    seconds = 0.0
    for path in STUDY.glob("*/results.json"):
        record = json.loads(path.read_text())
        status = record.get("status")
        final = status in ("solved", "diverged") or (
            status == "finished" and record.get("steps", 0) >= spec["max_steps"])
        if not final or dt.datetime.fromisoformat(record["ended_at"]) > stamp:
            continue
        seconds += float(record.get("wall_time_s") or 0.0)
        if record["seed"] in spec["tuning_seeds"]:
            tuning += 1
        else:
            assert record["seed"] in spec["evaluation_seeds"], path
            evaluation += 1
    return tuning, evaluation, seconds / 3600


def test_the_seeds_are_disjoint_and_the_grid_has_five_log_spaced_points() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    assert not set(spec["tuning_seeds"]) & set(spec["evaluation_seeds"])
    assert len(spec["evaluation_seeds"]) >= 10
    lrs = [float(v) for v in spec["grid"]["optimizer.lr"]]
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    # the 1-3-10 series: half-decade steps (sqrt(10) = 3.16) to within 6%
    assert len(lrs) >= 5 and all(abs(r / 10**0.5 - 1) < 0.06 for r in ratios)
    assert spec["plateau"] is None


def test_the_readme_status_is_the_records() -> None:
    text = (STUDY / "README.md").read_text()
    found = STATUS.findall(text)
    assert len(found) == 1, "one status line"
    stamp, done, total, tuning, tuning_total, evaluation, evaluation_total, hours = found[0]
    when = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)
    assert (int(tuning_total), int(evaluation_total)) == planned()
    assert int(total) == sum(planned())
    final_tuning, final_evaluation, final_hours = final_by(when)
    assert (int(tuning), int(evaluation)) == (final_tuning, final_evaluation)
    assert hours == f"{final_hours:.2f}"
    assert int(done) == int(tuning) + int(evaluation)


def test_the_readme_design_counts() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    rows = sum(sum(len(v) for v in (c.get("tasks") or spec["tasks"]).values())
               for c in spec["cells"])  # fmt: skip
    per_row = len(spec["grid"]["optimizer.lr"]) * len(spec["tuning_seeds"])
    flat = " ".join((STUDY / "README.md").read_text().split())
    assert (f"Per (cell, T): {per_row} tuning + {len(spec['evaluation_seeds'])} evaluation runs; "
            f"{rows} (cell, T) rows; **{sum(planned())} runs**") in flat


def test_the_ledger_pending_counts_are_the_readme_status() -> None:
    readme = STATUS.findall((STUDY / "README.md").read_text())[0]
    pending = PENDING.findall((ROOT / "results" / "ledger.md").read_text())
    if readme[1] == readme[2]:  # every run final: no row of the ledger waits for the study
        assert not pending
    else:  # the rows that wait for the study say how far it is
        assert pending and set(pending) == {(readme[1], readme[2])}


def test_the_pilot_table_is_the_pilot_log() -> None:
    """Each row of the README's pilot table against `pilot/rates.txt` (rate and load)."""
    measured: dict[tuple[str, str, int, int], list[tuple[float, float]]] = {}
    for line in (STUDY / "pilot" / "rates.txt").read_text().splitlines():
        found = re.match(r"(\S+) (\S+) (\S+) T=(\d+) H=(\d+) : ([0-9.]+) steps/s .* load=([0-9.]+)",
                         line)  # fmt: skip
        assert found, line
        _, variant, task, length, hidden, rate, load = found.groups()
        measured.setdefault((variant, task, int(length), int(hidden)), []).append(
            (float(rate), float(load)))
    text = (STUDY / "README.md").read_text()
    row = r"^\| (\w+)[^|]*?(\(copy\))? \| (\d+) \| (\d+) \| ([0-9., ]+) \| ([0-9., ]+) \|$"
    rows = re.findall(row, text, flags=re.M)
    assert len(rows) == len(measured)
    for variant, copy, length, hidden, rates, loads in rows:
        key = (variant, "copy" if copy else "adding", int(length), int(hidden))
        got = [(float(r), float(v)) for r, v in zip(rates.split(","), loads.split(","),
                                                     strict=True)]  # fmt: skip
        want = [(round(r, 1), round(v, 1)) for r, v in measured[key]]
        assert got == want, key


def test_the_load_correction_and_the_projection() -> None:
    text = (STUDY / "README.md").read_text()
    rates = []
    for log in sorted((ROOT / "results" / "reference_study").glob("lstm-adding-T100-s*/train.log")):
        last = re.findall(r"([0-9.]+) steps/s", log.read_text())[-1]
        rates.append(float(last))
    assert len(rates) == 9
    median = sorted(rates)[len(rates) // 2]
    assert f"median of {median:.1f} steps/s" in text
    import importlib.util

    spec = importlib.util.spec_from_file_location("projection", STUDY / "pilot" / "projection.py")
    projection = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(projection)
    assert projection.CORRECTION == median / 16.1
    assert projection.runs() == sum(planned())
    flat = " ".join(text.split())
    loaded = projection.hours()
    assert (f"{projection.runs()} runs, {loaded:.1f} h of summed run time at the pilot's load, "
            f"{loaded / projection.CORRECTION:.1f} h corrected") in flat
    full = projection.hours(projection.CUTS["full"])
    assert (f"{projection.runs(projection.CUTS['full'])} runs, {full:.1f} h at the pilot's load or "
            f"{full / projection.CORRECTION:.1f} h corrected") in flat
    for name, words in [("slstm", "{:.1f} h corrected for T = 100-400"),
                        ("mingru_400", "400 for minGRU ({:.1f} h corrected)"),
                        ("chrono_50", "50 for chrono ({:.1f} h corrected)"),
                        ("hidden64_200_400", "would add {:.1f} h corrected")]:  # fmt: skip
        hours = projection.hours(projection.CUTS[name]) / projection.CORRECTION
        assert words.format(hours) in flat, name
