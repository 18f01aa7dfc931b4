# accelbench: `make collect` runs the sweep, `make test` checks the code. Both set themselves up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= accelbench/workflows/configs/default.toml
STORE ?= runs/default
RAY_ADDRESS ?=

TENSORRT_EXTRA ?= tensorrt
# The tests run on a worker per core, each held to its core (tests/conftest.py), a test file to one worker
# (a module's fixtures are made once); PARALLEL= runs them in one process
PARALLEL ?= -n auto --dist loadfile

.PHONY: setup setup-gpu test test-all collect bench fashion-mnist gpu-kit clean

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
	$(BIN)/python -m pytest -q $(PARALLEL)

test-all: setup
	$(BIN)/python -m pytest -q -m '' $(PARALLEL)

collect: setup
	$(BIN)/accelbench collect $(CONFIG) --store $(STORE) $(if $(RAY_ADDRESS),--address $(RAY_ADDRESS),)

bench: setup
	$(BIN)/python -m benchmarks

# Fashion-MNIST (data = "fashion-mnist"): Debian's dataset-fashion-mnist puts its four IDX files in
# /usr/share/datasets/fashion-mnist/. Elsewhere: put the four files in a folder, data = "fashion-mnist:DIR".
fashion-mnist:
	@if ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then echo "Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get install -y dataset-fashion-mnist || { apt-get update && apt-get install -y dataset-fashion-mnist; }; \
	elif command -v apt-get >/dev/null; then echo "run: sudo apt-get install dataset-fashion-mnist"; exit 1; \
	else echo "no apt here: download Zalando's four IDX files (github.com/zalandoresearch/fashion-mnist) into a folder and use data = \"fashion-mnist:DIR\""; exit 1; fi

# The wheels and data a lent GPU machine (no network, 64 MiB a call) needs for the GPU campaign, in
# .gpu-kit/, and the two device calls that carry them (benchmarks/gpu_kit.py)
gpu-kit: setup fashion-mnist
	$(BIN)/python -m benchmarks.gpu_kit

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
