"""Shared fixtures: the reference records from ../shared, and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ACCELBENCH_SHARED", REPO.parent / "shared"))
ANB_TARBALL = SHARED / "data" / "anb" / "anb_dataset_dev.tar.gz"


@pytest.fixture(scope="session")
def anb_tarball() -> Path:
    if not ANB_TARBALL.exists():
        pytest.fail(f"the shared reference records are missing: {ANB_TARBALL} (set ACCELBENCH_SHARED)")
    return ANB_TARBALL


@pytest.fixture(scope="session")
def anb_records(anb_tarball):
    from pipeline.anb_format import iter_anb_records

    return list(iter_anb_records(anb_tarball))
