"""Architecture -> ONNX (inference mode, dynamic batch axis), checked, and cached by arch_id and settings."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from search_space import Architecture
from search_space.errors import AccelbenchError

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
    import onnx
    import torch

    from search_space.builder import build

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build(architecture, settings.num_classes, settings.activation).eval()
    example = torch.zeros(1, 3, settings.resolution, settings.resolution)
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
                opset_version=settings.opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
        onnx.checker.check_model(onnx.load(temporary), full_check=True)
        os.replace(temporary, path)
    except Exception as error:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"exporting {architecture.arch_id} failed: {error}") from error
    return path


def cached_export(architecture: Architecture, cache_dir: str | Path, settings: ExportSettings = ExportSettings()) -> Path:
    path = Path(cache_dir) / f"{architecture.arch_id}-{settings.settings_id}.onnx"
    if path.exists():
        return path
    return export_onnx(architecture, path, settings)
