import numpy as np
import onnxruntime
import pytest

from profiling.backends.tvm import TvmBackend, run_model, tune_database
from profiling.export import INPUT_NAME
from profiling.protocol import Target

FAST = {"resolution": 64, "repeats": 3}


def test_outputs_match_onnxruntime(onnx_64):
    images = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    ours = run_model(onnx_64, Target("tvm", "tvm", batch=2), images)
    session = onnxruntime.InferenceSession(str(onnx_64), providers=["CPUExecutionProvider"])
    expected = session.run(None, {INPUT_NAME: images})[0]
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_untuned_measurement(architecture, onnx_64):
    measurement = TvmBackend().measure(architecture, onnx_64, Target("tvm", "tvm", options=FAST))
    assert measurement.status == "ok", measurement.error
    assert measurement.latency.n == 3 and measurement.build_time_s > 0
    assert measurement.environment["tuned"] is False


def test_tuned_with_a_tiny_budget(architecture, onnx_64, tmp_path):
    target = Target("tvm", "tvm", options=FAST)
    database = tune_database([onnx_64], target, tmp_path / "db", max_trials=2, resolution=64)
    records = (database / "database_tuning_record.json").read_text().splitlines()
    assert len(records) >= 1
    tuned = Target("tvm-tuned", "tvm", options={**FAST, "database": str(database)})
    assert TvmBackend().available(tuned)
    measurement = TvmBackend().measure(architecture, onnx_64, tuned)
    assert measurement.status == "ok", measurement.error
    assert measurement.environment["tuned"] is True


def test_missing_database_is_unavailable(tmp_path):
    availability = TvmBackend().available(Target("t", "tvm", options={"database": str(tmp_path)}))
    assert not availability and "run `accelbench tune-tvm` first" in availability.reason


@pytest.mark.parametrize("device", ["tpu", "zcu102"])
def test_other_devices_are_unavailable(device):
    assert not TvmBackend().available(Target("t", "tvm", device=device))
