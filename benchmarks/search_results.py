"""The README's search table and figures, from a run: the shared records' default fit searched by every
algorithm (`accelbench search-compare`, the reference's budget of 1,500 queries, 5 seeds), uni-objective,
constrained to the reference's VCK190 throughput target, and as a Pareto front; and `explain` on the A100.

    python -m benchmarks.search_results [--fit FOLDER]   # measures (fitting first, ~5 min, unless given a fit
                                                          # of the shared records), then writes the results JSON,
                                                          # docs/results/*.png and the README's table
    python -m benchmarks.search_results --docs           # only the README's table, from the committed JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.docs_blocks import replace_block

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "search_results.json"
FIGURES = ROOT / "docs" / "results"
BEGIN, END = "<!-- search_results: begin (python -m benchmarks.search_results --docs) -->", "<!-- search_results: end -->"
BUDGET, SEEDS = 1500, 5
COMPARISONS = {  # name: (search-compare's arguments, its plot, the figure's name in docs/results)
    "best": (["--objective", "val_top1"], "trajectory.png", "search_uni_trajectory.png"),
    "constrained": (["--objective", "val_top1", "--constraint", "throughput_vck190>=3000"], "trajectory.png", "search_constrained_trajectory.png"),
    "hypervolume": (["--objective", "val_top1", "--objective", "throughput_vck190", "--reference", "val_top1=50", "throughput_vck190=3000"],
                    "pareto.png", "search_pareto_vck190.png"),
}


def accelbench(arguments: list[str], work: Path) -> None:
    subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", *arguments], cwd=work, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def measure(fit: Path | None) -> dict:
    shared = Path(os.environ.get("ACCELBENCH_SHARED", ROOT.parent / "shared"))
    work = Path(tempfile.mkdtemp(prefix="accelbench-search-"))
    if fit is None:
        accelbench(["import-anb", str(shared / "data" / "anb" / "anb_dataset_dev.tar.gz"), "--store", "runs/anb"], work)
        accelbench(["fit", "--store", "runs/anb", "--out", "fits/anb"], work)
        fit = work / "fits" / "anb"
    results: dict = {"budget": BUDGET, "seeds": SEEDS, "comparisons": {}}
    for name, (arguments, plot, figure) in COMPARISONS.items():
        out = work / "compare" / name
        accelbench(["search-compare", "--benchmark", str(fit.resolve()), *arguments, "--budget", str(BUDGET), "--seeds", str(SEEDS), "--output", str(out)], work)
        table = pd.read_csv(out / "compare.csv")
        results["comparisons"][name] = {row.algorithm: {"mean": row.mean, "std": row.std} for row in table.itertuples()}
        shutil.copyfile(out / plot, FIGURES / figure)
    explained = work / "explain"
    accelbench(["explain", "--surrogates", str(fit.resolve()), "--target", "throughput_a100", "--output", str(explained)], work)
    shutil.copyfile(explained / "contributions.png", FIGURES / "explain_throughput_a100.png")
    return results


def table(results: dict) -> str:
    comparisons = results["comparisons"]
    best = {name: max(rows, key=lambda algorithm: rows[algorithm]["mean"]) for name, rows in comparisons.items()}

    def cell(name: str, algorithm: str, digits: int) -> str:
        if algorithm not in comparisons[name]:
            return "(uni-objective)"
        value = comparisons[name][algorithm]
        mean = f"{value['mean']:,.{digits}f}"
        return f"{'**' + mean + '**' if algorithm == best[name] else mean} ± {value['std']:,.{digits}f}"

    lines = [BEGIN, f"| algorithm | best `val_top1` (mean ± std of {results['seeds']}) | with `throughput_vck190>=3000` (the reference's target) "
             "| hypervolume `val_top1` x `throughput_vck190` (± std) |", "|---|---|---|---|"]
    for algorithm in comparisons["best"]:
        lines.append(f"| {algorithm} | {cell('best', algorithm, 2)} | {cell('constrained', algorithm, 2)} | {cell('hypervolume', algorithm, 0)} |")
    return "\n".join([*lines, END])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_results")
    parser.add_argument("--fit", type=Path, help="a `fit` output of the shared records (default: fit them first, ~5 minutes)")
    parser.add_argument("--docs", action="store_true", help="only rewrite the README's table from the committed results")
    arguments = parser.parse_args(argv)
    if not arguments.docs:
        RESULTS.write_text(json.dumps(measure(arguments.fit), indent=1) + "\n")
        print(f"wrote {RESULTS} and the figures in {FIGURES}")
    replace_block(ROOT / "README.md", BEGIN, END, table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
