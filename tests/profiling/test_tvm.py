import os

import numpy as np
import onnxruntime
import pytest

from accelbench.profiling.backends.tvm import TvmBackend, run_model, tune_database
from accelbench.profiling.export import INPUT_NAME, ExportSettings, cached_block_export, cached_export
from accelbench.profiling.target import Target
from accelbench.search_space import Architecture

FAST = {"repeats": 3}


def test_outputs_match_onnxruntime(onnx_64):
    images = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    ours = run_model(onnx_64, Target("tvm", "tvm", batch=2), images)
    session = onnxruntime.InferenceSession(str(onnx_64), providers=["CPUExecutionProvider"])
    expected = session.run(None, {INPUT_NAME: images})[0]
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_untuned_measurement(architecture, onnx_64):
    measurement = TvmBackend().measure(architecture, onnx_64, Target("tvm", "tvm", resolution=64, options=FAST))
    assert measurement.status == "ok", measurement.error
    assert measurement.latency.n == 3 and measurement.build_time_s > 0
    assert measurement.environment["tuned"] is False


def test_measuring_leaves_the_process_on_the_cores_it_was_given(architecture, onnx_64):
    """TVM's thread pool binds the thread that starts it to a core of its choosing (core 0): every later
    fit in the process would take one thread, and a Ray task given another core would run on core 0."""
    given, last = os.sched_getaffinity(0), {os.cpu_count() - 1}  # not core 0, even for a worker of `pytest -n` given core 0
    if last == {0}:
        pytest.skip("one core: no other core to be moved off")
    try:
        os.sched_setaffinity(0, last)
        measurement = TvmBackend().measure(architecture, onnx_64, Target("tvm", "tvm", resolution=64, options=FAST))
        assert measurement.status == "ok", measurement.error
        assert os.sched_getaffinity(0) == last
    finally:
        os.sched_setaffinity(0, given)


@pytest.mark.slow  # ~2 minutes even for one block: meta-schedule's builder and runner pools per task
def test_tuned_with_a_tiny_budget(tmp_path):
    """A real meta-schedule tuning run and a measurement with its database, on one block of the space
    (a repeated e1k3 layer of the last stage: 3 tuning tasks against 19 for the smallest network)."""
    from accelbench.search_space.blocks import Block

    block = Block("mbconv", 6, 1, 3, False, False)
    onnx = cached_block_export(block, tmp_path / "onnx", ExportSettings(resolution=32))
    target = Target("tvm", "tvm", resolution=32, options={"repeats": 3})
    database = tune_database([onnx], target, tmp_path / "db", max_trials=2)
    records = (database / "database_tuning_record.json").read_text().splitlines()
    assert len(records) >= 1
    tuned = Target("tvm-tuned", "tvm", resolution=32, options={"repeats": 3, "database": str(database)})
    assert TvmBackend().available(tuned)
    measurement = TvmBackend().measure_onnx(block.key, onnx, tuned)
    assert measurement.status == "ok", measurement.error
    assert measurement.environment["tuned"] is True


def test_missing_database_is_unavailable(tmp_path):
    availability = TvmBackend().available(Target("t", "tvm", options={"database": str(tmp_path)}))
    assert not availability and "run `accelbench tune-tvm` first" in availability.reason


@pytest.mark.parametrize("device", ["tpu", "zcu102"])
def test_other_devices_are_unavailable(device):
    assert not TvmBackend().available(Target("t", "tvm", device=device))
