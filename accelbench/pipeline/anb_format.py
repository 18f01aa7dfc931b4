"""The Accel-NASBench `result_N.json` record format: reading a folder or tarball of them."""

from __future__ import annotations

import json
import math
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from accelbench.common.errors import InputError, check_name
from accelbench.pipeline.records import arch_row, now, row, task_key
from accelbench.search_space import ANB, Architecture, SpaceError

REFERENCE_TARGETS = (
    "val_top1",
    "throughput_a100",
    "throughput_3090",
    "throughput_tpuv2",
    "throughput_tpuv3",
    "throughput_zcu102",
    "throughput_vck190",
    "latency_zcu102",
    "latency_vck190",
)

_RECORD_NAME = re.compile(r"result_(\d+)\.json$")


class AnbFormatError(InputError):
    """A file that is not an Accel-NASBench record."""


@dataclass(frozen=True)
class AnbRecord:
    name: str  # e.g. "result_17.json"
    data: dict[str, Any]


def _sort_key(name: str) -> tuple[int, str]:
    match = _RECORD_NAME.search(name)
    return (int(match.group(1)) if match else -1, name)


def iter_anb_records(path: str | Path) -> Iterator[AnbRecord]:
    """Records of a folder of `result_N.json` files or a .tar.gz of them, in order of N."""
    path = Path(path)
    if path.is_dir():
        files = sorted((p for p in path.rglob("result_*.json")), key=lambda p: _sort_key(p.name))
        for file in files:
            yield AnbRecord(file.name, _parse(file.read_bytes(), str(file)))
    elif path.is_file() and tarfile.is_tarfile(path):
        contents = []  # read in archive order (a gzip stream cannot seek back cheaply), then sort
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile() and _RECORD_NAME.search(member.name):
                        handle = archive.extractfile(member)
                        assert handle is not None
                        contents.append((member.name, handle.read()))
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise AnbFormatError(f"{path}: the archive is damaged or cut short after {len(contents)} records ({error}); download it again") from None
        for name, raw in sorted(contents, key=lambda item: _sort_key(item[0])):
            yield AnbRecord(Path(name).name, _parse(raw, f"{path}:{name}"))
    else:
        raise AnbFormatError(f"{path} is neither a folder of result_N.json files nor a tar archive of them")


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnbFormatError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or "architecture" not in data:
        raise AnbFormatError(f"{where}: not an Accel-NASBench record (no 'architecture')")
    for section in ("metrics", "model_info", "platform_perf"):
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise AnbFormatError(f"{where}: '{section}' must be an object, got {type(data[section]).__name__}")
    for name, values in (data.get("platform_perf") or {}).items():
        kind, _, device = name.partition("_")
        if kind not in ("latency", "throughput") or not device:
            raise AnbFormatError(f"{where}: platform_perf key {name!r} is not latency_<device> or throughput_<device>")
        try:
            check_name(device, f"platform_perf device of {name!r}")
        except InputError as error:
            raise AnbFormatError(f"{where}: {error}") from None
        if values is not None and not isinstance(values, dict):
            raise AnbFormatError(f"{where}: platform_perf.{name} must be an object like {{\"{kind}_mean\": ..., \"{kind}_std\": ...}}, got {type(values).__name__}")
    return data


# --- records <-> store rows ---
REFERENCE_RECIPE_ID = "anb-reference"  # the reference's proxified ImageNet training, as published
REFERENCE_SOURCE = "Accel-NASBench (arXiv 2404.08005), Apache-2.0"
REFERENCE_DATA_ID = "imagenet-ffcv"  # the reference's FFCV copy of ImageNet-1k (train_400_0.50_90.ffcv)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def train_seconds(value: Any) -> float | None:
    """The reference's collection scripts recorded the training time with its sign flipped (some of its
    records hold it negated): a time is its magnitude."""
    number = _number(value)
    return None if number is None else abs(number)


