"""Block-additive cost models: an architecture's time per image as the sum of its blocks' costs.

An MBConv network runs its layers one after another, so its time per image is close to the sum of its
layers' times; each layer's cost depends only on its block (stage, expansion, kernel, squeeze-excite,
first of its stage or repeated: `search_space.blocks`). A cost per block, fitted non-negative, ranks the
shared reference records nearly as well as the boosted trees on GPUs and FPGAs, explains itself, and is
the common ground on which one device's costs are transferred to another (`surrogate.cross_device`).
The models themselves (the sum, and a launch queue) are in `surrogate.models.block_additive`.

Throughputs are modelled as their inverse (seconds per image), which adds up; latencies as they are.

Where a host launches each layer's work and the device runs it (a GPU timed batch by batch, a sync after
each), the device cannot start a layer before it is launched, so a batch ends at the latest, over launch
positions k, of (host time to launch layers up to k + device time of layers from k on): `queue_time`. With
no host cost that is the sum of the device's costs; small networks of cheap layers are launch-bound. On
the shared records this cuts the RTX 3090's median error from 0.89% to 0.54% of its time per image.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange
from scipy.optimize import nnls

from accelbench.search_space import ANB
from accelbench.search_space.blocks import all_blocks, input_shape, layer_of
from accelbench.surrogate.features import CHOICE_COLUMNS
from accelbench.surrogate.trees import use_given_threads

HUBER_K = 0.5  # Huber's threshold in robust standard deviations of the log-error (chosen on the VCK190 latency's validation split: 0.3-0.7 tie, 1.345 and above rank worse)
QUEUE_BLOCK = 4096  # rows a thread of `queue_times` takes at a time
QUEUE_POWER = 50  # the queue's maximum over launch positions is a p-norm: smooth to fit, at most 24^(1/50) = 6.6% above it
UNITS = ("time", "rate")  # a latency (adds up) or a throughput (its inverse adds up)
PHYSICS = ("pointwise_macs", "depthwise_macs", "activations", "se_elements", "se_channels", "layers", "fixed")


def unit_of(target: str) -> str:
    return "rate" if target.startswith("throughput_") else "time"


def to_time(unit: str, values: np.ndarray) -> np.ndarray:
    return 1.0 / values if unit == "rate" else values


@lru_cache(maxsize=1)
def block_keys() -> tuple[str, ...]:
    return tuple(block.key for block in all_blocks())


@lru_cache(maxsize=1)
def _count_index() -> tuple[np.ndarray, int, int]:
    """index[stage, e, k, se, first] -> column of that block; and the stem's and head's columns."""
    keys = {key: column for column, key in enumerate(block_keys())}
    index = np.zeros((ANB.num_stages, 7, 6, 2, 2), dtype=np.int64)
    for block in all_blocks():
        if block.kind == "mbconv":
            index[block.stage, block.expansion, block.kernel, int(block.se), int(block.first)] = keys[block.key]
    return index, keys["stem"], keys["head"]


def block_layers(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per architecture and stage (each (n, stages)): the column of the stage's first block, the column of
    its repeated block, and how many times that one repeats (layers - 1); from the feature matrix's
    choice columns."""
    choices = np.asarray(x[:, : len(CHOICE_COLUMNS)], dtype=np.int64)
    e, k, l, se = (choices[:, i::4] for i in range(4))
    index, _, _ = _count_index()
    stage = np.arange(ANB.num_stages)[None, :]
    return index[stage, e, k, se, 1], index[stage, e, k, se, 0], l - 1


def block_counts(x: np.ndarray) -> np.ndarray:
    """(n, blocks) how many times each block occurs: the design matrix of the per-block costs."""
    first, repeat, repeats = block_layers(x)
    _, stem, head = _count_index()
    counts = np.zeros((len(x), len(block_keys())))
    counts[:, stem] = counts[:, head] = 1
    rows = np.arange(len(x))[:, None]
    counts[rows, first] += 1  # a stage's blocks are its own: no cell is hit twice by one assignment
    counts[rows, repeat] += repeats
    return counts


def summed_cost(layers: tuple[np.ndarray, np.ndarray, np.ndarray], costs: np.ndarray) -> np.ndarray:
    """Each architecture's summed per-block cost (`costs` per block column), from `block_layers`."""
    first, repeat, repeats = layers
    _, stem, head = _count_index()
    return costs[stem] + costs[head] + (costs[first] + repeats * costs[repeat]).sum(axis=1)


