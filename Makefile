# mytorch -- `make help` lists the targets.
PY ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dist,experiments,test
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup test lint bench demo

help:  ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install mytorch with the extras CI needs

test: setup  ## run the test suite (CPU; CUDA tests run too when a GPU is present)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: setup  ## ruff over the packages and tests
	$(PYTHON) -m pip install -q ruff
	$(PYTHON) -m ruff check mytorch miniddp zoo experiments scripts tests

bench: setup  ## mytorch vs PyTorch timings and ratios, measured in one run
	$(PYTHON) scripts/bench.py

demo: setup  ## a tiny autograd demo
	$(PYTHON) -c "import mytorch; a = mytorch.tensor([1.0], requires_grad=True); c = (a + 2) ** 2; c.backward(); print(c, a.grad)"
