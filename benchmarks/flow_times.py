"""How long the README's surrogate flow takes: import the shared records, fit every target, release
that fit (`release --fit`, no second fit). Run it on a quiet machine: fitting is sensitive to other load.

    python -m benchmarks.flow_times            # measures, writes benchmarks/results/flow_times.json
    python -m benchmarks.flow_times --docs     # rewrites the README's block from that JSON
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

RESULTS = Path(__file__).with_name("results") / "flow_times.json"
ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- flow_times: begin (python -m benchmarks.flow_times --docs) -->", "<!-- flow_times: end -->"


def measure() -> dict:
    shared = Path(os.environ.get("ACCELBENCH_SHARED", ROOT.parent / "shared"))
    work = Path(tempfile.mkdtemp(prefix="accelbench-flow-"))
    steps = {
        "import_anb": ["import-anb", str(shared / "data" / "anb" / "anb_dataset_dev.tar.gz"), "--store", "runs/anb"],
        "fit": ["fit", "--store", "runs/anb", "--out", "fits/anb"],
        "release_from_fit": ["release", "--store", "runs/anb", "--name", "anb", "--version", "1.0", "--out", "releases", "--fit", "fits/anb"],
    }
    seconds = {}
    for name, arguments in steps.items():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "accelbench.workflows.cli", *arguments], cwd=work, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
    return {"seconds": seconds, "cpus": os.cpu_count(), "machine": "this project's 2-core machine, nothing else running"}


def block(results: dict) -> str:
    seconds = results["seconds"]
    return "\n".join([BEGIN, f"Measured on {results['cpus']} cores, nothing else running (`benchmarks/results/flow_times.json`): "
                      f"`import-anb` {seconds['import_anb']:.0f} s, `fit` (9 targets, the default candidates) {seconds['fit'] / 60:.1f} min, "
                      f"`release --fit` {seconds['release_from_fit']:.0f} s. A `release` without `--fit` fits again: as long as `fit`.", END])


def write_docs() -> None:
    replace_block(ROOT / "README.md", BEGIN, END, block(json.loads(RESULTS.read_text())))


def main() -> None:
    measure_or_render(sys.argv[1:], measure, RESULTS, write_docs)


if __name__ == "__main__":
    main()
