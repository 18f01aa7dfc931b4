"""How well one training ranks architectures like another: Kendall tau (tau-b: ties allowed) and Spearman
rho over the architectures both trained, with percentile bootstrap intervals (architectures resampled);
the Pareto front of rank agreement against cost; and the rule that picks a proxy."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from accelbench.common.errors import InputError


@dataclass(frozen=True)
class Agreement:
    compared: int  # architectures with a result in both
    excluded: int  # in the reference but without a usable result here (failed, untrainable, not run)
    kendall_tau: float
    kendall_low: float
    kendall_high: float
    spearman: float
    spearman_low: float
    spearman_high: float

    def overlaps(self, other: "Agreement") -> bool:
        return self.kendall_high >= other.kendall_low and self.kendall_low <= other.kendall_high


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _statistic(function, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(function(x, y).statistic)


def agreement(reference: Mapping[str, float | None], candidate: Mapping[str, float | None], resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Agreement:
    """Rank agreement over the architectures both have a finite result for (the rest are counted as excluded)."""
    shared = sorted(arch for arch, value in reference.items() if _usable(value) and _usable(candidate.get(arch)))
    x = np.array([reference[arch] for arch in shared], dtype=float)
    y = np.array([candidate[arch] for arch in shared], dtype=float)
    excluded = sum(1 for value in reference.values() if _usable(value)) - len(shared)
    tau, rho = _statistic(kendalltau, x, y), _statistic(spearmanr, x, y)
    taus, rhos = [], []
    rng = np.random.default_rng(seed)
    for _ in range(resamples if len(shared) >= 3 else 0):
        rows = rng.integers(0, len(shared), len(shared))
        taus.append(_statistic(kendalltau, x[rows], y[rows]))
        rhos.append(_statistic(spearmanr, x[rows], y[rows]))
    tail = 100 * (1 - level) / 2

    def interval(values: list[float]) -> tuple[float, float]:
        finite = [v for v in values if math.isfinite(v)]
        return (float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))) if finite else (float("nan"), float("nan"))

    return Agreement(len(shared), excluded, tau, *interval(taus), rho, *interval(rhos))


def seed_to_seed(scores_by_seed: Sequence[Mapping[str, float | None]], resamples: int = 1000, seed: int = 0) -> Agreement:
    """The noise ceiling: the reference recipe against itself with another seed (the mean over seed pairs)."""
    if len(scores_by_seed) < 2:
        raise InputError("the noise ceiling needs the reference trained with at least 2 seeds")
    pairs = [agreement(first, second, resamples, seed=seed) for first, second in itertools.combinations(scores_by_seed, 2)]
    mean = lambda field: float(np.mean([getattr(pair, field) for pair in pairs]))  # noqa: E731
    return Agreement(min(p.compared for p in pairs), max(p.excluded for p in pairs), *(mean(f) for f in
                     ("kendall_tau", "kendall_low", "kendall_high", "spearman", "spearman_low", "spearman_high")))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (tau, cost) points: those no other point beats on both (higher tau and lower cost, one strictly)."""
    front = []
    for tau, cost in points:
        dominated = any((t >= tau and c <= cost) and (t > tau or c < cost) for t, c in points)
        front.append(math.isfinite(tau) and not dominated)
    return front


RULES = ("overlap", "cost-cap")


def select(labels: Sequence[str], agreements: Sequence[Agreement], cost_ratios: Sequence[float], rule: str = "overlap", cost_cap: float | None = None) -> tuple[int, str]:
    """The index of the chosen candidate and the rule, in words.

    overlap: the cheapest candidate whose tau interval overlaps the interval of the best-ranking one.
    cost-cap: the best-ranking candidate whose cost is at most `cost_cap` of the reference's."""
    usable = [i for i, a in enumerate(agreements) if math.isfinite(a.kendall_tau)]
    if not usable:
        raise InputError("no candidate has a rank agreement to choose by (too few architectures trained?)")
    if rule == "overlap":
        best = max(usable, key=lambda i: agreements[i].kendall_tau)
        close = [i for i in usable if agreements[i].overlaps(agreements[best])]
        chosen = min(close, key=lambda i: (cost_ratios[i], -agreements[i].kendall_tau))
        return chosen, (f"the cheapest candidate whose Kendall tau interval overlaps that of the best ({labels[best]}: "
                        f"{agreements[best].kendall_tau:.3f} [{agreements[best].kendall_low:.3f}, {agreements[best].kendall_high:.3f}])")
    if rule == "cost-cap":
        if cost_cap is None:
            raise InputError("selection.rule = \"cost-cap\" needs selection.cost_cap (a share of the reference's cost)")
        within = [i for i in usable if cost_ratios[i] <= cost_cap]
        if not within:
            raise InputError(f"no candidate costs at most {cost_cap:g} of the reference; the cheapest costs {min(cost_ratios[i] for i in usable):.3g}")
        chosen = max(within, key=lambda i: (agreements[i].kendall_tau, -cost_ratios[i]))
        return chosen, f"the best Kendall tau among candidates costing at most {cost_cap:g} of the reference"
    raise InputError(f"selection.rule={rule!r} is not allowed; choices are {', '.join(RULES)}")
