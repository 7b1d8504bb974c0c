"""README and docs/ render on GitHub and say only what exists: every code block parses in its
language (a CommonMark parser finds the fences, as GitHub's does), every relative link and image
points at a file of the repository, and every `python -m X` / `python path.py` names a module or
script that is there."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "results" / "README.md", ROOT / "results" / "ledger.md",
         *sorted((ROOT / "results").glob("*/README.md"))]  # the committed studies' answers
IDS = [str(p.relative_to(ROOT)) for p in PAGES]
PARSER = MarkdownIt("commonmark")
OUTSIDE = ("pip", "venv", "pytest", "http.server")  # modules of other projects


def _tokens(page: Path) -> list:
    tokens = PARSER.parse(page.read_text())
    flat = []
    for token in tokens:
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def _fences(page: Path) -> list[tuple[str, str]]:
    return [(t.info.strip().split(" ")[0], t.content) for t in _tokens(page) if t.type == "fence"]


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_code_block_parses_in_its_language(page: Path) -> None:
    for language, code in _fences(page):
        where = f"{page.name}: {language} block starting {code[:60]!r}"
        assert not any(line.lstrip().startswith("```") for line in code.splitlines()), \
            f"{where} holds a fence: a block was not closed"
        if language == "python":
            compile(code, where, "exec")  # a block that lost its indentation fails here
        elif language == "yaml":
            yaml.safe_load(code)
        elif language == "toml":
            import tomllib  # Python >= 3.11, as CI runs

            tomllib.loads(code)
        elif language == "bash":
            done = subprocess.run(["bash", "-n"], input=code, text=True, capture_output=True)
            assert done.returncode == 0, f"{where}: {done.stderr}"
        else:
            assert language in ("text", "console", "json", ""), f"{where}: unknown language"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_relative_link_and_image_exists(page: Path) -> None:
    missing = []
    for token in _tokens(page):
        target = token.attrs.get("href") or token.attrs.get("src") if token.attrs else None
        if not target or re.match(r"^[a-z]+:", str(target)) or str(target).startswith("#"):
            continue
        path = (page.parent / str(target).split("#")[0]).resolve()
        if not path.exists():
            missing.append(str(target))
    assert not missing, f"{page.name} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_command_names_a_module_or_script_that_exists(page: Path) -> None:
    text = page.read_text()
    for module in set(re.findall(r"python3? -m ([A-Za-z_][\w.]*)", text)):
        if module.split(".")[0] in OUTSIDE:
            continue
        assert importlib.util.find_spec(module) is not None, f"{page.name}: python -m {module}"
    for script in set(re.findall(r"python3? ((?:scripts|devtools|examples)/[\w/]+\.py)", text)):
        assert (ROOT / script).is_file(), f"{page.name}: python {script}"


def test_the_checks_catch_what_they_guard(tmp_path: Path) -> None:
    """The packaged-cell bug as it was: a file's text pasted into a list item's fences, so its
    unindented lines end the item and the closing fences open new blocks."""
    page = tmp_path / "bad.md"
    page.write_text("- item\n\n  ```python\n  import torch\n\nfrom variants import Cell\n\n\n"
                    "class A:\n    x = 1\n  ```\n\n  ```yaml\n  a: 1\n  ```\n"
                    "\n[gone](nowhere.md)\n")
    with pytest.raises((AssertionError, SyntaxError)):
        test_every_code_block_parses_in_its_language(page)
    with pytest.raises(AssertionError, match="nowhere.md"):
        test_every_relative_link_and_image_exists(page)


def test_the_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert 150 <= len(lines) <= 250, len(lines)
    for page in ("LICENSE", "CITATION.cff"):
        assert (ROOT / page).is_file()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"] and citation["authors"]
