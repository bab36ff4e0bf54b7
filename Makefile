# The two commands a newcomer needs: `make demo` and `make test`. `make check` is the full gate.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install test-deps demo test check lint format typecheck bench clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

test-deps:
	bash scripts/test-deps.sh

demo: install
	$(BIN)/panda demo

# two workers, each file on one (its session servers: PostgreSQL, XRootD, S3, Slurm per worker, private
# ports); most tests wait on real processes, so two share the 2 cores well.
test: install test-deps
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install test-deps
	$(BIN)/panda bench dispatch --backend sqlite
	$(BIN)/panda bench dispatch --backend postgresql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Refresh the monitor screenshots in docs/ (README) from the browser tests.
screenshots: install test-deps
	PANDA_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/monitor/test_browser.py
