# accelbench: `make collect` runs the sweep, `make test` checks the code. Both set themselves up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= workflows/configs/default.toml
STORE ?= runs/default
RAY_ADDRESS ?=

.PHONY: setup test test-all collect bench clean

setup: $(VENV)/.installed

# Re-run pip only when the project's dependencies change; a second `make setup` takes no time.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=python3.X (3.10 or newer)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[tvm,dev]' --config-settings editable_mode=compat
	touch $@

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

collect: setup
	$(BIN)/accelbench collect $(CONFIG) --store $(STORE) $(if $(RAY_ADDRESS),--address $(RAY_ADDRESS),)

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
