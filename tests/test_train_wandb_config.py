"""The W&B run's config says the hidden size the run used (issue 24): under `model.param_budget`
the budget chooses it, and the config's default is not what ran."""

from __future__ import annotations

import gatebench.run.loggers as loggers
from gatebench.train import train


def test_the_logged_config_holds_the_hidden_size_the_budget_chose(tiny_config, monkeypatch):
    seen: list[dict] = []
    build = loggers.build_loggers

    def spy(logger_cfg, run_dir, config, resume_step=None):
        seen.append(config)
        return build(logger_cfg, run_dir, config, resume_step)

    monkeypatch.setattr(loggers, "build_loggers", spy)
    record = train(tiny_config("task=adding", "task.length=6", "model.param_budget=3000"))
    assert record["hidden_size"] != 8  # the budget chose another than variant.hidden_size=8
    assert seen[0]["variant"]["hidden_size"] == record["hidden_size"]
    assert record["config"]["variant"]["hidden_size"] == 8  # the record keeps the config as given
    assert {k: v for k, v in seen[0].items() if k != "variant"} == \
        {k: v for k, v in record["config"].items() if k != "variant"}
