"""The cross-device latency predictor: a new device's metric from the records of other devices, its
public descriptor, and K measured architectures of its own (zero-shot at K = 0).

Every device metric is expressed as a cost per block (`surrogate.additive`). A new device's block costs
are sought as a non-negative combination of
  - the other devices' fitted block costs (what they share: depthwise convolutions are slow everywhere),
  - device-independent block physics (MACs, activations moved, squeeze-excite work, per-layer overhead),
fitted on the K shots by relative least squares. What no combination of the bases says about the new
device, each block's log-deviation from the combination, is then learnt from the shots as a Gaussian
process over the blocks (`deviation_kernel`): on the shared records a block's deviation moves with the
blocks of its stage and of the stages beside it, and hardly with the other position (first of a stage
or repeated) of the same stage; so one shot informs the blocks like those it contains, not every block
of its expansion or kernel alike. With no shots the combination comes from the descriptors alone: the
sources weighted by their similarity to the new device (family, precision, peak ops, bandwidth, on-chip
memory, units, batch).

The K shots are chosen by `select_shots`, before anything is measured and from no device's records: a
seeded sample of candidates is cut into K bins of MACs, so that the shots span the cost range, and from
each bin, in turn, the candidate that most lowers the deviation model's uncertainty about the ranking of
a sample of the space (the summed posterior variance of their centred log-times, with each block's share
of a network's time guessed from its MACs and the activations it moves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from accelbench.search_space import Architecture, sample
from accelbench.search_space.blocks import all_blocks
from accelbench.surrogate.additive import block_counts, block_keys, block_physics, relative_nnls, to_time, unit_of
from accelbench.surrogate.devices import Device, FAMILIES, PRECISIONS, device_of
from accelbench.surrogate.features import feature_names, features
from accelbench.surrogate.models.base import SurrogateError
from accelbench.surrogate.models.block_additive import BlockAdditiveModel

MACS = feature_names().index("macs")
MIN_SOURCE_RECORDS = 30
# The deviation kernel, read off the shared records: the correlation of two blocks' log-deviations (from
# the combination fitted on all of a device's rows, over the 8 metrics) is 0.65 a stage apart (same
# expansion, kernel, squeeze-excite and position), 0.33 two apart; 0.93 between kernels, 0.75 between
# expansions and between squeeze-excite or not, 0.09 between the first and a repeated layer. The
# held-out tau of `benchmarks.cross_device` is flat around these: stage 0.3-0.8, the others 0.5-1 and
# the own variance 0-0.1 each moved the mean at K = 10 and K = 20 by at most 0.002 (0.9 for expansions
# ranked a little better than 0.75).
STAGE_CORRELATION = 0.6  # per stage apart
OTHER_EXPANSION, OTHER_KERNEL, OTHER_SE, OTHER_POSITION = 0.9, 0.93, 0.75, 0.1
OWN_VARIANCE = 0.03  # each block's own, beside the shared part (1)
DEVIATION_VARIANCE = 0.3  # a block's log-deviation from the combination, a priori (0.1-1 alike; 0.03 ranks worse)
SHOT_NOISE = 1e-3  # a shot's log-time around the additive model (1e-4 to 3e-3 alike; 1e-2 ranks worse)
BANDWIDTH = 1.0  # of the descriptor-similarity kernel, in standard deviations of the sources' descriptors
PRIOR_PENALTY = 1.0  # pull towards the descriptor combination, divided by K (chosen on the shared records)
# Candidates per shot. Mean tau over 160 draws of `benchmarks.cross_device` with 50 / 100 / 200: 0.8986 / 0.9015 /
# 0.9025 at K = 10, 0.9219 / 0.9221 / 0.9212 at K = 20 (at 200, K >= 15 takes the benchmark's whole pool).
SELECTION_POOL = 100
SELECTION_REFERENCE = 1000  # architectures of the space whose ranking the shots should pin down


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


def selection_costs() -> np.ndarray:
    """A device-independent guess of each block's cost, for choosing shots: its MACs and the activations it
    moves, each scaled to a mean of 1 over the blocks (the stem and head get a small floor)."""
    physics = block_physics()
    macs, moved = physics[:, 0] + physics[:, 1], physics[:, 2]
    return macs / macs.mean() + moved / moved.mean() + 1e-3


def time_shares(counts: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Each block's share of each architecture's time, (n, blocks), under block `costs`."""
    share = counts * costs
    return share / share.sum(axis=1, keepdims=True)


