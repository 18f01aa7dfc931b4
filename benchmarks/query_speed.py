"""Query speed: one architecture at a time (what evolution and annealing ask) and large batches, for the
default fit (5-member ensembles) of val_top1 and throughput_a100 on the shared records, with and without
the query budget (`FitSettings.max_trees`), each target's held-out test tau beside.

Baselines in the same run: the fit without the budget, answered by the compiled trees
(`surrogate.trees`) and by the libraries (XGBoost's DMatrix, LightGBM) as before the trees were
compiled. Goals: one architecture <= 0.5 ms, a batch >= 150,000 architectures/s, test taus within
0.002 of the unbudgeted fit's.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BATCH = 100_000
SINGLE = 300
RESULTS = Path(__file__).with_name("results") / "query_speed.json"
BEGIN = "<!-- query_speed: begin (python -m benchmarks.query_speed --docs) -->"
END = "<!-- query_speed: end -->"


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


def measure() -> dict:
    from benchmarks.surrogates_vs_reference import reference_frame, trees_of
    from accelbench.optimizers.encoding import random_genotypes, to_values
    from accelbench.search_space import sample
    from accelbench.surrogate import saved
    from accelbench.surrogate.benchmark import Benchmark
    from accelbench.surrogate.features import features_of_choices
    from accelbench.surrogate.fit import FitSettings, fit_all

    targets = ["val_top1", "throughput_a100"]
    frame = reference_frame()
    genotypes = random_genotypes(np.random.default_rng(0), BATCH)
    architectures = sample(SINGLE, 7)
    x_batch = features_of_choices(to_values(genotypes))
    batch_architectures = sample(20_000, 123)
    table = pd.DataFrame([a.to_reference() for a in batch_architectures])

    def measure(benchmark) -> tuple[float, float, float, float, float]:
        def search_step(index: int) -> None:  # what the optimizers do per candidate
            benchmark.predict_features(features_of_choices(to_values(genotypes[index : index + 1])), targets)

        def user_query(index: int) -> None:  # Benchmark.query with one Architecture
            benchmark.query([architectures[index]])

        benchmark.predict_features(x_batch[:1000], targets)  # the first calls build what they need (compiled trees, kernels)
        search_step(0)
        single_search, single_query = per_call_ms(search_step, SINGLE), per_call_ms(user_query, SINGLE)
        batch = BATCH / median_seconds(lambda: benchmark.predict_features(x_batch, targets))
        by_frame = len(table) / median_seconds(lambda: benchmark.query(table))
        return single_search, single_query, batch, by_frame, len(table) / median_seconds(lambda: benchmark.query(batch_architectures))

    results, taus, trees = {}, {}, {}
    for name, settings in (("unbudgeted", FitSettings(max_trees=None)), ("budget", FitSettings())):
        fits = fit_all(frame, targets, settings, log=io.StringIO())
        taus[name] = {f.target: f.test["kendall_tau"] for f in fits}
        trees[name] = {f.target: trees_of(f) for f in fits}
        with tempfile.TemporaryDirectory() as folder:
            saved.save(fits, Path(folder), settings)
            benchmark = Benchmark.load(folder)
            if name == "unbudgeted":
                members = [member for target in benchmark.targets.values() for member in target.members]
                for member in members:
                    member._forest = False  # not compiled: every call goes to the library
                results["libraries"] = measure(benchmark)
                for member in members:
                    member._forest = None  # compiled again on the first call
            results[name] = measure(benchmark)
    return {"members": FitSettings().members, "max_trees": FitSettings().max_trees, "batch": BATCH, "table_rows": len(table),
            "taus": taus, "trees": trees, "speeds": {name: list(values) for name, values in results.items()}}


ROWS = [("one architecture, search path", "ms", "<= 0.5 ms"), ("one architecture, Benchmark.query", "ms", ""),
        ("batch of {batch:,}, search path", "/s", ">= 150,000/s"), ("batch of {rows:,}, query (DataFrame)", "/s", ""),
        ("batch of {rows:,}, query (Architecture)", "/s", "")]


def block(results: dict) -> str:
    speeds, taus, trees = results["speeds"], results["taus"], results["trees"]
    lines = [BEGIN, f"`python -m benchmarks query_speed` (`benchmarks/results/query_speed.json`): `val_top1` and `throughput_a100`, "
                    f"{results['members']} members each, with and without the query budget of {results['max_trees']:,} trees a target:", "",
             "| target | test tau, no budget (trees) | test tau, budget (trees) |", "|---|---|---|"]
    for target in taus["budget"]:
        lines.append(f"| {target} | {taus['unbudgeted'][target]:.4f} ({trees['unbudgeted'][target]:,}) | {taus['budget'][target]:.4f} ({trees['budget'][target]:,}) |")
    lines += ["", "| query | libraries | compiled, no budget | compiled, budget | budget vs libraries / no budget | goal |", "|---|---|---|---|---|---|"]
    for index, (label, unit, goal) in enumerate(ROWS):
        values = [speeds[name][index] for name in ("libraries", "unbudgeted", "budget")]
        shown = [f"{v:.3f} ms" if unit == "ms" else f"{v:,.0f}/s" for v in values]
        faster = [values[0] / values[2], values[1] / values[2]] if unit == "ms" else [values[2] / values[0], values[2] / values[1]]
        lines.append(f"| {label.format(batch=results['batch'], rows=results['table_rows'])} | {' | '.join(shown)} | {faster[0]:.1f}x / {faster[1]:.2f}x | {goal} |")
    lines.append(END)
    return "\n".join(lines)


def render() -> None:
    from benchmarks.docs_blocks import replace_block

    replace_block(Path(__file__).resolve().parents[1] / "README.md", BEGIN, END, block(json.loads(RESULTS.read_text())))


def main(arguments: list[str] | None = None) -> None:
    import sys

    from benchmarks.docs_blocks import measure_or_render

    arguments = sys.argv[1:] if arguments is None else arguments
    measure_or_render(arguments, measure, RESULTS, render)
    if "--docs" not in arguments:
        print(block(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
