PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trixanes demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest -q tests --ignore=tests/bench

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python -m pytest -q tests/bench --benchmark-enable --benchmark-only --benchmark-json bench/results.json
	$(BIN)/python bench/make_results.py bench/results.json -o bench/results.md

clean:
	rm -rf $(VENV) demo-out .pytest_cache
