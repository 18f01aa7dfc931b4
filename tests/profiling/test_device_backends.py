"""Backends whose tools or devices are not on this machine: their commands, their parsing of real
recorded tool output, and their 'unavailable, because ...' answers."""

import contextlib
import io
import json
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from accelbench.profiling.backends import BACKENDS
from accelbench.profiling.backends.tensorrt import TensorRtBackend, parse_export_times, parse_trtexec_output, trtexec_command
from accelbench.profiling.backends.torch_cuda import TorchCudaBackend
from accelbench.profiling.backends.vitis import BOARDS, RUNNER, VitisBackend, board_commands, compile_command, quantize_command
from accelbench.profiling.backends.xla import XlaBackend
from accelbench.profiling.target import Target

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
    fp16 = trtexec_command(onnx, (3, 224, 224), Target("trt", "tensorrt", batch=256, device="cuda", precision="fp16"), tmp_path / "e", tmp_path / "t.json")
    assert fp16[0] == "trtexec" and f"--onnx={onnx}" in fp16 and "--stronglyTyped" in fp16 and "--fp16" not in fp16 and "--int8" not in fp16
    assert "--optShapes=images:256x3x224x224" in fp16 and f"--exportTimes={tmp_path / 't.json'}" in fp16
    int8 = trtexec_command(onnx, (3, 224, 224), Target("trt", "tensorrt", device="cuda", precision="int8", options={"calibration_cache": "c.cache"}), tmp_path / "e", tmp_path / "t")
    assert "--int8" in int8 and "--calib=c.cache" in int8
    assert not any(flag in trtexec_command(onnx, (3, 224, 224), Target("trt", "tensorrt", device="cuda"), tmp_path / "e", tmp_path / "t") for flag in ("--fp16", "--int8"))


def test_tensorrt_drives_the_executable_and_reads_its_files(architecture, onnx_64, tmp_path):
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
    measurement = TensorRtBackend().measure(architecture, onnx_64, target)
    assert measurement.status == "ok", measurement.error
    assert measurement.samples_ms == (1.0, 2.0, 3.0) and measurement.latency.median_ms == 2.0
    assert measurement.build_time_s == 12.5 and measurement.throughput_ips == 4 * 1000 / 2.0
    script.write_text("#!/bin/sh\necho '&&&& FAILED TensorRT.trtexec [TensorRT v8401]'; exit 1\n")
    broken = TensorRtBackend().measure(architecture, onnx_64, target)
    assert broken.status == "failed" and "trtexec exited 1" in broken.error


def test_export_times_parsing():
    assert parse_export_times(json.dumps([{"count": 2}, {"computeMs": 0.5, "latencyMs": 0.7}, {"computeMs": 0.25}])) == [0.5, 0.25]


def test_vitis_commands(architecture, tmp_path):
    target = Target("zcu102", "vitis", device="zcu102", precision="int8", options={
        "board": "zcu102", "calibration": "/data/val", "quantize_python": "docker exec vai python3",
        "copy_command": "scp {xmodel} {runner} root@board:/tmp/", "run_command": "ssh root@board python3 /tmp/vitis_board.py --model /tmp/{name}.xmodel --mode {mode} --threads {threads}"})
    quantize = quantize_command(architecture, target, tmp_path / "w.safetensors", tmp_path / "q")
    assert quantize[:3] == ["docker", "exec", "vai"] and architecture.compact() in quantize and "/data/val" in quantize
    assert quantize[quantize.index("--weights") + 1] == str(tmp_path / "w.safetensors")  # the trained weights, as the reference
    assert quantize[quantize.index("--arch") + 1 : quantize.index("--space") + 2] == [architecture.compact(), "--space", architecture.space]
    assert (quantize[quantize.index("--images") + 1], quantize[quantize.index("--batch") + 1], quantize[quantize.index("--test-images") + 1]) == ("150", "32", "100")
    compiled = compile_command(target, tmp_path / "q" / "Network_int.xmodel", tmp_path / "c", "net")
    assert compiled[:3] == ["vai_c_xir", "-x", str(tmp_path / "q" / "Network_int.xmodel")]
    assert "/opt/vitis_ai/compiler/arch/DPUCZDX8G/ZCU102/arch.json" in compiled
    copy, run = board_commands(target, tmp_path / "c" / "net.xmodel", "net", "throughput")
    assert copy == ["scp", str(tmp_path / "c" / "net.xmodel"), str(RUNNER), "root@board:/tmp/"]
    assert run[-4:] == ["--mode", "throughput", "--threads", "5"]  # the reference's 5 threads on the ZCU102
    assert board_commands(target, tmp_path / "net.xmodel", "net", "latency")[-1][-1] == "1"  # latency on one thread
    assert BOARDS["vck190"]["threads"] == 6 and BOARDS["vck190"]["dpu"] == "DPUCVDX8G_ISA3_C32B3" and BOARDS["zcu102"]["dpu"] == "DPUCZDX8G_ISA1_B4096"


