"""Eager PyTorch on CUDA with AMP (fp16) and channels-last, as the reference measured its GPUs; timed
with CUDA events."""

from __future__ import annotations

from pathlib import Path

from profiling.backends.base import Availability
from profiling.protocol import Measurement, Target, TimingPlan, failed, time_runs
from search_space import Architecture


class TorchCudaBackend:
    name = "torch"
    needs_onnx = False

    def available(self, target: Target) -> Availability:
        import torch

        if target.device != "cuda":
            return Availability(False, f"device={target.device!r}: this backend measures CUDA GPUs only")
        if not torch.cuda.is_available():
            return Availability(False, f"no CUDA device is visible to torch {torch.__version__} (CUDA_VISIBLE_DEVICES={__import__('os').environ.get('CUDA_VISIBLE_DEVICES', '(unset)')})")
        return Availability(True, f"torch {torch.__version__} on {torch.cuda.get_device_name()}")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target) -> Measurement:
        import torch

        from search_space.builder import build

        resolution = int(target.option("resolution", 224))
        plan = TimingPlan(repeats=int(target.option("repeats", 50)), min_time_s=1.0)
        try:
            model = build(architecture).eval().cuda().to(memory_format=torch.channels_last)
            images = torch.randn(target.batch, 3, resolution, resolution, device="cuda").contiguous(memory_format=torch.channels_last)
            amp = target.precision == "fp16"
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            samples: list[float] = []

            def once() -> None:
                start.record()
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                    model(images)
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))

            wall = time_runs(once, plan)
            timed = samples[-len(wall) :]  # the event times of the timed runs, not of the warm-up
        except torch.cuda.OutOfMemoryError as error:
            return failed(architecture.arch_id, target, f"out of memory at batch {target.batch}: {error}")
        except Exception as error:  # noqa: BLE001
            return failed(architecture.arch_id, target, f"{type(error).__name__}: {error}")
        finally:
            torch.cuda.empty_cache()
        environment = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(), "amp": amp, "channels_last": True}
        return Measurement.of_samples(architecture.arch_id, target, timed, environment=environment)
