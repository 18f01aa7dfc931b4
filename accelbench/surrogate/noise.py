"""The noise ceiling: how well one repeat of the same work ranks the architectures like another.

A surrogate scored against single-seed (or single-measurement) labels cannot rank them much better
than a second run of the same training or measurement would. Where the records hold repeats, their
relative spread (the standard deviation of log(second / first), over sqrt 2) is applied to every
record of the target and the ceiling is the tau between two simulated repeats of all of them: the
tau between the few repeated architectures themselves (`repeats_tau`, beside it) says more about how
far apart those few happen to be than about the noise. Where the records hold only each measurement's
spread (`<target>_std`), the simulation uses that: an upper bound, since a measurement repeated
another day also drifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

MIN_PAIRS = 5
SIMULATIONS = 20


def noise_ceiling(target: str, pairs: dict[str, tuple[list[float], list[float]]], frame: pd.DataFrame, seed: int = 0) -> dict | None:
    """{"tau", "pairs", "source"} for `target` (with "repeats_tau" where repeats exist), or None when the
    records say nothing about its noise."""
    rng = np.random.default_rng(seed)
    values = frame[target].dropna().to_numpy(dtype=float) if target in frame.columns else np.zeros(0)
    if target in pairs and len(pairs[target][0]) >= MIN_PAIRS:
        first, second = (np.asarray(side, dtype=float) for side in pairs[target])
        between = float(kendalltau(first, second).statistic)
        if len(values) < MIN_PAIRS or (values <= 0).any() or (first <= 0).any() or (second <= 0).any():
            return {"tau": between, "pairs": len(first), "source": "repeats", "repeats_tau": between}
        relative = float(np.std(np.log(second / first)) / np.sqrt(2))
        return {"tau": _simulated(values, values * relative, rng), "pairs": len(first), "source": "repeats", "repeats_tau": between}
    spread = f"{target}_std"
    if target in frame.columns and spread in frame.columns:
        known = frame[[target, spread]].dropna()
        known = known[known[spread] > 0]
        if len(known) >= MIN_PAIRS:
            return {"tau": _simulated(known[target].to_numpy(dtype=float), known[spread].to_numpy(dtype=float), rng), "pairs": len(known),
                    "source": "measurement std"}
    return None


def _simulated(values: np.ndarray, std: np.ndarray, rng: np.random.Generator) -> float:
    """The mean tau between two Gaussian re-measurements (std per value) of every value."""
    return float(np.mean([kendalltau(values + rng.normal(0, std), values + rng.normal(0, std)).statistic for _ in range(SIMULATIONS)]))
