"""Query speed: one architecture at a time (what evolution and annealing ask) and large batches, for the
default fit (5-member ensembles) of val_top1 and throughput_a100 on the shared records.

Baseline in the same run: every member answered by its library (XGBoost's DMatrix, LightGBM), which is
what a single query cost before the flat tree walk (`surrogate.trees`). Goals: one architecture <= 1 ms,
a batch >= 100,000 architectures/s.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import pandas as pd

BATCH = 100_000
SINGLE = 300


def per_call_ms(function, calls: int) -> float:
    started = time.perf_counter()
    for index in range(calls):
        function(index)
    return (time.perf_counter() - started) / calls * 1e3


def main() -> None:
    import numpy as np

    from benchmarks.surrogates_vs_reference import reference_frame
    from optimizers.encoding import random_genotypes, to_values
    from search_space import sample
    from surrogate import saved, trees
    from surrogate.benchmark import Benchmark
    from surrogate.features import features_of_choices
    from surrogate.fit import FitSettings, fit_all

    settings = FitSettings()
    targets = ["val_top1", "throughput_a100"]
    fits = fit_all(reference_frame(), targets, settings, log=io.StringIO())
    with tempfile.TemporaryDirectory() as folder:
        saved.save(fits, Path(folder), settings)
        benchmark = Benchmark.load(folder)
        genotypes = random_genotypes(np.random.default_rng(0), BATCH)
        architectures = sample(SINGLE, 7)

        def search_step(index: int) -> None:  # what the optimizers do per candidate
            benchmark.predict_features(features_of_choices(to_values(genotypes[index : index + 1])), targets)

        def user_query(index: int) -> None:  # Benchmark.query with one Architecture
            benchmark.query([architectures[index]])

        library = trees.SMALL_BATCH
        trees.SMALL_BATCH = 0  # the baseline: every call through the libraries
        search_step(0)
        base_search, base_query = per_call_ms(search_step, SINGLE), per_call_ms(user_query, SINGLE)
        trees.SMALL_BATCH = library
        search_step(0)  # builds the flat trees once
        flat_search, flat_query = per_call_ms(search_step, SINGLE), per_call_ms(user_query, SINGLE)

        started = time.perf_counter()
        benchmark.predict_features(features_of_choices(to_values(genotypes)), targets)
        batch_rate = BATCH / (time.perf_counter() - started)
        counts = {name: sum(len(m._forest.feature) for m in target.members if getattr(m, "_forest", None) is not None) for name, target in benchmark.targets.items()}
        frame = pd.DataFrame([a.to_reference() for a in sample(20_000, 123)])
        started = time.perf_counter()
        benchmark.query(frame)
        frame_rate = len(frame) / (time.perf_counter() - started)
    print(f"2 targets x {settings.members} members ({', '.join(f'{f.target}: {f.model}, {counts[f.target]:,} trees' for f in fits)})")
    print(f"  one architecture, search path      {base_search:7.3f} ms (libraries)  {flat_search:7.3f} ms (flat trees)  {base_search / flat_search:5.1f}x   goal <= 1 ms")
    print(f"  one architecture, Benchmark.query  {base_query:7.3f} ms (libraries)  {flat_query:7.3f} ms (flat trees)  {base_query / flat_query:5.1f}x")
    print(f"  batch of {BATCH:,}, search path     {batch_rate:>10,.0f} architectures/s   goal >= 100,000/s")
    print(f"  batch of {len(frame):,}, DataFrame query {frame_rate:>10,.0f} architectures/s")


if __name__ == "__main__":
    main()
