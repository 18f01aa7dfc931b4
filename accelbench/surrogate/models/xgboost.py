"""Gradient-boosted trees (XGBoost), early-stopped on the validation split; saved as UBJ.

Shallow trees and many rounds: on the shared records, depth 3 ranked better than depth 4 or 6 for
accuracy and FPGA latency alike (benchmarks/surrogates_vs_reference.py); these targets are close to
additive over the stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelbench.common.threads import threads
from accelbench.surrogate import trees
from accelbench.surrogate.models.lightgbm import over_budget_rate

PARAMETERS = {
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "max_depth": 3,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.9,
    "min_child_weight": 20,
    "lambda": 5.0,
}
ROUNDS, EARLY_STOPPING = 20000, 200


class XgboostModel:
    name = "xgboost"
    max_rounds: int | None = None  # a query budget (FitSettings.max_trees / members)

    def __init__(self, booster=None) -> None:
        self.booster = booster
        self.capacity: dict | None = None  # the rounds the validation split chose, and the rows learned from
        self._forest = None  # the compiled trees (surrogate.trees), built on the first prediction

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int, weight: np.ndarray | None = None, capacity: dict | None = None) -> None:
        import xgboost

        train, parameters = xgboost.DMatrix(x, label=y, weight=weight, nthread=threads()), {**PARAMETERS, "seed": seed, "nthread": threads()}
        self._forest = None
        if capacity is not None:
            rounds, parameters["eta"] = capacity["rounds"], capacity.get("learning_rate", parameters["eta"])
            self.booster = xgboost.train(parameters, train, rounds)
        else:  # early-stopped on the validation split (within the query budget: lightgbm.boost)
            validation = [(xgboost.DMatrix(x_val, label=y_val, nthread=threads()), "val")]

            def early_stopped(rounds: int) -> int:
                self.booster = xgboost.train(parameters, train, rounds, evals=validation, early_stopping_rounds=EARLY_STOPPING, verbose_eval=False)
                best = self.booster.best_iteration + 1
                self.booster = self.booster[:best]
                return best

            rounds = early_stopped(ROUNDS)
            if self.max_rounds is not None and rounds > self.max_rounds:
                parameters["eta"] = over_budget_rate(parameters["eta"], rounds, self.max_rounds)
                rounds = early_stopped(self.max_rounds)
        self.capacity = {"rounds": rounds, "learning_rate": parameters["eta"], "rows": len(y)}

    def predict(self, x: np.ndarray | trees.Columns) -> np.ndarray:
        import xgboost

        forest = trees.compiled(self, lambda: trees.from_xgboost(self.booster))
        if forest is not None:
            return forest.predict(x)
        self.booster.set_param({"nthread": threads()})
        return self.booster.predict(xgboost.DMatrix(trees.as_array(x), nthread=threads()))

    predict_members = staticmethod(trees.predict_sharing_columns)

    def save(self, path_stem: Path) -> str:
        path = path_stem.with_suffix(".ubj")
        self.booster.save_model(str(path))
        return path.name

    @classmethod
    def load(cls, path: Path) -> "XgboostModel":
        import xgboost

        booster = xgboost.Booster(params={"nthread": threads()})
        booster.load_model(str(path))
        return cls(booster)
