"""TensorRT: build an engine from the ONNX, time it, record the build time and TensorRT's version.

Two runners, one choice (`runner`, default "auto": the Python package if it imports, else trtexec):
- "python": the `tensorrt` package (`pip install 'accelbench[tensorrt]'`, tensorrt-cu13 from PyPI), in
  profiling.backends.tensorrt_python; samples are CUDA-event times of single enqueues;
- "trtexec": NVIDIA's executable (containers); samples are its per-iteration GPU compute times
  (`--exportTimes`), the summary its `=== Performance summary ===`.
fp16 engines are strongly typed on both (TensorRT 11 has no other kind): they are built from an fp16
copy of the ONNX (profiling.onnx_fp16) with fp32 inputs and outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.backends.tensorrt_python import EngineError, build_engine, time_engine
from accelbench.profiling.export import INPUT_NAME, onnx_input_shape
from accelbench.profiling.onnx_fp16 import float16_copy
from accelbench.profiling.protocol import LatencySummary, Measurement, failed
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

_NUMBER = r"([-+0-9.eE]+)"


RUNNERS = ("auto", "python", "trtexec")


@dataclass(frozen=True)
class TensorRtOptions(Options):
    runner: str = "auto"  # python (the tensorrt package), trtexec, or auto: python where it imports
    trtexec: str | None = None  # path to trtexec; none: found on PATH
    warmup_ms: int = 2000
    duration_s: int = 10
    iterations: int = 100
    timeout_s: int = 1800  # engine build and run together
    calibration_cache: str | None = None  # int8 calibration cache (else trtexec's default calibration)
_STATISTICS = re.compile(rf"(min|max|mean|median|percentile\((\d+)%\)) = {_NUMBER} ms")


@dataclass(frozen=True)
class TrtexecSummary:
    passed: bool
    version: str | None
    throughput_qps: float | None
    latency_ms: dict[str, float]  # min, max, mean, median, p90, p95, p99 (those printed)
    gpu_compute_ms: dict[str, float]
    build_time_s: float | None


def _statistics(line: str) -> dict[str, float]:
    values = {}
    for name, percentile, number in _STATISTICS.findall(line):
        values[f"p{percentile}" if percentile else name] = float(number)
    return values


def parse_trtexec_output(text: str) -> TrtexecSummary:
    throughput = version = build = None
    latency: dict[str, float] = {}
    compute: dict[str, float] = {}
    for line in text.splitlines():
        if match := re.search(rf"\] Throughput: {_NUMBER} qps", line):
            throughput = float(match.group(1))
        elif "] Latency: min =" in line:
            latency = _statistics(line)
        elif "] GPU Compute Time: min =" in line:
            compute = _statistics(line)
        elif match := re.search(rf"Engine built in {_NUMBER} sec", line):
            build = float(match.group(1))
        elif match := re.search(r"&&&& (PASSED|FAILED) TensorRT\.trtexec \[TensorRT v(\d+)\]", line):
            version = match.group(2)
    passed = "&&&& PASSED TensorRT.trtexec" in text
    return TrtexecSummary(passed, version, throughput, latency, compute, build)


def parse_export_times(text: str) -> list[float]:
    """Per-iteration GPU compute times (ms) from trtexec's --exportTimes JSON."""
    return [float(entry["computeMs"]) for entry in json.loads(text) if isinstance(entry, dict) and "computeMs" in entry]


def trtexec_command(onnx_path: Path, input_shape: tuple[int, ...], target: Target, engine_path: Path, times_path: Path, executable: str = "trtexec") -> list[str]:
    settings: TensorRtOptions = target.settings
    shape = f"{INPUT_NAME}:{'x'.join(str(d) for d in (target.batch, *input_shape))}"
    command = [
        executable,
        f"--onnx={onnx_path}",
        f"--minShapes={shape}",
        f"--optShapes={shape}",
        f"--maxShapes={shape}",
        f"--saveEngine={engine_path}",
        f"--exportTimes={times_path}",
        f"--warmUp={settings.warmup_ms}",
        f"--duration={settings.duration_s}",
        f"--iterations={settings.iterations}",
        "--useSpinWait",
        "--noDataTransfers",
    ]
    if target.precision == "fp16":
        command.append("--stronglyTyped")  # the ONNX given is the fp16 copy (profiling.onnx_fp16)
    elif target.precision == "int8":
        command += ["--int8", "--fp16"]  # layers without int8 kernels fall back to fp16
        if settings.calibration_cache:
            command.append(f"--calib={settings.calibration_cache}")
    return command


