"""The optimizers: budget, determinism, validity, constraints, fronts; the search CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from accelbench.optimizers import ALGORITHMS
from accelbench.optimizers.encoding import cardinalities, from_architectures, mutate, random_genotypes, to_architecture
from accelbench.optimizers.pareto import hypervolume, non_dominated
from accelbench.optimizers.problem import Constraint, SearchError, SurrogateOracle, TableBenchmark
from accelbench.optimizers.run import SearchSpec, run_search
from accelbench.search_space import Architecture, sample
from accelbench.workflows.cli import main

BUDGET = 300


@pytest.fixture(scope="module")
def oracle(fitted):
    return SurrogateOracle(fitted[1])


@pytest.fixture(scope="module")
def bound(oracle):
    """A throughput bound that about half of random architectures meet."""
    rng = np.random.default_rng(5)
    predicted = oracle(random_genotypes(rng, 500), ["throughput_a100"])["throughput_a100"][0]
    return float(np.median(predicted))


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_each_algorithm_spends_its_budget_proposes_valid_architectures_and_repeats_itself(algorithm, oracle, bound):
    spec = SearchSpec(algorithm, ("val_top1",), (Constraint("throughput_a100", ">=", bound),), BUDGET, seed=3)
    first, again = run_search(oracle, spec), run_search(oracle, spec)
    records = first.records
    assert len(records) == BUDGET and records["step"].tolist() == list(range(BUDGET))
    pd.testing.assert_frame_equal(records, again.records)
    for compact, arch_id in zip(records["compact"], records["arch_id"]):
        assert Architecture.from_compact(compact).arch_id == arch_id
    assert records["feasible"].tolist() == (records["throughput_a100_mean"] >= bound).tolist()
    best = first.best()
    assert best["feasible"] and best["throughput_a100_mean"] >= bound
    assert best["val_top1_mean"] == records.loc[records["feasible"], "val_top1_mean"].max()
    assert np.nanmax(first.best_so_far()) == best["val_top1_mean"]
    other = run_search(oracle, SearchSpec(algorithm, ("val_top1",), spec.constraints, BUDGET, seed=4)).records
    assert not records["arch_id"].equals(other["arch_id"])  # the seed matters


def test_searching_beats_random_sampling_on_a_smooth_objective(oracle):
    best = {a: np.mean([run_search(oracle, SearchSpec(a, ("val_top1",), (), 600, s)).best()["val_top1_mean"] for s in range(3)])
            for a in ("random", "evolution", "annealing")}
    assert best["evolution"] > best["random"] and best["annealing"] > best["random"], best


def test_the_best_architecture_queried_again_gives_the_same_values(fitted, oracle):
    result = run_search(oracle, SearchSpec("evolution", ("val_top1",), (), 200, 0))
    best = result.best()
    again = fitted[1].query([Architecture.from_compact(best["compact"])])
    assert again["val_top1_mean"].iloc[0] == pytest.approx(best["val_top1_mean"], rel=1e-12)
    assert again["val_top1_std"].iloc[0] == pytest.approx(best["val_top1_std"], rel=1e-9, abs=1e-12)


def test_multi_objective_fronts_are_non_dominated_and_uni_objective_algorithms_refuse(oracle):
    objectives = ("val_top1", "throughput_a100")
    for algorithm in ("random", "nsga2"):
        result = run_search(oracle, SearchSpec(algorithm, objectives, (), BUDGET, 0))
        front = result.front()
        scores = result.scores()
        assert len(front) >= 2 and non_dominated(scores[front.index.to_numpy()]).all()
        for index in front.index:  # nothing queried dominates a front member
            dominated = (scores >= scores[index]).all(axis=1) & (scores > scores[index]).any(axis=1)
            assert not dominated.any()
    for algorithm in ("evolution", "reinforce", "annealing"):
        with pytest.raises(SearchError, match=f"--algorithm {algorithm} is uni-objective; with 2 objectives use random, nsga2"):
            run_search(oracle, SearchSpec(algorithm, objectives, (), BUDGET, 0))


def test_pareto_front_and_hypervolume_of_a_hand_made_set():
    scores = np.array([[1, 5], [2, 4], [2, 4], [1.5, 3], [3, 1], [0, 0], [3, 1]], dtype=float)
    assert non_dominated(scores).tolist() == [True, True, False, False, True, False, False]
    # the union of rectangles above (0, 0): 1x5 + 1x4 (from x=1 to 2) + 1x1 (x=2 to 3) = 5 + 4 + 1
    assert hypervolume(scores, np.array([0.0, 0.0])) == pytest.approx(10.0)
    assert hypervolume(scores, np.array([10.0, 10.0])) == 0.0


def test_encoding_round_trips_and_mutation_changes_exactly_the_asked_choices():
    architectures = sample(50, 9)
    genotypes = from_architectures(architectures)
    assert [to_architecture(g) for g in genotypes] == architectures
    rng = np.random.default_rng(0)
    for genotype in genotypes:
        child = mutate(rng, genotype, changes=2)
        assert (child != genotype).sum() == 2 and (child < cardinalities()).all() and (child >= 0).all()


def test_a_tabular_benchmark_only_answers_with_measured_architectures():
    architectures = sample(40, 2)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"compact": [a.compact() for a in architectures], "random_weight_top1": rng.uniform(5, 20, 40),
                          "latency_x": rng.uniform(1, 3, 40)})
    table = TableBenchmark(frame, ["random_weight_top1", "latency_x"])
    measured = set(frame["compact"])
    for algorithm in sorted(ALGORITHMS):
        result = run_search(table, SearchSpec(algorithm, ("random_weight_top1",), (Constraint.parse("latency_x<=2.5"),), 60, 0))
        assert set(result.records["compact"]) <= measured
        best = result.best()
        row = frame[frame["compact"] == best["compact"]].iloc[0]
        assert best["random_weight_top1_mean"] == row["random_weight_top1"] and row["latency_x"] <= 2.5


@pytest.mark.parametrize("text", ["latency<5", "latency_zcu102 <= fast", "<=5", "latency_zcu102<=5<=6"])
def test_malformed_constraints_are_refused(text):
    with pytest.raises(SearchError, match="is malformed; write TARGET<=NUMBER or TARGET>=NUMBER"):
        Constraint.parse(text)


def test_search_cli_writes_records_result_and_plot(fitted, tmp_path, capsys):
    folder = tmp_path / "search"
    code = main(["search", "--benchmark", str(fitted[0]), "--algorithm", "annealing", "--objective", "val_top1", "--constraint",
                 "throughput_a100>=1000", "--budget", "120", "--seed", "1", "--output", str(folder)])
    assert code == 0, capsys.readouterr().err
    records = pd.read_parquet(folder / "queries.parquet")
    assert len(records) == 120 and {"step", "compact", "arch_id", "val_top1_mean", "val_top1_std", "feasible"} <= set(records.columns)
    result = json.loads((folder / "result.json").read_text())
    assert result["best"]["compact"] in set(records["compact"]) and (folder / "trajectory.png").stat().st_size > 0
    code = main(["search", "--benchmark", str(fitted[0]), "--algorithm", "nsga2", "--objective", "val_top1", "--objective", "throughput_a100",
                 "--budget", "100", "--output", str(tmp_path / "multi")])
    assert code == 0 and (tmp_path / "multi" / "pareto.png").is_file()
    assert json.loads((tmp_path / "multi" / "result.json").read_text())["pareto_front"]


@pytest.mark.parametrize("extra, message", [
    (["--objective", "val_top5"], "target 'val_top5' is unknown to this benchmark; it has throughput_a100, val_top1"),
    (["--objective", "val_top1", "--constraint", "latency<5"], "is malformed"),
    (["--objective", "val_top1", "--algorithm", "hillclimb"], "--algorithm 'hillclimb' is unknown; choices are random, evolution, reinforce, annealing, nsga2"),
    (["--objective", "val_top1", "--budget", "0"], "--budget 0 is not allowed"),
])
def test_bad_search_requests_exit_2_with_one_line(fitted, tmp_path, capsys, extra, message):
    arguments = ["search", "--benchmark", str(fitted[0]), "--budget", "10", "--algorithm", "random", "--output", str(tmp_path / "out")]
    for flag in ("--algorithm", "--budget"):
        if flag in extra:
            position = arguments.index(flag)
            del arguments[position : position + 2]
    assert main(arguments + extra) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_search_compare_tabulates_every_algorithm_over_seeds(fitted, tmp_path, capsys):
    folder = tmp_path / "compare"
    code = main(["search-compare", "--benchmark", str(fitted[0]), "--objective", "val_top1", "--objective", "throughput_a100",
                 "--reference", "val_top1=40", "--reference", "throughput_a100=0", "--budget", "100", "--seeds", "2", "--output", str(folder)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(folder / "compare.csv")
    assert table["algorithm"].tolist() == ["random", "nsga2"] and (table["seeds"] == 2).all() and (table["mean"] > 0).all()
    assert "reference point val_top1=40, throughput_a100=0" in (folder / "compare.md").read_text()
    assert len(list((folder / "runs").glob("*.parquet"))) == 4
    assert main(["search-compare", "--benchmark", str(fitted[0]), "--objective", "val_top1", "--objective", "throughput_a100",
                 "--budget", "10", "--output", str(tmp_path / "x")]) == 2
    assert "needs a reference point for val_top1" in capsys.readouterr().err


def test_a_release_that_does_not_verify_is_not_searched(fitted, tmp_path, capsys):
    import shutil

    release = tmp_path / "release"
    shutil.copytree(fitted[0], release / "surrogates")
    (release / "manifest.json").write_text(json.dumps({"format": 1, "files": {}}))
    assert main(["search", "--benchmark", str(release), "--algorithm", "random", "--objective", "val_top1", "--budget", "10",
                 "--output", str(tmp_path / "out")]) == 2
    assert "release" in capsys.readouterr().err.lower() and not (tmp_path / "out").exists()


def test_reference_points_are_given_either_way_and_numbers_print_in_full():
    from accelbench.workflows.cli import build_parser
    from accelbench.workflows.cmd_search import number

    common = ["search-compare", "--benchmark", "b", "--objective", "val_top1", "--objective", "throughput_vck190", "--budget", "5", "--output", "o"]
    as_in_help = build_parser().parse_args([*common, "--reference", "val_top1=50", "throughput_vck190=0"])
    repeated = build_parser().parse_args([*common, "--reference", "val_top1=50", "--reference", "throughput_vck190=0"])
    assert as_in_help.reference == repeated.reference == ["val_top1=50", "throughput_vck190=0"]
    assert [number(v) for v in (17220.4, 22080.0, 67.6712, 0.91234)] == ["17,220", "22,080", "67.67", "0.9123"]
