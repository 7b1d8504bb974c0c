"""`scripts/break_each.py` stays in step with the sources: each hand-made bug's line exists once
(so the script applies it) and its test files exist. The bugs themselves are run by
`make break-each`, not here (about 1.5 minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("break_each", REPO / "scripts" / "break_each.py")
break_each = importlib.util.module_from_spec(spec)
sys.modules["break_each"] = break_each  # dataclasses look their module up
spec.loader.exec_module(break_each)


@pytest.mark.parametrize("bug", break_each.BUGS, ids=lambda bug: bug.name)
def test_each_bug_applies_once_and_names_existing_tests(bug) -> None:
    text = (REPO / bug.file).read_text()
    assert text.count(bug.old) == 1, f"{bug.file} no longer holds the line once: update BUGS"
    assert bug.new != bug.old and text.replace(bug.old, bug.new) != text
    for test in bug.tests:
        assert (REPO / test).is_file(), test
