"""TPU through torch_xla: one core, the reference's batches (64 on TPUv2, 128 on TPUv3), a long warm-up.

torch_xla pins its own torch (2.9 today), so TPU hosts run their own environment; it is imported only
inside this backend's calls, and nothing else in the project depends on it.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

from profiling.backends.base import Availability
from profiling.protocol import Measurement, Target, TimingPlan, failed, time_runs
from search_space import Architecture

REFERENCE_BATCH = {"tpuv2": 64, "tpuv3": 128}


class XlaBackend:
    name = "xla"
    needs_onnx = False

    def available(self, target: Target) -> Availability:
        if importlib.util.find_spec("torch_xla") is None:
            return Availability(False, "torch_xla is not installed: TPU hosts run their own environment (pip install 'torch-xla[tpu]', which pins its own torch)")
        pjrt = os.environ.get("PJRT_DEVICE", "")
        if pjrt.upper() != "TPU" and not target.option("allow_cpu"):
            return Availability(False, f"PJRT_DEVICE={pjrt or '(unset)'}: set PJRT_DEVICE=TPU on a TPU host")
        return Availability(True, f"torch_xla on PJRT_DEVICE={pjrt}")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target) -> Measurement:
        import torch
        import torch_xla
        import torch_xla.core.xla_model as xm

        from search_space.builder import build

        resolution = int(target.option("resolution", 224))
        # TPUs compile on the first calls and settle late: a long minimum warm-up
        plan = TimingPlan(min_warmup=int(target.option("min_warmup", 50)), max_warmup=500, repeats=int(target.option("repeats", 50)), min_time_s=2.0)
        try:
            device = torch_xla.device()
            model = build(architecture).eval().to(device)
            images = torch.randn(target.batch, 3, resolution, resolution, device=device)
            dtype = torch.bfloat16 if target.precision == "fp16" else None

            def once() -> None:
                with torch.no_grad(), torch.autocast("xla", dtype=torch.bfloat16, enabled=dtype is not None):
                    model(images)
                torch_xla.sync()
                xm.wait_device_ops()

            started = time.perf_counter()
            samples = time_runs(once, plan)
            total = time.perf_counter() - started
        except Exception as error:  # noqa: BLE001 - an XLA compile or runtime error of this architecture is a record
            return failed(architecture.arch_id, target, f"{type(error).__name__}: {error}")
        environment = {"torch_xla": torch_xla.__version__, "device": str(device), "xla_device_kind": xm.xla_device_hw(device), "wall_s": total}
        return Measurement.of_samples(architecture.arch_id, target, samples, environment=environment)
