"""Predicted vs. measured on the held-out test split, one panel per target, as a PNG (byte-stable:
no timestamps or software versions in the file)."""

from __future__ import annotations

import math
from pathlib import Path

from surrogate.fit import TargetFit


def predicted_vs_measured(fits: list[TargetFit], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(fits))
    rows = math.ceil(len(fits) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.0 * rows), squeeze=False)
    for axis, fit in zip(axes.flat, fits):
        measured, predicted = fit.test_measured, fit.test_predicted
        low, high = float(min(measured.min(), predicted.min())), float(max(measured.max(), predicted.max()))
        axis.plot([low, high], [low, high], color="grey", linewidth=0.8)
        axis.scatter(measured, predicted, s=5, alpha=0.5)
        if fit.target.startswith(("latency_", "throughput_")):
            axis.set_xscale("log")
            axis.set_yscale("log")
        axis.set_title(f"{fit.target}\n{fit.model}/{fit.transform}: tau {fit.test['kendall_tau']:.3f}, R² {fit.test['r2']:.3f}", fontsize=9)
        axis.set_xlabel("measured")
        axis.set_ylabel("predicted")
    for axis in list(axes.flat)[len(fits) :]:
        axis.axis("off")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(figure)
