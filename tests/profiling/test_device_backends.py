"""Backends whose tools or devices are not on this machine: their commands, their parsing of real
recorded tool output, and their 'unavailable, because ...' answers."""

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from profiling.backends import BACKENDS
from profiling.backends.tensorrt import TensorRtBackend, parse_export_times, parse_trtexec_output, trtexec_command
from profiling.backends.torch_cuda import TorchCudaBackend
from profiling.backends.vitis import VitisBackend, board_commands, compile_command, parse_benchmark_output, quantize_command
from profiling.backends.xla import XlaBackend
from profiling.protocol import Target

DATA = Path(__file__).parent / "data"


def test_parse_recorded_trtexec_summaries():
    old = parse_trtexec_output((DATA / "trtexec_v8401_rtx3070.log").read_text())
    assert old.passed and old.version == "8401" and old.throughput_qps == 1004.27
    assert old.gpu_compute_ms == {"min": 0.965637, "max": 4.24448, "mean": 0.993252, "median": 0.97998, "p99": 1.29016}
    assert old.latency_ms["median"] == 1.1897
    new = parse_trtexec_output((DATA / "trtexec_2023_summary.log").read_text())
    assert not new.passed  # the log ends before trtexec's PASSED line
    assert new.gpu_compute_ms["p90"] == 43.1836 and new.latency_ms["p95"] == 47.5834


def test_trtexec_command_lines(tmp_path):
    onnx = tmp_path / "m.onnx"
    fp16 = trtexec_command(onnx, Target("trt", "tensorrt", batch=256, device="cuda", precision="fp16"), tmp_path / "e", tmp_path / "t.json")
    assert fp16[0] == "trtexec" and f"--onnx={onnx}" in fp16 and "--fp16" in fp16 and "--int8" not in fp16
    assert "--optShapes=images:256x3x224x224" in fp16 and f"--exportTimes={tmp_path / 't.json'}" in fp16
    int8 = trtexec_command(onnx, Target("trt", "tensorrt", device="cuda", precision="int8", options={"calibration_cache": "c.cache"}), tmp_path / "e", tmp_path / "t")
    assert "--int8" in int8 and "--calib=c.cache" in int8
    assert not any(flag in trtexec_command(onnx, Target("trt", "tensorrt", device="cuda"), tmp_path / "e", tmp_path / "t") for flag in ("--fp16", "--int8"))


def test_tensorrt_drives_the_executable_and_reads_its_files(architecture, tmp_path):
    """A stand-in `trtexec` replays a recorded log and writes per-iteration times, so the real
    subprocess, file and parsing path runs here (the numbers are the recording's, not a measurement)."""
    script = tmp_path / "trtexec"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        "args = dict(a.split('=', 1) for a in sys.argv[1:] if '=' in a)\n"
        "json.dump([{'count': 3}, {'computeMs': 1.0}, {'computeMs': 2.0}, {'computeMs': 3.0}], open(args['--exportTimes'], 'w'))\n"
        f"print(open({str(DATA / 'trtexec_v8401_rtx3070.log')!r}).read())\n"
        "print('[I] Engine built in 12.5 sec.')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    target = Target("trt", "tensorrt", batch=4, device="cuda", options={"trtexec": str(script)})
    measurement = TensorRtBackend().measure(architecture, tmp_path / "m.onnx", target)
    assert measurement.status == "ok", measurement.error
    assert measurement.samples_ms == (1.0, 2.0, 3.0) and measurement.latency.median_ms == 2.0
    assert measurement.build_time_s == 12.5 and measurement.throughput_ips == 4 * 1000 / 2.0
    script.write_text("#!/bin/sh\necho '&&&& FAILED TensorRT.trtexec [TensorRT v8401]'; exit 1\n")
    broken = TensorRtBackend().measure(architecture, tmp_path / "m.onnx", target)
    assert broken.status == "failed" and "trtexec exited 1" in broken.error


def test_export_times_parsing():
    assert parse_export_times(json.dumps([{"count": 2}, {"computeMs": 0.5, "latencyMs": 0.7}, {"computeMs": 0.25}])) == [0.5, 0.25]


def test_parse_recorded_xdputil_benchmark():
    assert parse_benchmark_output((DATA / "xdputil_benchmark.log").read_text()) == 1358.31
    with pytest.raises(ValueError, match="no 'FPS= ... Test PASS.' report"):
        parse_benchmark_output("Segmentation fault")


