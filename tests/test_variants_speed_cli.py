"""`python -m devtools.speed` prints one record per variant beside its torch reference."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from devtools import speed


def test_speed_json_records(capsys: pytest.CaptureFixture[str]) -> None:
    rows = speed.main(["--variants", "lstm", "gru", "rnn", "cifg", "--batch", "2", "--hidden",
                       "4", "--length", "3", "--repeats", "1", "--warmup", "0", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["variant"] for r in records] == ["lstm", "gru", "rnn", "cifg"]
    assert [r["reference"] for r in records] == ["nn.LSTM", "nn.GRU", "nn.RNN", "nn.LSTM"]
    for record, row in zip(records, rows, strict=True):
        assert {"variant", "backend", "B", "H", "T", "ms", "reference_ms", "ratio"} <= set(record)
        assert (record["B"], record["H"], record["T"], record["backend"]) == (2, 4, 3, "reference")
        assert record["ms"] > 0 and record["reference_ms"] > 0
        assert record == asdict(row)  # the JSON line is the row
        # with one repeat the ratio is the unrounded ms over the unrounded reference ms, while
        # the printed ms are rounded to 0.01: their ratio may differ by that rounding only
        ms, ref = record["ms"], record["reference_ms"]
        bound = record["ratio"] * (0.005 / ms + 0.005 / ref) * 1.01 + 0.0005
        assert abs(record["ratio"] - ms / ref) <= bound


def test_speed_rejects_unknown_variant() -> None:
    with pytest.raises(SystemExit):
        speed.main(["--variants", "lstn"])


def test_ratio_is_taken_pair_by_pair() -> None:
    # the machine slows down 10x halfway: per-pair ratios stay 2, the ratio of medians would not
    first = iter([2.0, 2.0, 20.0, 20.0, 20.0])
    second = iter([1.0, 1.0, 10.0, 10.0, 10.0])
    timing = speed.median_pair(lambda: next(first), lambda: next(second), repeats=5, warmup=0)
    assert timing.ratio == 2.0 and timing.ratio_q1 == 2.0 and timing.ratio_q3 == 2.0
    assert (timing.first, timing.second) == (20.0, 10.0)
    uneven = iter([1.0, 3.0, 2.0, 8.0])
    timing = speed.median_pair(lambda: next(uneven), lambda: 1.0, repeats=4, warmup=0)
    assert timing.ratio == 2.5 and timing.ratio_q1 == 1.75 and timing.ratio_q3 == 4.25
