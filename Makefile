# accelbench: `make collect` runs the sweep, `make test` checks the code. Both set themselves up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= accelbench/workflows/configs/default.toml
STORE ?= runs/default
RAY_ADDRESS ?=

TENSORRT_EXTRA ?= tensorrt

.PHONY: setup setup-gpu test test-all collect bench clean

setup: $(VENV)/.installed

# Re-run pip only when the project's dependencies change; a second `make setup` takes no time.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=python3.X (3.10 or newer)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[tvm,dev]' --config-settings editable_mode=compat
	touch $@

# A CUDA host: TensorRT from PyPI (TENSORRT_EXTRA=tensorrt-cu12 for CUDA 12 drivers) and ONNX Runtime's GPU
# build (CUDA and TensorRT providers) in place of the CPU one: both packages are the `onnxruntime` module.
setup-gpu: setup
	$(BIN)/python -m pip install --quiet -e '.[tvm,dev,$(TENSORRT_EXTRA)]' --config-settings editable_mode=compat
	$(BIN)/python -m pip uninstall --quiet -y onnxruntime
	$(BIN)/python -m pip install --quiet 'onnxruntime-gpu>=1.27'

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
