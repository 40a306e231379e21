# Two entry points for a fresh clone: `make demo` and `make test`.
# torch is installed first at the exact CPU build (a looser pin would pull CUDA wheels).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test,web,fast,video,batch]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/gramstyle demo --overwrite

test: setup
	sh scripts/ensure_chromium.sh
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m mypy
	$(PY) -m pytest

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/adain.py

clean:
	rm -rf $(VENV) build *.egg-info
