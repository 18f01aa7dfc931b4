"""Device descriptors (`accelbench/surrogate/devices.toml`, or a user's own file): typed, validated, with the public
source of every figure; and their numeric features for the cross-device predictor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from accelbench.common.config import table_of, validate
from accelbench.common.toml import read_toml
from accelbench.surrogate.models.base import SurrogateError

DEVICES_FILE = Path(__file__).with_name("devices.toml")
FAMILIES = ("gpu", "tpu", "fpga-dpu", "cpu")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


Positive = Annotated[float, Field(gt=0)]


@dataclass(frozen=True)
class Device:
    name: str
    family: Literal[FAMILIES]
    precision: Literal[PRECISIONS]
    peak_tops: Positive
    bandwidth_gbs: Positive
    compute_units: Annotated[int, Field(gt=0)]
    batch: Annotated[int, Field(gt=0)]
    source: Annotated[str, Field(min_length=10, description="it says where the figures come from")]
    on_chip_mb: Positive | None = None

    def features(self) -> list[float]:
        """log peak ops, log bandwidth, log ops per byte, log on-chip memory (0 when not published), log units, log batch."""
        return [math.log(self.peak_tops), math.log(self.bandwidth_gbs), math.log(self.peak_tops * 1000 / self.bandwidth_gbs),
                math.log(self.on_chip_mb) if self.on_chip_mb else 0.0, math.log(self.compute_units), math.log(self.batch)]


def _device(name: str, values: object, where: str) -> Device:
    if not isinstance(values, dict):
        raise SurrogateError(f"{where}: devices.{name} must be a table")
    if "name" in values:
        raise SurrogateError(f"{where}: devices.{name}.name: a device is named by its table, [devices.{name}]; remove the key")
    values = {**values, "name": name}
    validate(table_of(Device), values, f"devices.{name}", where, SurrogateError)
    return Device(**values)


def load_devices(path: str | Path | None = None) -> dict[str, Device]:
    """The descriptors in `path` (default: the reference's devices), by name."""
    path = Path(path) if path else DEVICES_FILE
    values = read_toml(path, SurrogateError, f"device descriptors {path}")
    table = values.get("devices")
    if not isinstance(table, dict) or not table:
        raise SurrogateError(f"{path}: no [devices.<name>] tables")
    return {name: _device(name, entry, str(path)) for name, entry in table.items()}


def device_of(metric: str) -> str:
    """`throughput_zcu102` -> `zcu102` (the device a result column was measured on)."""
    kind, _, device = metric.partition("_")
    if kind not in ("latency", "throughput") or not device:
        raise SurrogateError(f"{metric!r} is not a device metric (latency_<device> or throughput_<device>)")
    return device