class FakeRunner:
    """VART's runner interface over a fake DPU: records how many jobs were in flight at once."""

    in_flight_max = 0

    def __init__(self, batch: int) -> None:
        self.batch, self.outstanding, self.jobs = batch, 0, 0

    def get_input_tensors(self):
        return [SimpleNamespace(dims=[self.batch, 224, 224, 3])]

    def get_output_tensors(self):
        return [SimpleNamespace(dims=[self.batch, 1000])]

    def execute_async(self, inputs, outputs):
        assert inputs[0].shape[0] == self.batch and outputs[0].shape == (self.batch, 1000)
        self.outstanding += 1
        self.jobs += 1
        FakeRunner.in_flight_max = max(FakeRunner.in_flight_max, self.outstanding)
        return self.jobs

    def wait(self, job):
        self.outstanding -= 1


@pytest.mark.parametrize("batch", [1, 6])
def test_board_runner_follows_the_reference_threads_and_jobs(batch):
    """The board script's scheduling, on a stand-in for VART (the real one exists only on the board)."""
    from accelbench.profiling.backends import vitis_board

    runners = []

    def create(subgraph, mode):
        runners.append(FakeRunner(batch))
        return runners[-1]

    FakeRunner.in_flight_max = 0
    result = vitis_board.throughput("dpu", create, threads=6, images=1000)
    assert result["threads"] == 6 and len(runners) == 6 and result["dpu_batch"] == batch
    assert sum(runner.jobs for runner in runners) * batch == result["images"] >= 1000
    assert FakeRunner.in_flight_max == vitis_board.MAX_JOBS_IN_FLIGHT == 9
    runners.clear()
    FakeRunner.in_flight_max = 0
    latency = vitis_board.latency("dpu", create, images=60)
    assert len(runners) == 1 and len(latency["job_ms"]) == 60 // batch and FakeRunner.in_flight_max == 1  # one job at a time
    assert latency["dpu_batch"] == batch and all(ms >= 0 for ms in latency["job_ms"])


