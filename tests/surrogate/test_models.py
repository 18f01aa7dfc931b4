"""Every registered model learns, saves in its library's non-pickle format and loads to identical predictions."""

from __future__ import annotations

import numpy as np
import pytest

from accelbench.surrogate.features import features
from accelbench.surrogate.metrics import evaluate
from accelbench.surrogate.models import MODELS, SurrogateError, get_model


@pytest.fixture(scope="module")
def data(reference_frame):
    frame = reference_frame.dropna(subset=["throughput_a100"]).iloc[:900]
    x, y = features(frame), np.log(frame["throughput_a100"].to_numpy())
    return x[:600], y[:600], x[600:750], y[600:750], x[750:], y[750:]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_learns_and_round_trips_without_pickle(name, data, tmp_path):
    x, y, x_val, y_val, x_test, y_test = data
    options = {"unit": "rate", "log": True} if name.startswith("block_") else {}  # y is log(throughput)
    model = get_model(name)(**options)
    model.fit(x, y, x_val, y_val, seed=0)
    predicted = model.predict(x_test)
    assert evaluate(y_test, predicted)["kendall_tau"] > 0.7
    file = model.save(tmp_path / "member0")
    content = (tmp_path / file).read_bytes()
    assert not content.startswith(b"\x80"), "a pickle"
    assert file.endswith((".json", ".ubj", ".txt"))
    loaded = get_model(name).load(tmp_path / file)
    assert np.allclose(loaded.predict(x_test), predicted, rtol=1e-6, atol=1e-9)


def boosting_rounds(model) -> int:
    booster = model.booster
    return booster.num_trees() if hasattr(booster, "num_trees") else booster.num_boosted_rounds()


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "linear", "block_queue_robust"])
def test_a_model_fitted_at_a_chosen_capacity_needs_no_validation_split(name, data):
    x, y, x_val, y_val, x_test, y_test = data
    options = {"unit": "rate", "log": True} if name.startswith("block_") else {}
    chosen = get_model(name)(**options)
    chosen.fit(x[:300], y[:300], x_val, y_val, seed=0)
    refit = get_model(name)(**options)
    refit.fit(x, y, None, None, seed=1, capacity=chosen.capacity)  # twice the rows, no validation split
    if name == "linear":
        assert refit.penalty == chosen.penalty
    else:
        assert chosen.capacity["rows"] == 300 and refit.capacity["rows"] == 600
        assert boosting_rounds(refit) == chosen.capacity["rounds"] == refit.capacity["rounds"]
    assert evaluate(y_test, refit.predict(x_test))["kendall_tau"] > 0.7


def test_linear_model_names_its_coefficients(data, tmp_path):
    x, y, x_val, y_val, _, _ = data
    model = get_model("linear")()
    model.fit(x, y, x_val, y_val, seed=0)
    assert {"block3_e=6", "block5_l=4", "block0_se=1", "macs", "params"} <= set(model.coefficients)
    assert model.coefficients["block3_e=6"] < 0  # wider stages are slower: less throughput


def test_unknown_model_is_refused():
    with pytest.raises(SurrogateError, match="model='svm' is unknown; choices are xgboost, lightgbm, random_forest, linear"):
        get_model("svm")
