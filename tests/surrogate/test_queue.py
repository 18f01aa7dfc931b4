"""The host-launch queue of the structured device model: execution order, the queue's time and gradient,
host costs per launch kind, and a fit that finds planted launch-bound costs the sum of blocks cannot."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from accelbench.search_space import from_index, sample
from accelbench.search_space.blocks import blocks_of
from accelbench.surrogate.additive import QUEUE_POWER, block_counts, block_keys, block_layers, block_physics, fit_queue, launch_kinds, layer_sequence, queue_time, queue_times, relative_nnls
from accelbench.surrogate.features import features
from accelbench.surrogate.models import get_model
from accelbench.surrogate.models.block_additive import BlockQueueModel

ARCHITECTURES = sample(600, seed=5)
X = features(ARCHITECTURES)
SEQUENCE = layer_sequence(block_layers(X))
BLOCKS = len(block_keys())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**11 - 1), min_size=1, max_size=4))
def test_the_layer_sequence_is_the_network_in_execution_order(indices):
    architectures = [from_index(index) for index in indices]
    sequence = layer_sequence(block_layers(features(architectures)))
    for row, architecture in zip(sequence, architectures):
        keys = [block_keys()[column] for column in row if column != BLOCKS]
        assert keys == [block.key for block in blocks_of(architecture)]
        assert (row[len(keys):] == BLOCKS).all()  # padding only after the head


def hard_queue(sequence: np.ndarray, device: np.ndarray, host: np.ndarray) -> np.ndarray:
    """The queue written out one architecture and position at a time: max over k of launched-by-k + left-from-k."""
    times = []
    for row in sequence:
        layers = [column for column in row if column != BLOCKS]
        times.append(max(sum(host[c] for c in layers[: k + 1]) + sum(device[c] for c in layers[k:]) for k in range(len(layers))))
    return np.array(times)


def rows_sum(rows: np.ndarray, costs: np.ndarray) -> np.ndarray:
    return np.append(costs, 0.0)[rows].sum(axis=1)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 3.0))
def test_queue_time_is_the_launch_queue_within_its_smoothing(seed, host_scale):
    rng = np.random.default_rng(seed)
    device, host = rng.uniform(0, 1, BLOCKS), host_scale * rng.uniform(0, 1, BLOCKS)
    rows = SEQUENCE[:40]
    exact = hard_queue(rows, device, host)
    smooth = queue_time(rows, device, host)
    positions = (rows != BLOCKS).sum(axis=1)
    assert (smooth >= exact * (1 - 1e-12)).all() and (smooth <= exact * positions ** (1 / QUEUE_POWER) * (1 + 1e-12)).all()
    assert (exact >= rows_sum(rows, device) * (1 - 1e-12)).all()  # never faster than the device alone


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 3.0), st.integers(1, 300))
def test_the_compiled_queue_answers_as_the_sequence_matrix_does(seed, host_scale, rows):
    rng = np.random.default_rng(seed)
    device, host = rng.uniform(0, 1, BLOCKS), host_scale * rng.uniform(0, 1, BLOCKS)
    x = features(sample(rows, seed % 1000))
    layers = block_layers(x)
    assert np.allclose(queue_times(layers, device, host), queue_time(layer_sequence(layers), device, host), rtol=1e-13, atol=0)


def test_queue_time_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    device, host = rng.uniform(0.1, 1, BLOCKS), rng.uniform(0.1, 1, BLOCKS)
    rows = SEQUENCE[:50]
    _, by_device, by_host = queue_time(rows, device, host, gradient=True)
    weights = rng.normal(size=len(rows))
    for costs, by_position, other in ((device, by_device, "host"), (host, by_host, "device")):
        analytic = np.bincount(rows.ravel(), weights=(by_position * weights[:, None]).ravel(), minlength=BLOCKS + 1)[:BLOCKS]
        for block in rng.choice(np.flatnonzero(analytic != 0), 8, replace=False):
            step = np.zeros(BLOCKS)
            step[block] = 1e-6
            if other == "host":
                numeric = (queue_time(rows, device + step, host) - queue_time(rows, device - step, host)) @ weights / 2e-6
            else:
                numeric = (queue_time(rows, device, host + step) - queue_time(rows, device, host - step)) @ weights / 2e-6
            assert np.isclose(analytic[block], numeric, rtol=1e-5, atol=1e-8)


def test_launch_kinds_share_what_a_host_launches():
    kind, names = launch_kinds()
    keys = block_keys()
    assert names[kind[keys.index("s3-e6k5se-first")]] == "expand-se-first"
    assert names[kind[keys.index("s0-e1k3-repeat")]] == "no-expand-repeat"
    assert kind[keys.index("s1-e4k3-repeat")] == kind[keys.index("s6-e6k5-repeat")]  # sizes do not matter
    assert kind[keys.index("s1-e4k3-repeat")] != kind[keys.index("s1-e4k3se-repeat")]
    assert {names[kind[keys.index(k)]] for k in ("stem", "head")} == {"stem", "head"}
    assert len(names) == 10


def planted_launch_bound_times(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device costs from the blocks' MACs and activations, one host cost per launch kind about a median
    layer's device cost: small networks of cheap layers wait on the host, large ones do not. Times from
    the exact queue."""
    rng = np.random.default_rng(seed)
    kind, names = launch_kinds()
    physics = block_physics()
    work = physics[:, 0] + physics[:, 1] + 10 * physics[:, 2]  # pointwise and depthwise MACs, activations
    device = work / np.median(work[work > 0])
    device[block_keys().index("stem")] = device[block_keys().index("head")] = 0.5
    host = rng.uniform(0.7, 1.3, len(names))[kind]
    return device, host, hard_queue(SEQUENCE, device, host)


