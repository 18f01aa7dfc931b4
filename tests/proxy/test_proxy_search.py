"""Proxy search: rank statistics on hand-made results, the data subset, the budget of the adaptive
strategy (trainings recorded by a stand-in for `collect` with known costs), the chosen recipe's file,
bad configs; and one small search end to end through the CLI on Ray."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.proxy.config import parse_proxy_config
from accelbench.pipeline.ranking import agreement, pareto_front, seed_to_seed, select
from accelbench.pipeline.sweep import ConfigError
from accelbench.common.errors import InputError
from accelbench.training.folders import subset_samples


# --- rank statistics ---
def test_agreement_counts_what_it_compares_and_excludes():
    reference = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": None}
    assert agreement(reference, reference, resamples=200).kendall_tau == pytest.approx(1.0)
    reversed_ = {arch: -value for arch, value in reference.items() if value is not None}
    assert agreement(reference, reversed_, resamples=0).kendall_tau == pytest.approx(-1.0)
    candidate = {"a": 1.0, "b": 2.0, "c": None, "d": 4.5, "e": float("nan"), "z": 9.0}  # c failed, e diverged, z is not a reference architecture
    result = agreement(reference, candidate, resamples=200)
    assert (result.compared, result.excluded) == (3, 2)  # f has no reference result: not counted against the candidate
    assert result.kendall_tau == pytest.approx(1.0) and result.spearman == pytest.approx(1.0)


def test_ties_give_tau_b_and_the_interval_brackets_the_estimate():
    from scipy.stats import kendalltau

    reference = {str(i): float(v) for i, v in enumerate([1, 2, 2, 3, 4, 4, 5, 6, 7, 8])}
    candidate = {str(i): float(v) for i, v in enumerate([2, 1, 3, 3, 5, 4, 6, 6, 8, 7])}
    result = agreement(reference, candidate, resamples=500)
    assert result.kendall_tau == pytest.approx(kendalltau(list(reference.values()), list(candidate.values())).statistic)
    assert result.kendall_low <= result.kendall_tau <= result.kendall_high < 1.0
    assert agreement(reference, candidate, resamples=500) == result  # seeded: the same interval every time


def test_too_few_architectures_give_no_number():
    result = agreement({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})
    assert result.compared == 2 and math.isnan(result.kendall_tau) and math.isnan(result.kendall_low)


def test_seed_to_seed_needs_two_seeds_and_averages_pairs():
    one = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    two = {"a": 2.0, "b": 1.0, "c": 3.0, "d": 4.0}
    with pytest.raises(InputError, match="at least 2 seeds"):
        seed_to_seed([one])
    assert seed_to_seed([one, two], resamples=100).kendall_tau == pytest.approx(agreement(one, two, resamples=0).kendall_tau)
    assert seed_to_seed([one, one, two], resamples=100).kendall_tau == pytest.approx((1.0 + 2 * agreement(one, two, resamples=0).kendall_tau) / 3)


def test_pareto_front_and_selection_rules():
    points = [(0.9, 1.0), (0.85, 0.3), (0.6, 0.1), (0.5, 0.5), (float("nan"), 0.01)]
    assert pareto_front(points) == [True, True, True, False, False]
    intervals = [agreement({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, values, resamples=0) for values in
                 ({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}, {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0})]
    widened = [type(a)(**{**a.__dict__, "kendall_low": a.kendall_tau - 0.4, "kendall_high": min(1.0, a.kendall_tau + 0.4)}) for a in intervals]
    chosen, rule = select(["full", "swap", "reversed"], widened, [1.0, 0.2, 0.05])
    assert chosen == 1 and "overlaps that of the best (full" in rule  # the reversed one is cheapest but does not overlap
    assert select(["full", "swap", "reversed"], widened, [1.0, 0.2, 0.05], "cost-cap", 0.5)[0] == 1
    with pytest.raises(InputError, match="no candidate costs at most 0.01"):
        select(["full", "swap", "reversed"], widened, [1.0, 0.2, 0.05], "cost-cap", 0.01)


# --- the data subset ---
CLASSES = [f"class{i}" for i in range(10)]
SAMPLES = [(f"{name}/{j:03d}.JPEG", label) for label, name in enumerate(CLASSES) for j in range(20 + label)]


@given(st.integers(2, 10), st.sampled_from([0.1, 0.25, 0.5, 1.0]), st.integers(0, 50))
def test_subset_is_deterministic_and_balanced(count, fraction, seed):
    classes, samples = subset_samples(CLASSES, SAMPLES, (count, fraction, seed), train=True)
    assert (classes, samples) == subset_samples(CLASSES, SAMPLES, (count, fraction, seed), train=True)
    assert len(classes) == count and sorted({label for _, label in samples}) == list(range(count))
    for label, name in enumerate(classes):  # every class keeps ceil(fraction * n) of its own images, relabelled
        own = [path for path, _ in SAMPLES if path.startswith(name + "/")]
        kept = [path for path, new in samples if new == label]
        assert len(kept) == max(1, math.ceil(fraction * len(own))) and set(kept) <= set(own)
    _, validation = subset_samples(CLASSES, SAMPLES, (count, fraction, seed), train=False)
    assert len(validation) == sum(1 for _, label in SAMPLES if CLASSES[label] in classes)  # validation keeps every image of those classes


def test_a_class_keeps_its_images_whatever_else_is_drawn():
    _, all_classes = subset_samples(CLASSES, SAMPLES, (None, 0.5, 3), train=True)
    _, five = subset_samples(CLASSES, SAMPLES, (5, 0.5, 3), train=True)
    chosen = subset_samples(CLASSES, SAMPLES, (5, 0.5, 3), train=True)[0]
    assert {p for p, _ in five} == {p for p, _ in all_classes if p.split("/")[0] in chosen}
    assert subset_samples(CLASSES, SAMPLES, (5, 0.5, 4), train=True)[0] != chosen or subset_samples(CLASSES, SAMPLES, (5, 0.5, 5), train=True)[0] != chosen


def test_the_subset_in_training_data(tiny_data):
    from accelbench.training.data import TrainingData
    from accelbench.training.recipe import get_recipe

    data = TrainingData(tiny_data)
    recipe = get_recipe("smoke").replace(batch_per_device=8, crop_scale_min=0.5, val_crop_ratio=1.0, subset_classes=2, subset_fraction=0.5, subset_seed=0)
    assert recipe.subset == (2, 0.5, 0)
    train = data.split("train", recipe).dataset
    assert data.num_classes((2, 0.5, 0)) == 2 and len(train) == 2 * 8  # 16 per class in the tiny folder, half of each
    assert len(data.split("val", recipe).dataset) == 2 * 8  # every validation image of both


# --- configs ---
def config_values(data: str = "embedded", **sections) -> dict:
    values = {
        "name": "proxy-test",
        "architectures": {"sample": 6, "seed": 1},
        "training": {"recipe": "smoke", "overrides": {"epochs": 2, "lr_peak_epoch": 1, "min_resolution": 24, "max_resolution": 32, "resize_start_epoch": 0,
                                                      "resize_end_epoch": 1, "val_resolution": 32, "validate_last_epochs": 1, "random_weight_epochs": 0,
                                                      "trainability_batch": 16, "trainability_resolution": 32, "batch_per_device": 16},
                     "data": data, "loader_workers": 0, "workers": 2},
        "noise": {"seeds": [1], "architectures": 3},
        "candidates": {"epochs": [1, 2], "max_resolution": [16, 24]},
        "search": {"strategy": "grid"},
    }
    for key, value in sections.items():
        values[key] = value
    return values


@pytest.mark.parametrize("change, message", [
    ({"colour": {}}, "unknown key colour"),
    ({"candidates": {"epoch": [1]}}, "candidates.epoch is not a recipe field"),
    ({"candidates": {"epochs": []}}, "candidates.epochs=[] is not allowed; it must be a non-empty list"),
    ({"candidates": {"epochs": [0]}}, "the candidate epochs=0 is not a valid recipe: epochs=0 is not allowed"),
    ({"candidates": {"epochs": [1], "lr_scaling": "cubic"}}, "candidates.lr_scaling='cubic' is not allowed; choices are none, linear, sqrt"),
    ({"noise": {"seeds": [0], "architectures": 3}}, "noise.seeds=[0] is not allowed; they must differ"),
    ({"noise": {"architectures": 9}}, "noise.architectures=9 is not allowed; it must be at most the 6"),
    ({"search": {"budget_device_s": -1}}, "search.budget_device_s=-1 is not allowed"),
    ({"search": {"strategy": "annealing"}}, "search.strategy='annealing' is not allowed"),
    ({"search": {"budgt": 1}}, "unknown key search.budgt; allowed are strategy, budget_device_s"),
    ({"selection": {"rule": "cost-cap"}}, "needs selection.cost_cap"),
])
def test_bad_configs_name_the_key(change, message):
    with pytest.raises(ConfigError) as error:
        parse_proxy_config(config_values(**change), "proxy.toml")
    assert message in str(error.value) and str(error.value).startswith("proxy.toml: ")


def test_bad_config_exits_2(tmp_path, capsys):
    from tests.pipeline.conftest import to_toml
    from accelbench.workflows.cli import main

    path = tmp_path / "p.toml"
    path.write_text(to_toml(config_values(search={"strategy": "annealing"})))
    assert main(["proxy-search", str(path), "--store", str(tmp_path / "s")]) == 2
    assert "search.strategy='annealing' is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_candidates_scale_the_schedule_and_the_lr():
    from accelbench.proxy.candidates import candidate_recipes

    config = parse_proxy_config(config_values(candidates={"epochs": [1, 2], "batch_per_device": [16, 64], "lr_scaling": "linear"}))
    by_label = {c.label: c.recipe for c in candidate_recipes(config)}
    one = by_label["epochs=1,batch_per_device=16"]
    assert (one.epochs, one.lr_peak_epoch, one.validate_last_epochs) == (1, 0, 1)
    big = by_label["epochs=2,batch_per_device=64"]
    assert big.peak_lr == pytest.approx(4 * config.reference.training.overrides.get("lr", 0.05)) and big.lr_scaling == "linear"
    assert len({r.recipe_id for r in by_label.values()}) == 4


def test_the_chosen_recipe_file_round_trips_into_a_sweep(tmp_path, capsys):
    from accelbench.pipeline.sweep import Sweep
    from accelbench.training.recipe import get_recipe, load_recipe, recipe_toml
    from accelbench.workflows.cli import main

    chosen = get_recipe("smoke").replace(name="proxy-x-chosen", epochs=2, lr_peak_epoch=0, subset_classes=5, subset_fraction=0.5, lr_scaling="sqrt", lr_reference_batch=128)
    path = tmp_path / "chosen.toml"
    path.write_text(recipe_toml(chosen, "tau 0.8 [0.7, 0.9]\ncost 0.2"))
    assert path.read_text().startswith("# tau 0.8") and load_recipe(path) == chosen
    assert main(["recipe", "show", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["recipe_id"] == chosen.recipe_id and shown["peak_lr"] == pytest.approx(chosen.lr * (64 / 128) ** 0.5)
    sweep = Sweep.from_dict({"name": "s", "architectures": {"sample": 1}, "training": {"recipe": "chosen.toml"}}, "s.toml", tmp_path)

    assert sweep.training.resolved_recipe == chosen


# --- the budget of the adaptive strategy, with recorded costs ---
def fake_collect(cost_of, score_of):
    """`collect` for a test: writes each missing training of a sweep with a known cost and score."""
    from accelbench.pipeline.plan import make_plan
    from accelbench.pipeline.records import now, train_row
    from accelbench.pipeline.run import Summary

    def collect(sweep, store, address=None, retry=(), stream=None):
        recipe = sweep.training.resolved_recipe
        with store.lock("test"):
            for task in make_plan(sweep, store, data_id=store.test_data_id).todo:
                result = {"arch_id": task.architecture.arch_id, "recipe_id": recipe.recipe_id, "recipe_name": recipe.name, "seed": task.detail,
                          "status": "ok", "val_top1": score_of(task.architecture, recipe, task.detail), "val_top5": None, "top1_convention": "best_of_validated",
                          "curve": [], "random_weight_top1": None, "train_time_s": cost_of(recipe), "check_time_s": 0.0, "random_weight_time_s": None,
                          "device_name": "cpu", "device_count": 1, "train_images": None, "num_classes": None, "check_memory_bytes": 1,
                          "peak_memory_bytes": None, "trainability_rule": recipe.trainability_rule(), "error": None}
                store.write("train", [train_row(result, store.test_data_id, now(), "test", 1)])
        return Summary(planned=0, already_done=0)

    return collect


@pytest.mark.parametrize("budget", [5.0, 40.0, 150.0])
def test_halving_never_spends_more_than_its_budget(tmp_path, monkeypatch, budget, tiny_data):
    from accelbench.pipeline import run as pipeline_run

    from accelbench.proxy.search import ProxySearch
    from accelbench.pipeline.store import Store
    from accelbench.search_space import count_params

    values = config_values(str(tiny_data), candidates={"epochs": [1, 2], "max_resolution": [16, 24], "subset_fraction": [0.5, 1.0]},
                           search={"strategy": "halving", "budget_device_s": budget, "min_architectures": 3, "eta": 2, "seed": 3})
    config = parse_proxy_config(values)
    search = ProxySearch(config, Store(tmp_path / "store"))
    # cost: 1 s per epoch-at-32px-equivalent of work on the full data; score: capacity plus noise the proxy shares
    cost_of = lambda recipe: search.work(recipe) / search.work(search.reference) * 12.0  # noqa: E731
    score_of = lambda arch, recipe, seed: count_params(arch) / 1e6 + (int(arch.arch_id[:6], 16) * (seed + 1) * recipe.epochs % 100) / 50  # noqa: E731
    monkeypatch.setattr(pipeline_run, "collect", fake_collect(cost_of, score_of))
    search.store.test_data_id = search.data_id = "d"
    search.run_sweep(search.sweep(search.reference, (0,), len(search.architectures), "reference"))
    search.run_sweep(search.sweep(search.reference, (1,), 3, "noise"))
    outcome = search.halving()
    assert search.spent() <= budget
    statuses = {status for status, _ in outcome.values()}
    if budget == 5.0:
        assert search.spent() == 0 and statuses <= {"over budget"}  # not even the cheapest first rung fits
    else:
        assert search.spent() > 0
    result = search.results(outcome)
    assert result.spent_s == search.spent() and result.noise.compared == 3
    if budget == 150.0:
        assert result.chosen is not None and result.results[result.chosen].status == "evaluated"


def test_every_sweep_trains_the_search_architectures_even_when_spread(tmp_path):
    from accelbench.proxy.search import ProxySearch
    from accelbench.pipeline.plan import sweep_architectures
    from accelbench.pipeline.store import Store

    for select in ("uniform", "spread"):
        config = parse_proxy_config(config_values(architectures={"sample": 6, "seed": 1, "select": select}))
        search = ProxySearch(config, Store(tmp_path / select / "store"))
        for count in (6, 3):
            sweep = search.sweep(search.reference, (0,), count, "noise")
            assert [a.arch_id for a in sweep_architectures(sweep)] == [a.arch_id for a in search.architectures[:count]]


def test_ceiling_only_trains_the_truth_and_its_noise_seeds_and_nothing_else(tmp_path, monkeypatch, tiny_data):
    from accelbench.pipeline import run as pipeline_run
    from accelbench.proxy.search import ProxySearch
    from accelbench.pipeline.store import Store

    config = parse_proxy_config(config_values(str(tiny_data)))
    score_of = lambda arch, recipe, seed: int(arch.arch_id[:6], 16) % 97 + seed * (int(arch.arch_id[6:9], 16) % 5)  # noqa: E731
    monkeypatch.setattr(pipeline_run, "collect", fake_collect(lambda recipe: 1.0, score_of))
    monkeypatch.setattr(pipeline_run, "connect", lambda address: False)
    store = Store(tmp_path / "store")
    store.test_data_id = pipeline_run.local_identity(config.reference).data_id
    result = ProxySearch(config, store).run(ceiling_only=True)
    trained = {(row["recipe_id"], row["seed"]) for row in store.read("train", ["recipe_id", "seed"]).to_pylist()}
    reference = config.reference.training.resolved_recipe.recipe_id
    assert trained == {(reference, 0), (reference, 1)}  # no candidate's recipe
    assert len(store.read("train", ["arch_id"])) == 6 + 3  # the truth on all 6, seed 1 on the first 3
    assert {r.status for r in result.results} == {"not run"} and result.chosen is None
    assert result.noise.compared == 3 and math.isfinite(result.noise.kendall_tau)
    assert any("--ceiling-only" in note for note in result.notes)

    later = ProxySearch(config, store).run()  # the whole search reuses them
    assert {r.status for r in later.results} == {"evaluated"} and later.noise == result.noise


def test_a_truth_that_trained_nothing_stops_the_search_with_its_reason(tmp_path, monkeypatch, tiny_data):
    """Every reference training failed (no GPU on a `device = "cuda"` preset, say): one line with the first
    reason, before the noise seeds and the candidates spend anything."""
    from accelbench.pipeline import run as pipeline_run
    from accelbench.pipeline.records import now, train_row
    from accelbench.pipeline.plan import make_plan
    from accelbench.pipeline.run import Summary
    from accelbench.proxy.search import ProxySearch
    from accelbench.pipeline.store import Store

    config = parse_proxy_config(config_values(str(tiny_data)))
    sweeps = []

    def failing(sweep, store, address=None, retry=(), stream=None):
        sweeps.append(sweep.name)
        recipe = sweep.training.resolved_recipe
        with store.lock("test"):
            for task in make_plan(sweep, store, data_id=store.test_data_id).todo:
                result = {"arch_id": task.architecture.arch_id, "recipe_id": recipe.recipe_id, "recipe_name": recipe.name, "seed": task.detail,
                          "status": "failed", "val_top1": None, "val_top5": None, "top1_convention": "best_of_validated", "curve": [], "random_weight_top1": None,
                          "train_time_s": None, "check_time_s": None, "random_weight_time_s": None, "device_name": None, "device_count": 1, "train_images": None,
                          "num_classes": None, "check_memory_bytes": None, "peak_memory_bytes": None, "trainability_rule": recipe.trainability_rule(),
                          "error": "RuntimeError: Found no NVIDIA driver on your system\nTraceback ..."}
                store.write("train", [train_row(result, store.test_data_id, now(), "test", 1)])
        return Summary(planned=0, already_done=0)

    monkeypatch.setattr(pipeline_run, "collect", failing)
    monkeypatch.setattr(pipeline_run, "connect", lambda address: False)
    store = Store(tmp_path / "store")
    store.test_data_id = pipeline_run.local_identity(config.reference).data_id
    with pytest.raises(ConfigError, match=r"the reference recipe trained none of the 6 architectures \(the first: failed: RuntimeError: Found no NVIDIA driver on your system\); nothing to rank against") as stopped:
        ProxySearch(config, store).run()
    assert "\n" not in str(stopped.value) and len(sweeps) == 1  # the truth's sweep, nothing after it


def test_a_scheme_carried_to_another_truth_keeps_its_proportions():
    from accelbench.proxy.candidates import transferred
    from accelbench.training.recipe import get_recipe

    truth, proxy = get_recipe("full"), get_recipe("anb-proxy")
    assert transferred(truth, proxy, truth) == {"epochs": proxy.epochs, "max_resolution": proxy.max_resolution, "subset_fraction": 1.0}
    other = get_recipe("smoke").replace(epochs=100, max_resolution=64, subset_fraction=0.5)
    assert transferred(truth, proxy, other) == {"epochs": 5, "max_resolution": 55, "subset_fraction": 0.5}  # 100*16/350, 64*192/224
    assert transferred(truth, proxy, other.replace(epochs=4))["epochs"] == 1  # never less than one whole epoch


def test_an_interrupted_sweep_ends_the_search(tmp_path, monkeypatch, tiny_data, capsys):
    from accelbench.pipeline import run as pipeline_run
    from accelbench.pipeline.run import Summary
    from accelbench.workflows.cli import main
    from tests.pipeline.conftest import to_toml

    sweeps = []

    def interrupted(sweep, store, address=None, retry=(), stream=None):  # what collect answers after Ctrl-C or SIGTERM
        sweeps.append(sweep.name)
        return Summary(planned=6, already_done=0, interrupted=True)

    monkeypatch.setattr(pipeline_run, "collect", interrupted)
    monkeypatch.setattr(pipeline_run, "connect", lambda address: False)
    path = tmp_path / "proxy.toml"
    path.write_text(to_toml(config_values(str(tiny_data))))
    assert main(["proxy-search", str(path), "--store", str(tmp_path / "store")]) == 130
    assert sweeps == ["proxy-test-reference"]  # neither the noise seeds nor a candidate after it
    assert "interrupted" in capsys.readouterr().err
