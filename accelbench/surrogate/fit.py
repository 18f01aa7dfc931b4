"""Fit a surrogate per target: try every (model, transform) candidate on a validation split, keep the
best by Kendall tau, refit it as an ensemble, and report on a held-out test split.

Each member of the ensemble chooses its capacity on the validation split (its boosting rounds, its
ridge penalty), then learns again from the training and the validation rows at that capacity: the
validation rows are a tenth of the records, too many to leave out once the choices are made. One
early-stopped fit's rounds are a noisy choice (the A100's residual trees stopped after 34 to 865 rounds
over seeds and subsets of the training rows), so every member makes its own.

Intervals are cross-conformal: the chosen model is refitted `calibration_folds` times at the members'
median capacity, each time without one fold of the rows the members learn from, and the out-of-fold
absolute errors (in the transform's space) give the half-width that covers `interval_level` of them.
Every such row calibrates (a split of its own would leave ~350 rows and a coverage that wanders by +-1.2
points from that alone); the out-of-fold models see a tenth fewer rows than the ensemble, so the
intervals err wide.

Each training row is weighted by how far its measurement can be trusted (`measurement_weights`): a
record's `<target>_std` (the spread of its measurement) adds to the error no model gets below. On the
shared records, the RTX 3090's throughputs with over 5 times the median spread are missed about three times
as far as the others.

Splits come from each architecture's id (a hash), so they are the same on every machine, in every
run, and an architecture keeps its split as the store grows.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import pandas as pd

from accelbench.surrogate.additive import unit_of
from accelbench.surrogate.features import features
from accelbench.surrogate.metrics import evaluate
from accelbench.surrogate.models import MODELS, Model, SurrogateError, get_model
from accelbench.surrogate.models.base import predict_each
from accelbench.surrogate.models.block_additive import BlockAdditiveModel
from accelbench.surrogate.models.linear import LinearModel

TRANSFORMS = ("none", "log")
MODEL_ERROR = 0.005  # relative: a measurement steadier than this earns no more weight
DEVICE_ONLY = {name for name, model in MODELS.items() if issubclass(model, BlockAdditiveModel)}  # models of a time (or rate): not candidates for accuracy


def forward(transform: str, y: np.ndarray) -> np.ndarray:
    return np.log(y) if transform == "log" else y


def inverse(transform: str, y: np.ndarray) -> np.ndarray:
    return np.exp(y) if transform == "log" else y


MAX_MEMBERS = 50
MAX_FOLDS = 1000
MAX_TREES = 10_000_000


@dataclass(frozen=True)
class FitSettings:
    models: tuple[str, ...] = ("xgboost", "lightgbm", "linear", "block_additive", "block_queue", "block_additive_robust", "block_queue_robust")  # random_forest on request: slower, never chosen on the shared records
    transforms: tuple[str, ...] = TRANSFORMS
    members: int = 5
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    interval_level: float = 0.95
    calibration_folds: int = 10
    weigh_measurements: bool = True  # weight training rows by their recorded spread (measurement_weights)
    # A query's cost is in proportion to the trees it walks: a target's members hold at most this many
    # together (boosters that would stop later learn at a proportionally higher rate); None: no budget
    max_trees: int | None = 8000

    def __post_init__(self) -> None:
        for name in self.models:
            get_model(name)
        unknown = sorted(set(self.transforms) - set(TRANSFORMS))
        if unknown:
            raise SurrogateError(f"transforms {unknown} are unknown; choices are {', '.join(TRANSFORMS)}")
        if not 1 <= self.members <= MAX_MEMBERS:
            raise SurrogateError(f"members={self.members} is not allowed; it must be in [1, {MAX_MEMBERS}] (each member is a whole fit)")
        if not 0 <= self.seed < 2**32:
            raise SurrogateError(f"seed={self.seed} is not allowed; it must be in [0, 2**32)")
        if not 0.5 <= self.interval_level < 1:
            raise SurrogateError(f"interval_level={self.interval_level} is not allowed; it must be in [0.5, 1)")
        if not 2 <= self.calibration_folds <= MAX_FOLDS:
            raise SurrogateError(f"calibration_folds={self.calibration_folds} is not allowed; it must be in [2, {MAX_FOLDS}] (and at most the rows a target learns from)")
        if self.max_trees is not None and not self.members <= self.max_trees <= MAX_TREES:
            raise SurrogateError(f"max_trees={self.max_trees} is not allowed; it must be in [members, {MAX_TREES:,}] (or none, for no query budget: --max-trees 0)")
        if not (0 < self.test_fraction and 0 < self.validation_fraction and self.test_fraction + self.validation_fraction < 0.9):
            raise SurrogateError("test_fraction and validation_fraction must be positive and leave most rows for training")


def measurement_weights(values: np.ndarray, spread: np.ndarray | None) -> np.ndarray:
    """1 / (MODEL_ERROR² + (spread / value)²) per row, scaled to mean 1 (1 everywhere without spreads);
    a row without a recorded spread counts as steady."""
    if spread is None:
        return np.ones(len(values))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.nan_to_num(np.abs(spread / values), nan=0.0, posinf=0.0)
    weight = 1.0 / (MODEL_ERROR**2 + relative**2)
    return weight / weight.mean()


def split_of(arch_ids: pd.Series, settings: FitSettings) -> np.ndarray:
    """'test', 'validation' or 'train' per architecture, from the first 8 hex digits of sha256(arch_id)."""
    fractions = np.array([int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) / 2**32 for a in arch_ids])
    return np.where(fractions < settings.test_fraction, "test", np.where(fractions < settings.test_fraction + settings.validation_fraction, "validation", "train"))


@dataclass
class TargetFit:
    target: str
    model: str
    transform: str
    members: list[Model]
    validation: dict[str, float]  # candidate "model/transform" -> validation Kendall tau
    test: dict[str, float]
    rows: dict[str, int]
    test_measured: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    test_predicted: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    interval: dict[str, float] | None = None  # level, half_width (in the transform's space), calibration_rows
    coverage: float = float("nan")  # of the test split by the interval
    noise_ceiling: dict | None = None  # tau between repeats, pairs, source (surrogate.noise)
    explainer: Model | None = None  # the linear model (surrogate.explain) fitted for this target, whatever was chosen
    explainer_transform: str = "none"
    explainer_test: dict[str, float] = field(default_factory=dict)
    space: str = "anb"  # whose architectures it answers for

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ensemble_predict(self.members, self.transform, x)


def ensemble_predict(members: list[Model], transform: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictions = np.stack([inverse(transform, p) for p in predict_members(members, x)])
    return predictions.mean(axis=0), predictions.std(axis=0)


def predict_members(members: list[Model], x: np.ndarray) -> list[np.ndarray]:
    """Each member's prediction; members of one model class that can share their work on the rows
    (`predict_members` of the class: transposed features, block sums) do it once."""
    kind = type(members[0])
    if all(type(member) is kind for member in members):
        return kind.predict_members(members, x)
    return predict_each(members, x)


def interval_bounds(mean: np.ndarray, transform: str, interval: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """lo, hi around the ensemble mean (NaN where the target has no calibrated interval)."""
    if interval is None:
        nan = np.full(len(mean), np.nan)
        return nan, nan
    with np.errstate(invalid="ignore", divide="ignore"):
        center = forward(transform, mean)
    return inverse(transform, center - interval["half_width"]), inverse(transform, center + interval["half_width"])


def conformal_half_width(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score: covers a new row with probability >= level."""
    rank = int(np.ceil((len(scores) + 1) * level))
    return float("inf") if rank > len(scores) else float(np.sort(scores)[rank - 1])


