"""Eager PyTorch on CUDA, as the reference measured its GPUs (measure_throughput_gpu.py, trainval.py):
cuDNN benchmarking on, channels-last, AMP (precision fp16), input at the target's resolution (the
reference: its validation resolution, 256 px) and batch (its validation batch).

Throughput (batch > 1): `warmup_passes` passes over a fixed set of `images_per_pass` images are
discarded, then each of `passes` passes gives images / (summed batch time, CUDA events); the result is
the mean and std across passes. Latency (batch 1): timed calls after a warm-up, CUDA events.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.protocol import LatencySummary, Measurement, TimingPlan, failed, time_runs
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target


@dataclass(frozen=True)
class TorchOptions(Options):
    passes: int = 3  # measured passes (the reference's code does 3; its README says 2)
    warmup_passes: int = 1
    images_per_pass: int = 50_000  # the reference passed over ImageNet's validation set
    cudnn_benchmark: bool = True
    channels_last: bool = True
    repeats: int = 50  # batch-1 latency: timed calls


def pass_throughputs(run_batch: Callable[[], float], batch: int, images_per_pass: int, passes: int, warmup_passes: int) -> tuple[list[float], list[float]]:
    """(images/s of each measured pass, every measured batch's milliseconds). A pass is the whole batches
    that cover `images_per_pass` images; `run_batch` runs one and returns its time in ms."""
    batches = max(1, math.ceil(images_per_pass / batch))
    throughputs, batch_ms = [], []
    for number in range(warmup_passes + passes):
        times = [run_batch() for _ in range(batches)]
        if number >= warmup_passes:
            throughputs.append(batches * batch * 1000.0 / sum(times))
            batch_ms += times
    return throughputs, batch_ms


class TorchCudaBackend(BackendBase):
    header = Header("torch", TorchOptions, precisions=("fp32", "fp16"), devices=("cuda",))  # fp16 through AMP, as the reference

    def check(self, target: Target) -> Availability:
        import os

        import torch

        if not torch.cuda.is_available():
            return Availability(False, f"no CUDA device is visible to torch {torch.__version__} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')})")
        return Availability(True, f"torch {torch.__version__} on {torch.cuda.get_device_name()}")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        import torch

        from accelbench.search_space.builder import build

        settings: TorchOptions = target.settings
        amp = target.precision == "fp16"
        memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        try:
            model = build(architecture).eval().cuda().to(memory_format=memory_format)
            # a fixed image set: one seeded batch, reused (the content does not change the work)
            generator = torch.Generator(device="cuda").manual_seed(0)
            images = torch.randn(target.batch, 3, target.resolution, target.resolution, device="cuda", generator=generator).contiguous(memory_format=memory_format)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def run_batch() -> float:
                start.record()
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                    model(images)
                end.record()
                end.synchronize()
                return start.elapsed_time(end)

            if target.batch > 1:
                throughputs, batch_ms = pass_throughputs(run_batch, target.batch, settings.images_per_pass, settings.passes, settings.warmup_passes)
            else:
                samples: list[float] = []
                wall = time_runs(lambda: samples.append(run_batch()), TimingPlan(repeats=settings.repeats, min_time_s=1.0))
                batch_ms = samples[-len(wall) :]  # the event times of the timed runs, not of the warm-up
        except torch.cuda.OutOfMemoryError as error:
            return failed(architecture.arch_id, target, f"out of memory at batch {target.batch}, {target.resolution} px: {error}")
        except Exception as error:  # noqa: BLE001 - a failure of this architecture is a record
            return failed(architecture.arch_id, target, f"{type(error).__name__}: {error}")
        finally:
            torch.backends.cudnn.benchmark = previous
            torch.cuda.empty_cache()
        environment = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(), "amp": amp,
                       "channels_last": settings.channels_last, "cudnn_benchmark": settings.cudnn_benchmark}
        if target.batch == 1:
            return Measurement.of_samples(architecture.arch_id, target, batch_ms, environment=environment)
        environment.update(pass_throughputs_ips=throughputs, images_per_pass=math.ceil(settings.images_per_pass / target.batch) * target.batch)
        return Measurement(architecture.arch_id, target, "ok", LatencySummary.of(batch_ms), tuple(batch_ms), statistics.fmean(throughputs),
                           environment=environment, throughput_std_ips=statistics.pstdev(throughputs))