def tensorrt_runtime() -> dict[str, str | None]:
    """The TensorRT this host has: the Python package (tensorrt-cu13/-cu12 from PyPI) and trtexec."""
    try:
        import tensorrt

        python, why = tensorrt.__version__, None
    except ImportError as error:
        python, why = None, f"{error}; pip install 'accelbench[tensorrt]' on a CUDA host"
    return {"python": python, "python_missing": why, "trtexec": shutil.which("trtexec")}


def python_tensorrt():
    """The tensorrt module, or None where it does not import."""
    try:
        import tensorrt

        return tensorrt
    except ImportError:
        return None


class TensorRtBackend(BackendBase):
    header = Header("tensorrt", TensorRtOptions, precisions=("fp32", "fp16", "int8"), devices=("cuda",), needs_onnx=True)

    def runner(self, target: Target) -> str:
        chosen = target.settings.runner
        if chosen == "auto":
            return "python" if python_tensorrt() is not None or not (target.settings.trtexec or shutil.which("trtexec")) else "trtexec"
        return chosen

    def check(self, target: Target) -> Availability:
        if target.settings.runner not in RUNNERS:
            return Availability(False, f"runner={target.settings.runner!r} is not allowed; choices are {', '.join(RUNNERS)}")
        runner = self.runner(target)
        if runner == "python":
            module = python_tensorrt()
            if module is None:
                return Availability(False, tensorrt_runtime()["python_missing"] + " (or give runner = \"trtexec\" with trtexec on PATH)")
            if target.precision == "int8":
                return Availability(False, "precision=int8 needs a calibrated or Q/DQ model: use runner = \"trtexec\" with a calibration cache")
            where = f"tensorrt {module.__version__} (Python)"
        else:
            executable = target.settings.trtexec or shutil.which("trtexec")
            if not executable:
                return Availability(False, "trtexec is not on PATH: it comes with NVIDIA's TensorRT containers; "
                                           "or pip install 'accelbench[tensorrt]' and use runner = \"python\"")
            where = f"trtexec at {executable}"
        if shutil.which("nvidia-smi") is None:
            return Availability(False, "no NVIDIA driver here (nvidia-smi not found)")
        return Availability(True, where)

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        return self.measure_onnx(architecture.arch_id, onnx_path, target)

    def measure_onnx(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        """Any ONNX model (a network or one block) at its own input shape and the target's batch."""
        with tempfile.TemporaryDirectory() as folder:
            if target.precision == "fp16":
                onnx_path = float16_copy(onnx_path, Path(folder) / "model_fp16.onnx")
            if self.runner(target) == "python":
                return self.measure_python(subject_id, onnx_path, target)
            return self.measure_trtexec(subject_id, onnx_path, target, Path(folder))

    def measure_python(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        trt, settings = python_tensorrt(), target.settings
        shape = (target.batch, *onnx_input_shape(onnx_path))
        try:
            engine, build_s = build_engine(trt, onnx_path, INPUT_NAME, shape)
            samples = time_engine(trt, engine, INPUT_NAME, shape, settings.warmup_ms, settings.iterations, settings.duration_s)
        except EngineError as error:
            return failed(subject_id, target, f"tensorrt {trt.__version__}: {error}")
        environment = {"tensorrt": trt.__version__, "runner": "python", "strongly_typed": True}
        return Measurement.of_samples(subject_id, target, samples, build_time_s=build_s, environment=environment)

    def measure_trtexec(self, subject_id: str, onnx_path: Path, target: Target, folder: Path) -> Measurement:
        executable = target.settings.trtexec or shutil.which("trtexec") or "trtexec"
        engine, times = folder / "model.engine", folder / "times.json"
        command = trtexec_command(onnx_path, onnx_input_shape(onnx_path), target, engine, times, executable)
        result = subprocess.run(command, capture_output=True, text=True, timeout=target.settings.timeout_s)
        summary = parse_trtexec_output(result.stdout)
        if result.returncode != 0 or not summary.passed or not summary.gpu_compute_ms:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            return failed(subject_id, target, f"trtexec exited {result.returncode}: " + " | ".join(tail))
        samples = parse_export_times(times.read_text()) if times.exists() else []
        environment = {"tensorrt": summary.version, "runner": "trtexec", "trtexec_throughput_qps": summary.throughput_qps, "latency_ms": summary.latency_ms,
                       "command": command}
        if samples:
            return Measurement.of_samples(subject_id, target, samples, build_time_s=summary.build_time_s, environment=environment)
        compute = summary.gpu_compute_ms  # no per-iteration file: trtexec's own summary
        latency = LatencySummary(compute["median"], compute["mean"], float("nan"), compute.get("p90", float("nan")), 0)
        return Measurement(subject_id, target, "ok", latency, (), target.batch * 1000.0 / compute["median"], summary.build_time_s, None, environment)
