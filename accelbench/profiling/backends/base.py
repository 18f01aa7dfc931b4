"""The interface every profiler backend implements, one backend per file, and the typed options each declares."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from accelbench.profiling.protocol import Measurement, TargetError
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.profiling.target import Target


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str  # what is there, or exactly what is missing

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Options:
    """A backend's own settings: fields with defaults. `parse` refuses unknown keys and wrong types."""

    @classmethod
    def parse(cls, values: Mapping[str, Any], where: str) -> "Options":
        hints = typing.get_type_hints(cls)
        allowed = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise TargetError(f"{where}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                              f"this backend's options are {', '.join(allowed) or 'none'}")
        for name, value in values.items():
            if not _fits(value, hints[name]):
                raise TargetError(f"{where}: option {name}={value!r} is not allowed; it must be {_describe(hints[name])}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fits(value: Any, hint: Any) -> bool:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "absent"}.get(hint, str(hint))


class Backend(Protocol):
    name: str
    needs_onnx: bool  # whether measure() reads the exported ONNX file (the torch-based ones build the model)
    needs_trained_weights: bool  # whether it measures the trained network (the FPGA flow quantises it)
    options_type: type[Options]

    def available(self, target: Target) -> Availability:
        """Whether this host can measure `target`, and if not, why."""
        ...

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        """Time the architecture on the target. Called only when available(target) is ok; a failure of
        the architecture is returned as a `failed` measurement, not raised."""
        ...


class OnnxBackend(Backend, Protocol):
    """A backend that times ONNX files (`needs_onnx`): whole networks, and the blocks of a lookup table."""

    def measure_onnx(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        """Time one ONNX file on the target; `subject_id` names what it is (an arch_id or a block_id)."""
        ...
