"""Shared fixtures: the reference records from ../shared, and paths."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

# Ray's token authentication stays on (its default). Ray reads the token when it is imported, so it is
# set here, before any test imports Ray; the clusters and drivers the tests start inherit it.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)

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
