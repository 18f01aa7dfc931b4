"""Profile one architecture on one target: availability, (cached) export, measurement, host facts."""

from __future__ import annotations

import dataclasses
import os
import platform
import typing
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelbench.profiling.backends import get_backend
from accelbench.profiling.backends.base import OnnxBackend
from accelbench.profiling.export import ExportSettings, cached_block_export, cached_export
from accelbench.profiling.protocol import Measurement, failed, unavailable
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target


@lru_cache(maxsize=1)
def host_environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version()}


def export_settings(target: Target) -> ExportSettings:
    return ExportSettings(resolution=target.resolution)


def profile(architecture: Architecture, target: Target, cache_dir: str | Path, onnx_path: Path | None = None, weights: Path | None = None) -> Measurement:
    """Never raises for the architecture's or the host's sake: the answer is ok, unavailable or failed.
    `weights`: the trained weights, for the backends that measure the trained network."""
    backend = get_backend(target.backend)
    availability = backend.available(target)
    if not availability:
        return unavailable(architecture.arch_id, target, availability.reason)
    space, own = architecture.search_space, architecture.search_space.resolution_of(architecture.choices)
    if space.has_resolution_choice and own != target.resolution:
        return failed(architecture.arch_id, target, f"an {space.name} architecture is measured at its own resolution, {own} px; target {target.name} measures at {target.resolution} px")
    if backend.needs_onnx and onnx_path is None:
        try:
            onnx_path = cached_export(architecture, cache_dir, export_settings(target))
        except Exception as error:  # noqa: BLE001
            return failed(architecture.arch_id, target, f"ONNX export failed: {error}")
    measurement = backend.measure(architecture, onnx_path, target, weights)
    return dataclasses.replace(measurement, environment={**host_environment(), "backend": availability.reason, **measurement.environment})


def profile_block(block, target: Target, cache_dir: str | Path) -> Measurement:
    """One block of the space on an ONNX backend (the measurement's `arch_id` is the block's id)."""
    backend = get_backend(target.backend)
    if not backend.needs_onnx:
        return unavailable(block.block_id, target, f"per-block tables are timed through ONNX; the {target.backend} backend builds whole networks")
    availability = backend.available(target)
    if not availability:
        return unavailable(block.block_id, target, availability.reason)
    try:
        onnx_path = cached_block_export(block, cache_dir, export_settings(target))
    except Exception as error:  # noqa: BLE001
        return failed(block.block_id, target, f"ONNX export of block {block.key} failed: {error}")
    measurement = typing.cast(OnnxBackend, backend).measure_onnx(block.block_id, onnx_path, target)
    return dataclasses.replace(measurement, environment={**host_environment(), "backend": availability.reason, "block": block.key, **measurement.environment})
