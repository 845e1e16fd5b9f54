# The README's two commands: `make test` and `make demo`.
# Each creates .venv (once), installs xling with a CPU torch from the pinned wheel, then does its job.
# pyproject.toml holds dependency ranges; constraints.txt the exact versions the tests ran with, which
# every install here uses (`pip install -c`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.xling-installed
# A CUDA user sets TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126").
TORCH_SPEC ?= torch==2.13.0
CONSTRAINTS ?= constraints.txt
PYTEST_ARGS ?=
DEMO_OUT ?= runs/demo

.PHONY: install test test-fast lint demo bench clean constraints

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install -q -c $(CONSTRAINTS) $(TORCH_SPEC)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev,tracking]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Without a data root ($$XLING_DATA unset and no ../shared/data) the demo first fetches its inputs
# (pretraining text and evaluation sets, sha256-checked) into DEMO_DATA, from their public URLs or,
# when XLING_MIRROR is set, from that folder or http(s) URL laid out like a data root.
DEMO_DATA ?= data
demo: $(STAMP)
	@if [ -z "$$XLING_DATA" ] && [ ! -d ../shared/data ]; then \
	  echo "make demo: no data root (XLING_DATA unset, no ../shared/data): fetching the demo's inputs into" \
	    "$(DEMO_DATA)/ from $${XLING_MIRROR:-their public URLs}"; \
	  $(VENV)/bin/xling data fetch --pretrain demo --with-eval --dest $(DEMO_DATA) --quiet || exit 1; \
	  export XLING_DATA=$(abspath $(DEMO_DATA)); \
	fi; \
	$(VENV)/bin/xling run recipes/kk-ug-demo.yaml --out $(DEMO_OUT)

# one table of every speed ratio (bench/table.py runs each benchmark under `nice -n 15`, logs in runs/bench)
bench: $(STAMP)
	PYTHONPATH=. $(PY) bench/table.py

# After a tested upgrade of the venv: write its exact versions back (the header comment is kept; torch
# loses its local label, +cpu/+cuXXX, so the pin fits every build).
constraints: $(STAMP)
	{ sed -n '/^#/p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | grep -v '^#' \
	  | sed 's/^torch==\([^+]*\)+.*/torch==\1/'; } > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
