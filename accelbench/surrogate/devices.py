"""Device descriptors (`accelbench/surrogate/devices.toml`, or a user's own file): typed, validated, with the public
source of every figure; and their numeric features for the cross-device predictor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from accelbench.common.toml import read_toml
from accelbench.surrogate.models.base import SurrogateError

DEVICES_FILE = Path(__file__).with_name("devices.toml")
FAMILIES = ("gpu", "tpu", "fpga-dpu", "cpu")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class Device:
    name: str
    family: str
    precision: str
    peak_tops: float
    bandwidth_gbs: float
    compute_units: int
    batch: int
    source: str
    on_chip_mb: float | None = None

    def features(self) -> list[float]:
        """log peak ops, log bandwidth, log ops per byte, log on-chip memory (0 when not published), log units, log batch."""
        return [math.log(self.peak_tops), math.log(self.bandwidth_gbs), math.log(self.peak_tops * 1000 / self.bandwidth_gbs),
                math.log(self.on_chip_mb) if self.on_chip_mb else 0.0, math.log(self.compute_units), math.log(self.batch)]


def _device(name: str, values: object, where: str) -> Device:
    if not isinstance(values, dict):
        raise SurrogateError(f"{where}: devices.{name} must be a table")
    known = {"family", "precision", "peak_tops", "bandwidth_gbs", "on_chip_mb", "compute_units", "batch", "source"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SurrogateError(f"{where}: devices.{name}: unknown key {', '.join(unknown)}; allowed are {', '.join(sorted(known))}")
    missing = sorted(known - {"on_chip_mb"} - set(values))
    if missing:
        raise SurrogateError(f"{where}: devices.{name}: missing {', '.join(missing)}")
    if values["family"] not in FAMILIES or values["precision"] not in PRECISIONS:
        raise SurrogateError(f"{where}: devices.{name}: family={values['family']!r}, precision={values['precision']!r}; "
                             f"families are {', '.join(FAMILIES)}, precisions {', '.join(PRECISIONS)}")
    for key in ("peak_tops", "bandwidth_gbs", "on_chip_mb", "compute_units", "batch"):
        value = values.get(key)
        if key == "on_chip_mb" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (key in ("compute_units", "batch") and not isinstance(value, int)):
            raise SurrogateError(f"{where}: devices.{name}.{key}={value!r} is not allowed; it must be a positive {'integer' if key in ('compute_units', 'batch') else 'number'}")
    if not isinstance(values["source"], str) or len(values["source"]) < 10:
        raise SurrogateError(f"{where}: devices.{name}.source must say where the figures come from")
    return Device(name=name, **{key: values[key] for key in known - {"on_chip_mb"}}, on_chip_mb=values.get("on_chip_mb"))


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
