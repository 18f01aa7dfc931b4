"""TensorRT's Python runner and the fp16 ONNX it builds from. TensorRT cannot run here (no GPU), so the
runner's calls are checked against a recording stand-in of the `tensorrt` module; the fp16 conversion
runs for real under ONNX Runtime."""

import types

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import accelbench.profiling.backends.tensorrt as tensorrt_backend
from accelbench.profiling.backends.tensorrt import TensorRtBackend
from accelbench.profiling.onnx_fp16 import float16_copy, float16_model
from accelbench.profiling.target import Target


def small_network() -> onnx.ModelProto:
    """Conv -> Sigmoid * x -> GlobalAveragePool -> Flatten -> Gemm, weights of ordinary size."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)
               for name, shape in (("w", (8, 3, 3, 3)), ("b", (8,)), ("fc", (8, 5)), ("fc_b", (5,)))]
    nodes = [helper.make_node("Conv", ["images", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Mul", ["c", "s"], ["m"]), helper.make_node("GlobalAveragePool", ["m"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "fc", "fc_b"], ["logits"])]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 5])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"images": images})[0]


def test_fp16_copy_computes_the_same_in_half_precision_with_fp32_inputs_and_outputs():
    model = small_network()
    half = float16_model(model)
    images = np.random.default_rng(1).normal(0, 1, (4, 3, 16, 16)).astype(np.float32)
    expected, got = run(model, images), run(half, images)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() < 2e-3 * np.abs(expected).max()
    assert {tensor.data_type for tensor in half.graph.initializer} == {TensorProto.FLOAT16}
    assert [half.graph.node[0].op_type, half.graph.node[-1].op_type] == ["Cast", "Cast"]
    assert [v.type.tensor_type.elem_type for v in (*half.graph.input, *half.graph.output)] == [TensorProto.FLOAT] * 2
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.FLOAT}  # the original is untouched


def test_fp16_copy_of_an_exported_network_runs(onnx_64, tmp_path):
    half = float16_copy(onnx_64, tmp_path / "half.onnx")
    images = np.random.default_rng(2).normal(0, 1, (2, 3, 64, 64)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(half), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"images": images})[0]
    assert logits.dtype == np.float32 and logits.shape == (2, 1000) and np.isfinite(logits).all()
    assert all(t.data_type != TensorProto.FLOAT for t in onnx.load(str(half)).graph.initializer)


class RecordingTensorRt:
    """Stands in for the `tensorrt` module: records each call the runner makes, parses nothing."""

    __version__ = "11.4.0.106"

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)

    def __init__(self, parse_ok: bool = True) -> None:
        self.calls: list[tuple] = []
        self.parse_ok = parse_ok
        record = self.calls

        class Parser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                record.append(("parse", onnx.load(path)))
                return parse_ok

            def get_error(self, index):
                return "In node 3 (Conv): unsupported padding"

        class Profile:
            def set_shape(self, name, low, best, high):
                record.append(("shape", name, low, best, high))

        class Config:
            def add_optimization_profile(self, profile):
                record.append(("profile",))

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                record.append(("network", flags))
                return object()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                record.append(("build",))
                return b"engine-bytes"

        self.OnnxParser, self.Builder = Parser, Builder


@pytest.fixture
def recorded(monkeypatch):
    """The Python runner with the stand-in module, and engine timing replaced (it needs a GPU)."""
    fake = RecordingTensorRt()
    monkeypatch.setattr(tensorrt_backend, "python_tensorrt", lambda: fake)
    timed = []

    def time_engine(trt, serialized, input_name, shape, warmup_ms, iterations, duration_s):
        timed.append((serialized, input_name, shape, warmup_ms, iterations, duration_s))
        return [2.0, 1.0, 3.0]

    monkeypatch.setattr(tensorrt_backend, "time_engine", time_engine)
    return fake, timed


def test_python_runner_builds_a_strongly_typed_fp16_engine_at_the_targets_batch(recorded, architecture, onnx_64):
    fake, timed = recorded
    target = Target("trt", "tensorrt", batch=8, device="cuda", precision="fp16", options={"iterations": 50})
    assert TensorRtBackend().runner(target) == "python"
    measurement = TensorRtBackend().measure(architecture, onnx_64, target)
    assert measurement.status == "ok", measurement.error
    kinds = [call[0] for call in fake.calls]
    assert kinds == ["network", "parse", "shape", "profile", "build"]
    assert fake.calls[0] == ("network", 1 << 1)  # STRONGLY_TYPED
    parsed = fake.calls[1][1]
    assert {t.data_type for t in parsed.graph.initializer} == {TensorProto.FLOAT16}  # the fp16 copy, not the fp32 export
    assert fake.calls[2] == ("shape", "images", (8, 3, 64, 64), (8, 3, 64, 64), (8, 3, 64, 64))
    assert timed == [(b"engine-bytes", "images", (8, 3, 64, 64), 2000, 50, 10)]
    assert measurement.latency.median_ms == 2.0 and measurement.throughput_ips == 8 * 1000 / 2.0
    assert measurement.environment["tensorrt"] == "11.4.0.106" and measurement.build_time_s is not None


def test_python_runner_keeps_an_fp32_export_as_it_is(recorded, architecture, onnx_64):
    fake, _ = recorded
    TensorRtBackend().measure(architecture, onnx_64, Target("trt", "tensorrt", batch=1, device="cuda", precision="fp32"))
    assert {t.data_type for t in fake.calls[1][1].graph.initializer} == {TensorProto.FLOAT}


def test_a_parser_error_is_a_failed_record_with_tensorrts_words(monkeypatch, architecture, onnx_64):
    monkeypatch.setattr(tensorrt_backend, "python_tensorrt", lambda: RecordingTensorRt(parse_ok=False))
    measurement = TensorRtBackend().measure(architecture, onnx_64, Target("trt", "tensorrt", device="cuda", precision="fp16"))
    assert measurement.status == "failed"
    assert measurement.error == "tensorrt 11.4.0.106: ONNX parser: In node 3 (Conv): unsupported padding"


def test_runner_choice(monkeypatch, tmp_path):
    trtexec = tmp_path / "trtexec"
    trtexec.write_text("")
    auto = Target("t", "tensorrt", device="cuda", options={"trtexec": str(trtexec)})
    monkeypatch.setattr(tensorrt_backend, "python_tensorrt", lambda: None)
    assert TensorRtBackend().runner(auto) == "trtexec"
    monkeypatch.setattr(tensorrt_backend, "python_tensorrt", lambda: RecordingTensorRt())
    assert TensorRtBackend().runner(auto) == "python"
    assert TensorRtBackend().runner(Target("t", "tensorrt", device="cuda", options={"runner": "trtexec"})) == "trtexec"
    int8 = TensorRtBackend().available(Target("t", "tensorrt", device="cuda", precision="int8"))
    assert not int8.ok and "Q/DQ" in int8.reason


def test_profile_command_with_a_missing_runtime_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from accelbench.workflows.cli import main

    monkeypatch.setattr(tensorrt_backend, "python_tensorrt", lambda: None)
    architectures = tmp_path / "one.jsonl"
    assert main(["space", "sample", "--n", "1", "--output", str(architectures)]) == 0
    code = main(["profile", "--backend", "tensorrt", "--device", "cuda", "--input", str(architectures), "--output", str(tmp_path / "rows.jsonl")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "tensorrt on device cuda is unavailable here" in error and "pip install 'accelbench[tensorrt]'" in error
    assert not (tmp_path / "rows.jsonl").exists()
