"""Tree ensembles compiled for querying: every tree padded to a complete tree of depth 3, all answered
by one numba kernel.

Every default model grows trees of depth <= 3 (XGBoost and LightGBM, the block-additive model's
residual). A complete depth-3 tree is a select network: seven comparisons and seven selects per row,
no branches, no gathers, so the kernel runs over rows in SIMD lanes, tree after tree, and over blocks
of rows on the threads the process was given (`common.threads`). One row at a time (what evolution and annealing ask) walks the three levels
instead. Each library's rule is kept exactly: XGBoost compares float32 features `x < threshold` and
adds tree by tree onto its base score in float32; LightGBM compares doubles `x <= threshold` and adds
in double. Features are never missing (NaN), so the libraries' default directions never arise.
Ensembles with deeper trees (random_forest) are not compiled: their library answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from numba import config, njit, prange, set_num_threads

from accelbench.common.threads import threads

DEPTH = 3
INTERNAL = 2**DEPTH - 1
BLOCK = 1024  # rows a thread takes at a time, laid out together: the block's features stay in L2
SERIAL_ROWS = 64  # up to here one thread walks the levels: starting the threads costs more than it saves


class Columns:
    """A feature matrix as the kernel reads it: in blocks of rows, each block feature by feature
    (blocks, features, rows of the block), in the forest's float type; made once per type for every
    forest that reads the same rows (the members of an ensemble)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self._typed: dict[bool, np.ndarray] = {}

    def typed(self, float32: bool) -> np.ndarray:
        if float32 not in self._typed:
            rows, width = len(self.x), max(1, min(BLOCK, len(self.x)))
            blocks = -(-rows // width)
            dtype = np.float32 if float32 else np.float64
            if blocks == 1:  # a few rows (one at a time in searches): a transpose, no threads to start
                self._typed[float32] = np.ascontiguousarray(self.x.T[None], dtype=dtype)
            else:
                self._typed[float32] = np.empty((blocks, self.x.shape[1], width), dtype=dtype)
                use_given_threads()
                _to_blocks(self.x, self._typed[float32])
        return self._typed[float32]


@dataclass(frozen=True)
class Forest:
    feature: np.ndarray  # (trees, 7) feature of each internal node, breadth-first
    threshold: np.ndarray  # (trees, 7) go right when x >= threshold (+inf: always left)
    leaf: np.ndarray  # (trees, 8) leaf values
    base: float  # the sum starts here
    float32: bool  # compare and add as XGBoost does (float32), else as LightGBM does (float64)

    def __post_init__(self) -> None:  # thresholds and leaves in the type the kernel reads, once
        dtype = np.float32 if self.float32 else np.float64
        object.__setattr__(self, "threshold", np.ascontiguousarray(self.threshold, dtype=dtype))
        object.__setattr__(self, "leaf", np.ascontiguousarray(self.leaf, dtype=dtype))

    def predict(self, x: np.ndarray | Columns) -> np.ndarray:
        dtype = np.float32 if self.float32 else np.float64
        columns = x if isinstance(x, Columns) else Columns(x)
        values = columns.typed(self.float32)
        threshold, leaf = self.threshold, self.leaf
        out = np.empty(values.shape[0] * values.shape[2], dtype=dtype)
        if len(columns.x) <= SERIAL_ROWS:
            kernel = _walk_levels
        else:
            kernel = _select_network
            use_given_threads()
        kernel(values, self.feature, threshold, leaf, dtype(self.base), out)
        return out[: len(columns.x)].astype(np.float64)


def use_given_threads() -> None:
    """numba's parallel kernels run on the threads this process was given (`common.threads`)."""
    set_num_threads(min(threads(), config.NUMBA_NUM_THREADS))


@njit(parallel=True, cache=True)
def _to_blocks(x, out):  # pragma: no cover - compiled
    """`out[b, f, r] = x[b * width + r, f]`, zero past the last row: one pass, on the given threads."""
    blocks, features, width = out.shape
    for block in prange(blocks):
        filled = min(width, x.shape[0] - block * width)
        for f in range(features):
            for r in range(filled):
                out[block, f, r] = x[block * width + r, f]
            for r in range(filled, width):
                out[block, f, r] = 0


@njit(cache=True)
def _walk_levels(x, feature, threshold, leaf, base, out):  # pragma: no cover - compiled
    width = x.shape[2]
    for r in range(out.shape[0]):
        block, row = r // width, r % width
        total = base
        for t in range(feature.shape[0]):
            node = 0
            for _ in range(DEPTH):
                node = 2 * node + 1 + (x[block, feature[t, node], row] >= threshold[t, node])
            total += leaf[t, node - INTERNAL]
        out[r] = total


@njit(parallel=True, cache=True)
def _select_network(x, feature, threshold, leaf, base, out):  # pragma: no cover - compiled
    width = x.shape[2]
    for block in prange(x.shape[0]):
        rows = x[block]
        total = np.full(width, base, dtype=out.dtype)
        for t in range(feature.shape[0]):
            f, th, v = feature[t], threshold[t], leaf[t]
            x0, x1, x2, x3, x4, x5, x6 = rows[f[0]], rows[f[1]], rows[f[2]], rows[f[3]], rows[f[4]], rows[f[5]], rows[f[6]]
            t0, t1, t2, t3, t4, t5, t6 = th[0], th[1], th[2], th[3], th[4], th[5], th[6]
            v0, v1, v2, v3, v4, v5, v6, v7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
            for r in range(width):
                left = (v3 if x4[r] >= t4 else v2) if x1[r] >= t1 else (v1 if x3[r] >= t3 else v0)
                right = (v7 if x6[r] >= t6 else v6) if x2[r] >= t2 else (v5 if x5[r] >= t5 else v4)
                total[r] += right if x0[r] >= t0 else left
        out[block * width : (block + 1) * width] = total


def _pad(left: np.ndarray, right: np.ndarray, feature: np.ndarray, threshold: np.ndarray, value: np.ndarray, roots: np.ndarray) -> tuple | None:
    """Nodes of all trees in flat arrays (left = -1 for a leaf; `roots` the index of each tree's root) to
    complete depth-3 trees: a leaf above the last level becomes always-left nodes over copies of its
    value. None when a tree is deeper than 3."""
    trees = len(roots)
    padded_feature = np.zeros((trees, INTERNAL), dtype=np.int64)
    padded_threshold = np.full((trees, INTERNAL), np.inf)
    at = roots[:, None]
    for level in range(DEPTH):
        first = 2**level - 1
        internal = left[at] != -1
        padded_feature[:, first : 2 * first + 1] = np.where(internal, feature[at], 0)
        padded_threshold[:, first : 2 * first + 1] = np.where(internal, threshold[at], np.inf)
        children = np.stack([np.where(internal, left[at], at), np.where(internal, right[at], at)], axis=2)
        at = children.reshape(trees, -1)
    if (left[at] != -1).any():
        return None
    return padded_feature, padded_threshold, value[at]


def compiled(owner, build) -> Forest | None:
    """`owner._forest`, built once by `build()`; None when the trees cannot be compiled."""
    if owner._forest is None:
        owner._forest = build() or False
    return owner._forest or None


def predict_sharing_columns(members: list, x: np.ndarray) -> list[np.ndarray]:
    """Each member's prediction, the rows prepared for the kernel once for all of them."""
    columns = Columns(x)
    return [member.predict(columns) for member in members]


def as_array(x: np.ndarray | Columns) -> np.ndarray:
    return x.x if isinstance(x, Columns) else x


def from_xgboost(booster) -> Forest | None:
    model = json.loads(booster.save_raw("json"))["learner"]
    base = float(str(model["learner_model_param"]["base_score"]).strip("[]"))
    parts: dict[str, list] = {"left": [], "right": [], "feature": [], "condition": []}
    roots, offset = [], 0
    for tree in model["gradient_booster"]["model"]["trees"]:
        if any(tree["split_type"]) or tree["categories"]:
            raise ValueError("categorical splits are not supported")
        left = np.asarray(tree["left_children"], dtype=np.int64)
        parts["left"].append(np.where(left == -1, -1, left + offset))
        parts["right"].append(np.asarray(tree["right_children"], dtype=np.int64) + offset)
        parts["feature"].append(np.asarray(tree["split_indices"], dtype=np.int64))
        parts["condition"].append(np.asarray(tree["split_conditions"], dtype=np.float32))  # a leaf's value, or a split's threshold
        roots.append(offset)
        offset += len(left)
    if not roots:
        return None
    left, right, feature, condition = (np.concatenate(parts[k]) for k in ("left", "right", "feature", "condition"))
    padded = _pad(left, right, feature, condition.astype(np.float64), condition.astype(np.float64), np.array(roots))
    return None if padded is None else Forest(*padded, base=base, float32=True)


_FIELDS = ("num_leaves", "num_cat", "is_linear", "split_feature", "threshold", "decision_type", "left_child", "right_child", "leaf_value")


def _lightgbm_trees(text: str) -> list[dict[str, str]]:
    """The fields of each tree of LightGBM's text format."""
    start, end = text.find("\nTree="), text.find("\nend of trees")
    if start < 0:
        return []
    blocks = text[start + 1 : end].split("\nTree=")
    return [dict(line.split("=", 1) for line in block.splitlines() if line.startswith(_FIELDS)) for block in blocks]


def from_lightgbm(booster, num_iteration: int | None = None) -> Forest | None:
    text = booster.model_to_string(num_iteration=num_iteration)
    if "\naverage_output" in text:
        raise ValueError("averaged (random forest) LightGBM models are not supported")
    parts: dict[str, list] = {"left": [], "right": [], "feature": [], "threshold": [], "value": []}
    roots, offset = [], 0
    for fields in _lightgbm_trees(text):
        leaves = np.array(fields["leaf_value"].split(), dtype=np.float64)
        splits = int(fields["num_leaves"]) - 1
        if int(fields.get("num_cat", 0)) or int(fields.get("is_linear", 0)):
            raise ValueError("categorical or linear LightGBM trees are not supported")
        # nodes: the splits first, then the leaves; a child < 0 is leaf ~child
        left = np.full(splits + len(leaves), -1, dtype=np.int64)
        right = np.full(splits + len(leaves), -1, dtype=np.int64)
        feature = np.zeros(splits + len(leaves), dtype=np.int64)
        threshold = np.zeros(splits + len(leaves))
        value = np.concatenate([np.zeros(splits), leaves])
        if splits:
            decision = np.array(fields["decision_type"].split(), dtype=np.int64)
            if (decision & 1).any() or ((decision >> 2) & 3 == 1).any():
                raise ValueError("categorical splits and zero-as-missing are not supported")
            children = [np.array(fields[name].split(), dtype=np.int64) for name in ("left_child", "right_child")]
            left[:splits], right[:splits] = (np.where(c >= 0, c, splits + ~c) + offset for c in children)
            feature[:splits] = np.array(fields["split_feature"].split(), dtype=np.int64)
            # x <= t  <=>  x >= nextafter(t, +inf) goes right, for doubles
            threshold[:splits] = np.nextafter(np.array(fields["threshold"].split(), dtype=np.float64), np.inf)
        for key, array in zip(parts, (left, right, feature, threshold, value)):
            parts[key].append(array)
        roots.append(offset)
        offset += len(value)
    if not roots:
        return None
    padded = _pad(*(np.concatenate(parts[k]) for k in parts), np.array(roots))
    return None if padded is None else Forest(*padded, base=0.0, float32=False)
