"""ONNX Runtime: the embedded default on CPU; the CUDA and TensorRT execution providers where installed.

On a shared, noisy CPU the spread between fresh sessions is far larger than within one, so: pinned
thread count, no spinning, no memory arena, several fresh sessions, the median of their medians, and
each session's other-process load recorded; a session disturbed by more than `max_other_load` is
measured again (up to `retries` times).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.export import INPUT_NAME, onnx_input_shape
from accelbench.profiling.protocol import LoadMonitor, Measurement, TimingPlan, failed, time_runs
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


@dataclass(frozen=True)
class OnnxRuntimeOptions(Options):
    sessions: int = 3  # fresh sessions; the result is the median of their medians
    repeats: int = 30  # timed runs per session (at least)
    min_time_s: float = 0.5  # and at least this long per session
    max_other_load: float = 0.25  # a session disturbed more than this by other processes is measured again ...
    retries: int = 2  # ... up to this many times


class OnnxRuntimeBackend(BackendBase):
    header = Header("onnxruntime", OnnxRuntimeOptions, precisions=("fp32",), devices=tuple(PROVIDERS), needs_onnx=True)

    def check(self, target: Target) -> Availability:
        try:
            import onnxruntime
        except ImportError as error:
            return Availability(False, f"onnxruntime is not installed ({error}); pip install onnxruntime")
        provider = PROVIDERS.get(target.device)
        if provider not in onnxruntime.get_available_providers():
            installed = ", ".join(onnxruntime.get_available_providers())
            return Availability(False, f"{provider} is not in this onnxruntime {onnxruntime.__version__} build (it has {installed}); install onnxruntime-gpu on a GPU host (`make setup-gpu`)")
        return Availability(True, f"onnxruntime {onnxruntime.__version__} with {provider}")

    def session(self, onnx_path: Path, target: Target):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = target.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_cpu_mem_arena = False  # batch 32: 2.5 GB peak with the arena, 1.75 GB without, same speed
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(onnx_path), options, providers=[PROVIDERS[target.device]])

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        return self.measure_onnx(architecture.arch_id, onnx_path, target)

    def measure_onnx(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        """Any ONNX model (a network or one block) at its own input shape and the target's batch."""
        import onnxruntime

        settings: OnnxRuntimeOptions = target.settings
        sessions, max_other_load, retries = settings.sessions, settings.max_other_load, settings.retries
        plan = TimingPlan(repeats=settings.repeats, min_time_s=settings.min_time_s)
        images = np.random.default_rng(0).standard_normal((target.batch, *onnx_input_shape(onnx_path)), dtype=np.float32)
        medians, samples, loads = [], [], []
        try:
            for _ in range(sessions):
                for attempt in range(retries + 1):
                    session = self.session(onnx_path, target)
                    with LoadMonitor() as monitor:
                        runs = time_runs(lambda: session.run(None, {INPUT_NAME: images}), plan)
                    del session
                    if monitor.other_load <= max_other_load or attempt == retries:
                        break
                medians.append(statistics.median(runs))
                samples += runs
                loads.append(monitor.other_load)
        except Exception as error:  # noqa: BLE001 - a runtime error of this architecture is a record
            return failed(subject_id, target, f"{type(error).__name__}: {error}")
        environment = {
            "onnxruntime": onnxruntime.__version__,
            "provider": PROVIDERS[target.device],
            "sessions": sessions,
            "session_medians_ms": medians,
            "session_other_loads": loads,
        }
        measurement = Measurement.of_samples(subject_id, target, samples, median_ms=statistics.median(medians), other_load=max(loads), environment=environment)
        if max(loads) > max_other_load:  # still disturbed after every retry: kept, but not taken for a quiet measurement
            return dataclasses.replace(measurement, status="noisy", error=f"other processes used {max(loads):.2f} of this host's CPUs during a session, "
                                                                          f"after {retries} retries (limit {max_other_load}); kept as noisy")
        return measurement
