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

from benchmarks.docs_blocks import replace_block

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
        print(f"{name}: exit {done.returncode}, {seconds[name]} s", flush=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((work / "fits" / "ofa" / "surrogates.json").read_text())["targets"][TARGET]["test"]
    return {"seconds": seconds, "cpus": os.cpu_count(), "collect_table": table_of(outputs["collect"]), "collect_again": outputs["collect_again"].strip(),
            "fit_test": {key: metrics[key] for key in ("kendall_tau", "r2")}, "search_release": last_lines(outputs["search_release"], 2),
            "search_store": last_lines(outputs["search_store"], 2), "explain": outputs["explain"].strip().splitlines()}


def table_of(output: str) -> list[str]:
    """The summary `collect` ends with: its table of records per stage and status, and the count of architectures."""
    lines = output.strip().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("stage "))
    return lines[start : next(index for index, line in enumerate(lines) if " architectures in " in line) + 1]


def last_lines(output: str, count: int) -> list[str]:
    return output.strip().splitlines()[-count:]


def block(results: dict) -> str:
    seconds = results["seconds"]
    table = [line.replace("runs/ofa", "runs/ofa-embedded") for line in results["collect_table"]]
    lines = [BEGIN,
             f"Measured on {results['cpus']} cores, nothing else running (`benchmarks/results/ofa_flow.json`): the collect took "
             f"{seconds['collect'] / 60:.1f} min and ended with",
             "", "```", *table, "```", "",
             f"The same command again: `{results['collect_again'].splitlines()[-1]}` ({seconds['collect_again']:.0f} s, Ray's start included). "
             f"`fit --targets {TARGET}` ({seconds['fit']:.0f} s): held-out Kendall tau {results['fit_test']['kendall_tau']:.3f}, "
             f"R² {results['fit_test']['r2']:.3f}; `release --fit` {seconds['release']:.0f} s. "
             f"A search of the release for the fastest subnet: `{results['search_release'][-1]}`; of the store's measured architectures "
             f"for accuracy and latency: `{results['search_store'][-1]}`. `explain` says, per stage, what each choice adds to the latency, "
             f"and the resolution's effect: `{results['explain'][-1].strip()[:120]} …`.",
             END]
    return "\n".join(lines)


def write_docs() -> None:
    replace_block(ROOT / "README.md", BEGIN, END, block(json.loads(RESULTS.read_text())))


def main() -> None:
    if "--docs" in sys.argv[1:]:
        write_docs()
        return
    results = run(Path(tempfile.mkdtemp(prefix="accelbench-ofa-")))
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
