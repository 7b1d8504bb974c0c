"""The report's palette everywhere (user colours far from built-in ones), a baseline line on the
length and sensitivity plots, legends outside the panels, and the narrow end-of-sweep table."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
from fixtures.report.builder import write_fixture_sweep

from gatebench.report import load_runs, write_report
from gatebench.report.generalisation import generalisation_plots
from gatebench.report.palette import FIXED, MIN_DISTANCE, _lab, color_of, distance
from gatebench.report.sensitivity import sensitivity_plots
from gatebench.report.terminal import WIDTH, terminal_summary


def test_cielab_of_known_colours() -> None:
    """sRGB -> CIELAB (D65) against published values (e.g. Bruce Lindbloom's calculator)."""
    assert _lab("#ff0000") == pytest.approx((53.24, 80.09, 67.20), abs=0.05)
    assert _lab("#0000ff") == pytest.approx((32.30, 79.19, -107.86), abs=0.05)
    assert _lab("#ffffff") == pytest.approx((100.0, 0.0, 0.0), abs=0.01)
    assert distance("#000000", "#ffffff") == pytest.approx(100.0, abs=0.01)


def test_a_user_colour_is_far_from_every_built_in_one_and_stable() -> None:
    names = [f"cell_{i}" for i in range(300)] + ["ugrnn", "halfrnn", "mycell"]
    colours = {color_of(n) for n in names}
    assert len(colours) > 40  # the hash spreads names over the candidates
    for name in names:
        nearest = min(distance(color_of(name), c) for c in FIXED.values())
        assert nearest >= MIN_DISTANCE, (name, color_of(name), nearest)
    # the old hashed colour of this name sat next to the GRU's orange
    assert distance(color_of("mycell"), FIXED["gru"]) >= MIN_DISTANCE
    assert all(color_of(n) == c for n, c in FIXED.items())


def test_built_in_colours_of_different_cells_differ() -> None:
    families = [n for n in FIXED if n not in ("rnn_orth", "rnn_pm", "irnn")]  # RNN greys
    for a, b in itertools.combinations(families, 2):
        assert FIXED[a] != FIXED[b], (a, b)


def _table(metric: str, baseline: float, chance: float) -> pd.DataFrame:
    rows = []
    for variant in ("lstm", "gru", "my_cell"):
        for test_length in (10, 20, 40):
            rows.append({"task": "adding", "length": 10, "variant": variant,
                         "test_length": test_length, "metric": metric, "median": 0.1,
                         "low": 0.05, "high": 0.2, "norm_loss_median": 0.5, "n_values": 3,
                         "n_runs": 3, "baseline": baseline * test_length / 10,
                         "chance": chance})  # fmt: skip
    return pd.DataFrame(rows)


def test_length_plot_uses_the_palette_and_draws_the_baseline(tmp_path) -> None:
    files = generalisation_plots(_table("test/mse", 0.167, math.nan), tmp_path)
    svg = next(p for p in files if p.suffix == ".svg").read_text()
    for variant in ("lstm", "gru", "my_cell"):
        assert color_of(variant) in svg, variant
    assert svg.count("stroke-dasharray") >= 2  # baseline on the left, norm_loss 1 on the right
    assert "trivial baseline" in svg


def test_sensitivity_plot_uses_the_palette_and_draws_chance(tmp_path) -> None:
    table = pd.DataFrame([
        {"task": "copy", "length": 30, "variant": v, "key": "lr", "value": str(lr),
         "metric": "test/recall_acc", "median": 0.5, "low": 0.4, "high": 0.6, "n_values": 3,
         "n_diverged": 0, "n_runs": 3, "pooled_over": "", "baseline": math.nan,
         "chance": 0.125}
        for v in ("lstm", "gru") for lr in (0.001, 0.01)])  # fmt: skip
    files = sensitivity_plots(table, tmp_path)
    svg = next(p for p in files if p.suffix == ".svg").read_text()
    assert color_of("lstm") in svg and color_of("gru") in svg
    assert "chance" in svg and "stroke-dasharray" in svg


def test_terminal_summary_is_narrow_and_names_the_report_and_plots(tmp_path) -> None:
    sweep = write_fixture_sweep(tmp_path / "sweep", variants=("lstm", "gru", "rnn"),
                                lengths=(10, 40), seeds=(0, 1, 2))  # fmt: skip
    records = load_runs([sweep.root])
    report = write_report(records, tmp_path / "out", "lstm", plots=True)
    text = terminal_summary(report.summary, report.files)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    groups = report.summary.groupby(["task", "length"]).ngroups
    assert groups >= 2 and text.count("\nvariant ") + text.startswith("variant ") == groups
    header = next(line for line in text.splitlines() if line.startswith("variant "))
    assert header.split() == ["variant", "solved", "mean", "[interval]", "norm_loss", "vs", "lstm"]
    assert f"report: {tmp_path / 'out' / 'report.md'}" in text
    assert "metric_vs_length_adding.png" in text and "Best: " in text
    # the reference row says ref; another row names the test behind its p
    lstm = next(line for line in text.splitlines() if line.startswith("lstm "))
    gru = next(line for line in text.splitlines() if line.startswith("gru "))
    assert lstm.rstrip().endswith("ref") and gru.rstrip().endswith(")")
