"""TensorRT through its Python API (the `tensorrt-cu13` / `tensorrt-cu12` wheels from PyPI, which ship no
trtexec): a strongly typed engine built from the ONNX, timed with CUDA events on torch's buffers.

Strongly typed, because TensorRT 11 builds no other kind: the engine computes in the types the ONNX
declares (fp16 comes from profiling.onnx_fp16). The same call builds on TensorRT 10.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


class EngineError(Exception):
    """The ONNX parser or the builder refused the network; the message is TensorRT's."""


def build_engine(trt: Any, onnx_path: Path, input_name: str, shape: tuple[int, ...]) -> tuple[bytes, float]:
    """The serialized engine for exactly `shape`, and the seconds the build took."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise EngineError("ONNX parser: " + "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, shape, shape, shape)
    config.add_optimization_profile(profile)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError("the builder returned no engine (TensorRT's log above says why)")
    return bytes(serialized), time.perf_counter() - started


def time_engine(trt: Any, serialized: bytes, input_name: str, shape: tuple[int, ...], warmup_ms: float, iterations: int, duration_s: float) -> list[float]:
    """Milliseconds of each timed run (CUDA events around one enqueue), after `warmup_ms` of runs; at
    least `iterations` runs and at least `duration_s` of them, as trtexec counts."""
    import numpy as np
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(serialized)
    context = engine.create_execution_context()
    context.set_input_shape(input_name, shape)
    buffers = {}
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
        buffers[name] = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device="cuda")
        context.set_tensor_address(name, buffers[name].data_ptr())
    buffers[input_name].normal_()
    stream = torch.cuda.Stream()

    def run() -> None:
        if not context.execute_async_v3(stream.cuda_stream):
            raise EngineError("execute_async_v3 returned False")

    started = time.perf_counter()
    while (time.perf_counter() - started) * 1000 < warmup_ms:
        run()
        stream.synchronize()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < iterations or time.perf_counter() - started < duration_s:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record(stream)
        run()
        end.record(stream)
        end.synchronize()
        samples.append(begin.elapsed_time(end))
    return samples