def test_vitis_commands(architecture, tmp_path):
    target = Target("zcu102", "vitis", device="zcu102", options={"board": "zcu102", "calibration": "/data/calib", "quantize_python": "docker exec vai python3",
                                                                  "copy_command": "scp {xmodel} root@board:/tmp/{name}.xmodel",
                                                                  "run_command": "ssh root@board xdputil benchmark /tmp/{name}.xmodel {threads}"})
    quantize = quantize_command(architecture, target, tmp_path / "q")
    assert quantize[:3] == ["docker", "exec", "vai"] and architecture.compact() in quantize and "/data/calib" in quantize
    compiled = compile_command(target, tmp_path / "q" / "Network_int.xmodel", tmp_path / "c", "net")
    assert compiled[:3] == ["vai_c_xir", "-x", str(tmp_path / "q" / "Network_int.xmodel")]
    assert "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json" in compiled
    copy, run = board_commands(target, tmp_path / "c" / "net.xmodel", "net", 5)
    assert copy == ["scp", str(tmp_path / "c" / "net.xmodel"), "root@board:/tmp/net.xmodel"]
    assert run == ["ssh", "root@board", "xdputil", "benchmark", "/tmp/net.xmodel", "5"]


@pytest.mark.parametrize(
    "backend, target, reason",
    [
        (TensorRtBackend(), Target("t", "tensorrt", device="cuda"), "trtexec is not on PATH"),
        (VitisBackend(), Target("v", "vitis", device="zcu102", options={"calibration": "x"}), "vai_c_xir is not on PATH"),
        (VitisBackend(), Target("v", "vitis", options={"board": "u280"}), "board='u280' is not known"),
        (XlaBackend(), Target("x", "xla", batch=64, device="tpu"), "torch_xla is not installed"),
        (TorchCudaBackend(), Target("g", "torch", device="cuda"), "no CUDA device is visible"),
    ],
)
def test_unavailable_here_with_the_reason(backend, target, reason):
    availability = backend.available(target)
    assert not availability and reason in availability.reason


def test_registry_and_lazy_imports():
    assert set(BACKENDS) == {"onnxruntime", "tvm", "tensorrt", "xla", "vitis", "torch"}
    code = "import sys, profiling.backends, profiling.runner; print(any(m.startswith(('torch_xla', 'tensorrt', 'pytorch_nndct')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_cli_profile_list_and_run(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "workflows.cli", "profile", "--list"], capture_output=True, text=True)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 6 and lines[0].startswith("onnxruntime  available")
    assert any(line.startswith("tensorrt") and "unavailable" in line for line in lines)
    architectures = tmp_path / "a.jsonl"
    subprocess.run([sys.executable, "-m", "workflows.cli", "space", "sample", "--n", "2", "--seed", "4", "--output", str(architectures)], check=True)
    output = tmp_path / "p.jsonl"
    command = [sys.executable, "-m", "workflows.cli", "profile", "--backend", "onnxruntime", "--input", str(architectures), "--batch", "2",
               "--option", "sessions=1", "--option", "resolution=64", "--option", "min_time_s=0.05", "--cache", str(tmp_path / "cache"), "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(row["backend"], row["batch"], row["status"]) for row in rows] == [("onnxruntime", 2, "ok")] * 2
    assert all(row["latency_ms_median"] > 0 and row["samples_ms"] for row in rows)
    unavailable = subprocess.run(command[:8] + ["--device", "cuda", "--output", str(tmp_path / "u.jsonl")], capture_output=True, text=True)
    assert unavailable.returncode == 0 and all(json.loads(l)["status"] == "unavailable" for l in (tmp_path / "u.jsonl").read_text().splitlines())


@pytest.mark.parametrize("arguments, message", [(["--backend", "nope"], "backend='nope' is unknown"), (["--backend", "onnxruntime", "--batch", "0"], "batch=0 is not allowed")])
def test_cli_profile_bad_input_exits_2(tmp_path, arguments, message):
    architectures = tmp_path / "a.jsonl"
    architectures.write_text("")
    result = subprocess.run([sys.executable, "-m", "workflows.cli", "profile", "--input", str(architectures), *arguments], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
