"""Writing command output all at once: to stdout, or atomically to a file (nothing half-written)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from pipeline.atomic import write_bytes_atomic


def json_lines(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, sort_keys=False) + "\n" for row in rows)


def write_text_atomic(path: str | Path, text: str | bytes) -> None:
    write_bytes_atomic(path, text.encode() if isinstance(text, str) else text)


def emit(text: str, output: str | Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(output, text)


@contextmanager
def staged_folder(path: str | Path, replace: bool) -> Iterator[Path]:
    """A folder that appears whole or not at all: filled under a temporary name, then renamed into place."""
    path = Path(path)
    if path.exists() and not replace:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-"))
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