def fake_tool(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\nimport json, sys, pathlib\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_vitis_measures_the_trained_weights_through_its_tools(architecture, tmp_path):
    """The whole flow driven through stand-in tools that print what the real ones print (their JSON
    lines): the quantiser must be given real trained weights; latency, throughput and quantised accuracy
    are parsed from the board's and the quantiser's output."""
    from safetensors.torch import save_file

    weights = tmp_path / "w.safetensors"
    save_file({"x": __import__("torch").zeros(2)}, str(weights))
    quantize = fake_tool(tmp_path / "quantize", """
if sys.argv[1:3] == ["-c", "import pytorch_nndct; print(pytorch_nndct.__version__)"]:
    print("2.5.0"); sys.exit(0)
arguments = sys.argv[1:]
assert pathlib.Path(arguments[arguments.index("--weights") + 1]).read_bytes()[8:9] == b"{"
output = pathlib.Path(arguments[arguments.index("--output") + 1]); output.mkdir(parents=True)
(output / "Network_int.xmodel").write_text("q")
print("[VAIQ_NOTE]: calibrating"); print(json.dumps({"quantized_top1": 71.0, "quantized_top5": 90.0, "vitis_ai": "2.5.0"}))""")
    compiler = fake_tool(tmp_path / "vai_c_xir", """
arguments = sys.argv[1:]
output = pathlib.Path(arguments[arguments.index("-o") + 1]); output.mkdir(parents=True)
(output / (arguments[arguments.index("-n") + 1] + ".xmodel")).write_text("c")""")
    board = fake_tool(tmp_path / "board", """
mode = sys.argv[sys.argv.index("--mode") + 1]
print(json.dumps({"mode": "latency", "threads": 1, "dpu_batch": 6, "job_ms": [2.0, 2.2, 2.1]} if mode == "latency" else
                 {"mode": "throughput", "threads": 6, "dpu_batch": 6, "images": 1002, "seconds": 0.5, "fps": 2004.0}))""")
    target = Target("vck190", "vitis", batch=6, device="fpga", precision="int8", options={
        "board": "vck190", "calibration": str(tmp_path), "quantize_python": quantize, "compiler": compiler, "run_command": board + " --mode {mode}"})
    backend = VitisBackend()
    assert backend.available(target), backend.available(target).reason
    assert backend.measure(architecture, None, target).status == "unavailable"  # no trained weights: nothing to quantise
    measurement = backend.measure(architecture, None, target, weights)
    assert measurement.status == "ok", measurement.error
    assert measurement.latency.median_ms == 2.1 and measurement.throughput_ips == 2004.0
    assert (measurement.accuracy_top1, measurement.accuracy_top5) == (71.0, 90.0)
    assert measurement.environment["dpu_batch"] == 6 and measurement.environment["vitis_ai"] == "2.5.0"
    mismatched = backend.measure(architecture, None, Target("vck190", "vitis", batch=1, device="fpga", precision="int8", options=dict(target.options)), weights)
    assert mismatched.status == "failed" and "jobs of 6 images; the target says batch 1" in mismatched.error
    pinned = Target("v", "vitis", precision="int8", options={**dict(target.options), "vitis_ai_version": "3.0"})
    assert "Vitis AI 2.5.0 is here; this target pins 3.0" in backend.available(pinned).reason


def test_xla_streams_without_waiting_and_samples_the_rate():
    from accelbench.profiling.backends.xla import stream_rates

    events = []
    clock = iter(float(second) for second in range(100))
    rates = stream_rates(lambda: events.append("step"), batch=128, warmup_steps=300, sample_every=50, samples=3,
                         wait=lambda: events.append("wait"), clock=lambda: next(clock))
    assert events.count("step") == 300 + 3 * 50 and events.count("wait") == 2  # the device is waited for only twice
    assert events.index("wait") == 300  # after the warm-up, before the first window
    assert rates == [50 * 128 / 1.0] * 3  # one clock second per window


def test_gpu_throughput_is_images_over_summed_batch_time_per_pass():
    from accelbench.profiling.backends.torch_cuda import pass_throughputs

    times = iter([100.0] * 4 + [10.0] * 4 + [20.0] * 4 + [10.0] * 4)  # ms per batch: a slow warm-up pass, then 3 passes
    throughputs, batch_ms = pass_throughputs(lambda: next(times), batch=128, images_per_pass=500, passes=3, warmup_passes=1)
    assert throughputs == pytest.approx([4 * 128 * 1000 / 40, 4 * 128 * 1000 / 80, 4 * 128 * 1000 / 40])  # 4 batches cover 500 images
    assert batch_ms == [10.0] * 4 + [20.0] * 4 + [10.0] * 4  # the warm-up pass is discarded


@pytest.mark.parametrize(
    "backend, target, reason",
    [
        (TensorRtBackend(), Target("t", "tensorrt", device="cuda"), "No module named 'tensorrt'; pip install 'accelbench[tensorrt]'"),
        (TensorRtBackend(), Target("t", "tensorrt", device="cuda", options={"runner": "trtexec"}), "trtexec is not on PATH"),
        (TensorRtBackend(), Target("t", "tensorrt", device="cuda", options={"runner": "fast"}), "runner='fast' is not allowed; choices are auto, python, trtexec"),
        (VitisBackend(), Target("v", "vitis", device="zcu102", precision="int8", options={"calibration": "x"}), "vai_c_xir is not on PATH"),
        (VitisBackend(), Target("v", "vitis", precision="int8", options={"board": "u280"}), "board='u280' is not known"),
        (VitisBackend(), Target("v", "vitis", options={"calibration": "x"}), "precision=fp32 is not one the vitis backend measures; choices are int8"),
        (XlaBackend(), Target("x", "xla", batch=64, device="tpu", precision="bf16"), "torch_xla is not installed"),
        (TorchCudaBackend(), Target("g", "torch", device="cuda"), "no CUDA device is visible"),
    ],
)
def test_unavailable_here_with_the_reason(backend, target, reason):
    availability = backend.available(target)
    assert not availability and reason in availability.reason


def test_registry_and_lazy_imports():
    assert set(BACKENDS) == {"onnxruntime", "tvm", "tensorrt", "xla", "vitis", "torch"}
    code = "import sys, accelbench.profiling.backends, accelbench.profiling.runner; print(any(m.startswith(('torch_xla', 'tensorrt', 'pytorch_nndct')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_cli_profile_list_and_run(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", "profile", "--list"], capture_output=True, text=True)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 6 and lines[0].startswith("onnxruntime  available")
    assert any(line.startswith("tensorrt") and "unavailable" in line for line in lines)
    architectures = tmp_path / "a.jsonl"
    subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", "space", "sample", "--n", "2", "--seed", "4", "--output", str(architectures)], check=True)
    output = tmp_path / "p.jsonl"
    command = [sys.executable, "-m", "accelbench.workflows.cli", "profile", "--backend", "onnxruntime", "--input", str(architectures), "--batch", "2",
               "--option", "sessions=1", "--option", "max_other_load=1.0", "--resolution", "64", "--option", "min_time_s=0.05", "--cache", str(tmp_path / "cache"), "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(row["backend"], row["batch"], row["status"]) for row in rows] == [("onnxruntime", 2, "ok")] * 2
    assert all(row["latency_ms_median"] > 0 and row["samples_ms"] for row in rows)
    from accelbench.workflows.cli import main

    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(command[3:8] + ["--device", "cuda", "--output", str(tmp_path / "u.jsonl")])
    assert code == 2 and "unavailable here: CUDAExecutionProvider is not in this onnxruntime" in errors.getvalue()
    assert len(errors.getvalue().strip().splitlines()) == 1 and not (tmp_path / "u.jsonl").exists()  # a sweep records it; asked for, it is an error


@pytest.mark.parametrize("arguments, message", [(["--backend", "nope"], "backend='nope' is unknown"), (["--backend", "onnxruntime", "--batch", "0"], "batch=0 is not allowed")])
def test_cli_profile_bad_input_exits_2(tmp_path, arguments, message):
    architectures = tmp_path / "a.jsonl"
    architectures.write_text("")
    result = subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", "profile", "--input", str(architectures), *arguments], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