def rows_from_records(records: Iterable[AnbRecord], code_version: str) -> dict[str, list[dict[str, Any]]]:
    """Store rows (`archs`, `train`, `profile`) from reference records. A repeated architecture keeps
    every training (as seeds 0, 1, ...) and every measurement: the later records' measurements under keys
    of their own and with no time (none is recorded), so the first stays the architecture's value and the
    others are its repeats (`views.repeat_pairs`, the noise ceiling). Missing values stay missing."""
    tables: dict[str, list[dict[str, Any]]] = {"archs": [], "train": [], "profile": []}
    seen: dict[str, int] = {}
    when = now()
    for record in records:
        try:
            architecture = Architecture.from_reference(record.data["architecture"])
        except SpaceError as error:
            raise AnbFormatError(f"{record.name}: {error}") from None
        arch_id = architecture.arch_id
        repeat = seen.get(arch_id, 0)
        seen[arch_id] = repeat + 1
        provenance = {"host": None, "started_at": None, "finished_at": when, "code_version": code_version, "attempts": None}
        if repeat == 0:
            tables["archs"].append(arch_row(architecture))
        metrics = record.data.get("metrics") or {}
        top1 = _number(metrics.get("val_top1"))
        tables["train"].append(row(
            "train", task_key=task_key(arch_id, "train", f"{REFERENCE_RECIPE_ID}-s{repeat}"), arch_id=arch_id, recipe_id=REFERENCE_RECIPE_ID,
            recipe_name="anb-proxy (reference)", seed=repeat, data_id=REFERENCE_DATA_ID, status="ok" if top1 is not None else "failed",
            val_top1=top1, val_top5=_number(metrics.get("val_top5")), top1_convention="best_of_validated", curve=[],
            train_time_s=train_seconds(metrics.get("train_time")), error=None if top1 is not None else f"{record.name}: no val_top1", **provenance,
        ))
        performance = record.data.get("platform_perf") or {}
        for device in sorted({name.split("_", 1)[1] for name in performance}):
            latency = performance.get(f"latency_{device}") or {}
            throughput = performance.get(f"throughput_{device}") or {}
            reported = [kind for kind, values in (("latency", latency), ("throughput", throughput)) if values]
            values = {
                "latency_ms_mean": _number(latency.get("latency_mean")), "latency_ms_std": _number(latency.get("latency_std")),
                "throughput_ips": _number(throughput.get("throughput_mean")), "throughput_ips_std": _number(throughput.get("throughput_std")),
            }
            ok = any(values[k] is not None for k in ("latency_ms_mean", "throughput_ips"))
            tables["profile"].append(row(
                "profile", task_key=task_key(arch_id, "profile", f"reference-{device}" + (f"-r{repeat}" if repeat else "")), arch_id=arch_id, target=device,
                target_id=f"reference-{device}", backend="reference", device=device, reported=reported, status="ok" if ok else "failed",
                **values, samples_ms=[], environment=json.dumps({"source": REFERENCE_SOURCE, "record": record.name}),
                error=None if ok else f"{record.name}: no values", **{**provenance, "finished_at": None if repeat else when},
            ))
    return tables


def records_from_wide(frame) -> list[dict[str, Any]]:
    """The wide view (one row per architecture) as reference records; absent values are left out."""
    import pandas as pd


    records = []
    for entry in frame.to_dict("records"):
        def value(name: str) -> float | None:
            item = entry.get(name)
            return None if item is None or pd.isna(item) else float(item)

        performance = {}
        for column in sorted(c for c in frame.columns if c.startswith(("latency_", "throughput_")) and not c.endswith("_std")):
            kind = column.split("_", 1)[0]
            if value(column) is not None:
                performance[column] = {f"{kind}_mean": value(column), f"{kind}_std": value(f"{column}_std")}
        records.append({
            "architecture": Architecture.from_reference({key: entry[key] for key in ANB.keys}).to_reference(),
            "metrics": {"val_top1": value("val_top1"), "val_top5": value("val_top5"), "train_time": value("train_time_s")},
            "model_info": {"macs": int(entry["macs"]) / 1e6, "params": int(entry["params"]) / 1e6},
            "platform_perf": performance,
        })
    return records
