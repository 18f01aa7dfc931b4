"""Architecture -> ONNX (inference mode, dynamic batch axis), checked, and cached by arch_id and settings."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from accelbench.search_space import Architecture, get_space
from accelbench.search_space.builder import build, build_block
from accelbench.common.errors import AccelbenchError

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


class ExportError(AccelbenchError):
    """An export that failed or produced a model that does not check."""


@dataclass(frozen=True)
class ExportSettings:
    resolution: int = 224
    num_classes: int = 1000
    activation: str = "relu"
    opset: int = 17

    @property
    def settings_id(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


def export_onnx(architecture: Architecture, path: str | Path, settings: ExportSettings = ExportSettings()) -> Path:
    """Write the network (random weights, eval mode) as ONNX; the file appears whole or not at all."""
    import torch

    torch.manual_seed(0)
    model = build(architecture, num_classes=settings.num_classes, activation=settings.activation).eval()
    return export_module(model, (3, settings.resolution, settings.resolution), path, settings.opset, architecture.arch_id)


def export_module(model, input_shape: tuple[int, int, int], path: str | Path, opset: int, what: str) -> Path:
    """Any module (a network or one of its blocks) as ONNX with a dynamic batch axis, checked; written
    whole or not at all."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, *input_shape)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".onnx")
    os.close(descriptor)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript exporter: 0.1-0.4 s and one self-contained file (dynamo: 2.5-5 s)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                temporary,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
        onnx.checker.check_model(onnx.load(temporary), full_check=True)
        os.replace(temporary, path)
    except Exception as error:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"exporting {what} failed: {error}") from error
    return path


def cached_block_export(block, cache_dir: str | Path, settings: ExportSettings = ExportSettings()) -> Path:
    """One block of the space as ONNX, at the shapes it has in a network of `settings.resolution` px."""
    import torch

    path = Path(cache_dir) / f"block-{block.block_id}-{settings.settings_id}.onnx"
    if path.exists():
        return path
    torch.manual_seed(0)
    return export_module(build_block(block, num_classes=settings.num_classes, activation=settings.activation), get_space(block.space).block_input_shape(block, settings.resolution), path, settings.opset, f"block {block.key}")


def cached_export(architecture: Architecture, cache_dir: str | Path, settings: ExportSettings = ExportSettings()) -> Path:
    path = Path(cache_dir) / f"{architecture.arch_id}-{settings.settings_id}.onnx"
    if path.exists():
        return path
    return export_onnx(architecture, path, settings)


def onnx_input_shape(path: str | Path) -> tuple[int, ...]:
    """The input's shape without the batch axis (a network: 3 x H x W; a block: its own)."""
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return tuple(int(dim.dim_value) for dim in dims[1:])
