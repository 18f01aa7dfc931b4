"""FPGA through Vitis AI, as the reference measured its boards (fpga_code/, README "FPGAs"):

1. quantise the *trained* weights with vai_q_pytorch (150 random validation images at batch 32, then the
   quantised top-1/top-5 on 100 more, exported with deploy_check): `vitis_quantize.py`, run by the
   Vitis AI container's Python (`quantize_python`);
2. compile for the board's DPU with vai_c_xir (ZCU102: DPUCZDX8G_ISA1_B4096; VCK190: DPUCVDX8G_ISA3_C32B3,
   the arch the reference's compile.sh names);
3. on the board (`copy_command`, then `run_command`, e.g. over ssh), `vitis_board.py`: latency per DPU job
   on one thread (a job is 1 image on the ZCU102, 6 on the VCK190: the target's batch must be the
   DPU's), and throughput with the reference's threads (5 on ZCU102, 6 on VCK190), up to 9 jobs in
   flight per thread.

Vitis AI is AMD's container, not on PyPI; the version is pinned (the reference used 2.5) and recorded.
Command templates may use {xmodel}, {name}, {runner} (vitis_board.py's path here), {mode}, {threads},
{images}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import shlex
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from accelbench.profiling.backends.base import Availability, BackendBase, Header, Options
from accelbench.profiling.protocol import LatencySummary, Measurement, failed, unavailable
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target

RUNNER = Path(__file__).with_name("vitis_board.py")
BOARDS = {
    "zcu102": {"dpu": "DPUCZDX8G_ISA1_B4096", "arch": "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json", "threads": 5, "batch": 1},
    "vck190": {"dpu": "DPUCVDX8G_ISA3_C32B3", "arch": "/opt/vitis_ai/compiler/arch/DPUCVDX8G/VCK190/arch.json", "threads": 6, "batch": 6},
}


@dataclass(frozen=True)
class VitisOptions(Options):
    board: str = "zcu102"
    arch_json: str | None = None  # the DPU's arch.json; none: the container's for the board
    calibration: str | None = None  # an ImageNet-layout validation folder (labels for the quantised accuracy)
    calibration_images: int = 150
    calibration_batch: int = 32
    test_images: int = 100
    seed: int = 0  # which calibration and test images are drawn
    quantize_python: str = "python3"  # the Vitis AI container's Python, e.g. "docker exec vitis-ai python3"
    compiler: str = "vai_c_xir"
    vitis_ai_version: str = "2.5"
    copy_command: str | None = None
    run_command: str = "python3 {runner} --model {xmodel} --mode {mode} --threads {threads} --images {images}"
    throughput_threads: int | None = None  # runner threads when measuring throughput; none: the reference's for the board (latency: 1)
    images: int = 1000  # per board run (the reference: ~1,000 ImageNet images)
    runs: int = 1  # board runs per mode


def parse_json_line(text: str, what: str) -> dict:
    """The last line of `text` that is a JSON object (tools print their logs first)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise ValueError(f"no JSON result line in the output of {what}")


def quantize_command(architecture: Architecture, target: Target, weights: Path, output_dir: Path) -> list[str]:
    settings: VitisOptions = target.settings
    return [*shlex.split(settings.quantize_python), "-m", "accelbench.profiling.backends.vitis_quantize", "--arch", architecture.compact(), "--space", architecture.space, "--weights", str(weights),
            "--calibration", str(settings.calibration), "--output", str(output_dir), "--images", str(settings.calibration_images),
            "--batch", str(settings.calibration_batch), "--test-images", str(settings.test_images), "--seed", str(settings.seed)]


def version_command(target: Target) -> list[str]:
    return [*shlex.split(target.settings.quantize_python), "-c", "import pytorch_nndct; print(pytorch_nndct.__version__)"]


def compile_command(target: Target, quantized_xmodel: Path, output_dir: Path, name: str) -> list[str]:
    settings: VitisOptions = target.settings
    return [*shlex.split(settings.compiler), "-x", str(quantized_xmodel), "-a", settings.arch_json or BOARDS[settings.board]["arch"], "-o", str(output_dir), "-n", name]


