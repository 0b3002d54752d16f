# Two set-up commands: `make demo` and `make test`. Both create .venv/ and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PIPFLAGS ?= --disable-pip-version-check -c constraints.txt
DEMO_OUT ?= demo_out

.PHONY: install dev demo test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "unet-edge needs Python >= 3.10")'
	$(PYTHON) -m venv $(VENV)

# Everything a CPU user needs: runtime, training/export (torch, onnx) and ONNX Runtime.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install $(PIPFLAGS) -e ".[train,cpu]"
	@touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install $(PIPFLAGS) -e ".[train,cpu,dev]"
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

demo: install
	$(BIN)/unet-edge demo --out $(DEMO_OUT)

lint: dev
	$(BIN)/ruff check .

test: dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build dist *.egg-info .pytest_cache .ruff_cache
