"""Figures in the docs that a benchmark regenerates: the text between two marker lines, replaced whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Put `block` (which starts with `begin` and ends with `end`) where those markers are in `path`."""
    text = path.read_text()
    start, stop = text.index(begin), text.index(end) + len(end)
    path.write_text(text[:start] + block + text[stop:])


def measure_or_render(arguments: list[str], measure: Callable[[], dict], results: Path, render: Callable[[], None]) -> None:
    """A docs benchmark's entry point: `--docs` rewrites the docs from the committed results (`render`),
    otherwise `measure` runs and its results are written to `results`."""
    if "--docs" in arguments:
        render()
        return
    values = measure()
    results.write_text(json.dumps(values, indent=1) + "\n")
    print(f"wrote {results}")
