"""The Accel-NASBench `result_N.json` record format: reading a folder or tarball of them."""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

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


class AnbFormatError(ValueError):
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
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.isfile() and _RECORD_NAME.search(m.name)]
            for member in sorted(members, key=lambda m: _sort_key(m.name)):
                handle = archive.extractfile(member)
                assert handle is not None
                yield AnbRecord(Path(member.name).name, _parse(handle.read(), f"{path}:{member.name}"))
    else:
        raise AnbFormatError(f"{path} is neither a folder of result_N.json files nor a tar archive of them")


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise AnbFormatError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict) or "architecture" not in data:
        raise AnbFormatError(f"{where}: not an Accel-NASBench record (no 'architecture')")
    return data
