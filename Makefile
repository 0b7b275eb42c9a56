# Two commands on a fresh clone: `make demo`, then `make test`. Needs Python >= 3.11 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint run serve clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "informburo needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## demo: install, collect the shipped mirror once into data/informburo.db, print how to open it
demo: $(BIN)/.installed
	$(BIN)/informburo demo

## test: ruff, then the whole offline suite; a skipped test (no root, redis-server or chromium) fails it
test: $(BIN)/.installed lint
	INFORMBURO_FULL_SUITE=1 $(BIN)/pytest -n 2 --durations=20

## test-fast: the fast tier for development (under a minute): no root, redis, chromium or slow tests
test-fast: $(BIN)/.installed
	$(BIN)/pytest -m "not slow and not root and not redis and not chromium" -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## run: the daemon, against the live site, on the schedule in config/informburo.toml
run: $(BIN)/.installed
	$(BIN)/informburo run --config config/informburo.toml

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis

.PHONY: bench
## bench: the benchmark suite at full size (about 12 minutes on 2 cores); rewrites docs/benchmarks.md
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks --output docs/benchmarks.md
