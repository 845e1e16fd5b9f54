# The README's two commands: `make test` and `make demo`.
# Each creates .venv (once), installs xling with a CPU torch from the pinned wheel, then does its job.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.xling-installed
# A CUDA user sets TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126").
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
DEMO_OUT ?= runs/demo

.PHONY: install test test-fast lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	$(VENV)/bin/xling run recipes/kk-ug-demo.yaml --out $(DEMO_OUT)

# one table of every speed ratio (bench/table.py runs each benchmark under `nice -n 15`, logs in runs/bench)
bench: $(STAMP)
	PYTHONPATH=. $(PY) bench/table.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
