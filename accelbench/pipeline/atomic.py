"""Files that appear whole or not at all: written under a temporary name beside the target, fsynced,
then renamed into place (atomic on POSIX). Temporary names start with `.tmp-`."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

TEMPORARY_PREFIX = ".tmp-"


@contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        try:
            handle = open(temporary, "wb")
        except OSError as error:  # name the file the user asked for, not the temporary one
            raise OSError(error.errno, error.strerror, str(path)) from None
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_output(path) as handle:
        handle.write(data)
