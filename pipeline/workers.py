"""What runs on the Ray workers: a long-lived training actor, the ONNX export and the profiling task.

Each returns a small record (a dict row), never a model or a dataset; the driver writes it. None of
them raises for an architecture's own failure: those come back as records with a status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray

from pipeline.atomic import write_bytes_atomic
from pipeline.records import now, profile_row, train_row


def ray_node() -> str:
    return ray.get_runtime_context().get_node_id()


@ray.remote
class TrainingWorker:
    """Opens the dataset once, then trains architecture after architecture."""

    def __init__(self, data: str, loader_workers: int, device: str) -> None:
        from training.data import TrainingData
        from training.folders import resolve_data

        self.device = device
        self.data = TrainingData(resolve_data(data), workers=loader_workers, pin_memory=device == "cuda")

    def train(self, architecture_json: str, recipe: dict[str, Any], seed: int, data_id: str, memory_budget_bytes: int | None, code_version: str, attempts: int) -> dict[str, Any]:
        from search_space import Architecture
        from training.recipe import Recipe
        from training.trainer import train

        started = now()
        result = train(Architecture.from_json(architecture_json), Recipe.from_dict(recipe), self.data, self.device, seed, memory_budget_bytes)
        return train_row(result.to_dict(), data_id, started, code_version, attempts)


def probe_data(data: str) -> dict[str, Any]:
    """The dataset as a training host sees it: its identity, or a DataError saying what is missing."""
    import dataclasses

    from training.folders import identify, resolve_data

    return dataclasses.asdict(identify(resolve_data(data)))


probe_task = ray.remote(probe_data)


def export_onnx_bytes(architecture_json: str, resolution: int, cache: str | None) -> bytes:
    """The architecture's ONNX file, exported once and shared by all its targets through the object store."""
    from profiling.export import ExportSettings, cached_export
    from search_space import Architecture

    path = cached_export(Architecture.from_json(architecture_json), onnx_cache(cache), ExportSettings(resolution=resolution))
    return path.read_bytes()


def profile_target(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], onnx: bytes | None, cache: str | None, code_version: str, attempts: int) -> dict[str, Any]:
    from profiling.export import ExportSettings
    from profiling.protocol import Target
    from profiling.runner import profile
    from search_space import Architecture

    started = now()
    architecture = Architecture.from_json(architecture_json)
    target_value = Target(**target)
    onnx_path = None
    if onnx is not None:  # the exported bytes, written once per host into its cache
        settings = ExportSettings(resolution=int(target_value.option("resolution", 224)))
        onnx_path = onnx_cache(cache) / f"{architecture.arch_id}-{settings.settings_id}.onnx"
        if not onnx_path.exists():
            write_bytes_atomic(onnx_path, onnx)
    measurement = profile(architecture, target_value, onnx_cache(cache), onnx_path)
    row = measurement.to_row()
    row["environment"] = {**row["environment"], "ray_node_id": ray_node()}
    return profile_row(row, report, started, code_version, attempts)


export_task = ray.remote(export_onnx_bytes)
profile_task = ray.remote(profile_target)


def onnx_cache(cache: str | None) -> Path:
    from training.embedded import cache_root

    return Path(cache).expanduser() if cache else cache_root() / "onnx"


def unavailable_profile(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], reason: str, code_version: str) -> dict[str, Any]:
    from profiling.protocol import Target, unavailable
    from search_space import Architecture

    measurement = unavailable(Architecture.from_json(architecture_json).arch_id, Target(**target), reason)
    return profile_row(measurement.to_row(), report, now(), code_version, 0)


def failed_profile(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], error: str, code_version: str, attempts: int) -> dict[str, Any]:
    from profiling.protocol import Target, failed
    from search_space import Architecture

    measurement = failed(Architecture.from_json(architecture_json).arch_id, Target(**target), error)
    return profile_row(measurement.to_row(), report, now(), code_version, attempts)


def failed_train(architecture_json: str, recipe: dict[str, Any], seed: int, data_id: str, status: str, error: str, code_version: str, attempts: int) -> dict[str, Any]:
    from search_space import Architecture

    architecture = Architecture.from_json(architecture_json)
    values = {
        "arch_id": architecture.arch_id, "recipe_id": _recipe_id(recipe), "recipe_name": recipe["name"], "seed": seed, "status": status,
        "val_top1": None, "val_top5": None, "top1_convention": recipe["top1_convention"], "curve": [], "random_weight_top1": None,
        "train_time_s": None, "device_name": None, "device_count": None, "peak_memory_bytes": None, "error": error,
    }
    return train_row(values, data_id, now(), code_version, attempts)


def _recipe_id(recipe: dict[str, Any]) -> str:
    from training.recipe import Recipe

    return Recipe.from_dict(recipe).recipe_id

