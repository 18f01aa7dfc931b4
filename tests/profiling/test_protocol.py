import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

from accelbench.profiling import protocol

from accelbench.profiling.protocol import LatencySummary, LoadMonitor, Measurement, TargetError, TimingPlan, time_runs

from accelbench.profiling.target import Target


class FakeClock:
    """Each run takes the next duration from a list (seconds)."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def clock(self):
        return self.now

    def run(self):
        self.now += self.durations[min(self.calls, len(self.durations) - 1)]
        self.calls += 1


def test_warmup_runs_until_timings_are_stable():
    # 5 cold runs, one unstable window, then stable at 10 ms
    fake = FakeClock([0.05] * 5 + [0.03] * 5 + [0.010] * 1000)
    samples = time_runs(fake.run, TimingPlan(repeats=20, min_time_s=0.0), fake.clock)
    assert len(samples) == 20
    assert samples == pytest.approx([10.0] * 20)
    assert fake.calls == 5 + 5 + 5 + 5 + 20  # min warm-up, two unstable windows, one stable, then timed


def test_timed_runs_last_at_least_min_time():
    fake = FakeClock([0.001] * 10_000)
    samples = time_runs(fake.run, TimingPlan(repeats=3, min_time_s=0.5), fake.clock)
    assert len(samples) >= 500


def test_summary():
    summary = LatencySummary.of([float(v) for v in range(1, 11)])
    assert (summary.median_ms, summary.mean_ms, summary.p90_ms, summary.n) == (5.5, 5.5, 9.0, 10)
    assert summary.std_ms == pytest.approx(2.8722813)
    measurement = Measurement.of_samples("a" * 16, Target("t", "onnxruntime", batch=8), [2.0, 2.0, 4.0])
    assert measurement.throughput_ips == pytest.approx(8 * 1000 / 2.0)
    row = measurement.to_row()
    assert row["latency_ms_median"] == 2.0 and row["batch"] == 8 and row["samples_ms"] == [2.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(name="a b", backend="onnxruntime"), "name='a b' is not allowed"),
        (dict(name="t", backend="onnxruntime", batch=0), "batch=0 is not allowed"),
        (dict(name="t", backend="onnxruntime", resolution=0), "resolution=0 is not allowed"),
        (dict(name="t", backend="onnxruntime", precision="fp8"), "precision='fp8' is not allowed; choices are fp32, fp16, bf16, int8"),
        (dict(name="t", backend="onnxruntime", threads=0), "threads=0 is not allowed"),
        (dict(name="t", backend="nope"), "backend='nope' is unknown"),
        (dict(name="t", backend="onnxruntime", options={"session": 3}), "target t (onnxruntime): unknown key options.session; allowed are sessions, repeats"),
        (dict(name="t", backend="torch", options={"passes": "3"}), "options.passes='3' is not allowed; it must be an integer"),
        (dict(name="t", backend="tvm", options={"database": 3}), "options.database=3 is not allowed; it must be a string"),
        (dict(name="t", backend="vitis", options={"resolution": 224}), "unknown key options.resolution"),
    ],
)
def test_bad_targets(fields, message):
    with pytest.raises(TargetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Target(**fields)


def test_options_are_typed_and_resolved_with_defaults():
    from accelbench.profiling.backends.torch_cuda import TorchOptions

    target = Target("gpu", "torch", batch=256, resolution=256, options={"passes": 5})
    assert target.settings == TorchOptions(passes=5)
    assert dict(target.options)["images_per_pass"] == 50_000 and dict(target.options)["cudnn_benchmark"] is True
    assert Target("gpu", "torch", batch=256, resolution=256, options={"passes": 3}).target_id == Target("gpu", "torch", batch=256, resolution=256).target_id
    assert Target("gpu", "torch", resolution=224).target_id != Target("gpu", "torch", resolution=256).target_id


def test_target_id_ignores_resources_and_option_order():
    one = Target("t", "onnxruntime", options={"sessions": 1, "repeats": 2}, resources={"GPU": 1})
    two = Target("t", "onnxruntime", options={"repeats": 2, "sessions": 1})
    assert one.target_id == two.target_id and hash(one) != 0
    assert Target("t", "onnxruntime", batch=2).target_id != two.target_id


def test_load_monitor_counts_at_least_what_another_process_burned():
    """True on a busy machine too: other processes' load only adds to what the burner used."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        child = psutil.Process(burner.pid)
        before = sum(child.cpu_times()[:2])
        started = time.perf_counter()
        with LoadMonitor() as busy:
            time.sleep(1.0)
        wall = time.perf_counter() - started
        burned = sum(child.cpu_times()[:2]) - before
    finally:
        burner.kill()
    assert burned > 0.05  # the burner got some CPU, whatever else runs
    assert busy.other_load >= 0.7 * burned / (wall * psutil.cpu_count())  # 0.7: the two clocks are read a little apart


def test_load_monitor_subtracts_its_own_process(monkeypatch):
    """The arithmetic, with the clocks injected: machine busy 1.5 s, of which 1.0 s this process, over
    1 s of wall time on 2 CPUs -> others used 0.25 of the machine."""
    readings = {"busy": iter([10.0, 11.5]), "own": iter([3.0, 4.0]), "wall": iter([100.0, 101.0])}
    monkeypatch.setattr(LoadMonitor, "_busy", staticmethod(lambda: next(readings["busy"])))
    monkeypatch.setattr(LoadMonitor, "_own_time", lambda self: next(readings["own"]))
    monkeypatch.setattr(protocol, "time", SimpleNamespace(perf_counter=lambda: next(readings["wall"])))
    monkeypatch.setattr(protocol.psutil, "cpu_count", lambda: 2)
    with LoadMonitor() as monitor:
        pass
    assert monitor.other_load == pytest.approx(0.25)
