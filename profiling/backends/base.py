"""The interface every profiler backend implements, one backend per file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from profiling.protocol import Measurement, Target
from search_space import Architecture


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str  # what is there, or exactly what is missing

    def __bool__(self) -> bool:
        return self.ok


class Backend(Protocol):
    name: str
    needs_onnx: bool  # whether measure() reads the exported ONNX file (the torch-based ones build the model)

    def available(self, target: Target) -> Availability:
        """Whether this host can measure `target`, and if not, why."""
        ...

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target) -> Measurement:
        """Time the architecture on the target. Called only when available(target) is ok; a failure of
        the architecture is returned as a `failed` measurement, not raised."""
        ...
