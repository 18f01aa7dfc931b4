"""Fitting beside other work: one target (`val_top1`, LightGBM, one member) fitted on the shared records,
on a quiet machine and beside one busy process, with libgomp's default spin (300,000 spins before a
waiting thread sleeps: a spinning thread holds the core its partner needs) and with accelbench's
(`GOMP_SPINCOUNT=2000`, set when `accelbench` is imported). Each fit runs in a fresh process: libgomp
reads the setting once, when it is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIT = ("import io\nfrom benchmarks.surrogates_vs_reference import reference_frame\nfrom accelbench.surrogate.fit import FitSettings, fit_all\n"
       "fit_all(reference_frame(), ['val_top1'], FitSettings(models=('lightgbm',), members=1, calibration_folds=2), log=io.StringIO())\n")
SPINS = {"libgomp's default": "300000", "accelbench's": "2000"}


def fit_seconds(spin: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", FIT], cwd=ROOT, check=True, env={**os.environ, "GOMP_SPINCOUNT": spin, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def main() -> None:
    quiet = {name: fit_seconds(spin) for name, spin in SPINS.items()}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded = {name: fit_seconds(spin) for name, spin in SPINS.items()}
    finally:
        busy.kill()
    print(f"fit val_top1 (LightGBM, 2 threads) on {os.cpu_count()} cores      quiet    beside one busy process   slowdown")
    for name in SPINS:
        print(f"  spin: {name:18} {quiet[name]:24.1f} s {loaded[name]:14.1f} s {loaded[name] / quiet[name]:14.1f}x")
    default, ours = SPINS
    print(f"  under load, accelbench's spin is {loaded[default] / loaded[ours]:.1f}x faster; quiet, it costs {quiet[ours] / quiet[default]:.2f}x")


if __name__ == "__main__":
    main()
