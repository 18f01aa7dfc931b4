"""Fitting: choice on validation, ensembles with spread, stable splits, deterministic files, the query API."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from accelbench.search_space import sample
from accelbench.surrogate import saved
from accelbench.surrogate.benchmark import Benchmark
from accelbench.surrogate.features import features
from accelbench.surrogate.fit import FitSettings, fit_all, measurement_weights, split_of
from accelbench.surrogate.models import SurrogateError


def test_fit_reports_held_out_metrics_and_ensemble_spread(small_fit):
    fits, settings, frame = small_fit
    by_target = {fit.target: fit for fit in fits}
    assert by_target["val_top1"].test["kendall_tau"] > 0.75
    assert by_target["throughput_a100"].test["kendall_tau"] > 0.85
    for fit in fits:
        assert set(fit.validation) <= {f"{m}/{t}" for m in settings.models for t in settings.transforms}
        assert fit.validation[f"{fit.model}/{fit.transform}"] == max(fit.validation.values())
        _, std = fit.predict(features(frame.iloc[:50]))
        assert (std > 0).any()
        assert fit.rows["test"] + fit.rows["validation"] + fit.rows["train"] <= len(frame)
        learned = fit.rows["train"] + fit.rows["validation"]  # the members learn from the validation rows too
        assert all(member.capacity["rows"] == learned for member in fit.members if fit.model != "linear")
        assert fit.interval["calibration_rows"] == learned


def test_splits_depend_on_the_architecture_only():
    ids = pd.Series([a.arch_id for a in sample(2000, 4)])
    settings = FitSettings()
    first = split_of(ids, settings)
    shuffled = split_of(ids[::-1].reset_index(drop=True), settings)[::-1]
    assert (first == shuffled).all()
    assert 0.15 < (first == "test").mean() < 0.25 and 0.06 < (first == "validation").mean() < 0.14


def test_saved_surrogates_load_and_query_identically_and_files_are_byte_stable(small_fit, tmp_path):
    fits, settings, frame = small_fit
    saved.save(fits, tmp_path / "a", settings)
    saved.save(fits, tmp_path / "b", settings)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)

    benchmark = Benchmark.load(tmp_path / "a")
    trees = [m for target in benchmark.targets.values() for m in target.members if hasattr(m, "_forest")]
    assert trees and all(m._forest is not None for m in trees)  # converted at load: the first query is warm
    architectures = sample(30, 11)
    result = benchmark.query(architectures)
    assert list(result.columns) == [f"{t}_{c}" for t in ("val_top1", "throughput_a100") for c in ("mean", "std", "lo", "hi")]
    assert (result["throughput_a100_lo"] < result["throughput_a100_mean"]).all() and (result["throughput_a100_mean"] < result["throughput_a100_hi"]).all()
    assert len(result) == 30 and result.notna().all().all()
    expected_mean, _ = {fit.target: fit for fit in fits}["val_top1"].predict(features(architectures))
    assert np.allclose(result["val_top1_mean"], expected_mean)
    frame_result = benchmark.query(pd.DataFrame([a.to_reference() for a in architectures]), ["val_top1"])
    assert np.allclose(frame_result["val_top1_mean"], result["val_top1_mean"])
    with pytest.raises(SurrogateError, match="target 'latency_x' is not in"):
        benchmark.query(architectures, ["latency_x"])


def test_refitting_gives_the_same_models(small_fit):
    fits, settings, frame = small_fit
    again = fit_all(frame, ["val_top1"], settings, log=io.StringIO())[0]
    first = {fit.target: fit for fit in fits}["val_top1"]
    assert np.array_equal(again.test_predicted, first.test_predicted)


def test_unknown_target_is_named(small_fit):
    _, settings, frame = small_fit
    with pytest.raises(SurrogateError, match="targets latency_moon are not in the records"):
        fit_all(frame, ["latency_moon"], settings)


def test_measurement_weights_trust_steady_measurements_more():
    values = np.array([100.0, 100.0, 100.0, 100.0, 50.0])
    spread = np.array([0.0, 0.01, 5.0, np.nan, 25.0])  # exact, steadier than a model gets, 5% off, unrecorded, 50% off
    weight = measurement_weights(values, spread)
    assert np.isclose(weight.mean(), 1.0)
    assert weight[0] == weight[3] and np.isclose(weight[1], weight[0], rtol=1e-3)  # below the model's error, spread earns nothing
    assert weight[0] > 50 * weight[2] > weight[4] > 0
    assert np.array_equal(measurement_weights(values, None), np.ones(5))


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "linear", "block_additive", "block_queue"])
def test_every_model_leans_on_the_rows_it_is_told_to_trust(name):
    from accelbench.surrogate.fit import new_model

    architectures = sample(500, 8)
    x = features(architectures)
    truth = np.log(x[:, 32])  # log MACs: a smooth, learnable target
    rng = np.random.default_rng(2)
    spoiled = rng.uniform(size=len(truth)) < 0.2
    measured = np.where(spoiled, truth + rng.uniform(0.5, 1.0, len(truth)), truth)
    weight = np.where(spoiled, 1e-4, 1.0)
    train, val, held = slice(0, 350), slice(350, 420), slice(420, 500)
    errors = {}
    for label, w in (("weighted", weight[train]), ("unweighted", None)):
        model = new_model(name, "latency_x", "log")
        model.fit(x[train], measured[train], x[val], truth[val], seed=0, weight=w)
        errors[label] = np.median(np.abs(model.predict(x[held]) - truth[held]))
    assert errors["weighted"] < 0.5 * errors["unweighted"], errors
