"""W&B offline: one run per job, the resolved config, distinct ids, finished even on failure."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2  # wandb is a hard dependency: missing = failure

from gatebench.train import train

_BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log: 32 KiB blocks of framed records
_HEADER = 7  # ":W&B" + magic (2 bytes) + version (1 byte)
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_wandb_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Decode a W&B transaction log (run-<id>.wandb), the file `wandb sync` uploads. Each record
    is framed by crc32c (4 bytes), length (2, little endian) and type (1); FIRST/MIDDLE/LAST
    frames split one record across blocks."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    records, pending, pos = [], b"", _HEADER
    while pos + 7 <= len(data):
        if _BLOCK - pos % _BLOCK < 7:  # too little room left in the block for a frame: padding
            pos += _BLOCK - pos % _BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        pending = payload if kind in (_FULL, _FIRST) else pending + payload
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _offline_run(run_dir: Path) -> tuple[str, wandb_internal_pb2.RunRecord, list, dict]:
    (offline,) = sorted((run_dir / "wandb").glob("offline-run-*"))
    (log,) = offline.glob("run-*.wandb")
    records = read_wandb_records(log)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    exits = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
    summary = {
        u.key: json.loads(u.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for u in r.summary.update
    }
    return offline.name.rsplit("-", 1)[-1], run, exits, summary


def test_offline_wandb_one_run_per_job_with_config_and_finish(
    tiny_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gatebench")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    jobs = [  # two jobs in one process, as a reused joblib worker runs them; the first diverges
        [
            "seed=0",
            "optimizer=sgd",
            "optimizer.lr=1e30",
            "optimizer.momentum=0",
            "trainer.gradient_clip_val=null",
        ],
        ["seed=1"],
    ]
    ids, statuses = [], []
    for i, overrides in enumerate(jobs):
        cfg = tiny_config("task.length=6", "logger=wandb", *overrides, run_dir=tmp_path / f"j{i}")
        record = train(cfg)
        statuses.append(record["status"])
        run_id, run, exits, summary = _offline_run(Path(cfg.run_dir))
        ids.append(run_id)
        assert run.run_id == run_id
        assert run.display_name == cfg.run_name == f"lstm-adding-T6-s{i}"
        assert run.run_group == "adding-T6" and list(run.tags) == ["lstm", "adding"]
        config = {u.key: json.loads(u.value_json) for u in run.config.update}
        assert config["seed"] == i and config["variant"]["name"] == "lstm"
        assert config["task"]["length"] == 6 and config["run_dir"] == str(cfg.run_dir)
        # the summary carries the results.json fields the W&B report reader needs
        for key in ("status", "metric", "baseline", "params", "variant", "length", "seed"):
            assert summary[key] == record[key], key
        assert len(exits) == 1  # finished exactly once
        # the start line names the offline run's directory (for `wandb sync`)
        (offline,) = (Path(cfg.run_dir) / "wandb").glob("offline-run-*")
        starts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("start:")]
        assert starts[-1].endswith(f"; W&B offline {offline}")
        # the step-0 validation (initial weights) is in the W&B history at global step 0
        (log,) = offline.glob("run-*.wandb")
        history = [
            {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in r.history.item}
            for r in read_wandb_records(log)
            if r.WhichOneof("record_type") == "history"
        ]
        first_val = next(h for h in history if "val/loss" in h)
        assert first_val["trainer/global_step"] == 0
        assert exits[0].exit_code == (1 if record["status"] == "diverged" else 0)
    assert statuses == ["diverged", "finished"]
    assert len(set(ids)) == 2
