"""Gradient-boosted trees (LightGBM, deterministic mode), early-stopped on the validation split; saved as text."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from accelbench.common.threads import threads
from accelbench.surrogate import trees

PARAMETERS = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 8,
    "max_depth": 3,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
ROUNDS, EARLY_STOPPING = 20000, 200
# LightGBM writes the thread count it trained with into a model's text; the trees do not depend on it
# (tests/surrogate/test_threads.py), so saved models name one fixed count (the one releases were made
# with before fits took the cores given) and a release is byte-identical on any machine.
SAVED_THREADS = 2


def model_text(booster) -> str:
    """The booster as LightGBM's text format, up to its best iteration, the same on any thread count."""
    text = booster.model_to_string(num_iteration=booster.best_iteration or None)
    return re.sub(r"^\[num_threads: \d+\]$", f"[num_threads: {SAVED_THREADS}]", text, count=1, flags=re.MULTILINE)


def boost(parameters: dict, train, validation, rows: int, capacity: dict | None, max_rounds: int | None = None):
    """A booster early-stopped on `validation`, or, given the `capacity` an earlier fit chose on it, with as
    many rounds at its learning rate (no validation needed); and its own capacity (rounds, learning rate,
    the rows it learned from). `max_rounds` (a query budget): a booster that stops later learns again at
    a rate raised in proportion, early-stopped within the budget."""
    import lightgbm

    parameters = {**parameters, "num_threads": threads()}
    if capacity is None:
        def early_stopped(parameters: dict, rounds: int):
            booster = lightgbm.train(parameters, train, rounds, valid_sets=[validation], callbacks=[lightgbm.early_stopping(EARLY_STOPPING, verbose=False)])
            return booster, booster.best_iteration or booster.current_iteration()

        booster, rounds = early_stopped(parameters, ROUNDS)
        if max_rounds is not None and rounds > max_rounds:
            parameters = {**parameters, "learning_rate": over_budget_rate(parameters["learning_rate"], rounds, max_rounds)}
            booster, rounds = early_stopped(parameters, max_rounds)
        return booster, {"rounds": rounds, "learning_rate": parameters["learning_rate"], "rows": rows}
    parameters["learning_rate"] = capacity.get("learning_rate", parameters["learning_rate"])
    return lightgbm.train(parameters, train, capacity["rounds"]), {**capacity, "rows": rows}


def over_budget_rate(rate: float, rounds: int, max_rounds: int) -> float:
    """The learning rate at which `rounds` rounds' worth of shrinkage fits in `max_rounds`."""
    return min(1.0, rate * rounds / max_rounds)


def predict_trees(owner, booster, x: np.ndarray | trees.Columns) -> np.ndarray:
    """The booster's prediction at its best iteration, by the compiled trees (`surrogate.trees`)."""
    forest = trees.compiled(owner, lambda: trees.from_lightgbm(booster, booster.best_iteration or None))
    if forest is not None:
        return forest.predict(x)
    return booster.predict(trees.as_array(x), num_iteration=booster.best_iteration or None, num_threads=threads())


class LightGbmModel:
    name = "lightgbm"
    max_rounds: int | None = None  # a query budget (FitSettings.max_trees / members)

    def __init__(self, booster=None) -> None:
        self.booster = booster
        self.capacity: dict | None = None  # the rounds the validation split chose, and the rows learned from
        self._forest = None  # the compiled trees (surrogate.trees), built on the first prediction

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int, weight: np.ndarray | None = None, capacity: dict | None = None) -> None:
        import lightgbm

        train = lightgbm.Dataset(x, label=y, weight=weight, params={"verbose": -1})
        validation = None if capacity is not None else lightgbm.Dataset(x_val, label=y_val, reference=train)
        self._forest = None
        self.booster, self.capacity = boost({**PARAMETERS, "seed": seed}, train, validation, len(y), capacity, self.max_rounds)

    def predict(self, x: np.ndarray | trees.Columns) -> np.ndarray:
        return predict_trees(self, self.booster, x)

    predict_members = staticmethod(trees.predict_sharing_columns)

    def save(self, path_stem: Path) -> str:
        path = path_stem.with_suffix(".txt")
        path.write_text(model_text(self.booster))
        return path.name

    @classmethod
    def load(cls, path: Path) -> "LightGbmModel":
        import lightgbm

        return cls(lightgbm.Booster(model_str=path.read_text()))
