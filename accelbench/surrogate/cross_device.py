"""The cross-device latency predictor: a new device's metric from the records of other devices, its
public descriptor, and K measured architectures of its own (zero-shot at K = 0).

Every device metric is expressed as a cost per block (`surrogate.additive`). A new device's block costs
are sought as a non-negative combination of
  - the other devices' fitted block costs (what they share: depthwise convolutions are slow everywhere),
  - device-independent block physics (MACs, activations moved, squeeze-excite work, per-layer overhead),
fitted on the K shots by relative least squares. Then one multiplicative correction per block group
(stage, expansion, kernel, squeeze-excite, first/repeated), ridge-pulled towards 1, lets the new device
weigh, e.g., early high-resolution stages or squeeze-excite differently from every source; and last one
per block, pulled harder, what the groups miss about single blocks. With no shots
the combination comes from the descriptors alone: the sources weighted by their similarity to the new
device (family, precision, peak ops, bandwidth, on-chip memory, units, batch).

The K shots are chosen by `select_shots`: spread evenly over MACs (one per MAC quantile of a seeded
candidate pool), so that a handful of measurements spans the cost range instead of bunching in its middle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from accelbench.search_space.blocks import all_blocks
from accelbench.search_space.sampling import spread_indices
from accelbench.surrogate.additive import block_counts, block_keys, block_physics, relative_nnls, to_time, unit_of
from accelbench.surrogate.devices import Device, FAMILIES, PRECISIONS, device_of
from accelbench.surrogate.features import feature_names
from accelbench.surrogate.models.base import SurrogateError
from accelbench.surrogate.models.block_additive import BlockAdditiveModel

MACS = feature_names().index("macs")
MIN_SOURCE_RECORDS = 30
GROUP_PENALTY = 0.3  # how hard the per-group corrections are pulled towards 1 (chosen on the shared records)
BLOCK_PENALTY = 3.0  # and each block's own (chosen on the shared records: 1-10 alike, K = 20 tau 0.910 -> 0.913, K = 50 0.918 -> 0.925)
BANDWIDTH = 1.0  # of the descriptor-similarity kernel, in standard deviations of the sources' descriptors
PRIOR_PENALTY = 1.0  # pull towards the descriptor combination, divided by K (chosen on the shared records)


def source_costs(x: np.ndarray, values: np.ndarray, target: str) -> np.ndarray:
    """Block costs (seconds per image per block) of one source metric from all its records."""
    known = np.isfinite(values) & (values > 0)
    if known.sum() < MIN_SOURCE_RECORDS:
        raise SurrogateError(f"source {target} has {int(known.sum())} measured architectures; a source needs at least {MIN_SOURCE_RECORDS}")
    time = to_time(unit_of(target), values[known])
    return relative_nnls(block_counts(x[known]), time, penalty=1e-4)


def metric_descriptor(device: Device, target: str) -> np.ndarray:
    """The descriptor of a metric: its device's, with batch 1 for a latency, and the family and precision one-hot."""
    numbers = device.features()
    if unit_of(target) == "time":
        numbers[-1] = 0.0  # log batch of a latency measurement
    return np.array(numbers + [float(device.family == f) for f in FAMILIES] + [float(device.precision == p) for p in PRECISIONS])


def zero_shot_weights(target_descriptor: np.ndarray, source_descriptors: np.ndarray) -> np.ndarray:
    """Softmax of minus the squared standardised descriptor distance: similar devices weigh more."""
    spread = source_descriptors.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    distance = (((source_descriptors - target_descriptor) / spread) ** 2).sum(axis=1)
    weights = np.exp(-(distance - distance.min()) / (2 * BANDWIDTH**2 * source_descriptors.shape[1]))
    return weights / weights.sum()


