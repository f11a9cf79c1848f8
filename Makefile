# Every target creates the virtualenv (.venv) and installs nnifc into it on first use.
VENV  := .venv
BIN   := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The quick start: a real 20-trial experiment on this machine (trials run with the venv's python).
run: $(STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/nnifc create --config configs/quickstart.yml

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

test: lint
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -q

# Each benchmark prints its table and exits non-zero when it misses a target; all of them run.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	status=0; \
	$(BIN)/python benchmarks/tuners.py || status=1; \
	$(BIN)/python benchmarks/assessors.py || status=1; \
	$(BIN)/python benchmarks/upload.py || status=1; \
	PATH="$(BIN):$$PATH" $(BIN)/python benchmarks/engine.py || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
