"""import-anb, export-anb, fit, query, release and verify through the CLI, on 600 reference records."""

from __future__ import annotations

import json
import math
from collections import Counter

import pandas as pd
import pytest

from accelbench.search_space import Architecture, sample
from accelbench.workflows.cli import main

FIT = ["--targets", "val_top1", "latency_vck190", "--models", "xgboost", "linear", "--members", "2", "--calibration-folds", "3"]


@pytest.fixture(scope="module")
def record_folder(anb_records, tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    for record in anb_records[:600]:
        (folder / record.name).write_text(json.dumps(record.data))
    return folder


@pytest.fixture(scope="module")
def store(record_folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "anb"
    assert main(["import-anb", str(record_folder), "--store", str(path)]) == 0
    return path


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))


def test_export_writes_back_what_was_imported(record_folder, store, tmp_path):
    assert main(["export-anb", str(store), str(tmp_path / "out")]) == 0
    arch_id = lambda record: Architecture.from_reference(record["architecture"]).arch_id  # noqa: E731
    exported = {arch_id(r): r for r in (json.loads(p.read_text()) for p in (tmp_path / "out").glob("result_*.json"))}
    originals = [json.loads(p.read_text()) for p in sorted(record_folder.glob("result_*.json"))]
    repeats = Counter(arch_id(r) for r in originals)
    assert set(exported) == set(repeats)
    for original in originals:
        back = exported[arch_id(original)]
        assert math.isclose(back["model_info"]["params"], original["model_info"]["params"], abs_tol=5e-7)
        if repeats[arch_id(original)] == 1:  # a repeated architecture keeps its first measurements and averages its trainings
            assert close(back["metrics"]["val_top1"], original["metrics"]["val_top1"])
            for name, values in original["platform_perf"].items():
                for key, value in values.items():
                    assert close(back["platform_perf"].get(name, {}).get(key), value), (name, key)


def test_import_of_a_bad_record_exits_2_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "result_1.json").write_text(json.dumps({"architecture": {"block0_e": 5}}))
    assert main(["import-anb", str(folder), "--store", str(tmp_path / "store")]) == 2
    assert "result_1.json" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_fit_then_query_writes_mean_and_std_for_every_target(store, tmp_path, capsys):
    assert main(["fit", "--store", str(store), "--out", str(tmp_path / "fit"), *FIT]) == 0
    table = capsys.readouterr().out
    assert "| val_top1 |" in table and "kendall_tau" in table
    assert (tmp_path / "fit" / "predicted_vs_measured.png").read_bytes().startswith(b"\x89PNG")
    metrics = pd.read_csv(tmp_path / "fit" / "metrics.csv")
    assert list(metrics["target"]) == ["val_top1", "latency_vck190"] and (metrics["kendall_tau"] > 0.6).all()
    assert (metrics["interval_level"] == 0.95).all() and metrics["test_coverage"].between(0.85, 1).all()
    assert set(metrics["noise_source"]) <= {"repeats", "none", "measurement std"}

    assert main(["space", "sample", "--n", "7", "--seed", "5"]) == 0
    (tmp_path / "q.jsonl").write_text(capsys.readouterr().out)
    for suffix in ("csv", "parquet"):
        output = tmp_path / f"q.{suffix}"
        assert main(["query", "--surrogates", str(tmp_path / "fit"), "--input", str(tmp_path / "q.jsonl"), "--output", str(output)]) == 0
        frame = pd.read_csv(output) if suffix == "csv" else pd.read_parquet(output)
        assert len(frame) == 7 and {"arch_id", "block0_e", "val_top1_mean", "val_top1_std", "latency_vck190_mean", "latency_vck190_std"} <= set(frame.columns)
        assert (frame["latency_vck190_lo"] < frame["latency_vck190_mean"]).all() and (frame["latency_vck190_mean"] < frame["latency_vck190_hi"]).all()
    assert main(["query", "--surrogates", str(tmp_path / "fit"), "--input", str(tmp_path / "q.jsonl"), "--output", str(tmp_path / "q.xlsx")]) == 2