def new_model(model_name: str, target: str, transform: str, space: str = "anb") -> Model:
    model = get_model(model_name)
    if issubclass(model, BlockAdditiveModel):
        return model(unit=unit_of(target), log=transform == "log")
    return model(space=space) if model is LinearModel else model()


def answers_for(model_name: str, space: str) -> bool:
    return space in (getattr(get_model(model_name), "spaces", None) or (space,))


def fit_member(model_name: str, transform: str, x, y, x_val, y_val, seed: int, bootstrap: bool, target: str = "", weight: np.ndarray | None = None,
               capacity: dict | None = None, space: str = "anb", max_rounds: int | None = None) -> Model:
    """`capacity`: what an earlier fit chose on the validation split (boosting rounds, a penalty), to
    fit without one; otherwise the model chooses on (x_val, y_val), a booster within `max_rounds`."""
    model = new_model(model_name, target, transform, space)
    if max_rounds is not None and hasattr(model, "max_rounds"):
        model.max_rounds = max_rounds
    weight = np.ones(len(y)) if weight is None else weight
    if bootstrap:  # the linear model has no randomness of its own: members see resampled rows
        rows = np.random.default_rng(seed).integers(0, len(y), len(y))
        x, y, weight = x[rows], y[rows], weight[rows]
    model.fit(x, forward(transform, y), x_val, None if y_val is None else forward(transform, y_val), seed, weight=weight, capacity=capacity)
    return model


