"""What runs on the Ray workers: a long-lived training actor, the ONNX export and the profiling task.

Each returns a small record (a dict row), never a model or a dataset; the driver writes it. None of
them raises for an architecture's own failure: those come back as records with a status.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import ray

from accelbench.pipeline.atomic import write_bytes_atomic
from accelbench.pipeline.records import block_row, now, profile_row, provenance, row, task_key, train_config_id, train_row
from accelbench.training.recipe import Recipe


def ray_node() -> str:
    return ray.get_runtime_context().get_node_id()


@ray.remote
class TrainingWorker:
    """Opens the dataset once, then trains architecture after architecture."""

    def __init__(self, data: str, loader_workers: int, device: str) -> None:
        from accelbench.training.data import TrainingData
        from accelbench.training.folders import resolve_data

        self.device = device
        self.data = TrainingData(resolve_data(data), workers=loader_workers, pin_memory=device == "cuda")

    def train(self, architecture_json: str, recipe: Recipe, seed: int, data_id: str, weights_to: tuple[str, str] | None, code_version: str,
              attempts: int) -> dict[str, Any]:
        """`weights_to`: (store URI, path in the store) where the trained weights go, when they are kept."""
        from accelbench.pipeline.store import Store
        from accelbench.search_space import Architecture
        from accelbench.training.trainer import train

        started = now()
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / "weights.safetensors" if weights_to else None
            result = train(Architecture.from_json(architecture_json), recipe, self.data, self.device, seed, weights_to=local)
            weights = None
            if local is not None and local.exists():
                uri, relative = weights_to
                weights = (relative, Store(uri).put_artifact(relative, local))
        return train_row(result.to_dict(), data_id, started, code_version, attempts, weights)


def probe_data(data: str) -> dict[str, Any]:
    """The dataset as a training host sees it: its identity, or a DataError saying what is missing."""
    import dataclasses

    from accelbench.training.folders import identify, resolve_data

    return dataclasses.asdict(identify(resolve_data(data)))


probe_task = ray.remote(probe_data)


def export_onnx_bytes(architecture_json: str, resolution: int, cache: str | None) -> bytes:
    """The architecture's ONNX file, exported once and shared by all its targets through the object store."""
    from accelbench.profiling.export import ExportSettings, cached_export
    from accelbench.search_space import Architecture

    path = cached_export(Architecture.from_json(architecture_json), onnx_cache(cache), ExportSettings(resolution=resolution))
    return path.read_bytes()


def profile_target(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], onnx: bytes | None, cache: str | None, code_version: str,
                   attempts: int, weights: tuple[str, str] | None = None) -> dict[str, Any]:
    """`weights`: (store URI, path in the store) of the trained weights, for targets that quantise them."""
    from accelbench.profiling.export import ExportSettings
    from accelbench.profiling.target import Target
    from accelbench.profiling.runner import profile
    from accelbench.search_space import Architecture

    started = now()
    architecture = Architecture.from_json(architecture_json)
    target_value = Target(**target)
    onnx_path = None
    if onnx is not None:  # the exported bytes, written once per host into its cache
        settings = ExportSettings(resolution=target_value.resolution)
        onnx_path = onnx_cache(cache) / f"{architecture.arch_id}-{settings.settings_id}.onnx"
        if not onnx_path.exists():
            write_bytes_atomic(onnx_path, onnx)
    if weights is None:
        measurement = profile(architecture, target_value, onnx_cache(cache), onnx_path)
    else:
        with fetched_weights(*weights) as local:
            measurement = profile(architecture, target_value, onnx_cache(cache), onnx_path, local)
    row = measurement.to_row()
    row["environment"] = {**row["environment"], "ray_node_id": ray_node()}
    return profile_row(row, report, started, code_version, attempts)


@contextmanager
def fetched_weights(store_uri: str, relative: str) -> Iterator[Path]:
    """The trained weights as a local file (the store may be an object store)."""
    from accelbench.pipeline.store import Store

    store = Store(store_uri)
    if store.local:
        yield Path(store.path(relative))
        return
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / Path(relative).name
        with store.filesystem.open_input_stream(store.path(relative)) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink)
        yield local


def profile_block(block_key: str, space: str, target: dict[str, Any], cache: str | None, code_version: str, attempts: int) -> dict[str, Any]:
    from accelbench.profiling.target import Target
    from accelbench.profiling.runner import profile_block as measure
    from accelbench.search_space.blocks import Block

    started = now()
    block = Block.from_key(block_key, space)
    row = measure(block, Target(**target), onnx_cache(cache)).to_row()
    row["environment"] = {**row["environment"], "ray_node_id": ray_node()}
    return block_row(row, block, started, code_version, attempts)


def block_record(block_key: str, space: str, target: dict[str, Any], status: str, reason: str, code_version: str, attempts: int) -> dict[str, Any]:
    """An unavailable or failed block measurement, with the reason."""
    from accelbench.profiling.protocol import Measurement
    from accelbench.profiling.target import Target
    from accelbench.search_space.blocks import Block

    block = Block.from_key(block_key, space)
    return block_row(Measurement(block.block_id, Target(**target), status, error=reason).to_row(), block, now(), code_version, attempts)


block_task = ray.remote(profile_block)
export_task = ray.remote(export_onnx_bytes)
profile_task = ray.remote(profile_target)


def onnx_cache(cache: str | None) -> Path:
    from accelbench.common.paths import cache_root

    return Path(cache).expanduser() if cache else cache_root() / "onnx"


def unavailable_profile(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], reason: str, code_version: str) -> dict[str, Any]:
    from accelbench.profiling.protocol import unavailable
    from accelbench.profiling.target import Target
    from accelbench.search_space import Architecture

    measurement = unavailable(Architecture.from_json(architecture_json).arch_id, Target(**target), reason)
    return profile_row(measurement.to_row(), report, now(), code_version, 0)


def failed_profile(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], error: str, code_version: str, attempts: int) -> dict[str, Any]:
    from accelbench.profiling.protocol import failed
    from accelbench.profiling.target import Target
    from accelbench.search_space import Architecture

    measurement = failed(Architecture.from_json(architecture_json).arch_id, Target(**target), error)
    return profile_row(measurement.to_row(), report, now(), code_version, attempts)


def failed_train(architecture_json: str, recipe: Recipe, seed: int, data_id: str, status: str, error: str, code_version: str, attempts: int) -> dict[str, Any]:
    from accelbench.search_space import Architecture

    arch_id = Architecture.from_json(architecture_json).arch_id
    return row(
        "train", task_key=task_key(arch_id, "train", train_config_id(recipe.recipe_id, seed, data_id)), arch_id=arch_id, recipe_id=recipe.recipe_id,
        recipe_name=recipe.name, seed=seed, data_id=data_id, status=status, top1_convention=recipe.top1_convention, curve=[],
        device_count=recipe.devices, trainability_rule=recipe.trainability_rule(), attempts=attempts, **provenance(now(), error, code_version),
    )
