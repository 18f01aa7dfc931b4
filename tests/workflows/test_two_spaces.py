"""A store holding architectures of both spaces: every view, fit, release, query, search and explain is
of one space, chosen with --space (or the only one), and mixing them is refused with one line."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from accelbench.common.errors import InputError
from accelbench.pipeline.records import arch_row, row
from accelbench.pipeline.store import Store
from accelbench.pipeline.views import wide
from accelbench.search_space import count_macs, sample
from accelbench.search_space.ofa import OFA
from accelbench.workflows.cli import main

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FIT = ["--models", "xgboost", "linear", "--members", "1", "--calibration-folds", "2"]


def latency_row(architecture, latency: float) -> dict:
    """A profile record as a CPU target makes it, the latency given."""
    return row("profile", task_key=f"{architecture.arch_id}/profile/cpu1", arch_id=architecture.arch_id, target="cpu", target_id="cpu1",
               backend="onnxruntime", device="cpu", batch=1, precision="fp32", threads=1, reported=["latency"], status="ok",
               resolution=architecture.search_space.resolution_of(architecture.choices),
               latency_ms_median=latency, latency_ms_mean=latency, latency_ms_std=0.01 * latency, latency_ms_p90=latency, n=30, samples_ms=[latency],
               other_load=0.0, environment="{}", attempts=1, host="h", started_at=T0, finished_at=T0, code_version="test")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """150 ofa and 40 anb architectures, each with a latency that grows with its MACs (and some noise)."""
    path = tmp_path_factory.mktemp("two") / "store"
    store = Store(path)
    rng = np.random.default_rng(0)
    architectures = sample(150, 0, "ofa") + sample(40, 0, "anb")
    store.write("archs", [arch_row(a) for a in architectures])
    store.write("profile", [latency_row(a, count_macs(a) / 1e7 * rng.lognormal(0, 0.05)) for a in architectures])
    return path


@pytest.fixture(scope="module")
def ofa_fit(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "ofa"
    assert main(["fit", "--store", str(store), "--space", "ofa", "--out", str(out), *FIT]) == 0
    return out


def test_views_are_per_space_and_a_mixed_store_asks_which(store):
    with pytest.raises(InputError, match=r"several spaces \(anb, ofa\); choose one with --space"):
        wide(Store(store))
    ofa = wide(Store(store), space="ofa")
    assert len(ofa) == 150 and set(ofa["space"]) == {"ofa"} and "stage4_layer3_e" in ofa.columns and "block0_e" not in ofa.columns
    assert ofa["stage0_layer3_k"].isna().any()  # a layer beyond its stage's depth
    macs = {a.arch_id: count_macs(a) for a in sample(150, 0, "ofa")}
    assert ofa["macs"].tolist() == [macs[arch_id] for arch_id in ofa["arch_id"]]  # at each architecture's own resolution
    assert len(wide(Store(store), space="anb")) == 40
    assert (pq.read_table(f"{store}/archs").to_pandas().query("space == 'ofa'")[["block0_e", "block0_se"]].isna().all().all())


def test_fit_without_space_on_a_mixed_store_is_one_line_exit_2(store, tmp_path, capsys):
    assert main(["fit", "--store", str(store), "--out", str(tmp_path / "f"), *FIT]) == 2
    error = capsys.readouterr().err.strip()
    assert "several spaces (anb, ofa); choose one with --space" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "f").exists()


def test_an_ofa_fit_answers_for_ofa_architectures_only(ofa_fit, tmp_path, capsys):
    index = json.loads((ofa_fit / "surrogates.json").read_text())
    assert index["space"] == "ofa" and index["features"][0] == "resolution"
    assert index["targets"]["latency_cpu"]["test"]["kendall_tau"] > 0.8  # the latency follows the MACs
    (tmp_path / "ofa.jsonl").write_text("".join(a.to_json() + "\n" for a in sample(5, 9, "ofa")))
    (tmp_path / "anb.jsonl").write_text("".join(a.to_json() + "\n" for a in sample(2, 9, "anb")))
    assert main(["query", "--surrogates", str(ofa_fit), "--input", str(tmp_path / "ofa.jsonl"), "--output", str(tmp_path / "q.csv")]) == 0
    answers = pd.read_csv(tmp_path / "q.csv")
    assert len(answers) == 5 and answers["latency_cpu_mean"].gt(0).all() and "stage0_d" in answers.columns
    capsys.readouterr()
    assert main(["query", "--surrogates", str(ofa_fit), "--input", str(tmp_path / "anb.jsonl"), "--output", str(tmp_path / "r.csv")]) == 2
    error = capsys.readouterr().err.strip()
    assert "architecture 1 is of the anb space; a benchmark of the ofa space takes ofa architectures" in error and len(error.splitlines()) == 1


def test_explain_on_ofa_gives_stage_effects_and_the_resolution(ofa_fit, tmp_path, capsys):
    assert main(["explain", "--surrogates", str(ofa_fit), "--target", "latency_cpu", "--output", str(tmp_path / "x")]) == 0
    assert "effect of the input resolution" in capsys.readouterr().out
    effects = pd.read_csv(tmp_path / "x" / "contributions.csv")
    assert set(effects["choice"]) == {"d", "k", "e", "r"}
    resolution = effects[effects["choice"] == "r"].set_index("value")["effect"]
    assert resolution[224] > resolution[128]  # larger inputs take longer, as the records say
    depth = effects[(effects["choice"] == "d") & (effects["stage"] == 2)].set_index("value")["effect"]
    assert depth[4] > depth[2]
    assert (tmp_path / "x" / "contributions.png").stat().st_size > 0


def test_release_of_one_space_holds_its_records_only_and_searches(store, ofa_fit, tmp_path, capsys):
    assert main(["release", "--store", str(store), "--space", "anb", "--fit", str(ofa_fit), "--name", "b", "--version", "1", "--out", str(tmp_path)]) == 2
    assert "fitted on the ofa space, not --space anb" in capsys.readouterr().err
    assert main(["release", "--store", str(store), "--fit", str(ofa_fit), "--name", "ofa", "--version", "1", "--out", str(tmp_path)]) == 0
    release = tmp_path / "ofa-1"
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["space"] == "ofa" and manifest["counts"]["archs"]["rows"] == 150 and manifest["counts"]["profile"]["rows"] == 150
    assert set(pq.read_table(release / "records" / "archs.parquet").column("space").to_pylist()) == {"ofa"}
    assert "stage0_d" in (release / "configspace.json").read_text()
    assert main(["verify", str(release)]) == 0
    capsys.readouterr()
    assert main(["search", "--benchmark", str(release), "--algorithm", "evolution", "--objective", "latency_cpu", "--budget", "60",
                 "--output", str(tmp_path / "s")]) == 0
    queries = pd.read_parquet(tmp_path / "s" / "queries.parquet")
    assert len(queries) == 60 and all(OFA.parse_compact(c) for c in queries["compact"])
    best = queries.loc[queries["latency_cpu_mean"].idxmin(), "compact"]
    assert best.startswith("r1")  # the fastest found is at a small resolution (128..196 px)


@pytest.mark.parametrize("command", ["train", "profile"])
def test_an_architecture_of_the_other_space_or_out_of_range_is_one_line_exit_2(command, tmp_path, capsys):
    ofa = sample(1, 0, "ofa")[0]
    (tmp_path / "ofa.jsonl").write_text(ofa.to_json() + "\n")
    base = [command, "--output", str(tmp_path / "out.jsonl")] + (["--backend", "onnxruntime"] if command == "profile" else ["--recipe", "smoke"])
    assert main([*base, "--input", str(tmp_path / "ofa.jsonl"), "--space", "anb"]) == 2
    error = capsys.readouterr().err.strip()
    assert "architecture 1 is of the ofa space; --space anb takes anb architectures" in error and len(error.splitlines()) == 1
    for key, value in (("resolution", 130), ("stage2_d", 5), ("stage0_layer1_k", 4), ("stage4_layer0_e", 5)):
        keys = {**ofa.to_reference(), key: value}
        keys.pop("space", None)
        (tmp_path / "bad.jsonl").write_text(json.dumps(keys) + "\n")
        assert main([*base, "--input", str(tmp_path / "bad.jsonl"), "--space", "ofa"]) == 2
        error = capsys.readouterr().err.strip()
        assert f"{key}={value}" in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "out.jsonl").exists()
