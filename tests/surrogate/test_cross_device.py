"""Block-additive costs, device descriptors, shot selection and the cross-device predictor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from accelbench.search_space import count_macs, from_index, sample
from accelbench.search_space.blocks import blocks_of
from accelbench.search_space.sampling import sample_spread, spread_indices
from accelbench.surrogate.additive import block_counts, block_keys, block_physics, relative_nnls
from accelbench.surrogate.cross_device import CrossDevicePredictor, select_shots
from accelbench.surrogate.devices import Device, load_devices
from accelbench.surrogate.features import features
from accelbench.surrogate.models import get_model
from accelbench.surrogate.models.base import SurrogateError
from accelbench.surrogate.models.block_additive import BlockAdditiveModel

ARCHITECTURES = sample(400, seed=21)
X = features(ARCHITECTURES)
COUNTS = block_counts(X)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**11 - 1))
def test_block_counts_are_the_blocks_of_the_network(index):
    architecture = from_index(index % 10**11)
    counts = block_counts(features([architecture]))[0]
    expected = np.zeros(len(block_keys()))
    for block in blocks_of(architecture):
        expected[block_keys().index(block.key)] += 1
    assert np.array_equal(counts, expected)


def test_block_physics_adds_up_to_the_closed_form_macs():
    physics = block_physics()
    macs = COUNTS @ (physics[:, 0] + physics[:, 1])  # pointwise + depthwise MACs of the MBConv layers
    from accelbench.search_space.complexity import count_macs as closed_form

    conv_only = np.array([closed_form(a, convention="conv_linear") for a in ARCHITECTURES])
    differences = conv_only - macs  # stem, head, classifier and squeeze-excite: the same for every network but SE
    assert np.ptp(differences[X[:, 29] == 0]) < 0.01 * conv_only.min()  # X[:, 29]: squeeze-excite layers


def test_relative_nnls_recovers_non_negative_costs():
    rng = np.random.default_rng(0)
    costs = rng.uniform(0, 1, len(block_keys())) * (rng.uniform(size=len(block_keys())) > 0.3)
    time = COUNTS @ costs
    fitted = relative_nnls(COUNTS, time)
    assert (fitted >= 0).all()
    assert np.allclose(COUNTS @ fitted, time, rtol=1e-6)


def test_the_residual_trees_learn_what_the_sum_of_blocks_misses():
    costs = np.linspace(0.1, 1.0, len(block_keys()))
    depth = COUNTS.sum(axis=1)
    time = COUNTS @ costs * np.where(depth > np.median(depth), 1.5, 1.0)  # not additive: deep networks pay more per block
    train, held = np.arange(300), np.arange(300, 400)
    errors = {}
    for residual in (False, True):
        model = BlockAdditiveModel(unit="time", residual=residual)
        model.fit(X[train], time[train], X[held], time[held], seed=0)
        errors[residual] = np.abs(model.predict(X[held]) / time[held] - 1).mean()
    assert errors[True] < 0.5 * errors[False], errors


def test_block_additive_model_round_trip_and_tampering(tmp_path):
    model = BlockAdditiveModel(unit="rate")
    rate = 1.0 / (COUNTS @ np.linspace(0.1, 1.0, len(block_keys())))
    model.fit(X, rate, X, rate, seed=0)
    assert np.allclose(model.predict(X), rate, rtol=1e-4)
    name = model.save(tmp_path / "member0")
    loaded = get_model("block_additive").load(tmp_path / name)
    assert loaded.unit == "rate" and np.array_equal(loaded.predict(X), model.predict(X))
    text = (tmp_path / name).read_text().replace('"stem": ', '"stem": -', 1)
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match="non-negative"):
        BlockAdditiveModel.load(tmp_path / name)
    with pytest.raises(SurrogateError, match="unit='fps'"):
        BlockAdditiveModel(unit="fps")


def test_a_model_without_host_costs_is_the_sum_of_its_blocks_and_stays_so(tmp_path):
    costs = np.linspace(0.1, 1.0, len(block_keys()))
    model = BlockAdditiveModel(costs, unit="time", residual=False)  # as cross-device transfers make them, and files saved before host costs
    assert np.allclose(model.predict(X), COUNTS @ costs, rtol=1e-12)
    loaded = get_model("block_additive").load(tmp_path / model.save(tmp_path / "member0"))
    assert loaded.host is None and np.array_equal(loaded.predict(X), model.predict(X))


# --- descriptors ---

GOOD = """[devices.mine]
family = "cpu"
precision = "fp32"
peak_tops = 1.2
bandwidth_gbs = 40
compute_units = 8
batch = 1
source = "vendor datasheet, table 3"
"""


def test_the_reference_descriptors_load_with_their_sources():
    devices = load_devices()
    assert set(devices) == {"a100", "3090", "tpuv2", "tpuv3", "zcu102", "vck190"}
    assert all(len(d.source) > 40 and d.peak_tops > 0 for d in devices.values())
    assert devices["a100"].peak_tops > devices["3090"].peak_tops > devices["zcu102"].peak_tops


@pytest.mark.parametrize("change, message", [
    (('family = "cpu"', 'family = "npu"'), "family='npu'"),
    (("peak_tops = 1.2", "peak_tops = -1"), "peak_tops=-1 is not allowed"),
    (("compute_units = 8", "compute_units = 8.5"), "compute_units=8.5 is not allowed; it must be an integer"),
    (("batch = 1", "batch = true"), "batch=True is not allowed"),
    (('source = "vendor datasheet, table 3"', 'source = "?"'), "where the figures come from"),
    (("bandwidth_gbs = 40\n", "bandwidth_gbs = 40\nclock_ghz = 3\n"), "unknown key devices.mine.clock_ghz"),
    (("bandwidth_gbs = 40\n", ""), "devices.mine.bandwidth_gbs is missing"),
    (("[devices.mine]", "[devices.mine"), "not valid TOML"),
])
def test_bad_descriptors_are_refused_with_the_reason(tmp_path, change, message):
    path = tmp_path / "devices.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SurrogateError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_devices(path)
    path.write_text(GOOD)
    assert load_devices(path)["mine"].family == "cpu"


# --- selection ---

def test_shots_spread_over_macs_and_depend_only_on_the_seed():
    pool = np.arange(len(ARCHITECTURES))
    first, again, other = select_shots(X, pool, 10, seed=1), select_shots(X, pool, 10, seed=1), select_shots(X, pool, 10, seed=2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    order = sorted(range(len(pool)), key=lambda i: (X[i, 32], i))  # X[:, 32]: MACs
    assert sorted(order.index(i) // 40 for i in first) == list(range(10))  # one per decile of MACs
    with pytest.raises(SurrogateError, match="only 400 measured"):
        select_shots(X, pool, 401, seed=0)
    with pytest.raises(SurrogateError, match="non-negative integer"):
        select_shots(X, pool, 10, seed=-1)


def ranking_uncertainty_after(shots: np.ndarray, seed: int) -> float:
    """The summed posterior variance of the reference sample's centred log-times after `shots`, under the
    deviation prior and the selection's guessed costs: what `select_shots` lowers bin by bin."""
    from accelbench.surrogate.cross_device import DEVIATION_VARIANCE, SHOT_NOISE, deviation_kernel, reference_shares, selection_costs, time_shares

    shares, reference = time_shares(COUNTS[shots], selection_costs()), reference_shares(seed)
    prior = DEVIATION_VARIANCE * deviation_kernel()
    seen = shares @ prior
    posterior = prior - seen.T @ np.linalg.solve(seen @ shares.T + SHOT_NOISE * np.eye(len(shots)), seen)
    return float(np.einsum("ij,jk,ik->", reference, posterior, reference))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_chosen_shots_pin_the_ranking_down_better_than_one_drawn_per_bin(seed):
    pool = np.arange(len(ARCHITECTURES))
    chosen = select_shots(X, pool, 8, seed)
    drawn = pool[spread_indices(X[:, 32].tolist(), 8, seed)]  # X[:, 32]: MACs; one at random from each of the same bins
    assert ranking_uncertainty_after(chosen, seed) < ranking_uncertainty_after(drawn, seed)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=60), st.integers(0, 2**31), st.data())