@lru_cache(maxsize=1)
def block_physics() -> np.ndarray:
    """(blocks, len(PHYSICS)) what each block computes and moves at 224 px: the device-independent
    ingredients of a roofline estimate. The stem carries the network's fixed cost (stem, head, classifier)."""
    rows = []
    for block in all_blocks():
        if block.kind != "mbconv":
            rows.append([0, 0, 0, 0, 0, 0, 1 if block.kind == "stem" else 0])
            continue
        layer = layer_of(block)
        _, size, _ = input_shape(block, 224)
        out = -(-size // layer.stride)
        expanded = layer.expanded_channels
        pointwise = (size * size * layer.input_channels * expanded if layer.has_expansion else 0) + out * out * expanded * layer.output_channels
        depthwise = out * out * expanded * layer.kernel**2
        activations = size * size * layer.input_channels + (size * size if layer.has_expansion else 0) * expanded + out * out * (expanded + layer.output_channels)
        se = 1 if layer.se_channels else 0
        rows.append([pointwise, depthwise, activations, se * out * out * expanded, se * expanded, 1, 0])
    return np.array(rows, dtype=float)


def stage_physics(layers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """(n, stages x PHYSICS) what each stage computes and moves: the analytic per-block costs summed per
    stage, from `block_layers` (integers: exact in any order)."""
    first, repeat, repeats = layers
    physics = block_physics()
    summed = np.take(physics, first, axis=0)  # take and an in-place sum: half the time of indexing and a new array
    summed += repeats[:, :, None] * np.take(physics, repeat, axis=0)
    return summed.reshape(len(first), first.shape[1] * physics.shape[1])


def relative_nnls(design: np.ndarray, time: np.ndarray, penalty: float = 0.0, prior: np.ndarray | None = None, weight: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights minimising the (row-`weight`ed) squared *relative* error of design @ w against
    `time`, with an optional ridge pull (on scale-free columns) towards `prior`."""
    relative = design / time[:, None]
    scale = relative.mean(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    relative = relative / scale
    target = np.ones(len(time))
    if weight is not None:
        root = np.sqrt(weight / weight.mean())
        relative, target = relative * root[:, None], target * root
    if penalty > 0:
        pull = np.zeros(design.shape[1]) if prior is None else prior * scale
        relative = np.vstack([relative, np.sqrt(penalty) * np.eye(design.shape[1])])
        target = np.concatenate([target, np.sqrt(penalty) * pull])
    weights, _ = nnls(relative, target, maxiter=50 * design.shape[1])
    return weights / scale


def huber_threshold(log_error: np.ndarray) -> float:
    """HUBER_K robust standard deviations (1.4826 x the median absolute deviation) of the log-errors."""
    return HUBER_K * 1.4826 * float(np.median(np.abs(log_error - np.median(log_error)))) + 1e-12


def robust_nnls(design: np.ndarray, time: np.ndarray, penalty: float = 0.0, weight: np.ndarray | None = None, rounds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """`relative_nnls` under Huber's loss on the log-error, by iteratively reweighted least squares: a
    row missed by more than `huber_threshold` counts in proportion to its error, not its square. Returns
    the costs and the final row weights (the given weights times Huber's)."""
    given = np.ones(len(time)) if weight is None else weight
    weight = given
    for _ in range(rounds):
        costs = relative_nnls(design, time, penalty=penalty, weight=weight)
        error = np.log(time / np.maximum(design @ costs, 1e-300))
        weight = given * np.minimum(1.0, huber_threshold(error) / np.maximum(np.abs(error), 1e-12))
    return costs, weight


def layer_sequence(layers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """(n, positions) each architecture's block columns in execution order (stem, each stage's first layer
    and its repeats, head), from `block_layers`; positions past an architecture's depth hold `len(block_keys())`."""
    first, repeat, repeats = layers
    _, stem, head = _count_index()
    pad = len(block_keys())
    columns = [np.full(len(first), stem)]
    for stage in range(first.shape[1]):
        columns.append(first[:, stage])
        columns.extend(np.where(j < repeats[:, stage], repeat[:, stage], pad) for j in range(int(repeats[:, stage].max(initial=0))))
    columns.append(np.full(len(first), head))
    sequence = np.column_stack(columns)
    return np.take_along_axis(sequence, np.argsort(sequence == pad, axis=1, kind="stable"), axis=1)


def queue_time(sequence: np.ndarray, device: np.ndarray, host: np.ndarray, gradient: bool = False):
    """Each architecture's time when the host launches its layers in order and the device runs them: the
    QUEUE_POWER-norm over launch positions k of (host costs up to k + device costs from k on). With
    `gradient`, also d time / d (device cost, host cost) at each position (for `fit_queue`)."""
    real = sequence != len(device)
    on_device, on_host = np.append(device, 0.0)[sequence], np.append(host, 0.0)[sequence]
    ready = np.where(real, np.cumsum(on_host, axis=1) + np.cumsum(on_device[:, ::-1], axis=1)[:, ::-1], 0.0)
    peak = np.maximum(ready.max(axis=1), 1e-300)
    time = peak * np.sum((ready / peak[:, None]) ** QUEUE_POWER, axis=1) ** (1 / QUEUE_POWER)
    if not gradient:
        return time
    weight = (ready / time[:, None]) ** (QUEUE_POWER - 1)  # d time / d ready_k
    return time, np.cumsum(weight, axis=1), np.cumsum(weight[:, ::-1], axis=1)[:, ::-1]


def queue_times(layers: tuple[np.ndarray, np.ndarray, np.ndarray], device: np.ndarray, host: np.ndarray) -> np.ndarray:
    """`queue_time(layer_sequence(layers), device, host)` in one compiled pass over each architecture's
    layers (what a query asks: no sequence matrix, no sort; equal to within rounding)."""
    first, repeat, repeats = (np.ascontiguousarray(part, dtype=np.int64) for part in layers)
    _, stem, head = _count_index()
    out = np.empty(len(first))
    use_given_threads()
    _queue_rows(first, repeat, repeats, stem, head, np.asarray(device, dtype=np.float64), np.asarray(host, dtype=np.float64), QUEUE_POWER, out)
    return out


@njit(parallel=True, cache=True)
def _queue_rows(first, repeat, repeats, stem, head, device, host, power, out):  # pragma: no cover - compiled
    positions = 2 + first.shape[1] * (1 + max(0, repeats.max()))
    rows = first.shape[0]
    for block in prange((rows + QUEUE_BLOCK - 1) // QUEUE_BLOCK):
        order = np.empty(positions, dtype=np.int64)
        ready = np.empty(positions)
        for r in range(block * QUEUE_BLOCK, min(rows, (block + 1) * QUEUE_BLOCK)):
            _queue_row(r, first, repeat, repeats, stem, head, device, host, power, out, order, ready)


@njit(cache=True)
def _queue_row(r, first, repeat, repeats, stem, head, device, host, power, out, order, ready):  # pragma: no cover - compiled
    count = 0
    order[count] = stem
    count += 1
    for stage in range(first.shape[1]):
        order[count] = first[r, stage]
        count += 1
        for _ in range(repeats[r, stage]):
            order[count] = repeat[r, stage]
            count += 1
    order[count] = head
    count += 1
    suffix = 0.0  # device costs from position k on, summed from the last as np.cumsum of the reversed row does
    for k in range(count - 1, -1, -1):
        suffix += device[order[k]]
        ready[k] = suffix
    launched, peak = 0.0, 1e-300
    for k in range(count):
        launched += host[order[k]]
        ready[k] += launched
        peak = max(peak, ready[k])
    norm = 0.0
    for k in range(count):
        norm += (ready[k] / peak) ** power
    out[r] = peak * norm ** (1.0 / power)


@lru_cache(maxsize=1)
def launch_kinds() -> tuple[np.ndarray, tuple[str, ...]]:
    """Each block column's launch kind, and the kinds' names: what a host launches for a layer depends on
    which operators it has (an expansion, squeeze-excite, a residual add: not on the first of a stage),
    not on their sizes, so blocks of one kind share one host cost. Stem and head are kinds of their own."""
    names = []
    for block in all_blocks():
        if block.kind != "mbconv":
            names.append(block.kind)
        else:
            names.append(f"{'expand' if block.expansion > 1 else 'no-expand'}{'-se' if block.se else ''}-{'first' if block.first else 'repeat'}")
    kinds = tuple(sorted(set(names)))
    return np.array([kinds.index(name) for name in names]), kinds


def fit_queue(sequence: np.ndarray, time: np.ndarray, weight: np.ndarray, device: np.ndarray, host: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative device costs per block and host costs per launch kind (`launch_kinds`), minimising
    the weighted squared log-error of `queue_time`, from the given start (`host`: per kind; L-BFGS-B: the
    objective is smooth but not convex). Returns both per block."""
    from scipy.optimize import minimize

    kind, _ = launch_kinds()
    blocks, scale = len(device), float(np.median(time))
    log_time, weight = np.log(time / scale), weight / weight.sum()
    flat = sequence.ravel()

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        predicted, by_device, by_host = queue_time(sequence, theta[:blocks], theta[blocks:][kind], gradient=True)
        error = np.log(predicted) - log_time
        outer = (2 * weight * error / predicted)[:, None]
        per_block = [np.bincount(flat, weights=(part * outer).ravel(), minlength=blocks + 1)[:blocks] for part in (by_device, by_host)]
        per_kind = np.bincount(kind, weights=per_block[1], minlength=len(host))
        return float(np.sum(weight * error**2)), np.concatenate([per_block[0], per_kind])

    start = np.concatenate([device, host]) / scale
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(start), options={"maxiter": 2000})
    return result.x[:blocks] * scale, result.x[blocks:][kind] * scale
