"""Block-additive cost models: an architecture's time per image as the sum of its blocks' costs.

An MBConv network runs its layers one after another, so its time per image is close to the sum of its
layers' times; each layer's cost depends only on its block (stage, expansion, kernel, squeeze-excite,
first of its stage or repeated: `search_space.blocks`). A cost per block, fitted non-negative, ranks the
shared reference records nearly as well as the boosted trees on GPUs and FPGAs, explains itself, and is
the common ground on which one device's costs are transferred to another (`surrogate.cross_device`).
The model itself is `surrogate.models.block_additive`.

Throughputs are modelled as their inverse (seconds per image), which adds up; latencies as they are.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.optimize import nnls

from search_space import ANB
from search_space.blocks import all_blocks
from surrogate.features import CHOICE_COLUMNS

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
        layer = block.layer()
        _, size, _ = block.input_shape(224)
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
    return (physics[first] + repeats[:, :, None] * physics[repeat]).reshape(len(first), first.shape[1] * physics.shape[1])


def relative_nnls(design: np.ndarray, time: np.ndarray, penalty: float = 0.0, prior: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights minimising the squared *relative* error of design @ w against `time`, with an
    optional ridge pull (on scale-free columns) towards `prior`."""
    relative = design / time[:, None]
    scale = relative.mean(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    relative = relative / scale
    target = np.ones(len(time))
    if penalty > 0:
        pull = np.zeros(design.shape[1]) if prior is None else prior * scale
        relative = np.vstack([relative, np.sqrt(penalty) * np.eye(design.shape[1])])
        target = np.concatenate([target, np.sqrt(penalty) * pull])
    weights, _ = nnls(relative, target, maxiter=50 * design.shape[1])
    return weights / scale
