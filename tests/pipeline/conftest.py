"""A real two-node Ray cluster on loopback for the whole test run (one Ray session), and small sweeps."""

from __future__ import annotations

import json
from pathlib import Path


from tests.conftest import PROBE  # noqa: F401 - the custom resource only the second Ray node has

# A sweep whose tasks take seconds: 2 epochs at 32 px on the tiny folder, profiling at 32 px.
TINY_RECIPE = {
    "name": "tiny", "epochs": 2, "batch_per_device": 16, "lr_peak_epoch": 1, "min_resolution": 32, "max_resolution": 32,
    "resize_start_epoch": 0, "resize_end_epoch": 1, "val_resolution": 32, "validate_last_epochs": 1, "random_weight_epochs": 1,
    "trainability_batch": 16, "trainability_resolution": 32,
}
# max_other_load 1.0: tests run on a busy machine (their own Ray workers are the other load), so these
# measurements must not come out `noisy`; noisy records are tested on their own (test_onnxruntime.py)
FAST_ORT = {"sessions": 1, "repeats": 3, "min_time_s": 0.02, "retries": 0, "max_other_load": 1.0}


def sweep_values(data: Path, cache: Path, sample: int = 3, targets: list[dict] | None = None, **training) -> dict:
    return {
        "name": "tiny",
        "architectures": {"sample": sample, "seed": 7},
        "training": {"recipe": "smoke", "overrides": TINY_RECIPE, "data": str(data), "loader_workers": 0, **training},
        "profiling": {"cache": str(cache), "targets": targets or [{"name": "cpu", "backend": "onnxruntime", "resolution": 32, "options": FAST_ORT}]},
        "scheduling": {"max_in_flight": 4, "max_retries": 2, "progress_interval_s": 1},
    }


def to_toml(values: dict, prefix: str = "") -> str:
    """Enough TOML for sweep configs: tables, arrays of tables, inline tables, scalars."""

    def scalar(value) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f'"{k}" = {scalar(v)}' for k, v in value.items()) + " }"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        return json.dumps(value)

    lines, tables = [], []
    for key, value in values.items():
        if isinstance(value, dict) and prefix.count(".") < 1 and key not in ("overrides", "options", "resources"):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables += [(f"[{key}]", item) for item in value]
        else:
            lines.append(f"{key} = {scalar(value)}")
    text = "\n".join(lines) + "\n"
    for key, value in tables:
        name = f"{prefix}{key[1:-1]}" if key.startswith("[") else f"{prefix}{key}"
        header = f"[[{name}]]" if key.startswith("[") else f"[{name}]"
        text += f"\n{header}\n" + to_toml(value, f"{name}.")
    return text