@lru_cache(maxsize=32)
def reference_shares(seed: int) -> np.ndarray:
    """`time_shares` of a seeded sample of the space under `selection_costs`, centred: whose ranking
    `select_shots` chooses the shots to pin down."""
    shares = time_shares(block_counts(features(sample(SELECTION_REFERENCE, seed))), selection_costs())
    shares -= shares.mean(axis=0)
    shares.setflags(write=False)
    return shares


def select_shots(x: np.ndarray, pool: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """`shots` row indices of `x` (features of `anb` architectures) from `pool`: of a seeded sample of
    SELECTION_POOL x `shots` candidates cut into `shots` bins of MACs, from each bin in turn the one that
    most lowers the deviation model's summed posterior variance of a seeded sample of the space's
    centred log-times (`deviation_kernel`, shares from `selection_costs`). `benchmarks.cross_device`
    scores it against one drawn at random from each bin of MACs, and against K drawn at random."""
    pool = np.asarray(pool, dtype=np.int64)
    if shots > len(pool):
        raise SurrogateError(f"{shots} shots asked but only {len(pool)} measured architectures to choose from")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SurrogateError(f"seed={seed!r}: a selection seed is a non-negative integer")
    if shots == 0:
        return pool[:0]
    candidates = np.sort(np.random.default_rng(seed).choice(pool, min(SELECTION_POOL * shots, len(pool)), replace=False))
    costs = selection_costs()
    shares = time_shares(block_counts(x[candidates]), costs)
    reference = reference_shares(int(seed))
    covariance = DEVIATION_VARIANCE * deviation_kernel()
    order = np.argsort(x[candidates, MACS], kind="stable")
    edges = [round(number * len(order) / shots) for number in range(shots + 1)]
    chosen = []
    for low, high in zip(edges[:-1], edges[1:]):
        rows = order[low:high]
        seen = shares[rows] @ covariance
        variance = np.einsum("ij,ij->i", seen, shares[rows]) + SHOT_NOISE
        best = int(np.argmax(((reference @ seen.T) ** 2).sum(axis=0) / variance))
        chosen.append(rows[best])
        covariance -= np.outer(seen[best], seen[best]) / variance[best]
    return candidates[np.array(chosen, dtype=np.int64)]


def plan_shots(shots: int, seed: int) -> list[Architecture]:
    """Which `shots` architectures of the space to measure on a new device (`accelbench adapt plan`):
    `select_shots` over a seeded sample of the space."""
    candidates = sample(SELECTION_POOL * shots, seed)
    return [candidates[row] for row in select_shots(features(candidates), np.arange(len(candidates)), shots, seed)]


@lru_cache(maxsize=1)
def deviation_kernel() -> np.ndarray:
    """(blocks, blocks) the prior correlation of two blocks' log-deviations from the combination: decaying
    with the stages between them, lowered by each other attribute they differ in, plus each block's own
    variance. Stem and head deviate on their own."""
    blocks = all_blocks()
    layer = np.array([b.kind == "mbconv" for b in blocks])
    stage, expansion, kernel, se, first = (np.array([getattr(b, a) if b.kind == "mbconv" else 0 for b in blocks], dtype=float)
                                           for a in ("stage", "expansion", "kernel", "se", "first"))

    def unless_equal(values: np.ndarray, correlation: float) -> np.ndarray:
        return np.where(values[:, None] == values[None, :], 1.0, correlation)

    shared = STAGE_CORRELATION ** np.abs(stage[:, None] - stage[None, :]) * unless_equal(expansion, OTHER_EXPANSION)
    shared *= unless_equal(kernel, OTHER_KERNEL) * unless_equal(se, OTHER_SE) * unless_equal(first, OTHER_POSITION)
    return np.where(layer[:, None] & layer[None, :], shared, 0.0) + OWN_VARIANCE * np.eye(len(blocks))


def deviation_posterior(counts: np.ndarray, costs: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The blocks' log-deviations from `costs` given the shots (mean, covariance): Gaussian-process
    regression of each shot's log-miss on its blocks' shares of its time (the first-order change of
    log(sum of costs) under small log-deviations of the costs)."""
    share = time_shares(counts, costs)
    miss = np.log(time / (counts @ costs))
    prior = DEVIATION_VARIANCE * deviation_kernel()
    seen = share @ prior  # shots x blocks
    gain = np.linalg.solve(seen @ share.T + SHOT_NOISE * np.eye(len(time)), seen).T  # blocks x shots
    return gain @ miss, prior - gain @ seen


def posterior_members(costs: np.ndarray, deviation: np.ndarray, covariance: np.ndarray, members: int, seed: int) -> list[np.ndarray]:
    """The posterior mean's costs, then pairs of costs x (1 +- a draw of the deviation): the pairs cancel
    in time per image, so the members' mean time is the posterior mean's (a throughput's mean, of their
    inverses, lies a little above) and their spread is its uncertainty."""
    mean = costs * np.exp(deviation)
    values, vectors = np.linalg.eigh(covariance)
    scale = vectors * np.sqrt(np.clip(values, 0.0, None))
    rng = np.random.default_rng(seed)
    fitted = [mean]
    for _ in range(members // 2):
        draw = np.clip(scale @ rng.standard_normal(len(values)), -0.9, 0.9)  # keeps both of a pair positive
        fitted += [mean * (1 + draw), mean * (1 - draw)]
    return fitted


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

    def combine(self, target: str, counts: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block costs (and the combination weights) for `target` from shots, counts (K, blocks) and time
        (K,), before the deviations: the descriptor combination at the shots' level below 3 shots, else
        the bases' relative NNLS pulled towards it (less as K grows)."""
        prior, weights = self.zero_shot_costs(target)
        no_physics = np.zeros(block_physics().shape[1])
        if len(time) == 0:
            return prior, np.concatenate([weights, no_physics])
        level = float(np.exp(np.mean(np.log(time / (counts @ prior)))))
        if len(time) < 3:  # too few to weigh the bases
            return prior * level, np.concatenate([weights, no_physics])
        pull = np.concatenate([weights * level * self.zero_shot_level(target, weights) / self.costs.sum(axis=0), no_physics])
        combination = relative_nnls(counts @ self.basis, time, penalty=PRIOR_PENALTY / len(time), prior=pull)
        return self.basis @ combination, combination

    def fit(self, target: str, x: np.ndarray, values: np.ndarray, shots: np.ndarray, members: int = 5, seed: int = 0) -> CrossDeviceFit:
        """Fit `target` from its measured `values` at rows `shots` of `x`. From 3 shots on, the members are
        the posterior mean of the block costs and `members // 2` antithetic pairs of posterior draws
        (`posterior_members`; seeded): a query's mean is the posterior mean, its `_std` the draws' spread.
        (Members that each leave a share of the shots out ranked worse: 0.916 against 0.920 at K = 20.)
        Below 3 shots, the descriptor combination and that combination without one source each."""
        if any(device_of(s) == device_of(target) for s in self.names):
            raise SurrogateError(f"{target} is measured on a device the sources already include; its own records cannot be a source")
        if members < 1 or members % 2 == 0:
            raise SurrogateError(f"members={members}: the cross-device fit takes an odd number (its mean and pairs of draws)")
        unit = unit_of(target)
        counts, time = block_counts(x[shots]), to_time(unit, values[shots])
        if not (np.isfinite(time).all() and (time > 0).all()):
            raise SurrogateError(f"{target}: the shots must be measured, positive values")
        costs, combination = self.combine(target, counts, time)
        if len(time) >= 3:
            fitted = posterior_members(costs, *deviation_posterior(counts, costs, time), members, seed)
        else:
            fitted = [costs] + [self._without_source(target, member, counts, time) for member in range(1, members)]
        _, zero = self.zero_shot_costs(target)
        return CrossDeviceFit(target, self.names, zero, [BlockAdditiveModel(c, unit) for c in fitted], np.asarray(shots), combination)

    def _without_source(self, target: str, member: int, counts: np.ndarray, time: np.ndarray) -> np.ndarray:
        if len(self.names) < 2:
            return self.combine(target, counts, time)[0]
        dropped = (member - 1) % len(self.names)
        keep = [name for index, name in enumerate(self.names) if index != dropped]
        reduced = CrossDevicePredictor({name: self.costs[:, self.names.index(name)] for name in keep}, self.descriptors)
        return reduced.combine(target, counts, time)[0]


def transfer_baseline(source_log: np.ndarray, shots: np.ndarray, log_time: np.ndarray) -> np.ndarray:
    """Baseline (b): ridge of the target's log value on the sources' log predictions, fitted on the shots."""
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(source_log[shots], log_time).predict(source_log)


def scratch_baseline(x: np.ndarray, shots: np.ndarray, log_time: np.ndarray) -> np.ndarray:
    """Baseline (a): a ridge model of the architecture features fitted on the shots alone."""
    from sklearn.linear_model import RidgeCV

    standard = (x - x[shots].mean(axis=0)) / (x[shots].std(axis=0) + 1e-9)
    return RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(standard[shots], log_time).predict(standard)


__all__ = ["CrossDevicePredictor", "CrossDeviceFit", "select_shots", "plan_shots", "source_costs", "block_keys", "transfer_baseline", "scratch_baseline"]
