"""Query speed: architectures per second through `Benchmark.query`, batched, against querying one
architecture at a time (what a NAS loop that asks per candidate does) in the same run.

Surrogates: the default fit (5-member ensembles) for val_top1 and throughput_a100 on the shared records.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import pandas as pd

BATCH = 200_000
ONE_BY_ONE = 300


def main() -> None:
    from benchmarks.surrogates_vs_reference import reference_frame
    from search_space import sample
    from surrogate import saved
    from surrogate.benchmark import Benchmark
    from surrogate.fit import FitSettings, fit_all

    settings = FitSettings()
    fits = fit_all(reference_frame(), ["val_top1", "throughput_a100"], settings, log=io.StringIO())
    with tempfile.TemporaryDirectory() as folder:
        saved.save(fits, Path(folder), settings)
        benchmark = Benchmark.load(folder)
        architectures = sample(BATCH, 123)
        frame = pd.DataFrame([a.to_reference() for a in architectures])

        started = time.perf_counter()
        batched = benchmark.query(frame)
        batch_rate = BATCH / (time.perf_counter() - started)

        started = time.perf_counter()
        from_values = benchmark.query(architectures[:20_000])
        values_rate = 20_000 / (time.perf_counter() - started)

        started = time.perf_counter()
        for architecture in architectures[:ONE_BY_ONE]:
            benchmark.query([architecture])
        single_rate = ONE_BY_ONE / (time.perf_counter() - started)
    assert len(batched) == BATCH and len(from_values) == 20_000
    members = sum(len(fit.members) for fit in fits)
    print(f"2 targets, {members} ensemble members ({', '.join(f'{f.target}: {f.model}' for f in fits)})")
    print(f"  batched, DataFrame of {BATCH:,}        {batch_rate:>10,.0f} architectures/s")
    print(f"  batched, 20,000 Architecture values {values_rate:>10,.0f} architectures/s")
    print(f"  one at a time (baseline)            {single_rate:>10,.0f} architectures/s")
    print(f"  ratio batched/one-at-a-time {batch_rate / single_rate:,.0f}x")


if __name__ == "__main__":
    main()
