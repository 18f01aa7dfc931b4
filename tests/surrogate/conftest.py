"""The shared reference records as a wide frame (imported through the real store path), and a small fit."""

from __future__ import annotations

import io

import pytest


@pytest.fixture(scope="session")
def reference_frame(anb_records, tmp_path_factory):
    from pipeline.anb_format import rows_from_records
    from pipeline.store import Store
    from pipeline.views import wide

    store = Store(tmp_path_factory.mktemp("reference-store"))
    for table, rows in rows_from_records(anb_records, "test").items():
        store.write(table, rows)
    return wide(store)


@pytest.fixture(scope="session")
def small_fit(reference_frame):
    """Two targets on 1,200 architectures, two models, two members: a few seconds."""
    from surrogate.fit import FitSettings, fit_all

    settings = FitSettings(models=("xgboost", "linear"), members=2)
    frame = reference_frame.iloc[:1200].reset_index(drop=True)
    return fit_all(frame, ["val_top1", "throughput_a100"], settings, log=io.StringIO()), settings, frame
