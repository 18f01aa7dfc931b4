"""Calibrated intervals: the conformal quantile's guarantee, coverage on held-out records near the
stated level (where the ensemble's own spread is far off), and intervals that survive saving."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from accelbench.search_space import sample
from accelbench.surrogate import saved
from accelbench.surrogate.benchmark import Benchmark
from accelbench.surrogate.fit import FitSettings, conformal_half_width, fit_all, interval_bounds
from accelbench.surrogate.models import SurrogateError

LEVEL = 0.95


def coverage(measured: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    return float(np.mean((low <= measured) & (measured <= high)))


def in_band(value: float) -> bool:
    return 0.93 <= value <= 0.97


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300), st.floats(0.5, 0.99))
def test_the_conformal_quantile_covers_at_least_the_level_of_its_scores(scores, level):
    half_width = conformal_half_width(np.array(scores), level)
    if np.isinf(half_width):  # too few scores for the level: an honest "unbounded"
        assert np.ceil((len(scores) + 1) * level) > len(scores)
    else:
        assert np.mean(np.array(scores) <= half_width) >= level * len(scores) / (len(scores) + 1) - 1e-12


@pytest.fixture(scope="module")
def interval_fit(reference_frame):
    """A100 throughput and accuracy on every shared record: the test split has ~715 rows."""
    settings = FitSettings(models=("lightgbm", "block_additive"), members=3, interval_level=LEVEL, calibration_folds=10)
    return fit_all(reference_frame, ["throughput_a100", "val_top1"], settings, log=io.StringIO()), settings


def test_conformal_intervals_cover_the_level_where_the_ensemble_spread_does_not(interval_fit, reference_frame):
    fits, _ = interval_fit
    for fit in fits:
        low, high = interval_bounds(fit.test_predicted, fit.transform, fit.interval)
        assert fit.coverage == coverage(fit.test_measured, low, high)
        assert in_band(fit.coverage), (fit.target, fit.coverage)
        # the check can fail: intervals from the raw ensemble spread are far from 95%
        from accelbench.surrogate.features import features
        from accelbench.surrogate.fit import split_of

        test = split_of(reference_frame["arch_id"], FitSettings()) == "test"
        known = test & reference_frame[fit.target].notna().to_numpy()
        mean, std = fit.predict(features(reference_frame[known]))
        assert not in_band(coverage(fit.test_measured, mean - 1.96 * std, mean + 1.96 * std)), fit.target


def test_intervals_are_saved_queried_and_checked(interval_fit, tmp_path):
    fits, settings = interval_fit
    saved.save(fits, tmp_path / "fit", settings)
    benchmark = Benchmark.load(tmp_path / "fit")
    assert benchmark.interval_levels == {"throughput_a100": LEVEL, "val_top1": LEVEL}
    result = benchmark.query(sample(40, 3))
    for target in ("throughput_a100", "val_top1"):
        assert (result[f"{target}_lo"] < result[f"{target}_mean"]).all() and (result[f"{target}_mean"] < result[f"{target}_hi"]).all()
    index_path = tmp_path / "fit" / saved.INDEX
    index = json.loads(index_path.read_text())
    index["targets"]["val_top1"]["interval"] = {"level": 95, "half_width": -1}
    index_path.write_text(json.dumps(index))
    with pytest.raises(SurrogateError, match=r"targets.val_top1.interval=.* must give a level in \(0, 1\)"):
        Benchmark.load(tmp_path / "fit")


def test_a_target_without_calibration_has_no_interval_rather_than_a_made_up_one():
    low, high = interval_bounds(np.array([1.0, 2.0]), "log", None)
    assert np.isnan(low).all() and np.isnan(high).all()


def test_interval_settings_are_checked():
    with pytest.raises(SurrogateError, match="interval_level=1.2 is not allowed"):
        FitSettings(interval_level=1.2)
    with pytest.raises(SurrogateError, match="calibration_folds=1 is not allowed"):
        FitSettings(calibration_folds=1)
