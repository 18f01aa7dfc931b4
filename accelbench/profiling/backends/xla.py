"""TPU through torch_xla, as the reference measured its TPUs (measure_throughput_tpu.py): one core, bf16
(`XLA_USE_BF16=1` there: every float tensor in bf16; here the model and input are cast to bf16, the same
arithmetic), the reference's batches (64 on TPUv2, 128 on TPUv3), and a pipelined stream: steps are
dispatched without waiting for the device, and after `warmup_steps` the rate (images per wall second)
is sampled every `sample_every` steps; the result is the mean and std of `samples` rates. TPUs settle
late (>50k images), hence the long warm-up.

torch_xla pins its own torch (2.9 today), so TPU hosts run their own environment; it is imported only
inside this backend's calls, and nothing else in the project depends on it.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.protocol import LatencySummary, Measurement, failed
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

REFERENCE_BATCH = {"tpuv2": 64, "tpuv3": 128}


@dataclass(frozen=True)
class XlaOptions(Options):
    warmup_steps: int = 300
    sample_every: int = 50
    samples: int = 40  # rates sampled (the reference streamed the 1.28M training images: ~10-20k steps)
    allow_cpu: bool = False  # run on torch_xla's CPU device (for a check of the toolchain, not a measurement of a TPU)


def stream_rates(step: Callable[[], None], batch: int, warmup_steps: int, sample_every: int, samples: int,
                 wait: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Images per second over each window of `sample_every` dispatched steps after the warm-up. `step`
    dispatches one step without waiting; `wait` waits for the device (only once, at the warm-up's end)."""
    for _ in range(warmup_steps):
        step()
    wait()
    rates = []
    last = clock()
    for _ in range(samples):
        for _ in range(sample_every):
            step()
        now = clock()
        rates.append(sample_every * batch / (now - last))
        last = now
    wait()
    return rates


class XlaBackend(BackendBase):
    header = Header("xla", XlaOptions, precisions=("bf16", "fp32"))  # bf16 as the reference; the TPU is PJRT_DEVICE's

    def check(self, target: Target) -> Availability:
        if importlib.util.find_spec("torch_xla") is None:
            return Availability(False, "torch_xla is not installed: TPU hosts run their own environment (pip install 'torch-xla[tpu]', which pins its own torch)")
        pjrt = os.environ.get("PJRT_DEVICE", "")
        if pjrt.upper() != "TPU" and not target.settings.allow_cpu:
            return Availability(False, f"PJRT_DEVICE={pjrt or '(unset)'}: set PJRT_DEVICE=TPU on a TPU host")
        return Availability(True, f"torch_xla on PJRT_DEVICE={pjrt}")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        import torch
        import torch_xla
        import torch_xla.core.xla_model as xm

        from accelbench.search_space.builder import build

        settings: XlaOptions = target.settings
        dtype = torch.bfloat16 if target.precision == "bf16" else torch.float32
        try:
            device = torch_xla.device()
            model = build(architecture).eval().to(device=device, dtype=dtype)
            images = torch.randn(target.batch, 3, target.resolution, target.resolution).to(device=device, dtype=dtype)

            def step() -> None:
                with torch.no_grad():
                    model(images)
                torch_xla.sync()  # cut the graph and dispatch it; the host does not wait for the device

            started = time.perf_counter()
            rates = stream_rates(step, target.batch, settings.warmup_steps, settings.sample_every, settings.samples, xm.wait_device_ops)
            total = time.perf_counter() - started
        except Exception as error:  # noqa: BLE001 - an XLA compile or runtime error of this architecture is a record
            return failed(architecture.arch_id, target, f"{type(error).__name__}: {error}")
        batch_ms = [target.batch * 1000.0 / rate for rate in rates]
        environment = {"torch_xla": torch_xla.__version__, "device": str(device), "xla_device_kind": xm.xla_device_hw(device), "wall_s": total,
                       "rates_ips": rates, "dtype": str(dtype)}
        return Measurement(architecture.arch_id, target, "ok", LatencySummary.of(batch_ms), tuple(batch_ms), statistics.fmean(rates),
                           environment=environment, throughput_std_ips=statistics.pstdev(rates))
