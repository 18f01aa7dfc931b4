"""Release manifests: the sha256 of every file, and the check that a release is intact.

A release is intact when its manifest is well formed, lists what every release holds, and every file
in the folder is a regular file (no links, nothing outside the folder) listed with its sha256. A
manifest edited together with a file passes that check: the release's digest (sha256 of
manifest.json, printed by `release`) is what pins a published release; `verify --digest` checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath

from accelbench.surrogate.models import SurrogateError

MANIFEST = "manifest.json"
REQUIRED_FILES = ("configspace.json", "records/archs.parquet", "records/train.parquet", "records/profile.parquet", "surrogates/surrogates.json")
SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release_digest(folder: Path) -> str:
    """The digest that identifies a release: sha256 of its manifest.json."""
    return sha256_of(Path(folder) / MANIFEST)


def _entries(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files under `folder` (without following links) by relative POSIX path, and what else is there."""
    files, others = {}, []
    for root, directories, names in os.walk(folder, followlinks=False):
        for name in directories + names:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                others.append(f"{relative}: a symbolic link; a release holds regular files only")
            elif stat.S_ISREG(mode):
                files[relative] = path
            elif not stat.S_ISDIR(mode):
                others.append(f"{relative}: not a regular file")
    return files, others


def file_hashes(folder: Path) -> dict[str, str]:
    """Every regular file under `folder` but the manifest, by relative POSIX path, sorted."""
    files, _ = _entries(folder)
    return {name: sha256_of(path) for name, path in sorted(files.items()) if name != MANIFEST}


def _manifest_problems(manifest: object) -> list[str]:
    if not isinstance(manifest, dict):
        return [f"{MANIFEST}: not an object"]
    issues = [f"{MANIFEST}: '{key}' is missing" for key in ("format", "name", "version", "files") if key not in manifest]
    listed = manifest.get("files")
    if "files" in manifest and not isinstance(listed, dict):
        return issues + [f"{MANIFEST}: 'files' must map each file's path to its sha256, got {type(listed).__name__}"]
    for name, digest in (listed or {}).items():
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts or name in ("", MANIFEST):
            issues.append(f"{MANIFEST}: the listed path {name!r} is not a file inside the release")
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            issues.append(f"{MANIFEST}: the sha256 of {name!r} is not 64 hex digits")
    issues += [f"{name}: a release needs it, and the manifest does not list it" for name in REQUIRED_FILES if isinstance(listed, dict) and name not in listed]
    return issues


def problems(folder: Path, digest: str | None = None) -> list[str]:
    """What is wrong with the release in `folder` (nothing: it is intact)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return [f"{path}: missing (or not a regular file); not a release"]
    if digest is not None and release_digest(folder) != digest.lower():
        return [f"{MANIFEST}: its sha256 is {release_digest(folder)}, not the expected digest {digest}; the manifest was changed"]
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, OSError) as error:
        return [f"{path}: unreadable ({error})"]
    issues = _manifest_problems(manifest)
    if issues:
        return issues
    listed = manifest["files"]
    found, others = _entries(folder)
    found.pop(MANIFEST, None)
    issues = list(others)
    issues += [f"{name}: missing" for name in sorted(set(listed) - set(found))]
    issues += [f"{name}: sha256 differs from the manifest (modified)" for name in sorted(set(listed) & set(found)) if listed[name] != sha256_of(found[name])]
    issues += [f"{name}: not in the manifest (added)" for name in sorted(set(found) - set(listed))]
    return issues


def verify_or_raise(folder: Path, digest: str | None = None) -> None:
    found = problems(folder, digest)
    if found:
        raise SurrogateError(f"release {folder} failed verification: {'; '.join(found[:5])}{' ...' if len(found) > 5 else ''}")
