"""The registry of profiler backends: one file each, the same small interface (`base.Backend`)."""

from __future__ import annotations

from profiling.backends.base import Availability, Backend
from profiling.backends.onnxruntime import OnnxRuntimeBackend
from profiling.backends.tensorrt import TensorRtBackend
from profiling.backends.torch_cuda import TorchCudaBackend
from profiling.backends.tvm import TvmBackend
from profiling.backends.vitis import VitisBackend
from profiling.backends.xla import XlaBackend
from profiling.protocol import TargetError

BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (OnnxRuntimeBackend(), TvmBackend(), TensorRtBackend(), XlaBackend(), VitisBackend(), TorchCudaBackend())
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise TargetError(f"backend={name!r} is unknown; choices are {', '.join(BACKENDS)}") from None


__all__ = ["BACKENDS", "Availability", "Backend", "get_backend"]
