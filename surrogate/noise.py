"""The noise ceiling: how well one repeat of the same work ranks the architectures like another.

A surrogate scored against single-seed (or single-measurement) labels cannot rank them much better
than a second run of the same training or measurement would. Where the records hold repeats, the
ceiling is the Kendall tau between them; where they hold only each measurement's spread (`<target>_std`),
it is the tau between two simulated re-measurements (Gaussian, that std): an upper bound, since a
measurement repeated another day also drifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

MIN_PAIRS = 5
SIMULATIONS = 20


def noise_ceiling(target: str, pairs: dict[str, tuple[list[float], list[float]]], frame: pd.DataFrame, seed: int = 0) -> dict | None:
    """{"tau", "pairs", "source"} for `target`, or None when the records say nothing about its noise."""
    if target in pairs and len(pairs[target][0]) >= MIN_PAIRS:
        first, second = pairs[target]
        return {"tau": float(kendalltau(first, second).statistic), "pairs": len(first), "source": "repeats"}
    spread = f"{target}_std"
    if target in frame.columns and spread in frame.columns:
        known = frame[[target, spread]].dropna()
        known = known[known[spread] > 0]
        if len(known) >= MIN_PAIRS:
            values, std = known[target].to_numpy(dtype=float), known[spread].to_numpy(dtype=float)
            rng = np.random.default_rng(seed)
            taus = [kendalltau(values + rng.normal(0, std), values + rng.normal(0, std)).statistic for _ in range(SIMULATIONS)]
            return {"tau": float(np.mean(taus)), "pairs": len(values), "source": "measurement std"}
    return None