def test_release_regenerates_byte_identical_and_refuses_tampering(store, tmp_path, capsys):
    for out in ("a", "b"):
        assert main(["release", "--store", str(store), "--name", "anb-dev", "--version", "1.0", "--out", str(tmp_path / out), *FIT]) == 0
    first, second = tmp_path / "a" / "anb-dev-1.0", tmp_path / "b" / "anb-dev-1.0"
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert {"manifest.json", "configspace.json", "records/archs.parquet", "records/train.parquet", "records/profile.parquet",
            "surrogates/surrogates.json", "report/README.md", "report/predicted_vs_measured.png"} <= set(files)
    assert files == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["counts"]["archs"]["rows"] == 592 and manifest["counts"]["train"]["statuses"] == {"ok": 600}
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)
    assert manifest["intervals"] == {"method": "cross-conformal", "level": 0.95, "folds": 3}

    assert main(["verify", str(first)]) == 0
    assert main(["release", "--store", str(store), "--name", "anb-dev", "--version", "1.0", "--out", str(tmp_path / "a"), *FIT]) == 2  # never overwritten
    capsys.readouterr()

    from accelbench.surrogate.benchmark import Benchmark
    from accelbench.surrogate.models import SurrogateError

    assert len(Benchmark.load(first).query(sample(3, 0))) == 3  # an intact release loads
    victim = first / "surrogates" / "models" / "val_top1" / "member1.ubj"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    assert main(["verify", str(first)]) == 1
    assert "surrogates/models/val_top1/member1.ubj: sha256 differs" in capsys.readouterr().err
    with pytest.raises(SurrogateError, match="member1.ubj"):
        Benchmark.load(first)
    (second / "configspace.json").unlink()
    assert main(["verify", str(second)]) == 1
    assert "configspace.json: missing" in capsys.readouterr().err


