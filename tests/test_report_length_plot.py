"""What the length-generalisation figure draws, read back from the figure (issue 25): each
variant's median test metric per test length, the trivial baseline at each length (loss /
norm_loss of the runs) or the chance level, norm_loss against the 1.0 line, the training length
dotted, and its labels and legend."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from test_report_fair_edges import _record, _runs

from gatebench.report.generalisation import generalisation_plots, generalisation_table
from gatebench.report.plots import DPI, PANEL_SIZE

BASELINE = {10: 0.2, 20: 0.25, 40: 0.5}  # a trivial baseline that grows with the length
MSE = {"lstm": ((0.02, 0.1, 0.3), (0.04, 0.2, 0.5)), "gru": ((0.1, 0.2, 0.4), (0.1, 0.3, 0.4))}


@pytest.fixture
def drawn(monkeypatch) -> list[Figure]:
    """Every figure saved, in order (each is saved as .png then .svg)."""
    figures: list[Figure] = []
    save = Figure.savefig

    def keep(self: Figure, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _data(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _lines(ax, **where) -> list:
    return [line for line in ax.get_lines()
            if all(getattr(line, f"get_{k}")() == v for k, v in where.items())]  # fmt: skip


def _loss_records() -> list[dict]:
    records = []
    for variant, runs in MSE.items():
        for seed, values in enumerate(runs):
            record = _record(variant, seed, 0.001, 0.1, values[0])
            record["tests"] = {
                str(n): {"test/mse": v, "test/loss": v, "test/norm_loss": v / BASELINE[n]}
                for n, v in zip(BASELINE, values, strict=True)
            }
            records.append(record)
    return records


def test_length_figure_draws_medians_baseline_norm_loss_and_the_training_length(
    tmp_path, drawn: list[Figure]
) -> None:
    table = generalisation_table(_runs(tmp_path, _loss_records()))
    files = generalisation_plots(table, tmp_path)
    assert files == [tmp_path / "length_adding_T10.png", tmp_path / "length_adding_T10.svg"]
    assert all(f.stat().st_size > 0 for f in files)
    height, width, _ = imread(files[0]).shape  # two panels side by side at the report's DPI
    assert (width, height) == (round(2 * PANEL_SIZE[0] * DPI), round(PANEL_SIZE[1] * DPI))
    assert len(drawn) == 2 and drawn[0] is drawn[1]
    left, right = drawn[0].axes
    lengths = list(BASELINE)
    bars = {container.get_label(): container for container in left.containers}
    assert set(bars) == set(MSE)
    for variant, runs in MSE.items():
        line, _, (segments,) = bars[variant].lines  # the data line and the error bars
        np.testing.assert_allclose(_data(line.get_xdata()), lengths)
        np.testing.assert_allclose(_data(line.get_ydata()), np.median(runs, axis=0))
        assert line.get_marker() == "o"
        ends = np.asarray(segments.get_segments())  # (L, 2, 2): [x, min] to [x, max]
        np.testing.assert_allclose(ends[:, :, 0], np.column_stack([lengths, lengths]))
        np.testing.assert_allclose(ends[:, :, 1], np.column_stack([np.min(runs, axis=0),
                                                                   np.max(runs, axis=0)]))
        norm = np.median(np.asarray(runs) / list(BASELINE.values()), axis=0)
        (norm_line,) = _lines(right, color=line.get_color())
        np.testing.assert_allclose(_data(norm_line.get_xdata()), lengths)
        np.testing.assert_allclose(_data(norm_line.get_ydata()), norm)
    (baseline,) = _lines(left, label="trivial baseline")
    np.testing.assert_allclose(_data(baseline.get_xdata()), lengths)
    np.testing.assert_allclose(_data(baseline.get_ydata()), list(BASELINE.values()))
    assert baseline.get_linestyle() == "--" and to_rgba(baseline.get_color()) == to_rgba("k")
    one = [ln for ln in _lines(right, linestyle="--") if list(_data(ln.get_ydata())) == [1, 1]]
    assert len(one) == 1 and to_rgba(one[0].get_color()) == to_rgba("black")
    for ax in (left, right):
        (trained,) = _lines(ax, linestyle=":")
        assert list(_data(trained.get_xdata())) == [10, 10]
        assert ax.get_xlabel() == "test length (dotted: training length)"
    assert left.get_ylabel() == "test/mse (median, min-max)"
    assert right.get_ylabel() == "test norm_loss (median; 1 = trivial baseline)"
    assert left.get_title() == "adding, trained at T = 10"
    assert right.get_title() == "distance from the trivial baseline"
    (legend,) = drawn[0].legends
    assert sorted(t.get_text() for t in legend.get_texts()) == ["gru", "lstm", "trivial baseline"]


def test_length_figure_of_an_accuracy_draws_the_chance_level(tmp_path, drawn) -> None:
    """Temporal order with 2 relevant symbols: chance is 1/4, dashed, labelled."""
    records = []
    for seed, (at_10, at_20) in enumerate(((1.0, 0.6), (0.9, 0.4))):
        record = _record("lstm", seed, 0.001, 0.1, at_10)
        record.update(metric="val/acc", metric_mode="max", final={"val/acc": at_10},
                      task={"name": "temporal_order", "params": {"length": 10, "relevant": 2}})
        record["tests"] = {str(n): {"test/acc": acc, "test/loss": 1 - acc, "test/norm_loss": 0.5}
                           for n, acc in ((10, at_10), (20, at_20))}  # fmt: skip
        records.append(record)
    generalisation_plots(generalisation_table(_runs(tmp_path, records)), tmp_path)
    left, _ = drawn[0].axes
    (chance,) = _lines(left, label="chance")
    assert list(_data(chance.get_ydata())) == [0.25, 0.25] and chance.get_linestyle() == "--"
    assert _lines(left, label="trivial baseline") == []
    (bar,) = left.containers
    np.testing.assert_allclose(_data(bar.lines[0].get_ydata()), [0.95, 0.5])
