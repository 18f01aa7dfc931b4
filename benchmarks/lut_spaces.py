"""The per-block latency table (LUT) on both spaces, on this CPU: ONNX Runtime, batch 1, one thread, the
options of the `blocks-cpu` preset. For each space, every distinct block is timed alone at 224 px, and
N architectures are timed end to end (`profiling.runner`, the code the pipeline's profile and blocks
stages run); the LUT sum and the sum scaled from 5 of the measurements are scored on the rest (Kendall
tau, MAPE, share within ±10%, mean predicted / measured).

The ofa architectures are drawn as the space draws them, with their resolution set to 224 px: a block's
time depends on its input size, so a table serves one resolution (OFA's own latency tables are one per
image size too).

    python -m benchmarks.lut_spaces [--n 35] [--docs]

Writes `benchmarks/results/lut_spaces.json` and `docs/results/lut_spaces.png` with `--docs`, else into a
new temporary folder; the README's table is rendered from the JSON (`--docs` rewrites it).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).with_name("results")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"
README = Path(__file__).resolve().parents[1] / "README.md"
MARKERS = ("<!-- lut_spaces:begin -->", "<!-- lut_spaces:end -->")
OPTIONS = {"sessions": 3, "repeats": 30, "min_time_s": 0.3}
CALIBRATE = 5
SEED = 12


def architectures_of(space: str, n: int):
    from accelbench.search_space import Architecture, sample

    drawn = sample(n, SEED, space)
    if space == "ofa":
        drawn = list(dict.fromkeys(Architecture((224, *a.choices[1:]), "ofa") for a in drawn))
    return drawn


def measure_space(space: str, n: int, cache: Path) -> dict:
    from accelbench.profiling.runner import profile, profile_block
    from accelbench.profiling.target import Target
    from accelbench.search_space.blocks import all_blocks
    from accelbench.surrogate.lut import Calibration, blocks_per_network, errors, lut_sum

    target = Target("cpu_ort", "onnxruntime", batch=1, resolution=224, threads=1, options=OPTIONS)
    started = time.perf_counter()
    table = {}
    for block in all_blocks(space):
        measurement = profile_block(block, target, cache)
        if measurement.status != "ok":
            raise SystemExit(f"block {block.key} of {space}: {measurement.status}: {measurement.error}")
        table[block.key] = measurement.latency.median_ms
    architectures, measured = architectures_of(space, n), []
    for architecture in architectures:
        measurement = profile(architecture, target, cache)
        if measurement.status != "ok":
            raise SystemExit(f"{architecture.arch_id} of {space}: {measurement.status}: {measurement.error}")
        measured.append(measurement.latency.median_ms)
    measured = np.array(measured)
    lut, count = lut_sum(architectures, table), blocks_per_network(architectures)
    chosen = np.array([i in set(random.Random(0).sample(range(len(measured)), CALIBRATE)) for i in range(len(measured))])
    calibration = Calibration.fit(lut[chosen], count[chosen], measured[chosen])
    return {
        "space": space, "blocks": len(table), "architectures": len(measured), "scored": int((~chosen).sum()),
        "lut_sum": errors(measured[~chosen], lut[~chosen]),
        "lut_scaled": errors(measured[~chosen], calibration.predict(lut[~chosen], count[~chosen])),
        "measured_ms": measured.tolist(), "lut_ms": lut.tolist(), "calibrated": chosen.tolist(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }


def table_markdown(results: list[dict]) -> str:
    lines = ["| space | blocks | architectures (scored) | predictor | Kendall tau | MAPE | within ±10% | predicted / measured |", "|---|---|---|---|---|---|---|---|"]
    for result in results:
        for key, name in (("lut_sum", "LUT sum"), ("lut_scaled", f"LUT x scale from {CALIBRATE}")):
            scores = result[key]
            lines.append(f"| {result['space']} | {result['blocks']} | {result['architectures']} ({result['scored']}) | {name} | {scores['kendall_tau']:.3f} | "
                         f"{scores['mape']:.1f}% | {scores['within_10']:.0f}% | {scores['mean_ratio']:.3f} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.8))
    for axis, result in zip(np.atleast_1d(axes), results):
        measured, lut = np.array(result["measured_ms"]), np.array(result["lut_ms"])
        axis.scatter(measured, lut, s=18, label="LUT sum")
        low, high = min(measured.min(), lut.min()) * 0.95, max(measured.max(), lut.max()) * 1.05
        axis.plot([low, high], [low, high], color="grey", linewidth=1, label="predicted = measured")
        axis.set(title=f"{result['space']}: tau {result['lut_sum']['kendall_tau']:.3f}, MAPE {result['lut_sum']['mape']:.1f}%",
                 xlabel="measured latency (ms, batch 1, 1 thread)", ylabel="sum of block latencies (ms)")
        axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_readme_table(results: list[dict]) -> None:
    text = README.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    README.write_text(text[:start] + "\n" + table_markdown(results) + "\n" + text[end:])


def main(arguments: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if arguments is None else arguments
    n = int(arguments[arguments.index("--n") + 1]) if "--n" in arguments else 35
    docs = "--docs" in arguments
    out = RESULTS if docs else Path(tempfile.mkdtemp(prefix="lut_spaces-"))
    with tempfile.TemporaryDirectory(prefix="lut-onnx-") as cache:
        results = [measure_space(space, n, Path(cache)) for space in ("anb", "ofa")]
    (out / "lut_spaces.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, (DOCS if docs else out) / "lut_spaces.png")
    if docs:
        write_readme_table(results)
    print(table_markdown(results))
    print(f"wrote {out / 'lut_spaces.json'}")


if __name__ == "__main__":
    main()
