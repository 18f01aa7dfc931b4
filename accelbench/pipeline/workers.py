"""What every stage's Ray workers share: where the ONNX cache is, which node they run on, and the probe
of the training data as a training host sees it. Each stage's own worker code is in its file (`stages/`).

Workers return small records (dict rows), never a model or a dataset; the driver writes them. None of
them raises for an architecture's own failure: those come back as records with a status.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from accelbench.common.paths import cache_root
from accelbench.training.folders import identify, resolve_data


def ray_node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def onnx_cache(cache: str | None) -> Path:
    return Path(cache).expanduser() if cache else cache_root() / "onnx"


def probe_data(data: str) -> dict[str, Any]:
    """The dataset as a training host sees it: its identity, or a DataError saying what is missing."""
    return dataclasses.asdict(identify(resolve_data(data)))
