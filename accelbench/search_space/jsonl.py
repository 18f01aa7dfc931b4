"""Reading architectures from JSON-lines files (one object of reference keys per line)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.space import SpaceError
from accelbench.search_space.spaces import get_space


def parse_architecture_lines(lines: list[str], source: str = "<input>", default_space: str = "anb") -> list[Architecture]:
    """Every non-blank line must be a JSON object of a space's keys (`block{i}_{e,k,l,se}` for `anb`; a
    line without a `space` key is of `default_space`). Other keys are ignored unless they look like the space's
    (`block9_e`): `arch_id`, for one, may travel along and is checked."""
    architectures = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise SpaceError(f"{source}:{number}: not valid JSON ({error.msg})") from None
        except ValueError as error:  # e.g. an integer of thousands of digits
            raise SpaceError(f"{source}:{number}: not a usable JSON value ({str(error).split(';')[0]})") from None
        if not isinstance(data, dict):
            raise SpaceError(f"{source}:{number}: expected a JSON object, got {type(data).__name__}")
        space = data.get("space", default_space)
        try:
            stems = {_stem(key) for key in get_space(space).keys}
            # other keys travel along (results, notes); one of the space's family is a typo to report
            keys = {key: value for key, value in data.items() if _stem(key) in stems}
            architecture = Architecture.from_reference(keys, space)
        except SpaceError as error:
            raise SpaceError(f"{source}:{number}: {error}") from None
        given_id = data.get("arch_id")
        if given_id is not None and given_id != architecture.arch_id:
            raise SpaceError(f"{source}:{number}: arch_id={given_id!r} does not match its keys (expected {architecture.arch_id})")
        architectures.append(architecture)
    return architectures


def _stem(key: str) -> str:
    """A key's family: its text before the first digit or underscore (`block`, `stage`, `resolution`)."""
    return re.split(r"[\d_]", str(key), maxsplit=1)[0]


def read_architectures(path: str | Path, spaces: tuple[str, ...] | None = None, reader: str = "", default_space: str = "anb") -> list[Architecture]:
    """The file's architectures (a line that names no space is of `default_space`); with `spaces`, a line
    of another space is an error naming it (`reader` says who takes only those spaces, for the message)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpaceError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise SpaceError(f"{path}: not UTF-8 text (byte {error.start}); expected JSON lines of architectures") from None
    architectures = parse_architecture_lines(text.splitlines(), str(path), default_space)
    other = next((number for number, a in enumerate(architectures, start=1) if spaces is not None and a.space not in spaces), None)
    if other is not None:
        raise SpaceError(f"{path}: architecture {other} is of the {architectures[other - 1].space} space; {reader or 'this'} takes {' or '.join(spaces)} architectures")
    if not architectures:
        raise SpaceError(f"{path} holds no architectures; expected JSON lines, one architecture of reference keys per line")
    return architectures
