"""The interface every profiler backend implements, one backend per file, and the typed options each declares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from accelbench.common.config import table_of, validate
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
    """A backend's own settings: dataclass fields with defaults. `parse` checks a target's `options`
    table as every config table is checked (accelbench.common.config): unknown keys and wrong types are
    one-line errors."""

    @classmethod
    def parse(cls, values: Mapping[str, Any], where: str) -> "Options":
        validate(table_of(cls), dict(values), "options", where, TargetError)
        return cls(**values)  # as written: an integer given for a number stays one (it is part of the target's id)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Header:
    """What a backend is, as data: its name and typed options, the devices and precisions it measures,
    and what it reads (the exported ONNX file, the trained weights)."""

    name: str
    options: type[Options]
    precisions: tuple[str, ...]
    devices: tuple[str, ...] | None = None  # None: any name (the device is chosen by an option or the host's environment)
    needs_onnx: bool = False  # measure() reads the exported ONNX file (the torch-based ones build the model)
    needs_trained_weights: bool = False  # it measures the trained network (the FPGA flow quantises it)

    def refusal(self, target: Target) -> Availability | None:
        """Why the target asks for what this backend never measures (None when it does not)."""
        if self.devices is not None and target.device not in self.devices:
            return Availability(False, f"device={target.device!r} is not one the {self.name} backend measures; choices are {', '.join(self.devices)}")
        if target.precision not in self.precisions:
            return Availability(False, f"precision={target.precision} is not one the {self.name} backend measures; choices are {', '.join(self.precisions)}")
        return None


class Backend(Protocol):
    header: Header

    def available(self, target: Target) -> Availability:
        """Whether this host can measure `target`, and if not, why."""
        ...

    def measure(self, architecture: Architecture, onnx_path: Path | None, target: Target, weights: Path | None = None) -> Measurement:
        """Time the architecture on the target. Called only when available(target) is ok; a failure of
        the architecture is returned as a `failed` measurement, not raised."""
        ...


class BackendBase:
    """What every backend shares: its header's fields, and `available` as the header's checks, then the
    backend's own (`check`: what is installed, visible or configured on this host)."""

    header: Header

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def options_type(self) -> type[Options]:
        return self.header.options

    @property
    def needs_onnx(self) -> bool:
        return self.header.needs_onnx

    @property
    def needs_trained_weights(self) -> bool:
        return self.header.needs_trained_weights

    def available(self, target: Target) -> Availability:
        refusal = self.header.refusal(target)  # an Availability is false when not ok: no `or` here
        return refusal if refusal is not None else self.check(target)

    def check(self, target: Target) -> Availability:
        raise NotImplementedError


class OnnxBackend(Backend, Protocol):
    """A backend that times ONNX files (`needs_onnx`): whole networks, and the blocks of a lookup table."""

    def measure_onnx(self, subject_id: str, onnx_path: Path, target: Target) -> Measurement:
        """Time one ONNX file on the target; `subject_id` names what it is (an arch_id or a block_id)."""
        ...
