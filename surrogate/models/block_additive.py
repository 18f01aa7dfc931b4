"""The structured device model (`surrogate.additive`): time per image (1/throughput) or latency as a sum
of non-negative per-block costs, the stem and head carrying the fixed overhead, times a correction
learned by gradient-boosted trees on what the sum misses (the log-ratio of measured to summed time),
from the analytic per-stage costs (MACs, activations, squeeze-excite sizes). Saved as one JSON file:
every block's cost by name and the trees in LightGBM's text format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from surrogate import trees
from surrogate.additive import UNITS, block_counts, block_keys, block_layers, relative_nnls, stage_physics, summed_cost, to_time
from surrogate.models.base import SurrogateError
from surrogate.models.lightgbm import EARLY_STOPPING, PARAMETERS, ROUNDS, predict_trees

RIDGE = 1e-4  # on scale-free columns: keeps rarely seen blocks near zero instead of wild
# the residual is small and smooth: twice the other boosters' rate reaches the same test taus on the shared
# records (within 0.0007) with about half the trees, and a query costs in proportion to trees
RESIDUAL_PARAMETERS = {**PARAMETERS, "learning_rate": 0.1}


class BlockAdditiveModel:
    """`unit`: the target is a time ("time") or its inverse ("rate"); `log`: the fit sees the target's
    logarithm (as `surrogate.fit` gives it with transform "log"); `residual`: learn the trees' correction."""

    name = "block_additive"

    def __init__(self, costs: np.ndarray | None = None, unit: str = "time", log: bool = False, residual: bool = True, booster=None) -> None:
        if unit not in UNITS:
            raise SurrogateError(f"unit={unit!r} is not allowed; choices are {', '.join(UNITS)}")
        self.costs, self.unit, self.log, self.residual, self.booster = costs, unit, log, residual, booster
        self._forest = None  # the compiled residual trees (surrogate.trees), built on the first prediction

    def _time_of(self, y: np.ndarray) -> np.ndarray:
        return to_time(self.unit, np.exp(y) if self.log else y)

    @staticmethod
    def _residual_features(x: np.ndarray, physics: np.ndarray, summed: np.ndarray) -> np.ndarray:
        return np.column_stack([x, physics, np.log(summed)])

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int) -> None:
        time = self._time_of(y)
        self.costs = relative_nnls(block_counts(x), time, penalty=RIDGE)
        self.booster, self._forest = None, None
        if not self.residual:
            return
        import lightgbm

        layers, layers_val = block_layers(x), block_layers(x_val)
        summed, summed_val = self._summed(layers), self._summed(layers_val)
        train = lightgbm.Dataset(self._residual_features(x, stage_physics(layers), summed), label=np.log(time / summed), params={"verbose": -1})
        validation = lightgbm.Dataset(self._residual_features(x_val, stage_physics(layers_val), summed_val), label=np.log(self._time_of(y_val) / summed_val), reference=train)
        self.booster = lightgbm.train({**RESIDUAL_PARAMETERS, "seed": seed}, train, ROUNDS, valid_sets=[validation], callbacks=[lightgbm.early_stopping(EARLY_STOPPING, verbose=False)])

    def _summed(self, layers: tuple) -> np.ndarray:
        return np.maximum(summed_cost(layers, self.costs), 1e-12)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_members([self], x)[0]

    @staticmethod
    def predict_members(members: list["BlockAdditiveModel"], x: np.ndarray) -> list[np.ndarray]:
        """Members fitted on the same rows share their block costs (the fit is deterministic; only the
        residual trees differ by seed), so the blocks, the sum and the trees' features are made once."""
        layers, physics, shared = block_layers(x), None, {}
        predictions = []
        for member in members:
            key = (member.costs.tobytes(), member.booster is None)
            if key not in shared:
                summed = member._summed(layers)
                if member.booster is not None and physics is None:
                    physics = stage_physics(layers)
                columns = None if member.booster is None else trees.Columns(member._residual_features(x, physics, summed))
                shared[key] = (summed, columns)
            summed, columns = shared[key]
            time = summed if member.booster is None else summed * np.exp(predict_trees(member, member.booster, columns))
            value = to_time(member.unit, time)
            predictions.append(np.log(value) if member.log else value)
        return predictions

    def block_table(self) -> dict[str, float]:
        """Each block's learned cost in the target's time unit: seconds per image for a throughput, ms for a latency."""
        return dict(zip(block_keys(), map(float, self.costs)))

    def save(self, path_stem: Path) -> str:
        path = path_stem.with_suffix(".json")
        values = {"unit": self.unit, "log": self.log, "cost_per_block": self.block_table(),
                  "residual_trees": None if self.booster is None else self.booster.model_to_string(num_iteration=self.booster.best_iteration or None)}
        path.write_text(json.dumps(values, indent=1) + "\n")
        return path.name

    @classmethod
    def load(cls, path: Path) -> "BlockAdditiveModel":
        values = json.loads(path.read_text())
        costs = values["cost_per_block"]
        missing = sorted(set(block_keys()) - set(costs))
        if missing:
            raise ValueError(f"costs of {len(missing)} blocks missing ({missing[0]}, ...)")
        array = np.array([float(costs[key]) for key in block_keys()])
        if not np.isfinite(array).all() or (array < 0).any():
            raise ValueError("block costs must be finite and non-negative")
        booster = None
        if values.get("residual_trees"):
            import lightgbm

            booster = lightgbm.Booster(model_str=values["residual_trees"])
        return cls(array, values["unit"], bool(values.get("log", False)), booster is not None, booster)
