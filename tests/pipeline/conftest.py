"""A real two-node Ray cluster on loopback for the whole test run (one Ray session), and small sweeps."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RAY = str(Path(sys.executable).parent / "ray")
PROBE = "probe"  # the custom resource only the second node has

# A sweep whose tasks take seconds: 2 epochs at 32 px on the tiny folder, profiling at 32 px.
TINY_RECIPE = {
    "name": "tiny", "epochs": 2, "batch_size": 16, "lr_peak_epoch": 1, "min_resolution": 32, "max_resolution": 32,
    "resize_start_epoch": 0, "resize_end_epoch": 1, "val_resolution": 32, "validate_last_epochs": 1, "random_weight_epochs": 1,
}
FAST_ORT = {"resolution": 32, "sessions": 1, "repeats": 3, "min_time_s": 0.02, "retries": 0}


def sweep_values(data: Path, cache: Path, sample: int = 3, targets: list[dict] | None = None, **training) -> dict:
    return {
        "name": "tiny",
        "architectures": {"sample": sample, "seed": 7},
        "training": {"recipe": "smoke", "overrides": TINY_RECIPE, "data": str(data), "loader_workers": 0, **training},
        "profiling": {"cache": str(cache), "targets": targets or [{"name": "cpu", "backend": "onnxruntime", "options": FAST_ORT}]},
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    """`ray start --head` (2 CPUs) and a second node with the custom resource `probe` (1 CPU)."""
    import ray

    address = f"127.0.0.1:{_free_port()}"
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--disable-usage-stats", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20)]
    subprocess.run([RAY, "start", "--head", "--port", address.split(":")[1], "--num-cpus", "2", "--include-dashboard", "false", *common],
                   check=True, capture_output=True, env=environment)
    try:
        subprocess.run([RAY, "start", "--address", address, "--num-cpus", "1", "--resources", json.dumps({PROBE: 1}), *common],
                       check=True, capture_output=True, env=environment)
        ray.init(address=address, logging_level="WARNING")
        yield address
    finally:
        ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=environment)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    import shutil

    from training.embedded import embedded_dataset

    embedded = embedded_dataset(tmp_path_factory.mktemp("cache"))
    root = tmp_path_factory.mktemp("tiny")
    for split, count in (("train", 16), ("val", 8)):
        for label in ("0", "1", "2", "3"):
            (root / split / label).mkdir(parents=True)
            for path in sorted((embedded / split / label).iterdir())[:count]:
                shutil.copy(path, root / split / label / path.name)
    return root
