"""`Target`: where and how to measure. It sits above the backend registry: a target's options are
checked against its backend's typed options when it is made."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from accelbench.profiling.backends import get_backend
from accelbench.profiling.protocol import TargetError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Target:
    """Where and how to measure: a backend on a device at one batch size, input resolution and precision.

    `name` is what results are called by (columns `latency_<name>`, `throughput_<name>`); `options` are
    the backend's own settings, checked against its typed options and stored with every default filled
    in (`settings` gives them as the backend's dataclass); `resources` the Ray resources a host needs.
    """

    name: str
    backend: str
    batch: int = 1
    resolution: int = 224
    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 1
    options: tuple[tuple[str, Any], ...] = ()
    resources: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not TARGET_NAME.fullmatch(self.name):
            raise TargetError(f"name={self.name!r} is not allowed; it names result columns and files: use 1-64 letters, digits, '_' and '-', starting with a letter or digit")
        for field_name in ("batch", "resolution", "threads"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TargetError(f"target {self.name}: {field_name}={value!r} is not allowed; it must be a positive integer")
        if self.precision not in PRECISIONS:
            raise TargetError(f"target {self.name}: precision={self.precision!r} is not allowed; choices are {', '.join(PRECISIONS)}")
        backend = get_backend(self.backend)
        given = dict(self.options) if not isinstance(self.options, dict) else self.options
        settings = backend.options_type.parse(given, f"target {self.name} ({self.backend})")
        object.__setattr__(self, "options", tuple(sorted(settings.to_dict().items())))
        resources = self.resources.items() if isinstance(self.resources, dict) else self.resources
        object.__setattr__(self, "resources", tuple(sorted(tuple(pair) for pair in resources)))

    @property
    def settings(self):
        """The backend's typed options, every default filled in."""
        return get_backend(self.backend).options_type(**dict(self.options))

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["options"] = dict(self.options)
        values["resources"] = dict(self.resources)
        return values

    def for_architecture(self, architecture) -> "Target":
        """This target as it measures `architecture`: at the architecture's own resolution where its space
        has a resolution choice (the target's `resolution` is then its block table's), else as configured."""
        space = architecture.search_space
        own = space.resolution_of(architecture.choices)
        return replace(self, resolution=own) if space.has_resolution_choice and own != self.resolution else self

    @property
    def target_id(self) -> str:
        """A short hash of everything that changes what is measured (not the Ray resources)."""
        values = self.to_dict()
        del values["resources"]
        return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]
