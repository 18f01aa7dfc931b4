"""Reading a TOML file for any layer: one error (the caller's kind) naming the file and what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

from accelbench.common.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: str | Path, error: type[InputError], label: str) -> dict:
    """The file's tables; unreadable or invalid: `error` saying "<label>: <why>"."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as cause:
        raise error(f"{label}: {cause.strerror or cause}") from None
    except tomllib.TOMLDecodeError as cause:
        raise error(f"{label}: not valid TOML: {cause}") from None
