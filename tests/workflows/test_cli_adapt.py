"""`accelbench adapt plan` / `adapt fit`: which architectures to measure on a new device, then its surrogate
from those measurements and a store's other devices. The RTX 3090 plays the new device: its rows in the
shared records score the surrogate, and a store whose 3090 rows are scrambled shows they are never read."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from accelbench.search_space import Architecture, count_macs
from accelbench.workflows.cli import main

TARGET = "throughput_3090"


def import_records(records, folder, scramble: bool = False):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for record in records:
        data = json.loads(json.dumps(record.data))
        if scramble and TARGET in data["platform_perf"]:
            data["platform_perf"][TARGET]["throughput_mean"] = float(rng.uniform(1, 1e4))  # nonsense the fit must not see
        (folder / record.name).write_text(json.dumps(data))
    assert main(["import-anb", str(folder), "--store", str(folder.parent / (folder.name + "-store"))]) == 0
    return folder.parent / (folder.name + "-store")


@pytest.fixture(scope="module")
def stores(anb_records, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    records = anb_records[:500]
    return import_records(records, root / "records"), import_records(records, root / "scrambled", scramble=True)


def measured_csv(path, records, count: int):
    """The plan's CSV filled in with the 3090's measurements of `count` records."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_id", "architecture", "macs", TARGET])
        for record in records[:count]:
            architecture = Architecture.from_reference(record.data["architecture"])
            writer.writerow([architecture.arch_id, json.dumps(architecture.to_reference()), count_macs(architecture),
                             record.data["platform_perf"][TARGET]["throughput_mean"]])


def test_plan_is_the_same_for_a_seed_and_spreads_over_macs(tmp_path, capsys):
    for name, seed in (("a.csv", 0), ("b.csv", 0), ("c.csv", 1)):
        assert main(["adapt", "plan", "--target", "latency_newboard", "--shots", "20", "--seed", str(seed), "--output", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    plan, other = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "c.csv")
    assert len(plan) == 20 and plan["arch_id"].is_unique and set(plan["arch_id"]) != set(other["arch_id"])
    assert plan["latency_newboard"].isna().all()
    assert all(Architecture.from_reference(json.loads(a)).arch_id == i for a, i in zip(plan["architecture"], plan["arch_id"]))
    from accelbench.search_space import sample

    uniform = np.array([count_macs(a) for a in sample(1000, 5)])
    assert plan["macs"].min() < np.quantile(uniform, 0.05) and plan["macs"].max() > np.quantile(uniform, 0.95)  # the cost range, ends included
    assert "accelbench adapt fit" in capsys.readouterr().err


def test_fit_from_measurements_ranks_the_device_and_never_reads_its_rows_in_the_store(stores, anb_records, tmp_path):
    store, scrambled = stores
    with_3090 = [r for r in anb_records[500:1200] if TARGET in r.data["platform_perf"]]
    measured_csv(tmp_path / "measured.csv", with_3090, 20)
    for name, source in (("fit", store), ("fit-scrambled", scrambled)):
        assert main(["adapt", "fit", "--store", str(source), "--target", TARGET, "--measured", str(tmp_path / "measured.csv"),
                     "--out", str(tmp_path / name)]) == 0
    files = sorted(str(p.relative_to(tmp_path / "fit")) for p in (tmp_path / "fit").rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(tmp_path / "fit-scrambled")) for p in (tmp_path / "fit-scrambled").rglob("*") if p.is_file())
    assert any(name.startswith("models/") for name in files)
    for name in files:  # the block costs, the combination weights, every number: the 3090's rows in the store changed nothing
        assert (tmp_path / "fit" / name).read_bytes() == (tmp_path / "fit-scrambled" / name).read_bytes(), name
    held = with_3090[20:]
    (tmp_path / "held.jsonl").write_text("".join(json.dumps(r.data["architecture"]) + "\n" for r in held))
    assert main(["query", "--surrogates", str(tmp_path / "fit"), "--input", str(tmp_path / "held.jsonl"), "--output", str(tmp_path / "q.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "q.csv")[f"{TARGET}_mean"]
    measured = [r.data["platform_perf"][TARGET]["throughput_mean"] for r in held]
    assert kendalltau(measured, predicted).statistic > 0.85  # the benchmark: 0.968 on the whole test split at K = 20


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows, "no row has"),
    (lambda rows: [{**rows[0], TARGET: "-3"}], "positive number"),
    (lambda rows: [{**rows[0], TARGET: "5", "arch_id": "0" * 16}], "is not that of its architecture"),
    (lambda rows: [{**rows[0], TARGET: "5", "architecture": "[1, 2]"}], "no JSON object"),
    (lambda rows: [{k: v for k, v in rows[0].items() if k != "architecture"}], "no column architecture"),
])
def test_a_bad_measured_file_is_named_and_nothing_is_written(stores, tmp_path, capsys, edit, message):
    assert main(["adapt", "plan", "--target", TARGET, "--shots", "3", "--output", str(tmp_path / "plan.csv")]) == 0
    rows = edit(pd.read_csv(tmp_path / "plan.csv", dtype=str, keep_default_na=False).to_dict("records"))
    pd.DataFrame(rows).to_csv(tmp_path / "measured.csv", index=False)
    capsys.readouterr()
    assert main(["adapt", "fit", "--store", str(stores[0]), "--target", TARGET, "--measured", str(tmp_path / "measured.csv"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and "measured.csv" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
