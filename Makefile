# Two commands a newcomer needs: `make demo` and `make test`. Both set everything up first
# and are safe to repeat.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export OMP_WAIT_POLICY := PASSIVE
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup demo test test-fast lint clean-state

setup: $(STAMP)

# torch is pinned exactly and installed first: the pin takes the CPU build on local disk,
# anything looser pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/catalog-concepts demo

# Lint (ruff) and types (mypy on the domain packages) first: seconds, and CI enforces both.
test: setup browser lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# The inner loop: pure tables and tiny-model CPU runs; no SeaweedFS, no Prefect server, no GPU.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not server and not gpu"

clean-state:
	-$(BIN)/catalog-concepts s3 stop
	rm -rf $${CONCEPTS_HOME:-$$HOME/.catalog-concepts}

# Debian's chromium for the contact-sheet browser test (no playwright download); `make test` should depend on it.
.PHONY: browser
browser:
	command -v chromium || (apt-get update && apt-get install -y chromium)
