"""docs/cells.md is generated from the cell classes (`python -m variants.table`) and up to date."""

from __future__ import annotations

import variants
from variants import table


def test_docs_cells_md_is_up_to_date_with_the_classes() -> None:
    """Regenerate and compare: a new or changed cell must come with `python -m variants.table`."""
    assert table.TARGET.read_text() == table.render(), "run: python -m variants.table"


def test_table_rows_say_what_the_classes_say() -> None:
    text = table.render()
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")
            for line in text.splitlines() if line.startswith("| `")}
    assert sorted(rows) == table.built_in() and {"lstm", "janet", "indrnn"} <= set(rows)
    # ratios at D = H: the LSTM 1, the GRU 3/4, the Elman RNN 1/4 (same biases per block)
    assert [rows[n][4] for n in ("lstm", "gru", "rnn")] == ["1.00", "0.75", "0.25"]
    assert rows["lstm"][3] == "h, c" and rows["gru"][3] == "h"
    assert "bptt" in rows["lstm"][5] and "cudnn (CUDA)" in rows["gru"][5]
    assert rows["janet"][5].strip(" |") == "reference, bptt"
    assert rows["gru1"][5].strip(" |") == "reference, bptt"  # its own kernel, not the GRU's
    assert "\\|u\\|" in rows["indrnn"][2]  # a '|' in an equation does not split the row


def test_check_mode_reports_a_stale_file(tmp_path, capsys) -> None:
    stale = tmp_path / "cells.md"
    stale.write_text("old\n")
    assert table.main(["--check", "--output", str(stale)]) == 1
    assert table.main(["--output", str(stale)]) == 0
    assert table.main(["--check", "--output", str(stale)]) == 0
    assert stale.read_text().count("\n| `") == len(variants.names()) - sum(
        not variants.cell.REGISTRY[n].__module__.startswith("variants.") for n in variants.names())
