"""Ranking stability of ONNX Runtime latency on this noisy machine, and the cost per architecture.

20 random architectures are profiled twice (batch 1) with accelbench's protocol (1 pinned thread, no
spinning, 3 fresh sessions, median of medians, disturbed sessions redone) and, in the same run, with a
naive baseline (one session with ONNX Runtime's defaults, 20 timed runs, their median). Kendall tau
between the two passes says how well each ranks architectures alike. Goal: tau >= 0.9 for accelbench.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

ARCHITECTURES = 20
SEED = 2024


def naive_latency_ms(onnx_path: Path) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    for _ in range(5):
        session.run(None, {"images": images})
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        session.run(None, {"images": images})
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    from accelbench.profiling.export import export_onnx
    from accelbench.profiling.target import Target
    from accelbench.profiling.runner import profile
    from accelbench.search_space import sample

    architectures = sample(ARCHITECTURES, SEED)
    target = Target("ort-cpu-b1", "onnxruntime", batch=1)
    with tempfile.TemporaryDirectory() as folder:
        export_seconds, profile_seconds = [], []
        paths = {}
        for architecture in architectures:
            started = time.perf_counter()
            paths[architecture.arch_id] = export_onnx(architecture, Path(folder) / f"{architecture.arch_id}.onnx")
            export_seconds.append(time.perf_counter() - started)
        ours: list[list[float]] = [[], []]
        naive: list[list[float]] = [[], []]
        loads = []
        for run in range(2):
            for architecture in architectures:
                started = time.perf_counter()
                measurement = profile(architecture, target, folder, onnx_path=paths[architecture.arch_id])
                profile_seconds.append(time.perf_counter() - started)
                ours[run].append(measurement.latency.median_ms)
                loads.append(measurement.other_load)
                naive[run].append(naive_latency_ms(paths[architecture.arch_id]))
    tau_ours = kendalltau(*ours).statistic
    tau_naive = kendalltau(*naive).statistic
    spread = statistics.median(abs(a - b) / a for a, b in zip(*ours))
    print(f"{ARCHITECTURES} random architectures (seed {SEED}), ONNX Runtime CPU, batch 1, 224 px, profiled twice")
    print(f"latency range: {min(ours[0]):.2f} .. {max(ours[0]):.2f} ms; median pass-to-pass change {100 * spread:.1f}%; max other-process load {max(loads):.2f}")
    print(f"Kendall tau between passes: accelbench protocol {tau_ours:.3f} (goal >= 0.9); naive single session {tau_naive:.3f}")
    print(f"cost per architecture: export {statistics.mean(export_seconds):.2f} s + profile {statistics.mean(profile_seconds):.2f} s")


if __name__ == "__main__":
    main()