def test_spread_indices_pick_one_per_quantile_bin(values, seed, data):
    k = data.draw(st.integers(0, len(values)))
    picked = spread_indices(values, k, seed)
    assert len(picked) == len(set(picked)) == k
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    positions = sorted(order.index(p) for p in picked)
    for bin_number, position in enumerate(positions):
        assert round(bin_number * len(values) / k) <= position < max(round((bin_number + 1) * len(values) / k), round(bin_number * len(values) / k) + 1)


def test_a_spread_sample_spans_the_cost_range():
    spread = sample_spread(8, seed=3)
    assert spread == sample_spread(8, seed=3) and len(set(spread)) == 8
    uniform_macs = sorted(count_macs(a) for a in sample(400, seed=3))
    spread_macs = sorted(count_macs(a) for a in spread)
    assert spread_macs[0] <= uniform_macs[len(uniform_macs) // 8] and spread_macs[-1] >= uniform_macs[-len(uniform_macs) // 8]


# --- the predictor ---

def synthetic_sources(rng):
    base = rng.uniform(0.2, 1.0, len(block_keys()))
    se = np.array([key.endswith(("se-first", "se-repeat")) for key in block_keys()])
    early = np.array([key.startswith(("s0", "s1")) for key in block_keys()])
    sources = {"latency_gpu1": base * (1 + 0.2 * early), "latency_gpu2": base * (1 + 0.8 * se), "latency_fpga1": base * (1 + 2.0 * early)}
    return sources, base, se, early


def descriptors(**targets: Device) -> dict[str, Device]:
    def device(family, peak):
        return Device(name="x", family=family, precision="fp16", peak_tops=peak, bandwidth_gbs=500, compute_units=10, batch=1, source="synthetic test device")

    return {"gpu1": device("gpu", 100), "gpu2": device("gpu", 50), "fpga1": device("fpga-dpu", 3), **targets}


def test_shots_recover_a_new_device_that_mixes_the_sources_and_weighs_a_group_differently(monkeypatch):
    import accelbench.surrogate.cross_device as cross_device

    rng = np.random.default_rng(5)
    sources, base, se, early = synthetic_sources(rng)
    # its own mix of the sources, early stages a little dearer still, its own scale
    truth = (0.5 * sources["latency_gpu2"] + 2.0 * sources["latency_fpga1"]) * (1 + 0.3 * early) * 3.0
    time = COUNTS @ truth
    predictor = CrossDevicePredictor(sources, descriptors(new=descriptors()["gpu2"]))
    shots = select_shots(X, np.arange(300), 50, seed=0)

    def held_out_tau(shots):
        fit = predictor.fit("latency_new", X, time, shots)
        return kendalltau(time[300:], fit.members[0].predict(X[300:])).statistic, fit

    tau, fit = held_out_tau(shots)
    tau_zero, _ = held_out_tau(np.array([], dtype=int))
    assert tau > 0.95 and tau > tau_zero + 0.05
    assert np.median(np.abs(fit.members[0].predict(X[300:]) / time[300:] - 1)) < 0.01
    members = np.array([m.predict(X) for m in fit.members])
    assert (members.std(axis=0) > 0).all() and (members > 0).all()
    assert np.allclose(members.mean(axis=0), members[0], rtol=1e-12)  # posterior draws in antithetic pairs: the mean is the posterior mean
    again = predictor.fit("latency_new", X, time, shots)
    assert all(np.array_equal(a.costs, b.costs) for a, b in zip(fit.members, again.members))
    assert not np.array_equal(predictor.fit("latency_new", X, time, shots, seed=1).members[1].costs, fit.members[1].costs)
    monkeypatch.setattr(cross_device, "DEVIATION_VARIANCE", 1e-12)  # the combination alone: no block deviates from it
    tau_without, _ = held_out_tau(shots)
    assert tau > tau_without
    with pytest.raises(SurrogateError, match="odd number"):
        predictor.fit("latency_new", X, time, shots, members=4)


def test_zero_shot_weighs_the_most_similar_device_most():
    rng = np.random.default_rng(6)
    sources, *_ = synthetic_sources(rng)
    new_fpga = Device(name="x", family="fpga-dpu", precision="fp16", peak_tops=4, bandwidth_gbs=500, compute_units=10, batch=1, source="synthetic test device")
    predictor = CrossDevicePredictor(sources, descriptors(newfpga=new_fpga))
    _, weights = predictor.zero_shot_costs("latency_newfpga")
    assert predictor.names[int(np.argmax(weights))] == "latency_fpga1" and weights.sum() == pytest.approx(1.0)
    fit = predictor.fit("latency_newfpga", X, np.full(len(X), np.nan), np.array([], dtype=int))
    assert len(fit.members) == 5 and len({tuple(m.costs) for m in fit.members}) > 1  # members leave one source out each


def test_the_predictor_refuses_what_it_cannot_do():
    rng = np.random.default_rng(7)
    sources, *_ = synthetic_sources(rng)
    with pytest.raises(SurrogateError, match="no descriptor for device fpga1"):
        CrossDevicePredictor(sources, {k: v for k, v in descriptors().items() if k != "fpga1"})
    predictor = CrossDevicePredictor(sources, descriptors())
    with pytest.raises(SurrogateError, match="its own records cannot be a source"):
        predictor.fit("throughput_gpu1", X, np.ones(len(X)), np.arange(5))
    with pytest.raises(SurrogateError, match="no descriptor for device unknown"):
        predictor.zero_shot_costs("latency_unknown")