def test_the_queue_fit_finds_planted_launch_costs_that_the_sum_of_blocks_misses():
    device, host, time = planted_launch_bound_times()
    assert 0.1 < (time > rows_sum(SEQUENCE, device) * 1.1).mean() < 0.9  # some networks launch-bound, others not
    train, held = np.arange(450), np.arange(450, 600)
    counts = block_counts(X)
    summed = relative_nnls(counts[train], time[train], penalty=1e-4)
    start_host = np.full(len(launch_kinds()[1]), 0.5 * np.median(time) / np.median(counts.sum(axis=1)))
    fitted_device, fitted_host = fit_queue(SEQUENCE[train], time[train], np.ones(len(train)), summed, start_host)
    kind, _ = launch_kinds()
    assert (fitted_device >= 0).all() and (fitted_host >= 0).all()
    assert all(np.ptp(fitted_host[kind == k]) == 0 for k in np.unique(kind))  # one host cost per kind
    queue_error = np.abs(queue_time(SEQUENCE[held], fitted_device, fitted_host) / time[held] - 1)
    sum_error = np.abs(counts[held] @ summed / time[held] - 1)
    assert np.median(queue_error) < 0.25 * np.median(sum_error), (np.median(queue_error), np.median(sum_error))
    assert kendalltau(queue_time(SEQUENCE[held], fitted_device, fitted_host), time[held]).statistic > kendalltau(counts[held] @ summed, time[held]).statistic


def test_the_structured_model_weights_rows_by_the_trust_in_their_measurement():
    device, host, time = planted_launch_bound_times(seed=3)
    rng = np.random.default_rng(4)
    spoiled = rng.uniform(size=len(time)) < 0.15
    measured = np.where(spoiled, time * rng.uniform(1.3, 2.0, len(time)), time)  # unsteady measurements, recorded as such
    weight = np.where(spoiled, 1e-4, 1.0)
    train, held = np.arange(450), np.arange(450, 600)
    errors = {}
    for name, w in (("weighted", weight[train]), ("unweighted", None)):
        model = BlockQueueModel(unit="time", residual=False)
        model.fit(X[train], measured[train], X[held], measured[held], seed=0, weight=w)
        errors[name] = np.median(np.abs(model.predict(X[held]) / time[held] - 1))
    assert errors["weighted"] < 0.5 * errors["unweighted"], errors


def test_a_queue_model_round_trips_with_its_host_costs_and_refuses_tampered_ones(tmp_path):
    device, host, time = planted_launch_bound_times(seed=5)
    model = BlockQueueModel(unit="time")
    model.fit(X[:450], time[:450], X[450:], time[450:], seed=0)
    loaded = get_model("block_queue").load(tmp_path / model.save(tmp_path / "member0"))
    assert np.array_equal(loaded.host, model.host) and np.array_equal(loaded.predict(X), model.predict(X))
    path = tmp_path / "member0.json"
    text = path.read_text()
    start = text.index('"host_cost_per_block"')
    path.write_text(text[:start] + text[start:].replace('"stem": ', '"stem": -1', 1))
    with pytest.raises(ValueError, match="host_cost_per_block: block costs must be finite and non-negative"):
        BlockQueueModel.load(path)


def test_a_fit_writes_the_learned_block_table_with_host_costs_and_its_plot(reference_frame, tmp_path):
    from accelbench.surrogate.fit import FitSettings, fit_all
    from accelbench.workflows.surrogates import write_fit

    frame = reference_frame.iloc[:900]
    settings = FitSettings(models=("block_queue",), members=2, calibration_folds=2)
    fits = fit_all(frame, ["throughput_3090"], settings, log=io.StringIO())
    write_fit(fits, settings, tmp_path / "fit")
    table = pd.read_csv(tmp_path / "fit" / "blocks_throughput_3090.csv")
    assert table["block"].tolist() == list(block_keys())
    assert (table[["ms_per_image", "host_ms_per_image"]] >= 0).all().all() and table["host_ms_per_image"].max() > 0
    kind, _ = launch_kinds()
    assert all(table["host_ms_per_image"][kind == k].nunique() == 1 for k in np.unique(kind))
    assert np.isclose(table.loc[table["block"] == "head", "host_ms_per_image"].item(), 1000 * np.mean([m.host_table()["head"] for m in fits[0].members]))
    assert fits[0].model == "block_queue" and (tmp_path / "fit" / f"block_costs_{fits[0].target}.png").stat().st_size > 10_000
