"""The compiled trees (surrogate.trees) answer exactly as the libraries do, one row or many."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelbench.surrogate.features import features
from accelbench.surrogate.fit import predict_members
from accelbench.surrogate.models import get_model
from accelbench.surrogate.models.block_additive import BlockAdditiveModel, BlockQueueModel
from accelbench.surrogate.trees import SERIAL_ROWS, Forest


def library(model, x: np.ndarray) -> np.ndarray:
    """The model's answer with its trees left uncompiled: the library's."""
    compiled, model._forest = model._forest, False
    try:
        return model.predict(x)
    finally:
        model._forest = compiled


@pytest.fixture(scope="module")
def data(reference_frame):
    frame = reference_frame.dropna(subset=["throughput_a100"]).iloc[:700]
    return features(frame), np.log(frame["throughput_a100"].to_numpy()), frame["val_top1"].to_numpy()


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "block_additive", "block_queue"])
def test_compiled_trees_answer_as_the_library_for_one_row_and_for_many(name, data):
    x, log_throughput, top1 = data
    model = get_model(name)(unit="rate", log=True) if name.startswith("block_") else get_model(name)()
    y = log_throughput if name.startswith("block_") else top1
    model.fit(x[:500], y[:500], x[500:600], y[500:600], seed=0)
    rows = x[600:]
    assert len(rows) > SERIAL_ROWS  # the parallel select network
    batch = model.predict(rows)
    assert model._forest  # compiled on the first prediction
    one_at_a_time = np.concatenate([model.predict(rows[i : i + 1]) for i in range(len(rows))])  # the serial walk
    reference = library(model, rows)
    assert np.array_equal(batch, reference)  # XGBoost's float32 sum in its order; LightGBM's double sum
    assert np.array_equal(one_at_a_time, reference)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(30, 300), leaves=st.integers(2, 8), rounds=st.integers(1, 40), name=st.sampled_from(["xgboost", "lightgbm"]))
def test_any_shallow_ensemble_compiles_exactly(seed, rows, leaves, rounds, name):
    """Ties, repeated values, huge and negative features, stumps and lone leaves: every tree of depth <= 3."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.integers(0, 4, rows), rng.integers(-3, 3, rows) * 1e8 + 0.5, rng.normal(size=rows), rng.integers(0, 2, rows)]).astype(float)
    y = x[:, 0] * rng.normal() + np.sin(x[:, 2]) + rng.normal(scale=0.1, size=rows)
    if name == "xgboost":
        import xgboost

        booster = xgboost.train({"max_depth": 3, "eta": 0.3, "min_child_weight": 1, "nthread": 1, "seed": seed}, xgboost.DMatrix(x, label=y), rounds)
        model = get_model("xgboost")(booster)
        expected = booster.predict(xgboost.DMatrix(x))
    else:
        import lightgbm

        parameters = {"num_leaves": leaves, "max_depth": 3, "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1, "seed": seed, "deterministic": True}
        booster = lightgbm.train(parameters, lightgbm.Dataset(x, label=y, params={"verbose": -1}), rounds)
        model = get_model("lightgbm")(booster)
        expected = booster.predict(x)
    assert np.array_equal(model.predict(x), expected)
    assert model._forest
    assert np.array_equal(np.concatenate([model.predict(x[i : i + 1]) for i in range(min(rows, 20))]), expected[:20])


def test_deeper_trees_are_left_to_their_library(data):
    x, _, top1 = data
    model = get_model("random_forest")()
    model.fit(x[:300], top1[:300], x[300:400], top1[300:400], seed=0)
    predicted = model.predict(x[400:450])
    assert model._forest is False  # depth 14: not compiled
    assert np.array_equal(predicted, library(model, x[400:450]))


def test_a_shallow_leaf_is_padded_to_the_full_depth():
    # root splits on feature 2 at 5.0 (go right when x >= 5); its left child is a leaf (1.0); its right splits on feature 0 at 0.5
    from accelbench.surrogate.trees import _pad

    left, right = np.array([1, -1, 3, -1, -1]), np.array([2, -1, 4, -1, -1])
    feature, threshold = np.array([2, 0, 0, 0, 0]), np.array([5.0, 0, 0.5, 0, 0])
    value = np.array([0.0, 1.0, 0.0, 2.0, 3.0])
    padded = _pad(left, right, feature, threshold, value, np.array([0]))
    forest = Forest(*padded, base=10.0, float32=False)
    x = np.array([[0.0, 0, 4.0], [0.0, 0, 6.0], [1.0, 0, 6.0]])
    assert forest.predict(x).tolist() == [11.0, 12.0, 13.0]
    assert forest.predict(np.tile(x, (40, 1))).tolist() == [11.0, 12.0, 13.0] * 40


@pytest.mark.parametrize("model", [BlockAdditiveModel, BlockQueueModel])
def test_members_that_share_their_work_answer_as_each_alone(data, model):
    x, log_throughput, _ = data
    members = []
    for seed in range(3):
        member = model(unit="rate", log=True)
        member.fit(x[:500], log_throughput[:500], x[500:600], log_throughput[500:600], seed=seed)
        members.append(member)
    together = predict_members(members, x[600:])
    assert all(np.array_equal(t, member.predict(x[600:])) for t, member in zip(together, members))
    assert not np.array_equal(together[0], together[1])  # the seeds differ in their residual trees


def test_a_benchmark_answers_in_chunks_as_in_one_go_and_no_rows_with_no_rows(small_fit, tmp_path, monkeypatch):
    from accelbench.search_space import sample
    from accelbench.surrogate import benchmark as benchmark_module, saved
    from accelbench.surrogate.benchmark import Benchmark

    fits, settings, _ = small_fit
    saved.save(fits, tmp_path, settings)
    benchmark = Benchmark.load(tmp_path)
    x = features(sample(150, 5))
    whole = benchmark.predict_features(x, benchmark.target_names)
    monkeypatch.setattr(benchmark_module, "CHUNK", 7)  # 22 chunks, the last one short; some below SERIAL_ROWS
    chunked = benchmark.predict_features(x, benchmark.target_names)
    for name in benchmark.target_names:
        assert np.array_equal(whole[name][0], chunked[name][0]) and np.array_equal(whole[name][1], chunked[name][1])
    empty = benchmark.query(sample(0, 1))
    assert len(empty) == 0 and list(empty.columns) == list(benchmark.query(sample(1, 1)).columns)
