"""The robust structured models: Huber's loss keeps a few far-off records from pulling the block costs
and the residual trees, where squares let them."""

from __future__ import annotations

import numpy as np

from accelbench.search_space import sample
from accelbench.surrogate.additive import block_counts, block_keys, huber_threshold, relative_nnls, robust_nnls
from accelbench.surrogate.features import features
from accelbench.surrogate.models.block_additive import BlockAdditiveModel, BlockAdditiveRobustModel

X = features(sample(600, seed=9))
COUNTS = block_counts(X)
TRAIN, HELD = np.arange(480), np.arange(480, 600)


def planted_times(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True times from planted block costs, and measurements: 0.3% noise, and 6% of the records 6-12% slow."""
    rng = np.random.default_rng(seed)
    truth = COUNTS @ rng.uniform(0.5, 1.5, len(block_keys()))
    far = rng.uniform(size=len(truth)) < 0.06
    measured = truth * np.exp(rng.normal(0, 0.003, len(truth))) * np.where(far, rng.uniform(1.06, 1.12, len(truth)), 1.0)
    return truth, measured


def test_huber_threshold_is_a_multiple_of_the_robust_spread_and_ignores_the_far_records():
    rng = np.random.default_rng(0)
    error = rng.normal(0, 0.01, 10_000)
    threshold = huber_threshold(error)
    assert np.isclose(threshold, 0.5 * 0.01, rtol=0.05)
    error[:500] += 0.5  # 5% far off: a standard deviation would grow 10x
    assert huber_threshold(error) < 1.1 * threshold


def test_robust_costs_stay_with_the_many_records_where_squares_follow_the_far_ones():
    truth, measured = planted_times(seed=1)
    plain = relative_nnls(COUNTS[TRAIN], measured[TRAIN], penalty=1e-4)
    robust, weight = robust_nnls(COUNTS[TRAIN], measured[TRAIN], penalty=1e-4)
    errors = {name: np.median(np.abs(np.log(COUNTS[HELD] @ costs / truth[HELD]))) for name, costs in (("plain", plain), ("robust", robust))}
    assert errors["robust"] < 0.5 * errors["plain"], errors
    far = measured[TRAIN] > truth[TRAIN] * 1.05
    assert weight[far].max() < 0.1 * np.median(weight[~far])  # the far records count for little


def test_the_robust_model_lies_closer_to_the_true_times_than_the_squared_one():
    truth, measured = planted_times(seed=2)
    errors = {}
    for model in (BlockAdditiveModel(unit="time"), BlockAdditiveRobustModel(unit="time")):
        model.fit(X[TRAIN], measured[TRAIN], X[HELD], measured[HELD], seed=0)
        errors[model.name] = np.median(np.abs(np.log(model.predict(X[HELD]) / truth[HELD])))
    assert errors["block_additive_robust"] < 0.5 * errors["block_additive"], errors
