"""FPGA through Vitis AI: quantise (vai_q_pytorch), compile for the board's DPU (vai_c_xir), run on the
board (`xdputil benchmark`) through a configurable runner command, e.g. over ssh.

Vitis AI ships as AMD's container, not on PyPI: this backend drives its tools by command, inside that
container on the host. Latency is batch 1 on one thread (1000 / FPS); throughput is FPS with N threads
(the reference used 5 on ZCU102 and 6 on VCK190).

Target options: `board` (zcu102, vck190), `calibration` (folder of images), `quantize_python` (the
container's Python, default python3), `copy_command` and `run_command` (templates with {xmodel},
{name}, {threads}), `runs` (benchmark runs per mode).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from profiling.backends.base import Availability
from profiling.protocol import LatencySummary, Measurement, Target, failed
from search_space import Architecture

BOARDS = {
    "zcu102": {"dpu": "DPUCZDX8G_ISA1_B4096", "arch": "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json", "threads": 5},
    "vck190": {"dpu": "DPUCVDX8G", "arch": "/opt/vitis_ai/compiler/arch/DPUCVDX8G/VCK190/arch.json", "threads": 6},
}
_FPS = re.compile(r"FPS= ([0-9.eE+-]+) number_of_frames= (\d+) time= ([0-9.eE+-]+) seconds")


def parse_benchmark_output(text: str) -> float:
    """Frames per second from `xdputil benchmark`'s report line."""
    match = _FPS.search(text)
    if match is None or "Test PASS" not in text:
        raise ValueError("no 'FPS= ... Test PASS.' report in xdputil benchmark output")
    return float(match.group(1))


def quantize_command(architecture: Architecture, target: Target, output_dir: Path) -> list[str]:
    python = shlex.split(target.option("quantize_python", "python3"))
    return [*python, "-m", "profiling.backends.vitis_quantize", "--arch", architecture.compact(), "--calibration", str(target.option("calibration")), "--output", str(output_dir)]


def compile_command(target: Target, quantized_xmodel: Path, output_dir: Path, name: str) -> list[str]:
    board = BOARDS[target.option("board", "zcu102")]
    return ["vai_c_xir", "-x", str(quantized_xmodel), "-a", target.option("arch_json", board["arch"]), "-o", str(output_dir), "-n", name]


def board_commands(target: Target, xmodel: Path, name: str, threads: int) -> list[list[str]]:
    values = {"xmodel": str(xmodel), "name": name, "threads": str(threads)}
    commands = []
    if target.option("copy_command"):
        commands.append(shlex.split(target.option("copy_command").format(**values)))
    commands.append(shlex.split(target.option("run_command", "xdputil benchmark {xmodel} {threads}").format(**values)))
    return commands


class VitisBackend:
    name = "vitis"
    needs_onnx = False

    def available(self, target: Target) -> Availability:
        board = target.option("board", "zcu102")
        if board not in BOARDS:
            return Availability(False, f"board={board!r} is not known; choices are {', '.join(BOARDS)}")
        if shutil.which("vai_c_xir") is None:
            return Availability(False, "vai_c_xir is not on PATH: run inside AMD's Vitis AI container (Vitis AI is not on PyPI)")
        if not target.option("calibration"):
            return Availability(False, "the target needs a 'calibration' option: a folder of calibration images for vai_q_pytorch")
        if not target.option("run_command") and shutil.which("xdputil") is None:
            return Availability(False, f"no way to reach the {board}: set 'run_command' (e.g. 'ssh root@board xdputil benchmark /tmp/{{name}}.xmodel {{threads}}')")
        return Availability(True, f"Vitis AI tools for {board} ({BOARDS[board]['dpu']})")

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target) -> Measurement:
        board = BOARDS[target.option("board", "zcu102")]
        name = f"net_{architecture.arch_id}"
        runs = int(target.option("runs", 1))
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            steps = [quantize_command(architecture, target, work / "quantized"), compile_command(target, work / "quantized" / "Network_int.xmodel", work / "compiled", name)]
            for command in steps:
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    return failed(architecture.arch_id, target, f"{command[0]} exited {result.returncode}: {result.stderr.strip()[-500:]}")
            xmodel = work / "compiled" / f"{name}.xmodel"
            fps_by_threads: dict[int, list[float]] = {}
            for threads in (1, int(target.option("threads_throughput", board["threads"]))):
                for _ in range(runs):
                    output = ""
                    for command in board_commands(target, xmodel, name, threads):
                        result = subprocess.run(command, capture_output=True, text=True)
                        output = result.stdout + result.stderr
                        if result.returncode != 0:
                            return failed(architecture.arch_id, target, f"{command[0]} exited {result.returncode}: {output.strip()[-500:]}")
                    try:
                        fps_by_threads.setdefault(threads, []).append(parse_benchmark_output(output))
                    except ValueError as error:
                        return failed(architecture.arch_id, target, str(error))
        single, many = fps_by_threads[1], fps_by_threads[max(fps_by_threads)]
        samples = [1000.0 / fps for fps in single]
        summary = LatencySummary.of(samples)
        environment = {"board": target.option("board", "zcu102"), "dpu": board["dpu"], "fps_1_thread": single, "fps_n_threads": many, "threads": max(fps_by_threads)}
        return Measurement(architecture.arch_id, target, "ok", summary, tuple(samples), sorted(many)[len(many) // 2], None, None, environment)