def board_commands(target: Target, xmodel: Path, name: str, mode: str) -> list[list[str]]:
    settings: VitisOptions = target.settings
    threads = 1 if mode == "latency" else settings.throughput_threads or BOARDS[settings.board]["threads"]
    values = {"xmodel": str(xmodel), "name": name, "runner": str(RUNNER), "mode": mode, "threads": str(threads), "images": str(settings.images)}
    commands = [shlex.split(settings.copy_command.format(**values))] if settings.copy_command else []
    return commands + [shlex.split(settings.run_command.format(**values))]


class VitisBackend(BackendBase):
    header = Header("vitis", VitisOptions, precisions=("int8",), needs_trained_weights=True)  # the DPU runs int8; the board is an option

    def check(self, target: Target) -> Availability:
        settings: VitisOptions = target.settings
        if settings.board not in BOARDS:
            return Availability(False, f"board={settings.board!r} is not known; choices are {', '.join(BOARDS)}")
        if shutil.which(shlex.split(settings.compiler)[0]) is None:
            return Availability(False, f"{settings.compiler} is not on PATH: run inside AMD's Vitis AI container (Vitis AI is not on PyPI)")
        if not settings.calibration:
            return Availability(False, "the target needs a 'calibration' option: an ImageNet-layout validation folder for vai_q_pytorch")
        try:
            found = subprocess.run(version_command(target), capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            return Availability(False, f"cannot run {settings.quantize_python!r}: {error}")
        version = found.stdout.strip().splitlines()[-1] if found.returncode == 0 and found.stdout.strip() else None
        if version is None or not version.startswith(settings.vitis_ai_version):
            return Availability(False, f"Vitis AI {version or '(not found: ' + found.stderr.strip()[-200:] + ')'} is here; this target pins "
                                       f"{settings.vitis_ai_version} (the reference's): set vitis_ai_version to accept another")
        return Availability(True, f"Vitis AI {version} for {settings.board} ({BOARDS[settings.board]['dpu']})")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        settings: VitisOptions = target.settings
        if weights is None:
            return unavailable(architecture.arch_id, target, "the FPGA flow quantises trained weights and this architecture has none (its training is not ok, or saved no weights)")
        name = f"net_{architecture.arch_id}"
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            try:
                quantized = self._run(quantize_command(architecture, target, weights, work / "quantized"), "vai_q_pytorch")
                accuracy = parse_json_line(quantized, "the quantisation")
                self._run(compile_command(target, work / "quantized" / "Network_int.xmodel", work / "compiled", name), "vai_c_xir")
                results = {mode: [self._on_board(target, work / "compiled" / f"{name}.xmodel", name, mode) for _ in range(settings.runs)]
                           for mode in ("latency", "throughput")}
            except (RuntimeError, ValueError) as error:
                return failed(architecture.arch_id, target, str(error))
        dpu_batch = results["latency"][0]["dpu_batch"]
        if dpu_batch != target.batch:
            return failed(architecture.arch_id, target, f"the compiled DPU runs jobs of {dpu_batch} images; the target says batch {target.batch}: set batch = {dpu_batch}")
        job_ms = [ms for run in results["latency"] for ms in run["job_ms"]]
        fps = [run["fps"] for run in results["throughput"]]
        environment = {"board": settings.board, "dpu": BOARDS[settings.board]["dpu"], "vitis_ai": accuracy.get("vitis_ai"), "dpu_batch": dpu_batch,
                       "threads": results["throughput"][0]["threads"], "fps_runs": fps, "quantization": accuracy}
        return Measurement(architecture.arch_id, target, "ok", LatencySummary.of(job_ms), tuple(job_ms), statistics.fmean(fps), environment=environment,
                           throughput_std_ips=statistics.pstdev(fps), accuracy_top1=accuracy.get("quantized_top1"), accuracy_top5=accuracy.get("quantized_top5"))

    @staticmethod
    def _run(command: list[str], what: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{what} ({command[0]}) exited {result.returncode}: {(result.stdout + result.stderr).strip()[-500:]}")
        return result.stdout

    def _on_board(self, target: Target, xmodel: Path, name: str, mode: str) -> dict:
        output = ""
        for command in board_commands(target, xmodel, name, mode):
            output = self._run(command, f"the board's {mode} run")
        return parse_json_line(output, f"the board's {mode} run")