def select_shots(x: np.ndarray, pool: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """`shots` row indices from `pool`, spread over MACs (`search_space.sampling.spread_indices`): the
    same rule `collect` uses for a new device's first architectures (`select = "spread"`)."""
    pool = np.asarray(pool, dtype=np.int64)
    if shots > len(pool):
        raise SurrogateError(f"{shots} shots asked but only {len(pool)} measured architectures to choose from")
    return pool[np.array(spread_indices(x[pool, MACS].tolist(), shots, seed), dtype=np.int64)]


@lru_cache(maxsize=1)
def group_masks() -> tuple[np.ndarray, ...]:
    """Boolean masks over the blocks: one per stage, expansion, kernel, squeeze-excite and position."""
    blocks = all_blocks()
    layer = np.array([b.kind == "mbconv" for b in blocks])
    masks = []
    for attribute in ("stage", "expansion", "kernel", "se", "first"):
        values = sorted({getattr(b, attribute) for b in blocks if b.kind == "mbconv"})
        masks += [layer & np.array([getattr(b, attribute) == value for b in blocks]) for value in values]
    return tuple(masks)


def block_corrections(counts: np.ndarray, costs: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Each block's own multiplicative correction of `costs`, pulled towards none in proportion to the
    share of the shots' time the block carries: what the groups cannot say about one block, learnt
    as the shots allow (a block no shot contains keeps its cost)."""
    share = counts * costs / time[:, None]
    residual = 1.0 - share.sum(axis=1)
    pull = BLOCK_PENALTY * np.diag(np.maximum(share.mean(axis=0), 1e-6))
    correction = np.linalg.solve(share.T @ share + pull, share.T @ residual)
    return costs * np.clip(1.0 + correction, 0.05, None)


@dataclass
class CrossDeviceFit:
    target: str
    sources: list[str]
    zero_shot: np.ndarray  # weights over the sources, from the descriptors
    members: list[BlockAdditiveModel]
    shots: np.ndarray  # row indices of the K measured architectures used
    combination: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the first member's source+physics weights


class CrossDevicePredictor:
    """Holds the sources' block costs and descriptors; fits a target from K shots."""

    def __init__(self, sources: dict[str, np.ndarray], descriptors: dict[str, Device]) -> None:
        if not sources:
            raise SurrogateError("the cross-device predictor needs at least one source metric (another device's records)")
        missing = sorted({device_of(s) for s in sources} - set(descriptors))
        if missing:
            raise SurrogateError(f"no descriptor for device {', '.join(missing)}; add [devices.{missing[0]}] to the descriptors file (see accelbench/surrogate/devices.toml)")
        self.names = list(sources)
        self.costs = np.column_stack([sources[name] for name in self.names])  # blocks x sources, seconds
        if not (np.isfinite(self.costs).all() and (self.costs >= 0).all() and (self.costs.sum(axis=0) > 0).all()):
            raise SurrogateError("source block costs must be finite, non-negative and not all zero")
        self.descriptors = descriptors
        self.basis = np.column_stack([self.costs, block_physics()])  # blocks x (sources + physics)

    @classmethod
    def from_records(cls, x: np.ndarray, frame_values: dict[str, np.ndarray], descriptors: dict[str, Device]) -> "CrossDevicePredictor":
        return cls({name: source_costs(x, values, name) for name, values in frame_values.items()}, descriptors)

    def zero_shot_costs(self, target: str) -> tuple[np.ndarray, np.ndarray]:
        """(block costs, source weights) from the descriptors alone: the sources' block costs, each scaled
        to a total of 1, blended by descriptor similarity; the level is the sources' geometric mean
        level times their peak operations over the target's (rough: the ranking is what K = 0 is for)."""
        device = self.descriptors.get(device_of(target))
        if device is None:
            raise SurrogateError(f"no descriptor for device {device_of(target)}; add [devices.{device_of(target)}] to the descriptors file")
        descriptors = np.stack([metric_descriptor(self.descriptors[device_of(s)], s) for s in self.names])
        weights = zero_shot_weights(metric_descriptor(device, target), descriptors)
        return (self.costs / self.costs.sum(axis=0)) @ weights * self.zero_shot_level(target, weights), weights

    def zero_shot_level(self, target: str, weights: np.ndarray | None = None) -> float:
        device = self.descriptors[device_of(target)]
        if weights is None:
            _, weights = self.zero_shot_costs(target)
        peaks = np.array([self.descriptors[device_of(s)].peak_tops for s in self.names])
        return float(np.exp(weights @ np.log(self.costs.sum(axis=0) * peaks / device.peak_tops)))

    def fit_costs(self, target: str, counts: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block costs (and the combination weights) for `target` from shots: counts (K, blocks), time (K,)."""
        prior, weights = self.zero_shot_costs(target)
        no_physics = np.zeros(block_physics().shape[1])
        if len(time) == 0:
            return prior, np.concatenate([weights, no_physics])
        level = float(np.exp(np.mean(np.log(time / (counts @ prior)))))
        if len(time) < 3:  # too few to weigh the bases: the descriptor combination at the shots' level
            return prior * level, np.concatenate([weights, no_physics])
        # that combination is also the prior the fit is pulled towards, less as K grows
        pull = np.concatenate([weights * level * self.zero_shot_level(target, weights) / self.costs.sum(axis=0), no_physics])
        combination = relative_nnls(counts @ self.basis, time, penalty=PRIOR_PENALTY / len(time), prior=pull)
        costs = self.basis @ combination
        groups = np.column_stack([counts[:, mask] @ costs[mask] for mask in group_masks()])
        relative = groups / time[:, None]
        residual = 1.0 - (counts @ costs) / time
        correction = np.linalg.solve(relative.T @ relative + GROUP_PENALTY * np.eye(relative.shape[1]), relative.T @ residual)
        factors = 1.0 + sum(c * mask for c, mask in zip(correction, group_masks()))
        return block_corrections(counts, costs * np.clip(factors, 0.05, None), time), combination

    def fit(self, target: str, x: np.ndarray, values: np.ndarray, shots: np.ndarray, members: int = 5) -> CrossDeviceFit:
        """Fit `target` from its measured `values` at rows `shots` of `x`. Members: all the shots, then
        (K >= 5) each without a share of them, every shot left out by one member (bootstrap resamples,
        which lose a third of 20 shots each, ranked worse on average: 0.908 against 0.913 at K = 20);
        below 5 shots the descriptor combination without one source each. The ensemble's spread is
        the `_std` a query reports."""
        if any(device_of(s) == device_of(target) for s in self.names):
            raise SurrogateError(f"{target} is measured on a device the sources already include; its own records cannot be a source")
        unit = unit_of(target)
        counts, time = block_counts(x[shots]), to_time(unit, values[shots])
        if not (np.isfinite(time).all() and (time > 0).all()):
            raise SurrogateError(f"{target}: the shots must be measured, positive values")
        fitted, combination = [], np.zeros(0)
        position = np.arange(len(shots))
        for member in range(members):
            if len(shots) >= 5:
                rows = position if member == 0 else np.flatnonzero(position % (members - 1) != member - 1)
                costs, weights = self.fit_costs(target, counts[rows], time[rows])
            else:
                costs, weights = self._without_source(target, member, counts, time)
            if member == 0:
                combination = weights
            fitted.append(BlockAdditiveModel(costs, unit))
        _, zero = self.zero_shot_costs(target)
        return CrossDeviceFit(target, self.names, zero, fitted, np.asarray(shots), combination)

    def _without_source(self, target: str, member: int, counts: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if member == 0 or len(self.names) < 2:
            return self.fit_costs(target, counts, time)
        dropped = (member - 1) % len(self.names)
        keep = [name for index, name in enumerate(self.names) if index != dropped]
        reduced = CrossDevicePredictor({name: self.costs[:, self.names.index(name)] for name in keep}, self.descriptors)
        return reduced.fit_costs(target, counts, time)


def transfer_baseline(source_log: np.ndarray, shots: np.ndarray, log_time: np.ndarray) -> np.ndarray:
    """Baseline (b): ridge of the target's log value on the sources' log predictions, fitted on the shots."""
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(source_log[shots], log_time).predict(source_log)


def scratch_baseline(x: np.ndarray, shots: np.ndarray, log_time: np.ndarray) -> np.ndarray:
    """Baseline (a): a ridge model of the architecture features fitted on the shots alone."""
    from sklearn.linear_model import RidgeCV

    standard = (x - x[shots].mean(axis=0)) / (x[shots].std(axis=0) + 1e-9)
    return RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(standard[shots], log_time).predict(standard)


__all__ = ["CrossDevicePredictor", "CrossDeviceFit", "select_shots", "source_costs", "block_keys", "transfer_baseline", "scratch_baseline"]
