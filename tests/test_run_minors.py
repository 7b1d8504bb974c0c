"""The small faults of issue 24: a resume hint Hydra can read back for any directory name,
seeds and learning rates that cannot run refused in one line, stale temp files of a killed
process cleaned, and an unreadable or cut metrics.csv named on resume."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from gatebench.config.validation import ConfigError, validate_config
from gatebench.run.progress import resume_command


@pytest.mark.parametrize("name", ["plain-run_1", "ränn", "two words", "it's", "back\\slash\\"])
def test_the_resume_hint_reads_back_as_the_run_dir_for_any_name(tmp_path, name) -> None:
    run_dir = tmp_path / name
    args = shlex.split(resume_command(run_dir, ["variant=gru", "seed=1"]))  # as the shell does
    assert args[:3] == ["python", "-m", "gatebench.train"]
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(args[3:])}
    assert parsed["hydra.run.dir"] == str(run_dir)
    assert parsed["ckpt_path"] == "last" and parsed["variant"] == "gru"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("seed", 2**32, "seed=4294967296 is invalid: expected an integer in [0, 2**32)"),
    ("optimizer.lr", 10**400, "optimizer.lr=10000000000000000000...(401 characters) is invalid"),
    ("optimizer.lr", float("inf"), "optimizer.lr=inf is invalid: expected a number > 0"),
    ("optimizer.lr", 0.0, "optimizer.lr=0.0 is invalid: expected a number > 0"),
], ids=["seed", "lr-401-digits", "lr-inf", "lr-0"])  # fmt: skip
def test_seeds_and_learning_rates_that_cannot_run_are_refused_in_one_line(
    tiny_config, key, value, message
) -> None:
    cfg = tiny_config()
    cfg_key = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        cfg_key = cfg_key[part]
    cfg_key[leaf] = value
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    cfg_key[leaf] = 2**32 - 1 if key == "seed" else 1e-3
    validate_config(cfg)  # the largest seed and an ordinary lr pass


def test_stale_temp_files_go_an_unreadable_csv_is_named_and_a_cut_one_warns(
    tiny_config, caplog
) -> None:
    import csv

    from gatebench.train import train

    adding = ["task=adding", "task.length=6", "logger=csv", "ckpt_path=last"]
    run_dir = Path(train(tiny_config(*adding))["run_dir"])  # rows at steps 0, 5, ..., 20
    stale = [run_dir / ".results.json.k1ll3d.tmp", run_dir / "checkpoints" / ".last.ckpt.x.tmp",
             run_dir / "metrics.csv.tmp"]  # fmt: skip
    for path in stale:
        path.write_bytes(b"half a file")
    good = (run_dir / "metrics.csv").read_text()
    (run_dir / "metrics.csv").write_bytes(b"step,val/loss\n1,\xff\xfe\n")
    with pytest.raises(ConfigError) as error:
        train(tiny_config(*adding, "trainer.max_steps=30"))
    message = str(error.value)
    assert message.startswith(f"{run_dir / 'metrics.csv'}: unreadable (UnicodeDecodeError: ")
    assert "\n" not in message and "move the file away" in message
    assert not any(p.exists() for p in stale)  # removed under the run's lock

    rows = list(csv.DictReader(good.splitlines()))
    with open(run_dir / "metrics.csv", "w", newline="") as f:  # cut: steps 6-20 gone
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= 5)
    caplog.set_level("WARNING", logger="gatebench")
    record = train(tiny_config(*adding, "trainer.max_steps=30"))
    assert record["steps"] == 30
    assert f"{run_dir / 'metrics.csv'}: rows of steps 6-20 are missing (the file was cut)" \
        in caplog.text
