"""Figures in the docs that a benchmark regenerates: the text between two marker lines, replaced whole."""

from __future__ import annotations

from pathlib import Path


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Put `block` (which starts with `begin` and ends with `end`) where those markers are in `path`."""
    text = path.read_text()
    start, stop = text.index(begin), text.index(end) + len(end)
    path.write_text(text[:start] + block + text[stop:])