def fit_target(target: str, x: np.ndarray, y: np.ndarray, split: np.ndarray, settings: FitSettings, log: TextIO, weight: np.ndarray | None = None,
               space: str = "anb") -> TargetFit:
    """`weight`: per row (all rows, as `measurement_weights` gives it); none weighs every row alike.
    `space`: whose features `x` are (the models that answer for it are the candidates)."""
    known = np.isfinite(y)
    parts = {name: known & (split == name) for name in ("train", "validation", "test")}
    if min(parts[name].sum() for name in parts) < 5:
        raise SurrogateError(f"{target}: too few measured architectures to fit ({ {k: int(v.sum()) for k, v in parts.items()} } in train/validation/test)")
    x_train, y_train = x[parts["train"]], y[parts["train"]]
    w_train = np.ones(len(y_train)) if weight is None else weight[parts["train"]]
    x_val, y_val = x[parts["validation"]], y[parts["validation"]]
    transforms = [t for t in settings.transforms if t == "none" or (y[known] > 0).all()]
    models = [m for m in settings.models if (m not in DEVICE_ONLY or (target.startswith(("latency_", "throughput_")) and (y[known] > 0).all())) and answers_for(m, space)]
    if not models:
        raise SurrogateError(f"{target}: none of the models {', '.join(settings.models)} can fit it ({', '.join(sorted(DEVICE_ONLY))} are for latency_* and "
                             f"throughput_* of the anb space only)")
    scores: dict[str, float] = {}
    best = None
    max_rounds = None if settings.max_trees is None else settings.max_trees // settings.members
    for model_name in models:
        # the structured model predicts the same either way; in log space its intervals are relative, as its errors are
        for transform in (["log"] if model_name in DEVICE_ONLY and "log" in transforms else transforms):
            model = fit_member(model_name, transform, x_train, y_train, x_val, y_val, settings.seed, bootstrap=False, target=target, weight=w_train, space=space,
                               max_rounds=max_rounds)
            metrics = evaluate(y_val, inverse(transform, model.predict(x_val)))
            scores[f"{model_name}/{transform}"] = metrics["kendall_tau"]
            key = (metrics["kendall_tau"], metrics["r2"])
            if best is None or key > best[0]:
                best = (key, model_name, transform, model)
    _, model_name, transform, candidate = best
    learn = parts["train"] | parts["validation"]
    w_learn = np.ones(int(learn.sum())) if weight is None else weight[learn]
    members, capacities = [], []
    for index in range(settings.members):
        seed, bootstrap = settings.seed + index, model_name == "linear" and settings.members > 1
        # each member chooses its capacity on the validation split, then learns from the validation rows too
        if index == 0 and not bootstrap:
            chooser = candidate  # the winning candidate: the same seed and rows
        else:
            chooser = fit_member(model_name, transform, x_train, y_train, x_val, y_val, seed, bootstrap, target=target, weight=w_train, space=space,
                                 max_rounds=max_rounds)
        capacities.append(chooser.capacity)
        members.append(fit_member(model_name, transform, x[learn], y[learn], None, None, seed, bootstrap, target=target, weight=w_learn, capacity=chooser.capacity,
                                  space=space))
    interval = calibrate(model_name, transform, target, x[learn], y[learn], settings, w_learn, median_capacity(capacities), space)
    predicted, _ = ensemble_predict(members, transform, x[parts["test"]])
    test = evaluate(y[parts["test"]], predicted)
    low, high = interval_bounds(predicted, transform, interval)
    coverage = float(np.mean((low <= y[parts["test"]]) & (y[parts["test"]] <= high)))
    print(f"  {target}: {model_name}/{transform} (validation tau {best[0][0]:.3f}); test tau {test['kendall_tau']:.3f}, R² {test['r2']:.3f}; "
          f"{settings.interval_level:.0%} interval covers {coverage:.1%} of the test split", file=log, flush=True)
    rows = {name: int(mask.sum()) for name, mask in parts.items()}
    explainer, explainer_transform = fit_explainer(x_train, y_train, x_val, y_val, transforms, settings.seed, w_train, space)
    explainer_test = evaluate(y[parts["test"]], inverse(explainer_transform, explainer.predict(x[parts["test"]])))
    return TargetFit(target, model_name, transform, members, scores, test, rows, y[parts["test"]], predicted, interval, coverage,
                     explainer=explainer, explainer_transform=explainer_transform, explainer_test=explainer_test, space=space)


