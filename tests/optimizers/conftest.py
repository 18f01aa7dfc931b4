"""A small fitted benchmark on the shared records (accuracy and A100 throughput), saved as a fit output."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def fitted(small_fit, tmp_path_factory):
    from accelbench.surrogate import saved
    from accelbench.surrogate.benchmark import Benchmark

    fits, settings, _ = small_fit
    folder = tmp_path_factory.mktemp("fit")
    saved.save(fits, folder, settings)
    return folder, Benchmark.load(folder)
