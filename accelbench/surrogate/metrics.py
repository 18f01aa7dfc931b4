"""How well predictions match measurements: R², Kendall tau, Spearman rho, MAE (as the reference reports)."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, spearmanr

METRICS = ("r2", "kendall_tau", "spearman", "mae")


def evaluate(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    measured, predicted = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    residual = np.sum((measured - predicted) ** 2)
    total = np.sum((measured - measured.mean()) ** 2)
    return {
        "r2": float(1.0 - residual / total) if total > 0 else float("nan"),
        "kendall_tau": float(kendalltau(measured, predicted).statistic),
        "spearman": float(spearmanr(measured, predicted).statistic),
        "mae": float(np.mean(np.abs(measured - predicted))),
    }
