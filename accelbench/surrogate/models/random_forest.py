"""A random forest (XGBoost's: many parallel trees in one round, row and column subsampling); saved as UBJ."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelbench.common.threads import threads
from accelbench.surrogate.models.xgboost import XgboostModel

PARAMETERS = {
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "num_parallel_tree": 300,
    "max_depth": 14,
    "eta": 1.0,
    "subsample": 0.8,
    "colsample_bynode": 0.5,
    "min_child_weight": 1,
    "lambda": 1e-5,
}


class RandomForestModel(XgboostModel):
    name = "random_forest"

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int, weight: np.ndarray | None = None, capacity: dict | None = None) -> None:
        import xgboost

        self.booster, self._forest = xgboost.train({**PARAMETERS, "seed": seed, "nthread": threads()}, xgboost.DMatrix(x, label=y, weight=weight, nthread=threads()), 1), None
        self.capacity = {}  # nothing chosen on the validation split

    @classmethod
    def load(cls, path: Path) -> "RandomForestModel":
        return cls(XgboostModel.load(path).booster)
