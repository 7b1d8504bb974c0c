"""The lag-scaling study's projected summed run time, from the pilot (`rates.txt`).

    python results/lag_scaling/pilot/projection.py

Seconds per step of the LSTM (hidden 32, batch 32) linear in T through the pilot's two LSTM
points at load ~13 (reference T = 100: 16.1 steps/s; T = 200: 10.9 steps/s); each cell's step
time relative to the LSTM's at T = 200 (rates.txt); hidden 64 at 2.4x hidden 32; 44 s of
start-up per run; a tuning run uses on average 60% of the budget, an evaluation run 45% (the
rnn controls 100%: they do not solve). Corrected to the reference study's conditions by the
reference run's median rate there (36.8 steps/s) over its rate in the pilot (16.1 steps/s).
"""

from __future__ import annotations

S_PER_STEP_AT_100, S_PER_STEP_AT_200 = 1 / 16.1, 1 / 10.9
SLOPE = (S_PER_STEP_AT_200 - S_PER_STEP_AT_100) / 100
RELATIVE = {"lstm_fb1": 0.95, "lstm": 1.0, "cifg": 1.1, "gru": 0.88, "mingru": 0.74,
            "slstm": 2.1, "lstm_chrono": 1.0, "rnn": 0.5, "irnn": 0.5}  # fmt: skip
WIDTH = {32: 1.0, 64: 2.4}
STARTUP_S = 44.0
CORRECTION = 36.8 / 16.1  # the reference study's reference rate (median) over the pilot's
BUDGET = 4000
TUNING_RUNS, EVALUATION_RUNS = 10, 10  # per (cell, T): 5 lr x 2 seeds; 10 seeds
# (cell, hidden, lags, share of the budget a run uses: tuning, evaluation)
SPEC = [
    *[(c, 32, (50, 100, 200, 400), 0.6, 0.45) for c in ("lstm_fb1", "lstm", "cifg", "gru")],
    ("lstm_chrono", 32, (100, 200, 400), 0.6, 0.45),
    ("mingru", 32, (50, 100, 200), 0.6, 0.45),
    *[(c, 32, (50, 100), 1.0, 1.0) for c in ("rnn", "irnn")],
    *[(c, 64, (50, 100), 0.6, 0.45) for c in ("lstm_fb1", "gru")],
]


# what was cut (README, "What was cut"): each as rows of the same form
CUTS = {
    "full": [*[(c, 32, (50, 100, 200, 400), 0.6, 0.45) for c in
               ("lstm_fb1", "lstm", "cifg", "gru", "lstm_chrono", "mingru", "slstm")],
             *[(c, 64, (50, 100, 200, 400), 0.6, 0.45) for c in ("lstm_fb1", "gru")],
             *[(c, 32, (50, 100), 1.0, 1.0) for c in ("rnn", "irnn")]],
    "slstm": [("slstm", 32, (100, 200, 400), 0.6, 0.45)],
    "mingru_400": [("mingru", 32, (400,), 0.6, 0.45)],
    "chrono_50": [("lstm_chrono", 32, (50,), 0.6, 0.45)],
    "hidden64_200_400": [(c, 64, (200, 400), 0.6, 0.45) for c in ("lstm_fb1", "gru")],
}  # fmt: skip


def run_seconds(cell: str, length: int, hidden: int, steps: float) -> float:
    per_step = (S_PER_STEP_AT_100 + SLOPE * (length - 100)) * RELATIVE[cell] * WIDTH[hidden]
    return STARTUP_S + steps * per_step


def hours(rows=SPEC, budget: int = BUDGET) -> float:
    """Projected summed run time in hours at the pilot's load."""
    total = 0.0
    for cell, hidden, lags, tuning, evaluation in rows:
        for length in lags:
            total += TUNING_RUNS * run_seconds(cell, length, hidden, tuning * budget)
            total += EVALUATION_RUNS * run_seconds(cell, length, hidden, evaluation * budget)
    return total / 3600


def runs(rows=SPEC) -> int:
    return sum((TUNING_RUNS + EVALUATION_RUNS) * len(lags) for _, _, lags, _, _ in rows)


def lines() -> list[str]:
    out = []
    for name, rows in [("spec", SPEC), *CUTS.items()]:
        loaded = hours(rows)
        out.append(f"{name}: {runs(rows)} runs, {loaded:.1f} h at the pilot's load, "
                   f"{loaded / CORRECTION:.1f} h corrected")  # fmt: skip
    return out


if __name__ == "__main__":
    print("\n".join(lines()))
