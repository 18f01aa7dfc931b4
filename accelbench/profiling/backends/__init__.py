"""The registry of profiler backends: one file each, the same small interface (`base.Backend`: a header
as data and `available`/`measure`; `base.BackendBase` gives the header's checks). A new backend is one file and one line here."""

from __future__ import annotations

from accelbench.profiling.backends.base import Availability, Backend
from accelbench.profiling.backends.onnxruntime import OnnxRuntimeBackend
from accelbench.profiling.backends.tensorrt import TensorRtBackend
from accelbench.profiling.backends.torch_cuda import TorchCudaBackend
from accelbench.profiling.backends.tvm import TvmBackend
from accelbench.profiling.backends.vitis import VitisBackend
from accelbench.profiling.backends.xla import XlaBackend
from accelbench.profiling.protocol import TargetError

BACKENDS: dict[str, Backend] = {
    backend.header.name: backend
    for backend in (OnnxRuntimeBackend(), TvmBackend(), TensorRtBackend(), XlaBackend(), VitisBackend(), TorchCudaBackend())
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise TargetError(f"backend={name!r} is unknown; choices are {', '.join(BACKENDS)}") from None


__all__ = ["BACKENDS", "Availability", "Backend", "get_backend"]
