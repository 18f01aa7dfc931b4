"""Per-block latency lookup tables (ProxylessNAS): an architecture's latency as the sum of its blocks'
measured latencies (stem, each layer, head), and a calibration fitted on a few end-to-end measurements.

Blocks measured one at a time miss what a whole network shares or saves: each block call pays the
runtime's fixed cost (session run, input/output copies, thread wake-up), operators are not fused across
block boundaries, and caches start from another state. The calibration is linear in the LUT sum and in
the number of blocks (which carries the per-call cost): latency ~ a * LUT + b * blocks + c, or only the
scale a from a handful of measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy.stats import kendalltau

from accelbench.search_space import Architecture
from accelbench.search_space.blocks import all_blocks, blocks_of
from accelbench.surrogate.models.base import SurrogateError


def lut_sum(architectures: Iterable[Architecture], table: Mapping[str, float]) -> np.ndarray:
    """Sum of block latencies per architecture, all of one space; every block of that space must be in
    the table (a table is one space's: block keys such as `stem` recur across spaces)."""
    architectures = list(architectures)
    spaces = sorted({a.space for a in architectures}) or ["anb"]
    if len(spaces) > 1:
        raise SurrogateError(f"one block table answers for one space; these architectures are of {', '.join(spaces)}")
    missing = sorted({b.key for b in all_blocks(spaces[0])} - set(table))
    if missing:
        raise SurrogateError(f"the block table lacks {len(missing)} blocks ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); collect them first")
    return np.array([sum(table[block.key] for block in blocks_of(a)) for a in architectures])


def blocks_per_network(architectures: Iterable[Architecture]) -> np.ndarray:
    return np.array([len(blocks_of(a)) for a in architectures], dtype=float)


FULL_CALIBRATION_MIN = 10  # measurements below which only the scale is fitted


@dataclass(frozen=True)
class Calibration:
    """latency = lut_slope * LUT sum + per_block * blocks + intercept, least squares; from fewer than
    FULL_CALIBRATION_MIN measurements only the scale (the median ratio measured / LUT), since three
    parameters on a handful of points follow their noise (on this CPU, 5 points: the scale halved the
    LUT's MAPE, the three-parameter fit sometimes made it worse)."""

    lut_slope: float
    per_block: float
    intercept: float

    @classmethod
    def fit(cls, lut: np.ndarray, blocks: np.ndarray, measured: np.ndarray) -> "Calibration":
        if len(measured) < 3:
            raise SurrogateError(f"a calibration needs at least 3 end-to-end measurements, got {len(measured)}")
        if len(measured) < FULL_CALIBRATION_MIN:
            return cls(float(np.median(measured / lut)), 0.0, 0.0)
        design = np.column_stack([lut, blocks, np.ones_like(lut)])
        coefficients, *_ = np.linalg.lstsq(design, measured, rcond=None)
        return cls(*map(float, coefficients))

    def predict(self, lut: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        return self.lut_slope * lut + self.per_block * blocks + self.intercept


def errors(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    relative = np.abs(predicted - measured) / measured
    return {"kendall_tau": float(kendalltau(measured, predicted).statistic), "mape": float(100 * relative.mean()),
            "within_10": float(100 * (relative <= 0.10).mean()), "mean_ratio": float((predicted / measured).mean())}
