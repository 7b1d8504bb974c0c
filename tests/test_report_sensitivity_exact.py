"""The sensitivity table's columns and figure against the records they come from (issue 25,
from mutmut's survivors): baseline and chance levels, diverged and run counts, what is pooled,
value order; the figure's medians and [min, max] bars per value, its log or categorical x axis,
the baseline or chance line, labels and size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from test_report_fair_edges import _record, _runs

from gatebench.report.plots import DPI, PANEL_SIZE
from gatebench.report.selection import swept_keys
from gatebench.report.sensitivity import COLUMNS, sensitivity_plots, sensitivity_table

VAL = {"lstm": {0.001: (0.3, 0.1), 0.01: (0.05, 0.07), 0.1: (0.5, 0.9)},
       "gru": {0.001: (0.4, 0.2), 0.01: (0.1, 0.1), 0.1: (0.2, 0.6)}}  # fmt: skip


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


def _lr_runs(tmp_path):
    records = []
    for variant, by_lr in VAL.items():  # lstm first: rows must still come sorted
        for lr, values in by_lr.items():
            records += [_record(variant, s, lr, v, None) for s, v in enumerate(values)]
    records.append(_record("gru", 7, 0.1, 0.0, None))
    records[-1].update(status="diverged", final={})
    return _runs(tmp_path, records)


def test_table_columns_from_the_records(tmp_path) -> None:
    table = sensitivity_table(_lr_runs(tmp_path), ["config.optimizer.lr"])
    assert list(table.columns) == COLUMNS
    assert list(zip(table["variant"], table["value"], strict=True)) == [
        ("gru", "0.001"), ("gru", "0.01"), ("gru", "0.1"),
        ("lstm", "0.001"), ("lstm", "0.01"), ("lstm", "0.1"),
    ]  # fmt: skip
    assert set(table["task"]) == {"adding"} and set(table["length"]) == {10}
    assert set(table["metric"]) == {"val/mse"} and set(table["key"]) == {"optimizer.lr"}
    assert list(table["n_runs"]) == [2, 2, 3, 2, 2, 2]
    assert list(table["n_diverged"]) == [0, 0, 1, 0, 0, 0]
    assert list(table["n_values"]) == [2, 2, 2, 2, 2, 2]
    assert list(table["baseline"]) == pytest.approx([1 / 6] * 6)  # the records' baseline (mse)
    assert table["chance"].isna().all() and set(table["pooled_over"]) == {""}


def test_an_accuracy_has_a_chance_level_and_no_baseline(tmp_path) -> None:
    records = []
    for k, (lr, acc) in enumerate(((0.001, 0.5), (0.01, 0.9))):
        record = _record("lstm", k, lr, 0.1, None)
        record.update(metric="val/acc", metric_mode="max", final={"val/acc": acc},
                      task={"name": "temporal_order", "params": {"length": 10, "relevant": 3}})
        records.append(record)
    table = sensitivity_table(_runs(tmp_path, records), ["config.optimizer.lr"])
    assert list(table["chance"]) == [1 / 8, 1 / 8] and table["baseline"].isna().all()
    assert list(table["median"]) == [0.5, 0.9] and set(table["metric"]) == {"val/acc"}


def _data(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def test_figure_of_a_learning_rate_sweep(tmp_path, drawn: list[Figure]) -> None:
    table = sensitivity_table(_lr_runs(tmp_path), ["config.optimizer.lr"])
    files = sensitivity_plots(table, tmp_path)
    stem = tmp_path / "sensitivity_adding_T10_optimizer-lr"
    assert files == [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    height, width, _ = imread(files[0]).shape
    assert (width, height) == (int(1.3 * PANEL_SIZE[0] * DPI), int(PANEL_SIZE[1] * DPI))  # floored
    assert len(drawn) == 2 and drawn[0] is drawn[1]
    (ax,) = drawn[0].axes
    bars = {container.get_label(): container for container in ax.containers}
    assert set(bars) == set(VAL)
    for variant, by_lr in VAL.items():
        line, _, (segments,) = bars[variant].lines
        values = [v for lr, v in by_lr.items()]
        np.testing.assert_allclose(_data(line.get_xdata()), list(by_lr))
        np.testing.assert_allclose(_data(line.get_ydata()), np.median(values, axis=1))
        assert line.get_marker() == "o"
        ends = np.asarray(segments.get_segments())
        np.testing.assert_allclose(ends[:, :, 1], np.column_stack([np.min(values, axis=1),
                                                                   np.max(values, axis=1)]))
    (baseline,) = [ln for ln in ax.get_lines() if ln.get_label() == "trivial baseline"]
    assert list(_data(baseline.get_ydata())) == pytest.approx([1 / 6, 1 / 6])
    assert baseline.get_linestyle() == "--"
    assert ax.get_xscale() == "log"  # 0.001 to 0.1
    assert ax.get_xlabel() == "optimizer.lr"
    assert ax.get_ylabel() == "val/mse (median, min-max)"
    assert ax.get_title() == "adding, T = 10"
    (legend,) = drawn[0].legends
    assert sorted(t.get_text() for t in legend.get_texts()) == ["gru", "lstm", "trivial baseline"]


def test_figures_of_a_text_key_and_of_a_narrow_numeric_one(tmp_path, drawn) -> None:
    """optimizer.name (text): values at 0, 1, ... in first-seen order, named on the ticks;
    hidden size 8 and 16 (a factor 2): a linear axis. Chance drawn for an accuracy."""
    records = []
    for k, (name, hidden, acc) in enumerate((("sgd", 8, 0.4), ("adam", 16, 0.8),
                                             ("sgd", 16, 0.6))):  # fmt: skip
        record = _record("lstm", k, 0.001, 0.1, None, hidden=hidden)
        record["config"]["optimizer"]["name"] = name
        record.update(metric="val/acc", metric_mode="max", final={"val/acc": acc},
                      task={"name": "temporal_order", "params": {"length": 10, "relevant": 2}})
        records.append(record)
    runs = _runs(tmp_path, records)
    table = sensitivity_table(runs, swept_keys(runs))
    assert set(table["key"]) == {"optimizer.name", "variant.hidden_size"}
    files = sensitivity_plots(table, tmp_path)
    assert [f.name for f in files[::2]] == ["sensitivity_temporal_order_T10_optimizer-name.png",
                                            "sensitivity_temporal_order_T10_variant-hidden_size.png"]
    by_name, by_size = drawn[0], drawn[2]
    (ax,) = by_name.axes
    (bar,) = ax.containers
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["adam", "sgd"]  # the table's (sorted) order of values
    np.testing.assert_allclose(_data(bar.lines[0].get_xdata()), [0, 1])
    np.testing.assert_allclose(_data(bar.lines[0].get_ydata()), [0.8, 0.5])
    (chance,) = [ln for ln in ax.get_lines() if ln.get_label() == "chance"]
    assert list(_data(chance.get_ydata())) == [0.25, 0.25]
    (ax,) = by_size.axes
    assert ax.get_xscale() == "linear"
    np.testing.assert_allclose(_data(ax.containers[0].lines[0].get_xdata()), [8, 16])
    assert not math.isnan(float(table["chance"].iloc[0]))


def test_solved_runs_count_labelled_settings_pool_only_what_varies(tmp_path) -> None:
    """A solved run without a test value makes the table compare validation values; its value
    counts. Labelled settings (`variant_base`) count under their base; a key passed but not
    swept is not 'pooled over'; a loss metric's baseline is the records'."""
    records = []
    for k, (lr, hidden, val) in enumerate(((0.001, 8, 0.3), (0.01, 16, 0.1), (0.01, 8, 0.2))):
        record = _record("lstm", k, lr, val, None if k == 0 else val + 1.0, hidden=hidden)
        record.update(metric="val/loss", final={"val/loss": val})
        record["test"] = {} if k == 0 else {"test/loss": val + 1.0}
        record["status"] = "solved" if k == 0 else "finished"
        records.append(record)
    runs = _runs(tmp_path, records)
    runs = runs.assign(variant_base=runs["variant"], variant=runs["variant"] + " [x]")
    keys = ["config.optimizer.lr", "config.variant.hidden_size", "config.task.name"]
    table = sensitivity_table(runs, keys)
    lr = table[table["key"] == "optimizer.lr"]
    assert set(lr["variant"]) == {"lstm"} and set(lr["metric"]) == {"val/loss"}
    assert list(lr["n_values"]) == [1, 2] and list(lr["median"]) == pytest.approx([0.3, 0.15])
    assert set(lr["pooled_over"]) == {"variant.hidden_size"}
    assert list(lr["baseline"]) == pytest.approx([1 / 6, 1 / 6])
    assert sensitivity_table(runs, ["config.task.name"]).columns.tolist() == COLUMNS


def test_a_sweep_exactly_one_decade_wide_is_drawn_on_a_log_axis(tmp_path, drawn) -> None:
    records = [_record("lstm", k, lr, 0.1 * (k + 1), None)
               for k, lr in enumerate((0.001, 0.003, 0.01))]  # fmt: skip
    runs = _runs(tmp_path, records)
    sensitivity_plots(sensitivity_table(runs, ["config.optimizer.lr"]), tmp_path)
    assert drawn[0].axes[0].get_xscale() == "log"
