# gatebench: two commands from a fresh clone -- `make quickstart` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup test test-all lint quickstart speed clean mutate break-each

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a bare `torch` requirement can pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[dev,launchers]'
	touch $@

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q -m "not slow"

test-all: lint
	$(PY) -m pytest -q

quickstart: setup
	$(PY) -m gatebench.train experiment=quickstart

speed: setup
	$(PY) -m devtools.speed --backends bptt reference

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache

# Mutation testing (mutmut) of the formula modules against the tests that cover each; not part of
# `make test`. MODULES="cells tasks" for some; JOBS=2 to use two cores. Scores: docs/mutation.md.
mutate: setup
	nice -n 10 $(PY) scripts/mutate.py --jobs $(or $(JOBS),1) $(MODULES)

# The hand-made bugs of issues 17 and 25 (27), each applied once in a scratch copy: every one must
# be caught.
break-each: setup
	$(PY) scripts/break_each.py
