"""The fair-comparison sections' markdown, cell by cell (issue 25): the length table's cells,
its `-` for a length without a value and its score beyond T; the sensitivity table's cells with
diverged counts, its values in numeric order and what it pools over; the importance section's
shares, `-` and counts, and why it is absent."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from test_report_fair_edges import _length_records, _record, _runs

from gatebench.report.generalisation import generalisation_markdown, generalisation_table
from gatebench.report.importance import COLUMNS as IMPORTANCE_COLUMNS
from gatebench.report.importance import importance_markdown
from gatebench.report.selection import swept_keys
from gatebench.report.sensitivity import sensitivity_markdown, sensitivity_table

FILES = [Path("out/length_adding_T10.png"), Path("out/length_adding_T10.svg")]


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row (separator rows left out)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not line.startswith("|:")
    ]


def test_length_markdown_cells(tmp_path) -> None:
    records = _length_records([0.1, 0.2, 5.0])
    for s in range(2):  # gru: at L = 20 only norm_loss was recorded, no test/mse
        gru = _record("gru", s, 0.001, 0.1, 0.05, tests={10: 0.05, 20: 0.4})
        gru["tests"]["20"] = {"test/norm_loss": 2.4}
        records.append(gru)
    text = generalisation_markdown(generalisation_table(_runs(tmp_path, records)), FILES)
    assert text.startswith("## Length generalisation\n")
    assert "\n### adding, trained at T = 10: `test/mse`\n" in text
    assert _table_rows(text) == [
        ["variant", "L = 10", "L = 20", "mean L > T"],
        ["gru", "0.05 [0.05, 0.05]; norm 0.3", "-", "-"],
        ["lstm", "0.05 [0.05, 0.05]; norm 0.3", "0.2 [0.1, 5]; norm 1.2", "0.2 [0.1, 5]"],
    ]
    assert text.endswith("\n![length_adding_T10](length_adding_T10.png)\n")
    assert ".svg" not in text
    one_length = [_record("gru", 0, 0.001, 0.1, 0.05, tests={10: 0.05})]
    assert generalisation_markdown(generalisation_table(_runs(tmp_path / "one", one_length)),
                                   FILES) == ""  # fmt: skip


def test_sensitivity_markdown_cells(tmp_path) -> None:
    """lr 2e-5 (sorted first: numeric order, not text), 1e-3 (one run diverged), 1e-1 (all
    diverged); hidden sizes 8 and 16 are pooled at each lr, and the table says so."""
    records = []
    for lr, values in ((0.001, (0.3, 0.1)), (2e-05, (0.5, 0.7)), (0.1, (None, None))):
        for hidden, value in zip((8, 16), values, strict=True):
            record = _record("lstm", 0, lr, value or 0.0, None, hidden=hidden)
            if value is None or (lr, hidden) == (0.001, 16):
                record["status"], record["final"] = "diverged", {}
            records.append(record)
    runs = _runs(tmp_path, records)
    text = sensitivity_markdown(sensitivity_table(runs, swept_keys(runs)), [])
    assert text.startswith("## Sensitivity to each hyperparameter\n")
    lr_heading = "### adding, T = 10: `val/mse` against `optimizer.lr` (pooled over " \
                 "variant.hidden_size)\n"  # fmt: skip
    assert lr_heading in text
    rows = _table_rows(text)
    assert rows[0] == ["variant", "2e-05", "0.001", "0.1"]
    assert rows[1] == ["lstm", "0.6 [0.5, 0.7]", "0.3 [0.3, 0.3] (d 1)", "- (d 2/2)"]
    assert rows[2] == ["variant", "8", "16"]
    assert rows[3][0] == "lstm" and rows[3][2] == "0.7 [0.7, 0.7] (d 2)"
    assert sensitivity_markdown(sensitivity_table(runs.iloc[:0], []), []) == ""
    lr_only = sensitivity_table(runs, ["config.optimizer.lr"])
    files = [Path("out/sensitivity_adding_T10_optimizer-lr.png"),
             Path("out/sensitivity_adding_T10_optimizer-lr.svg")]  # fmt: skip
    text = sensitivity_markdown(lr_only, files)
    assert "\n### adding, T = 10: `val/mse` against `optimizer.lr`\n" in text  # nothing pooled
    assert text.endswith("\n![sensitivity_adding_T10_optimizer-lr]"
                         "(sensitivity_adding_T10_optimizer-lr.png)\n")  # fmt: skip
    assert ".svg" not in text


def test_importance_markdown_cells() -> None:
    table = pd.DataFrame(
        [
            ["adding", 10, "gru", "optimizer.lr", 0.75, "val/mse", 6, 1],
            ["adding", 10, "gru", "variant.hidden_size", 0.25, "val/mse", 6, 1],
            ["adding", 10, "lstm", "optimizer.lr", math.nan, "val/mse", 4, 0],
            ["adding", 10, "lstm", "variant.hidden_size", math.nan, "val/mse", 4, 0],
        ],
        columns=IMPORTANCE_COLUMNS,
    )
    text = importance_markdown(table, ["optimizer.lr", "variant.hidden_size"])
    assert text.startswith("## Hyperparameter importance (fANOVA)\n")
    assert "\n### adding, T = 10: `val/mse`\n" in text
    assert _table_rows(text) == [
        ["variant", "optimizer.lr", "variant.hidden_size", "runs used (left out)"],
        ["gru", "0.75", "0.25", "6 (1)"],
        ["lstm", "-", "-", "4 (0)"],
    ]
    empty = table.iloc[:0]
    assert importance_markdown(empty, ["optimizer.lr"]) == ""
    assert importance_markdown(empty, ["optimizer.lr", "variant.hidden_size"]) == (
        "## Hyperparameter importance\n\nNot computed: no variant has runs that vary two or "
        "more hyperparameters with at least two finite metric values.\n"
    )
