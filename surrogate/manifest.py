"""Release manifests: the sha256 of every file, and the check that a release is intact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from surrogate.models import SurrogateError

MANIFEST = "manifest.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` but the manifest, by relative POSIX path, sorted."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST)
    return {p.relative_to(folder).as_posix(): sha256_of(p) for p in files}


def problems(folder: Path) -> list[str]:
    """What is wrong with the release in `folder` (nothing: it is intact)."""
    path = folder / MANIFEST
    if not path.is_file():
        return [f"{path}: missing; not a release"]
    try:
        listed = json.loads(path.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        return [f"{path}: unreadable ({error})"]
    found = file_hashes(folder)
    issues = [f"{name}: missing" for name in sorted(set(listed) - set(found))]
    issues += [f"{name}: sha256 differs from the manifest (modified)" for name in sorted(set(listed) & set(found)) if listed[name] != found[name]]
    issues += [f"{name}: not in the manifest (added)" for name in sorted(set(found) - set(listed))]
    return issues


def verify_or_raise(folder: Path) -> None:
    found = problems(folder)
    if found:
        raise SurrogateError(f"release {folder} failed verification: {'; '.join(found[:5])}{' ...' if len(found) > 5 else ''}")