def fit_explainer(x_train, y_train, x_val, y_val, transforms: list[str], seed: int, w_train: np.ndarray | None = None, space: str = "anb") -> tuple[Model, str]:
    """The linear model in the transform it ranks the validation split best with: what `accelbench explain` reads."""
    best = None
    for transform in transforms:
        model = fit_member("linear", transform, x_train, y_train, x_val, y_val, seed, bootstrap=False, weight=w_train, space=space)
        tau = evaluate(y_val, inverse(transform, model.predict(x_val)))["kendall_tau"]
        if best is None or tau > best[0]:
            best = (tau, model, transform)
    return best[1], best[2]


def median_capacity(capacities: list[dict]) -> dict:
    """The members' median choice of each setting (the upper median: a value one of them chose)."""
    return {key: sorted(capacity[key] for capacity in capacities)[len(capacities) // 2] for key in capacities[0]}


def calibrate(model_name: str, transform: str, target: str, x_learn, y_learn, settings: FitSettings, w_learn: np.ndarray, capacity: dict,
              space: str = "anb") -> dict[str, float]:
    """Cross-conformal half-width: out-of-fold errors of the chosen model, at `capacity`, over the rows the members learn from."""
    folds = np.random.default_rng(settings.seed).permutation(len(y_learn)) % settings.calibration_folds
    scores = np.empty(len(y_learn))
    for fold in range(settings.calibration_folds):
        held = folds == fold
        model = fit_member(model_name, transform, x_learn[~held], y_learn[~held], None, None, settings.seed, bootstrap=False, target=target, weight=w_learn[~held], capacity=capacity, space=space)
        scores[held] = np.abs(model.predict(x_learn[held]) - forward(transform, y_learn[held]))
    return {"level": settings.interval_level, "half_width": conformal_half_width(scores, settings.interval_level), "calibration_rows": int(len(scores))}


def space_of(frame: pd.DataFrame) -> str:
    """The one space of a frame's architectures (anb for a frame without a `space` column)."""
    spaces = sorted(frame["space"].dropna().unique()) if "space" in frame.columns else []
    if len(spaces) > 1:
        raise SurrogateError(f"the records mix architectures of the spaces {', '.join(spaces)}; a fit answers for one space: choose it with --space")
    return spaces[0] if spaces else "anb"


def fit_all(frame: pd.DataFrame, targets: list[str], settings: FitSettings = FitSettings(), log: TextIO | None = None) -> list[TargetFit]:
    log = log or sys.stderr
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise SurrogateError(f"targets {', '.join(missing)} are not in the records; they have {', '.join(c for c in frame.columns if c.startswith(('val_', 'train_time', 'latency_', 'throughput_')) and not c.endswith('_std'))}")
    space = space_of(frame)
    x = features(frame, space)
    split = split_of(frame["arch_id"], settings)
    for target in targets:  # before any fitting: a bad bound must not cost the targets before it
        learn = int((np.isfinite(frame[target].to_numpy(dtype=float)) & np.isin(split, ("train", "validation"))).sum())
        if settings.calibration_folds > learn:
            raise SurrogateError(f"calibration_folds={settings.calibration_folds} is more than the {learn} architectures {target} learns from; give at most {learn}")
    fits = []
    started = time.perf_counter()
    for number, target in enumerate(targets, start=1):
        values = frame[target].to_numpy(dtype=float)
        spread = frame[f"{target}_std"].to_numpy(dtype=float) if f"{target}_std" in frame.columns and settings.weigh_measurements else None
        fits.append(fit_target(target, x, values, split, settings, log, measurement_weights(values, spread), space))
        elapsed = time.perf_counter() - started
        print(f"  [{number}/{len(targets)} targets, {elapsed:.0f} s, ETA {elapsed / number * (len(targets) - number):.0f} s]", file=log, flush=True)
    return fits

