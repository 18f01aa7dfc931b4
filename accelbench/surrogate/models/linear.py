"""An explainable linear model (in the spirit of FOX-NAS's multivariate regression): one coefficient per
choice of each stage (one-hot, the smallest choice as reference) and per derived feature, ridge-fitted
with the penalty chosen on the validation split; saved as JSON with every coefficient named."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from accelbench.surrogate.features import choice_columns, choice_levels, feature_names
from accelbench.surrogate.models.base import predict_each

PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@lru_cache(maxsize=None)
def design_names(space: str = "anb") -> list[str]:
    columns = choice_columns(space)
    one_hot = [f"{column}={choice}" for column in columns for choice in choice_levels(space, column)[1:]]
    return one_hot + feature_names(space)[len(columns) :]


def design(x: np.ndarray, space: str = "anb") -> np.ndarray:
    columns = choice_columns(space)
    one_hot = [(x[:, index] == choice).astype(float) for index, column in enumerate(columns) for choice in choice_levels(space, column)[1:]]
    return np.column_stack(one_hot + [x[:, len(columns) :]])


class LinearModel:
    name = "linear"
    predict_members = staticmethod(predict_each)

    def __init__(self, coefficients: dict[str, float] | None = None, intercept: float = 0.0, means=None, scales=None, penalty: float = 0.0, space: str = "anb") -> None:
        self.coefficients = coefficients or {}
        self.intercept, self.means, self.scales, self.penalty = intercept, means, scales, penalty
        self.space = space
        self.capacity: dict | None = None  # the penalty the validation split chose

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int, weight: np.ndarray | None = None, capacity: dict | None = None) -> None:
        from threadpoolctl import threadpool_limits

        # BLAS on one thread: its sums split over threads round differently on another thread count, and a
        # release must be byte-identical on any machine; the matrices are small
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit(x, y, x_val, y_val, weight, capacity)

    def _fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, weight: np.ndarray | None, capacity: dict | None) -> None:
        matrix = design(x, self.space)
        weight = np.ones(len(y)) if weight is None else weight / weight.mean()
        self.means = np.average(matrix, axis=0, weights=weight)
        spread = np.sqrt(np.average((matrix - self.means) ** 2, axis=0, weights=weight))
        self.scales = np.where(spread > 0, spread, 1.0)
        standard = (matrix - self.means) / self.scales
        mean_y = float(np.average(y, weights=weight))
        gram, moment = standard.T @ (weight[:, None] * standard), standard.T @ (weight * (y - mean_y))

        def solve(penalty: float) -> np.ndarray:
            return np.linalg.solve(gram + penalty * len(y) * np.eye(standard.shape[1]), moment)

        def validation_error(penalty: float) -> float:
            return float(np.mean(((design(x_val, self.space) - self.means) / self.scales @ solve(penalty) + mean_y - y_val) ** 2))

        self.penalty = min(PENALTIES, key=validation_error) if capacity is None else capacity["penalty"]
        weights = solve(self.penalty)
        self.capacity = {"penalty": self.penalty}
        # coefficients in the features' own units, so that each one reads as "per unit of this feature"
        raw = weights / self.scales
        self.coefficients = dict(zip(design_names(self.space), map(float, raw)))
        self.intercept = float(mean_y - raw @ self.means)

    def predict(self, x: np.ndarray) -> np.ndarray:
        # einsum's own loop, not BLAS: the same answer on any thread count
        return np.einsum("ij,j->i", design(x, self.space), np.array([self.coefficients[name] for name in design_names(self.space)])) + self.intercept

    def save(self, path_stem: Path) -> str:
        path = path_stem.with_suffix(".json")
        path.write_text(json.dumps({**({"space": self.space} if self.space != "anb" else {}), "intercept": self.intercept, "penalty": self.penalty, "coefficients": self.coefficients}, indent=1) + "\n")
        return path.name

    @classmethod
    def load(cls, path: Path) -> "LinearModel":
        """The saved model, checked: exactly the design's coefficients, every number finite."""
        values = json.loads(path.read_text())
        coefficients, space = values["coefficients"], values.get("space", "anb")  # no space named: anb (as files before there were several)
        names = design_names(space)
        if not isinstance(coefficients, dict) or set(coefficients) != set(names):
            unknown = sorted(set(coefficients) - set(names)) if isinstance(coefficients, dict) else []
            missing = sorted(set(names) - set(coefficients)) if isinstance(coefficients, dict) else []
            raise ValueError(f"coefficients must name exactly the model's {len(names)} features (unknown: {unknown[:3]}, missing: {missing[:3]})")
        for name, value in [*coefficients.items(), ("intercept", values["intercept"]), ("penalty", values["penalty"])]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}={value!r} is not a finite number")
        return cls(coefficients, values["intercept"], penalty=values["penalty"], space=space)
