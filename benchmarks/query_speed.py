"""Query speed: one architecture at a time (what evolution and annealing ask) and large batches, for the
default fit (5-member ensembles) of val_top1 and throughput_a100 on the shared records.

Baseline in the same run: every member answered by its library (XGBoost's DMatrix, LightGBM), as
before the trees were compiled (`surrogate.trees`). Goals: one architecture <= 1 ms, a batch >=
100,000 architectures/s.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BATCH = 100_000
SINGLE = 300


def per_call_ms(function, calls: int) -> float:
    started = time.perf_counter()
    for index in range(calls):
        function(index)
    return (time.perf_counter() - started) / calls * 1e3


def median_seconds(function, repeats: int = 3) -> float:
    """Median wall time of a few calls: the first call into fresh memory of a large batch pays page faults
    the next ones do not."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    from benchmarks.surrogates_vs_reference import reference_frame
    from accelbench.optimizers.encoding import random_genotypes, to_values
    from accelbench.search_space import sample
    from accelbench.surrogate import saved
    from accelbench.surrogate.benchmark import Benchmark
    from accelbench.surrogate.features import features_of_choices
    from accelbench.surrogate.fit import FitSettings, fit_all

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

        x_batch = features_of_choices(to_values(genotypes))
        batch_architectures = sample(20_000, 123)
        frame = pd.DataFrame([a.to_reference() for a in batch_architectures])

        def measure() -> tuple[float, float, float, float, float]:
            benchmark.predict_features(x_batch[:1000], targets)  # the first calls build what they need (compiled trees, kernels)
            search_step(0)
            single_search, single_query = per_call_ms(search_step, SINGLE), per_call_ms(user_query, SINGLE)
            batch = BATCH / median_seconds(lambda: benchmark.predict_features(x_batch, targets))
            by_frame = len(frame) / median_seconds(lambda: benchmark.query(frame))
            return single_search, single_query, batch, by_frame, len(frame) / median_seconds(lambda: benchmark.query(batch_architectures))

        members = [member for target in benchmark.targets.values() for member in target.members]
        for member in members:
            member._forest = False  # the baseline: not compiled, so every call goes to the library
        base = measure()
        for member in members:
            member._forest = None  # compiled again on the first call
        compiled = measure()
        counts = {name: sum(len(m._forest.feature) for m in target.members if m._forest) for name, target in benchmark.targets.items()}
    print(f"2 targets x {settings.members} members ({', '.join(f'{f.target}: {f.model}, {counts[f.target]:,} trees' for f in fits)})")
    print("                                       libraries     compiled   ratio   goal")
    print(f"  one architecture, search path     {base[0]:8.3f} ms  {compiled[0]:8.3f} ms  {base[0] / compiled[0]:5.1f}x   <= 1 ms")
    print(f"  one architecture, Benchmark.query {base[1]:8.3f} ms  {compiled[1]:8.3f} ms  {base[1] / compiled[1]:5.1f}x")
    print(f"  batch of {BATCH:,}, search path    {base[2]:8,.0f} /s  {compiled[2]:8,.0f} /s  {compiled[2] / base[2]:5.1f}x   >= 100,000/s")
    print(f"  batch of {len(frame):,}, query (DataFrame) {base[3]:7,.0f} /s  {compiled[3]:8,.0f} /s  {compiled[3] / base[3]:5.1f}x")
    print(f"  batch of {len(frame):,}, query (Architecture) {base[4]:4,.0f} /s  {compiled[4]:8,.0f} /s  {compiled[4] / base[4]:5.1f}x   "
          f"Architecture / DataFrame {compiled[4] / compiled[3]:.2f} (goal: as fast)")


if __name__ == "__main__":
    main()
