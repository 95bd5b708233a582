# Every target sets itself up: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
# CPU build by default; GPU users: make test TORCH_SPEC=torch TORCH_INDEX="--index-url https://..."
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin

.PHONY: setup test demo bench lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

lint: setup
	$(BIN)/ruff check src tests

test: setup lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/tokenshuffle bench generate

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
