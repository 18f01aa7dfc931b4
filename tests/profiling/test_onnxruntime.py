from accelbench.profiling.backends.onnxruntime import OnnxRuntimeBackend
from accelbench.profiling.target import Target
from accelbench.profiling.runner import profile

FAST = {"sessions": 2, "repeats": 10, "min_time_s": 0.05, "max_other_load": 1.0}  # a busy test machine must not make these noisy


def test_measures_latency_over_fresh_sessions(architecture, onnx_64):
    target = Target("ort", "onnxruntime", batch=1, resolution=64, options=FAST)
    measurement = OnnxRuntimeBackend().measure(architecture, onnx_64, target)
    assert measurement.status == "ok", measurement.error
    assert measurement.latency.n == len(measurement.samples_ms) >= 20
    assert len(measurement.environment["session_medians_ms"]) == 2
    assert measurement.latency.median_ms > 0 and 0 <= measurement.other_load <= 1
    assert measurement.throughput_ips == 1000 / measurement.latency.median_ms


def test_throughput_at_a_larger_batch(architecture, onnx_64):
    single = OnnxRuntimeBackend().measure(architecture, onnx_64, Target("b1", "onnxruntime", batch=1, resolution=64, options=FAST))
    batch = OnnxRuntimeBackend().measure(architecture, onnx_64, Target("b8", "onnxruntime", batch=8, resolution=64, options=FAST))
    assert batch.latency.median_ms > single.latency.median_ms
    assert batch.throughput_ips == 8000 / batch.latency.median_ms


def test_unavailable_provider_is_explained(architecture, tmp_path):
    measurement = profile(architecture, Target("gpu", "onnxruntime", device="cuda"), tmp_path)
    assert measurement.status == "unavailable"
    assert "CUDAExecutionProvider is not in this onnxruntime" in measurement.error
    assert not list(tmp_path.iterdir())  # nothing exported for a target that cannot run


def test_runner_exports_and_adds_host_facts(architecture, tmp_path):
    measurement = profile(architecture, Target("ort", "onnxruntime", resolution=64, options=FAST), tmp_path)
    assert measurement.status == "ok"
    assert {"cpu", "host", "onnxruntime", "backend"} <= set(measurement.environment)
    assert len(list(tmp_path.glob("*.onnx"))) == 1


def test_a_session_under_other_load_is_retried_then_recorded_noisy(architecture, onnx_64, monkeypatch):
    import accelbench.profiling.backends.onnxruntime as backend_module

    loads = iter([0.9, 0.1, 0.9, 0.9, 0.9])  # session 1: loaded, then quiet on its retry; session 2: loaded three times

    class Monitor:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.other_load = next(loads)

    monkeypatch.setattr(backend_module, "LoadMonitor", Monitor)
    target = Target("cpu", "onnxruntime", batch=1, resolution=64, options={"sessions": 2, "repeats": 3, "min_time_s": 0.01, "retries": 2})
    measurement = OnnxRuntimeBackend().measure(architecture, onnx_64, target)
    assert next(loads, "spent") == "spent"  # every retry was made: 2 for the first session, 3 for the second
    assert measurement.status == "noisy" and measurement.other_load == 0.9 and "after 2 retries (limit 0.25)" in measurement.error
    assert measurement.latency is not None  # kept: the numbers are there, marked

    loads = iter([0.1, 0.2])
    assert OnnxRuntimeBackend().measure(architecture, onnx_64, target).status == "ok"


def test_an_ofa_architecture_is_measured_at_its_own_resolution(tmp_path):
    from accelbench.search_space import Architecture, sample
    from accelbench.search_space.blocks import all_blocks
    from accelbench.search_space.ofa import OFA
    from accelbench.profiling.runner import profile_block

    drawn = sample(1, 2, "ofa")[0]
    architecture = Architecture((128, *drawn.choices[1:]), "ofa")  # the smallest resolution, for speed
    measurement = profile(architecture, Target("ort", "onnxruntime", resolution=128, options=FAST), tmp_path)
    assert measurement.status == "ok", measurement.error
    mismatch = profile(architecture, Target("ort", "onnxruntime", resolution=224, options=FAST), tmp_path)
    assert mismatch.status == "failed" and "measured at its own resolution, 128 px; target ort measures at 224 px" in mismatch.error
    block = profile_block(all_blocks("ofa")[1], Target("ort", "onnxruntime", resolution=128, options=FAST), tmp_path)
    assert block.status == "ok", block.error
    assert OFA.has_resolution_choice
