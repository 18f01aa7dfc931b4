"""The ofa space end to end, as a user runs it: `collect ofa-embedded` (timed), the same command again
(nothing to do), `status`, `fit` of its device metric, `release --fit`, a search on the release and one
on the store, and `explain`. Run it on a quiet machine: the preset's profiles are timings.

    python -m benchmarks.ofa_flow            # runs it, writes benchmarks/results/ofa_flow.json
    python -m benchmarks.ofa_flow --docs     # rewrites the README's block from that JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.docs_blocks import measure_or_render, replace_block

RESULTS = Path(__file__).with_name("results") / "ofa_flow.json"
ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- ofa_flow: begin (python -m benchmarks.ofa_flow --docs) -->", "<!-- ofa_flow: end -->"
TARGET = "latency_cpu_ort"
STEPS = {
    "collect": ["collect", "ofa-embedded", "--store", "runs/ofa"],
    "collect_again": ["collect", "ofa-embedded", "--store", "runs/ofa"],
    "status": ["status", "runs/ofa"],
    "fit": ["fit", "--store", "runs/ofa", "--targets", TARGET, "--out", "fits/ofa"],
    "release": ["release", "--store", "runs/ofa", "--name", "ofa", "--version", "0.1", "--out", "releases", "--fit", "fits/ofa"],
    "search_release": ["search", "--benchmark", "releases/ofa-0.1", "--algorithm", "evolution", "--objective", TARGET, "--budget", "500",
                       "--output", "searches/fastest"],
    "search_store": ["search", "--store", "runs/ofa", "--algorithm", "random", "--objective", "val_top1", "--objective", TARGET,
                     "--budget", "30", "--output", "searches/pareto"],
    "explain": ["explain", "--surrogates", "fits/ofa", "--target", TARGET],
}


def run(work: Path) -> dict:
    seconds, outputs = {}, {}
    for name, arguments in STEPS.items():
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", *arguments], cwd=work, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds[name] = round(time.perf_counter() - started, 1)
        outputs[name] = done.stdout
        outputs[f"{name}_stderr"] = done.stderr
        print(f"{name}: exit {done.returncode}, {seconds[name]} s", flush=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((work / "fits" / "ofa" / "surrogates.json").read_text())["targets"][TARGET]["test"]
    return {"seconds": seconds, "cpus": os.cpu_count(), "collect_table": table_of(outputs["collect"]), "collect_again": next(line for line in outputs["collect_again_stderr"].splitlines() if line.startswith("nothing to do")),
            "status": status_lines(outputs["status"]),
            "fit_test": {key: metrics[key] for key in ("kendall_tau", "r2")}, "search_release": last_lines(outputs["search_release"], 2),
            "search_store": last_lines(outputs["search_store"], 2), "explain": outputs["explain"].strip().splitlines()}


def table_of(output: str) -> list[str]:
    """The summary `collect` ends with: its table of records per stage and status, and the count of architectures."""
    lines = output.strip().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("stage "))
    return lines[start : next(index for index, line in enumerate(lines) if " architectures in " in line) + 1]


def status_lines(output: str) -> list[str]:
    """What `status` says beyond the table `collect` ends with: the sweep's tasks recorded and left."""
    return [line for line in output.strip().splitlines() if line.startswith("sweep ")]


def last_lines(output: str, count: int) -> list[str]:
    return output.strip().splitlines()[-count:]


def resolution_effects(explain: list[str]) -> dict:
    """The linear model's test tau and the resolution's effect at both ends, from `explain`'s output."""
    tau = explain[0].split("Kendall tau ")[1].split(";")[0]
    line = explain[next(i for i, text in enumerate(explain) if text.startswith("effect of the input resolution")) + 1]
    parts = line.split()  # "128:", "-0.2334", "132:", ...
    return {"tau": tau, "low": parts[0].rstrip(":"), "first": parts[1], "high": parts[-2].rstrip(":"), "last": parts[-1]}


def block(results: dict) -> str:
    seconds = results["seconds"]
    explained = resolution_effects(results["explain"])
    table = [line.replace("runs/ofa", "runs/ofa-embedded") for line in results["collect_table"]]
    lines = [BEGIN,
             f"Measured on {results['cpus']} cores, nothing else running (`benchmarks/results/ofa_flow.json`): the collect took "
             f"{seconds['collect'] / 60:.1f} min and ended with",
             "", "```", *table, "```", "",
             f"The same command again: `{results['collect_again']}` ({seconds['collect_again']:.0f} s). `status`: "
             f"`{'; '.join(results['status'])}`. "
             f"`fit --targets {TARGET}` ({seconds['fit']:.0f} s): held-out Kendall tau {results['fit_test']['kendall_tau']:.3f}, "
             f"R² {results['fit_test']['r2']:.3f}; `release --fit` {seconds['release']:.0f} s. "
             f"A search of the release for the fastest subnet (evolution, 500 queries): `{results['search_release'][0]}`; of the store's "
             f"measured architectures for accuracy and latency: `{results['search_store'][0]}`. `explain`'s linear model ranks the test split "
             f"with tau {explained['tau']}; per stage it gives each choice's main effect on the latency (ms), and the resolution's: "
             f"{explained['first']} at {explained['low']} px to {explained['last']} at {explained['high']} px.",
             END]
    return "\n".join(lines)


def write_docs() -> None:
    replace_block(ROOT / "README.md", BEGIN, END, block(json.loads(RESULTS.read_text())))


def main() -> None:
    measure_or_render(sys.argv[1:], lambda: run(Path(tempfile.mkdtemp(prefix="accelbench-ofa-"))), RESULTS, write_docs)


if __name__ == "__main__":
    main()
