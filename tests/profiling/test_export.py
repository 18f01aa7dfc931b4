import numpy as np
import onnx
import onnxruntime
import torch

from accelbench.profiling.export import INPUT_NAME, ExportSettings, cached_export
from accelbench.search_space.builder import build


def test_onnx_checks_has_opset_17_and_a_dynamic_batch(onnx_224):
    model = onnx.load(onnx_224)
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"


def test_outputs_equal_pytorch(architecture, onnx_224):
    torch.manual_seed(0)
    network = build(architecture).eval()  # export seeds 0 too: the same random weights
    images = np.random.default_rng(1).standard_normal((3, 3, 224, 224), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(onnx_224), providers=["CPUExecutionProvider"])
    ours = session.run(None, {INPUT_NAME: images})[0]
    with torch.no_grad():
        expected = network(torch.from_numpy(images)).numpy()
    assert ours.shape == (3, 1000)
    # random-init logits are tiny: compare relative to their scale
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_cache_reuses_by_arch_and_settings(architecture, onnx_224, tmp_path):
    first = cached_export(architecture, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert cached_export(architecture, tmp_path) == first and first.stat().st_mtime_ns == stamp
    other = cached_export(architecture, tmp_path, ExportSettings(resolution=64))
    assert other != first and other.exists()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