def test_fit_device_then_query_like_any_fitted_target(store, tmp_path, capsys):
    out = tmp_path / "zcu102"
    assert main(["fit-device", "--store", str(store), "--target", "latency_zcu102", "--shots", "10", "--seed", "3", "--out", str(out)]) == 0
    assert "| latency_zcu102 | block_additive |" in capsys.readouterr().out
    details = json.loads((out / "cross_device.json").read_text())
    assert len(set(details["shot_arch_ids"])) == 10 and "latency_zcu102" not in details["sources"] and "throughput_zcu102" not in details["sources"]
    assert {"throughput_a100", "latency_vck190"} <= set(details["sources"]) and details["held_out"]["kendall_tau"] > 0.7
    assert main(["fit-device", "--store", str(store), "--target", "latency_zcu102", "--shots", "10", "--seed", "3", "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "models" / "latency_zcu102" / "member0.json").read_bytes() == (out / "models" / "latency_zcu102" / "member0.json").read_bytes()
    capsys.readouterr()
    assert main(["space", "sample", "--n", "6", "--seed", "2"]) == 0
    (tmp_path / "q.jsonl").write_text(capsys.readouterr().out)
    assert main(["query", "--surrogates", str(out), "--input", str(tmp_path / "q.jsonl"), "--output", str(tmp_path / "q.csv")]) == 0
    frame = pd.read_csv(tmp_path / "q.csv")
    assert len(frame) == 6 and (frame["latency_zcu102_mean"] > 0).all() and (frame["latency_zcu102_std"] >= 0).all()


def test_fit_device_zero_shot_for_a_users_own_device_and_its_refusals(store, tmp_path, capsys):
    mine = tmp_path / "mine.toml"
    mine.write_text('[devices.mynpu]\nfamily = "fpga-dpu"\nprecision = "int8"\npeak_tops = 5.0\nbandwidth_gbs = 19.2\n'
                    'compute_units = 2\nbatch = 1\nsource = "the board vendor datasheet, rev. B"\n')
    assert main(["fit-device", "--store", str(store), "--target", "latency_mynpu", "--shots", "0", "--devices", str(mine), "--out", str(tmp_path / "npu")]) == 0
    details = json.loads((tmp_path / "npu" / "cross_device.json").read_text())
    weights = details["zero_shot_weights"]
    assert max(weights, key=weights.get) in ("latency_zcu102", "latency_vck190")  # the nearest devices: FPGA DPUs at batch 1
    capsys.readouterr()
    for arguments, message in [
        (["--target", "latency_mynpu", "--shots", "0"], "no descriptor for device 'mynpu'"),
        (["--target", "val_top1", "--shots", "5"], "not a device metric"),
        (["--target", "latency_zcu102", "--shots", "5000"], "only 590 measured architectures of latency_zcu102"),
        (["--target", "latency_zcu102", "--shots", "-1"], "must be 0 (zero-shot) or more"),
    ]:
        assert main(["fit-device", "--store", str(store), *arguments, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()


def test_fit_and_query_run_without_torch(store, tmp_path):
    """The surrogate side needs the records only: with torch made unimportable, fit and query still work."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision', 'timm'):\n"
        "            raise ImportError(f'{name} is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from accelbench.workflows.cli import main\n"
        f"assert main(['fit', '--store', {str(store)!r}, '--out', {str(tmp_path / 'fit')!r}, '--targets', 'throughput_a100', '--models', 'linear', '--members', '1']) == 0\n"
        "from accelbench.search_space import sample\nfrom accelbench.surrogate.benchmark import Benchmark\n"
        f"print(len(Benchmark.load({str(tmp_path / 'fit')!r}).query(sample(5, 1))))\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("5")


def test_status_and_compact_report_and_keep_every_record(store, tmp_path, capsys):
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    from accelbench.pipeline.store import Store

    for index in range(3):  # a few task fragments beside the imported batches
        row = Store(copy).read("profile").slice(index, 1).to_pylist()[0]
        Store(copy).write("profile", [{**row, "task_key": row["task_key"] + f"-extra{index}"}])
    before = {table: Store(copy).read(table, ["task_key"]).num_rows for table in ("archs", "train", "profile")}

    assert main(["status", str(copy), "--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "train (anb-proxy (reference))" in out and "592 architectures" in out
    assert (tmp_path / "plots" / "pareto_latency_zcu102.png").exists()

    assert main(["compact", str(copy)]) == 0
    assert "profile: 4 files -> 1" in capsys.readouterr().out
    after = {table: Store(copy).read(table, ["task_key"]).num_rows for table in ("archs", "train", "profile")}
    assert after == before
    assert all(len(list((copy / table).glob("*.parquet"))) == 1 for table in ("archs", "train", "profile"))


def test_search_a_stores_measured_architectures_as_a_tabular_benchmark(store, tmp_path, capsys):
    assert main(["search", "--store", str(store), "--algorithm", "evolution", "--objective", "val_top1", "--constraint",
                 "latency_zcu102<=6", "--budget", "40", "--output", str(tmp_path / "s")]) == 0
    assert "tabular benchmark: " in capsys.readouterr().err
    records = pd.read_parquet(tmp_path / "s" / "queries.parquet")
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.views import wide

    frame = wide(Store(store)).set_index("compact")
    assert set(records["compact"]) <= set(frame.index)  # only measured architectures
    best = json.loads((tmp_path / "s" / "result.json").read_text())["best"]
    assert best["val_top1_mean"] == frame.loc[best["compact"], "val_top1"] and frame.loc[best["compact"], "latency_zcu102"] <= 6
    assert main(["search", "--store", str(store), "--algorithm", "random", "--objective", "random_weight_top1", "--budget", "5",
                 "--output", str(tmp_path / "r")]) == 2
    assert "random_weight_top1" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_import_keeps_every_measurement_of_a_repeated_architecture(anb_records, tmp_path):
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.views import repeat_pairs, wide

    arch_id = lambda record: Architecture.from_reference(record.data["architecture"]).arch_id  # noqa: E731
    repeats = Counter(arch_id(r) for r in anb_records)
    repeated = [r for r in anb_records if repeats[arch_id(r)] > 1]  # in order of N, as the import reads them
    assert len(repeated) >= 10
    folder = tmp_path / "records"
    folder.mkdir()
    for record in repeated:
        (folder / record.name).write_text(json.dumps(record.data))
    assert main(["import-anb", str(folder), "--store", str(tmp_path / "store")]) == 0
    store = Store(tmp_path / "store")
    first, second = {}, {}
    for record in repeated:
        (second if arch_id(record) in first else first).setdefault(arch_id(record), record.data["platform_perf"]["throughput_3090"]["throughput_mean"])
    pairs = repeat_pairs(store)["throughput_3090"]
    assert pairs == ([first[a] for a in sorted(first)], [second[a] for a in sorted(first)])
    frame = wide(store).set_index("arch_id")
    assert all(frame.loc[a, "throughput_3090"] == first[a] for a in first)  # the first record stays the architecture's value
    assert set(repeat_pairs(store)) >= {"val_top1", "latency_vck190", "throughput_tpuv3"}


def test_import_undoes_the_reference_s_negated_train_time(anb_records, tmp_path):
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.views import result_columns, wide

    folder = tmp_path / "records"
    folder.mkdir()
    expected = {}
    for index, record in enumerate(anb_records[:20]):
        data = json.loads(json.dumps(record.data))
        seconds = data["metrics"]["train_time"]
        data["metrics"]["train_time"] = -seconds if index % 2 else seconds  # the reference's scripts flipped its sign
        expected[Architecture.from_reference(data["architecture"]).arch_id] = seconds
        (folder / record.name).write_text(json.dumps(data))
    assert main(["import-anb", str(folder), "--store", str(tmp_path / "store")]) == 0
    frame = wide(Store(tmp_path / "store")).set_index("arch_id")
    assert {a: frame.loc[a, "train_time_s"] for a in expected} == expected and min(expected.values()) > 0
    assert "train_time_s" in result_columns(frame)  # a target `fit` fits by default
