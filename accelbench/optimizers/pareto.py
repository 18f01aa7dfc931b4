"""Pareto fronts and hypervolume of signed scores (higher is better in every column)."""

from __future__ import annotations

import numpy as np


def non_dominated(scores: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row dominates (at least as good everywhere, better somewhere); of equal rows, the first."""
    scores = np.asarray(scores, dtype=float)
    keep = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if not keep[i]:
            continue
        at_least = (scores >= scores[i]).all(axis=1)
        better = (scores > scores[i]).any(axis=1)
        if (at_least & better).any():
            keep[i] = False
            continue
        duplicates = (scores == scores[i]).all(axis=1)
        duplicates[: i + 1] = False
        keep[duplicates] = False
    return keep


def hypervolume(scores: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by `scores` and bounded below by `reference` (pymoo's exact HV)."""
    from pymoo.indicators.hv import HV

    scores = np.asarray(scores, dtype=float)
    inside = (scores > reference).all(axis=1)
    if not inside.any():
        return 0.0
    return float(HV(ref_point=-np.asarray(reference, dtype=float))(-scores[inside]))
