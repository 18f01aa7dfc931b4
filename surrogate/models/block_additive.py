"""The block-additive model (`surrogate.additive`): a non-negative cost per block, summed over the
network; saved as JSON with every block's cost named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from surrogate.additive import UNITS, block_counts, block_keys, relative_nnls, to_time
from surrogate.models.base import SurrogateError


class BlockAdditiveModel:
    """time per image = Σ blocks count × cost; `unit` says whether the target is that time or its inverse,
    `log` whether the fit sees the target's logarithm (as `surrogate.fit` gives it with transform "log")."""

    name = "block_additive"

    def __init__(self, costs: np.ndarray | None = None, unit: str = "time", log: bool = False) -> None:
        if unit not in UNITS:
            raise SurrogateError(f"unit={unit!r} is not allowed; choices are {', '.join(UNITS)}")
        self.costs, self.unit, self.log = costs, unit, log

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int) -> None:
        self.costs = relative_nnls(block_counts(x), to_time(self.unit, np.exp(y) if self.log else y), penalty=1e-4)

    def time(self, x: np.ndarray) -> np.ndarray:
        return block_counts(x) @ self.costs

    def predict(self, x: np.ndarray) -> np.ndarray:
        value = to_time(self.unit, self.time(x))
        return np.log(value) if self.log else value

    def save(self, path_stem: Path) -> str:
        path = path_stem.with_suffix(".json")
        path.write_text(json.dumps({"unit": self.unit, "log": self.log, "seconds_per_block": dict(zip(block_keys(), map(float, self.costs)))}, indent=1) + "\n")
        return path.name

    @classmethod
    def load(cls, path: Path) -> "BlockAdditiveModel":
        values = json.loads(path.read_text())
        costs = values["seconds_per_block"]
        missing = sorted(set(block_keys()) - set(costs))
        if missing:
            raise ValueError(f"costs of {len(missing)} blocks missing ({missing[0]}, ...)")
        array = np.array([float(costs[key]) for key in block_keys()])
        if not np.isfinite(array).all() or (array < 0).any():
            raise ValueError("block costs must be finite and non-negative")
        return cls(array, values["unit"], bool(values.get("log", False)))
