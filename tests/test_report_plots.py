"""Plots that never mislead: fixed colours, chance and baseline lines, log axes where values span
decades, every seed shown, one-point learning curves visible, survival curves."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from fixtures.report.builder import _record, write_fixture_sweep, write_run
from matplotlib.collections import PathCollection

from gatebench.report import load_runs, summarize, write_report
from gatebench.report.palette import FIXED, color_of
from gatebench.report.plots import learning_curves, metric_vs_length, survival_plot


def _labelled(fig, label: str) -> list:
    """Line2D artists drawn under `label` (an errorbar's data line included)."""
    found = []
    for ax in fig.axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            if name == label:
                found.append(handle[0] if isinstance(handle, tuple) else handle)
    return found


def test_a_variant_has_the_same_colour_in_reports_with_different_variant_sets(tmp_path):
    first = write_fixture_sweep(tmp_path / "a", variants=("lstm", "gru", "rnn"), lengths=(10,))
    second = write_fixture_sweep(tmp_path / "b", variants=("gru", "mycell"), lengths=(10,))
    colours = []
    for sweep in (first, second):
        records = load_runs([sweep.root])
        report = write_report(records, tmp_path / f"out-{sweep.root.name}", "gru", plots=False)
        fig = metric_vs_length(report.summary, "adding", records.runs)
        colours.append({v: _labelled(fig, v)[0].get_color() for v in ("gru", "mycell", "rnn")
                        if _labelled(fig, v)})  # fmt: skip
    assert colours[0]["gru"] == colours[1]["gru"] == FIXED["gru"]
    assert colours[0]["rnn"] == FIXED["rnn"] and "mycell" not in colours[0]
    # a user's cell: hash-derived, the same in another process (no salted hash())
    code = "from gatebench.report.palette import color_of; print(color_of('mycell'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == colours[1]["mycell"] == color_of("mycell")
    assert color_of("mycell") not in (FIXED["gru"], FIXED["lstm"])


def _copy_sweep(root, values: dict[str, list[float]], alphabet: int = 8) -> None:
    for variant, seeds in values.items():
        for seed, value in enumerate(seeds):
            record = _record("copy", 30, variant, seed, "val/recall_acc", "max", 0.2)
            record["task"]["params"]["alphabet"] = alphabet
            solved = value >= 0.99
            record.update(status="solved" if solved else "finished", steps=250 if solved else 4000,
                          steps_to_solve=250 if solved else None,
                          final={"val/recall_acc": value, "val/norm_loss": 1 - value + 0.01},
                          test={"test/recall_acc": value, "test/norm_loss": 1 - value + 0.01},
                          norm_loss=1 - value + 0.01, params=10)  # fmt: skip
            curve = pd.DataFrame({"step": [0, 250], "val/norm_loss": [1.0, 1 - value + 0.01]})
            write_run(root / f"{variant}-{seed}", record, curve.iloc[1:] if solved else curve)


def test_accuracy_panels_have_a_chance_line_and_every_seed(tmp_path):
    values = {"lstm": [0.83, 0.13, 0.90], "gru": [1.0, 1.0, 0.995]}
    _copy_sweep(tmp_path, values)
    records = load_runs([tmp_path])
    summary = summarize(records.runs)
    fig = metric_vs_length(summary, "copy", records.runs)
    chance = _labelled(fig, "chance")
    assert chance and chance[0].get_ydata()[0] == pytest.approx(1 / 8)
    left = fig.axes[0]
    scatters = [c for c in left.collections if isinstance(c, PathCollection)]
    dots = np.concatenate([c.get_offsets()[:, 1] for c in scatters])
    assert sorted(dots) == pytest.approx(sorted(values["lstm"] + values["gru"]))
    # the lstm bar is the min-max range, inside [0, 1]
    lstm = summary.set_index("variant").loc["lstm"]
    assert (lstm["ci_low"], lstm["ci_high"], lstm["ci_kind"]) == (0.13, 0.90, "range")
    assert lstm["median"] == pytest.approx(0.83)  # the two clusters' mean 0.62 hides them
    assert 0.0 <= left.get_ylim()[0] + 0.1  # no axis running to -0.5


def test_a_run_solved_at_the_first_check_is_a_visible_curve(tmp_path):
    _copy_sweep(tmp_path, {"gru": [1.0], "lstm": [0.5]})
    records = load_runs([tmp_path])
    fig = learning_curves(records.curves, records.runs, "copy")
    gru = _labelled(fig, "gru")[0]
    assert len(gru.get_xdata()) == 1 and gru.get_marker() == "o" and gru.get_markersize() > 0


def test_losses_spanning_decades_go_on_a_log_axis_with_plain_ticks(tmp_path):
    sweep = write_fixture_sweep(tmp_path, variants=("lstm", "rnn"), lengths=(10, 40))
    records = load_runs([sweep.root])
    summary = summarize(records.runs)
    fig = metric_vs_length(summary, "adding", records.runs)
    left, right = fig.axes[:2]
    assert left.get_yscale() == "log" and right.get_yscale() == "log"
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    labels = [t.get_text() for t in right.get_yticklabels() if t.get_text()]
    assert "1" in labels and "0.1" in labels
    fig = survival_plot(records.runs, "adding")
    assert fig.axes[0].get_ylabel().startswith("fraction of runs still unsolved")
