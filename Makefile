# Every target creates the virtual environment it needs: on a fresh machine,
# `make demo` and `make test` are all the set-up there is.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ROSTER ?=
LIMIT  ?=
ARGS   ?=

.PHONY: venv demo test test-ahead lint provision check report revoke handouts send sandbox bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m keyprov.cli.demo

# The import rule between the rooms of src/keyprov (docs/architecture.md) is part of lint, and
# so is the platform check: mypy as if on Windows and macOS, for what only Linux has (fcntl).
lint: $(STAMP)
	$(BIN)/python tests/import_rule.py
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python tests/platform_types.py src

# Twice as many workers as cores: most tests wait (on loopback HTTP, a sandbox's latency, a
# subprocess), so two per core keep both busy; with work stealing an idle worker takes the tests
# queued behind a slow one, so no worker ends long after the rest.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
# Byte code is cached in the venv, even where the environment sets PYTHONDONTWRITEBYTECODE:
# without it every test process re-compiles pytest's rewritten test modules (~5 s a worker)
# and every `python -m keyprov` the tests start re-compiles keyprov. Nothing lands in src/.
test: lint
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache $(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

# The suite with the wall clock moved DAYS ahead in every process (tests/travel): a test that
# depends on the day it runs fails here before it fails on CI. Not part of `make test`.
DAYS ?= 200
test-ahead: $(STAMP)
	KEYPROV_TRAVEL_DAYS=$(DAYS) PYTHONPATH=$(CURDIR)/tests/travel PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache $(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal -p no:cacheprovider

provision: $(STAMP)
	@test -n "$(ROSTER)" || { echo "usage: make provision ROSTER=roster/<file>.csv [LIMIT=2] [ARGS='--expires 7d']" >&2; exit 2; }
	$(BIN)/keyprov provision "$(ROSTER)" $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

# handouts: the slips and mail merge; send: each participant their key by mail (KEYPROV_SMTP_*).
check report revoke handouts send: $(STAMP)
	@test -n "$(ROSTER)" || { echo "usage: make $@ ROSTER=roster/<file>.csv [ARGS=...]" >&2; exit 2; }
	$(BIN)/keyprov $@ "$(ROSTER)" $(ARGS)

# Not part of `make test`: timings are reported (bench/results.md), never asserted. ~15 minutes
# (ARGS=--max-seconds 25: ~10; ARGS="--only watch": the watch poll alone, into
# bench/results-watch.md). Byte code cached as for `make test`: a user's install has it.
bench: $(STAMP)
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache $(BIN)/python bench/bench.py $(ARGS)

# Its own state file, not the demo's (output/demo/.sandbox-state.json): the two never mix keys.
sandbox: $(STAMP)
	$(BIN)/keyprov sandbox --state output/.sandbox/state.json $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
