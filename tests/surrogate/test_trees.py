"""The flat tree walk (a few rows at a time) answers as the libraries do (a batch)."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.features import features
from surrogate.models import get_model
from surrogate.models.block_additive import BlockAdditiveModel
from surrogate.trees import SMALL_BATCH, _pad


@pytest.fixture(scope="module")
def data(reference_frame):
    frame = reference_frame.dropna(subset=["throughput_a100"]).iloc[:700]
    return features(frame), np.log(frame["throughput_a100"].to_numpy()), frame["val_top1"].to_numpy()


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "block_additive"])
def test_a_few_rows_at_a_time_give_the_batch_answer(name, data):
    x, log_throughput, top1 = data
    model = BlockAdditiveModel(unit="rate", log=True) if name == "block_additive" else get_model(name)()
    y = log_throughput if name == "block_additive" else top1
    model.fit(x[:500], y[:500], x[500:600], y[500:600], seed=0)
    batch = model.predict(x[600:])
    assert len(x[600:]) > SMALL_BATCH
    rows = np.concatenate([model.predict(x[i : i + 1]) for i in range(600, 700)])
    assert model._forest is not None  # the flat walk answered
    assert np.allclose(rows, batch, rtol=1e-12, atol=0)  # XGBoost's float32 sum is kept in its order; LightGBM's double sum to rounding


def test_a_shallow_leaf_is_padded_to_the_full_depth():
    # root splits on feature 2 at 5.0; its left child is a leaf (1.0); its right splits on feature 0 at 0.5
    nodes = [(2, 5.0, 1, 2, 0.0), (0, 0.0, -1, -1, 1.0), (0, 0.5, 3, 4, 0.0), (0, 0.0, -1, -1, 2.0), (0, 0.0, -1, -1, 3.0)]
    feature, threshold, leaf = _pad(nodes, depth=2)
    from surrogate.trees import Forest

    forest = Forest(feature[None], threshold[None], leaf[None], base=10.0, float32=False)
    x = np.array([[0.0, 0, 4.0], [0.0, 0, 6.0], [1.0, 0, 6.0]])
    assert forest.predict(x).tolist() == [11.0, 12.0, 13.0]
