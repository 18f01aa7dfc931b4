"""The sweep on real Ray (a two-node loopback cluster) with real faults: killed workers, a killed
driver, a truncated fragment, failing architectures, resource routing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import ray

from accelbench.pipeline.plan import make_plan
from accelbench.pipeline.run import collect
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep
from accelbench.training.folders import DataError, identify
from tests.conftest import cluster_processes
from tests.pipeline.conftest import FAST_ORT, PROBE, sweep_values, to_toml

SMALL = "-".join(["e1k3l1"] * 7)
BIG = "-".join(["e6k5l3se"] * 5 + ["e6k5l4se", "e6k5l3se"])


def keys_and_statuses(store: Store, table: str) -> list[tuple[str, str]]:
    rows = store.read(table, ["task_key", "status"]).to_pylist()
    return [(row["task_key"], row["status"]) for row in rows]


def assert_one_record_per_task(store: Store, sweep: Sweep) -> None:
    plan = make_plan(sweep, store, data_id=identify(sweep.training.data).data_id)
    assert plan.todo == () and plan.done == plan.total
    for table in ("train", "profile"):
        keys = [key for key, _ in keys_and_statuses(store, table)]
        assert len(keys) == len(set(keys))
    on_disk = [p.name for p in Path(store.root).rglob("*.parquet")]
    assert len(on_disk) == len(set(on_disk))


def test_sweep_records_every_task_routes_by_resource_and_records_failures(ray_cluster, tiny_data, tmp_path):
    """Untrainable architectures (over the memory budget) and a target no node offers become records
    with reasons; the probe-resource target runs only on the node that has the resource."""
    architectures = tmp_path / "archs.jsonl"
    from accelbench.search_space import Architecture

    architectures.write_text("".join(Architecture.from_compact(text).to_json() + "\n" for text in (SMALL, BIG)))
    values = sweep_values(tiny_data, tmp_path / "onnx", targets=[
        {"name": "cpu", "backend": "onnxruntime", "resolution": 32, "options": FAST_ORT},
        {"name": "probed", "backend": "onnxruntime", "batch": 2, "resolution": 32, "options": FAST_ORT, "resources": {PROBE: 1}},
        {"name": "fpga", "backend": "onnxruntime", "resolution": 32, "options": FAST_ORT, "resources": {"zcu102": 1}},
    ])
    values["architectures"] = {"file": str(architectures)}
    values["training"]["overrides"] = {**values["training"]["overrides"], "untrainable_above_bytes": 64 * 2**20}  # the rule, with a small threshold
    sweep = Sweep.from_dict(values)
    store = Store(tmp_path / "store")
    log = io.StringIO()

    summary = collect(sweep, store, stream=log)

    assert summary.ran == 2 * 4 and not summary.interrupted
    train = {row["arch_id"]: row for row in store.read("train").to_pylist()}
    small, big = Architecture.from_compact(SMALL).arch_id, Architecture.from_compact(BIG).arch_id
    assert train[small]["status"] == "ok" and train[small]["val_top1"] is not None
    assert train[big]["status"] == "untrainable" and "by the rule" in train[big]["error"] and train[big]["check_memory_bytes"] > 64 * 2**20
    assert train[big]["trainability_rule"] == train[small]["trainability_rule"] and "0.0671089e9 bytes" in train[big]["trainability_rule"]
    profile = store.read("profile").to_pylist()
    by_target = {}
    for row in profile:
        by_target.setdefault(row["target"], []).append(row)
    assert all(row["status"] == "ok" for row in by_target["cpu"] + by_target["probed"])
    assert all(row["status"] == "unavailable" and "zcu102" in row["error"] for row in by_target["fpga"])
    probe_nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"] and node["Resources"].get(PROBE)}
    import json

    assert {json.loads(row["environment"])["ray_node_id"] for row in by_target["probed"]} <= probe_nodes
    assert "done" in log.getvalue() and "ETA" in log.getvalue()

    again = collect(sweep, store, stream=io.StringIO())
    assert again.planned == 0 and again.ran == 0
    assert_one_record_per_task(store, sweep)


def kill_first(address: str, process_title: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the test cluster's first process whose title starts with `process_title` (Ray names busy
    workers so); another Ray cluster's workers on the machine are never touched."""
    while not stop.is_set() and not killed:
        for process in cluster_processes(address):
            try:
                command = " ".join(process.cmdline())
            except psutil.NoSuchProcess:
                continue
            if command.startswith(process_title):
                time.sleep(0.5)  # mid-task, not at its first instruction
                os.kill(process.pid, signal.SIGKILL)
                killed.append(process.pid)
                return
        time.sleep(0.05)


@pytest.mark.parametrize("process_title", ["ray::TrainingWorker.train", "ray::profile:cpu"])
def test_killed_worker_is_retried_and_every_task_ends_with_one_ok_record(ray_cluster, tiny_data, tmp_path, process_title):
    slow_ort = {**FAST_ORT, "min_time_s": 3.0}  # long enough to be killed mid-measurement
    sweep = Sweep.from_dict(sweep_values(tiny_data, tmp_path / "onnx", sample=2, targets=[{"name": "cpu", "backend": "onnxruntime", "resolution": 32, "options": slow_ort}]))
    store = Store(tmp_path / "store")
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=kill_first, args=(ray_cluster, process_title, killed, stop), daemon=True)
    killer.start()
    try:
        collect(sweep, store, stream=io.StringIO())
    finally:
        stop.set()
        killer.join()
    assert killed, f"no {process_title} process was seen"
    for table in ("train", "profile"):
        rows = store.read(table, ["task_key", "status", "attempts"]).to_pylist()
        assert [row["status"] for row in rows] == ["ok"] * 2
    table = "train" if "Training" in process_title else "profile"
    assert max(row["attempts"] for row in store.read(table, ["attempts"]).to_pylist()) == 2
    assert_one_record_per_task(store, sweep)


def run_cli(arguments: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "accelbench.workflows.cli", *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def collect_command(tmp_path: Path, values: dict, address: str) -> list[str]:
    """`accelbench collect` arguments for `values` written as a TOML config, into tmp_path/store."""
    config = tmp_path / "tiny.toml"
    config.write_text(to_toml(values))
    return ["collect", str(config), "--store", str(tmp_path / "store"), "--address", address]


def wait_for_fragments(folder: Path, count: int, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(list(folder.glob("*/[!.]*.parquet"))) >= count:
            return
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} fragments after {timeout_s} s")


def test_driver_killed_then_rerun_runs_only_what_is_missing(ray_cluster, tiny_data, tmp_path):
    values = sweep_values(tiny_data, tmp_path / "onnx", sample=4)
    command = collect_command(tmp_path, values, ray_cluster)
    store_dir = tmp_path / "store"
    first = run_cli(command)
    wait_for_fragments(store_dir, 1 + 3, first)  # the archs batch and three task records
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {path: path.read_bytes() for path in store_dir.glob("[tp]*/[!.]*.parquet")}
    assert before

    second = run_cli(command)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    recorded = len(before)
    assert f"{recorded} already recorded, {8 - recorded} to run" in output
    for path, content in before.items():  # nothing that was written is lost or rewritten
        assert path.read_bytes() == content
    assert not list(store_dir.rglob(".tmp-*"))  # what the killed driver was half-way through writing is gone
    assert_one_record_per_task(Store(store_dir), Sweep.from_dict(values))
    assert {p.name for p in (store_dir / "_report").iterdir()} == {"learning_curves.png", "pareto_latency_cpu.png"}

    third = run_cli(command)
    output, _ = third.communicate(timeout=120)
    assert third.returncode == 0 and "nothing to do" in output


def test_interrupted_driver_stops_cleanly_and_truncated_fragment_is_redone(ray_cluster, tiny_data, tmp_path):
    values = sweep_values(tiny_data, tmp_path / "onnx", sample=3)
    command = collect_command(tmp_path, values, ray_cluster)
    store_dir = tmp_path / "store"
    first = run_cli(command)
    wait_for_fragments(store_dir, 1 + 2, first)
    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 130, output
    assert "interrupted" in output and "run the same command again to resume" in output
    assert not list(store_dir.rglob(".tmp-*")) and not (store_dir / "_lock").exists()

    finished = run_cli(command)
    output, _ = finished.communicate(timeout=300)
    assert finished.returncode == 0, output

    victim = sorted((store_dir / "profile").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    redo = run_cli(command)
    output, _ = redo.communicate(timeout=300)
    assert redo.returncode == 0, output
    assert "quarantined" in output and "5 already recorded, 1 to run" in output
    assert victim.exists() and len(list((store_dir / "_quarantine" / "profile").iterdir())) == 1
    store = Store(store_dir)
    assert Counter(status for _, status in keys_and_statuses(store, "profile")) == {"ok": 3}
    assert_one_record_per_task(store, Sweep.from_dict(values))


def test_a_dataset_no_training_host_sees_stops_the_sweep_before_anything_is_written(ray_cluster, tmp_path):
    """The path is checked on a training worker (one probe task): a clear error, no records, no store."""
    values = sweep_values(tmp_path / "no-such-dataset", tmp_path / "onnx", sample=1)
    with pytest.raises(DataError, match="on a training host: .*no-such-dataset.* is not a folder"):
        collect(Sweep.from_dict(values), Store(tmp_path / "store"), address=ray_cluster, stream=io.StringIO())
    assert not list((tmp_path / "store").rglob("*.parquet")) and not (tmp_path / "store" / "_lock").exists()


def test_training_keys_name_the_dataset_so_another_dataset_is_new_work(ray_cluster, tiny_data, tmp_path):
    import shutil

    values = sweep_values(tiny_data, tmp_path / "onnx", sample=1, targets=[{"name": "cpu", "backend": "onnxruntime", "resolution": 32, "options": FAST_ORT}])
    values["profiling"] = None
    del values["profiling"]
    store = Store(tmp_path / "store")
    collect(Sweep.from_dict(values), store, stream=io.StringIO())
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    next((other / "train" / "0").iterdir()).unlink()  # one image fewer: another dataset
    values["training"]["data"] = str(other)
    log = io.StringIO()
    summary = collect(Sweep.from_dict(values), store, stream=log)
    assert summary.planned == 1 and "0 already recorded, 1 to run" in log.getvalue()
    data_ids = {row["data_id"] for row in store.read("train").to_pylist()}
    assert len(data_ids) == 2 and all(len(d) == 12 for d in data_ids)


def fake_tool(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\nimport json, sys, pathlib\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_an_fpga_target_waits_for_its_trained_weights_and_quantises_them(ray_cluster, tiny_data, tmp_path):
    """Training keeps safetensors weights in the store (named by its task key, with their sha256); the
    FPGA target runs after its architecture's training with those weights (stand-in Vitis AI tools check
    them); an architecture over the memory rule has no weights and its FPGA target says so."""
    quantize = fake_tool(tmp_path / "quantize", """
if sys.argv[1:2] == ["-c"]:
    print("2.5.0"); sys.exit(0)
arguments = sys.argv[1:]
weights = pathlib.Path(arguments[arguments.index("--weights") + 1])
assert weights.read_bytes()[8:9] == b"{", "not safetensors"
output = pathlib.Path(arguments[arguments.index("--output") + 1]); output.mkdir(parents=True)
(output / "Network_int.xmodel").write_text("q")
print(json.dumps({"quantized_top1": 50.0, "quantized_top5": 75.0, "vitis_ai": "2.5.0", "weights": str(weights)}))""")
    compiler = fake_tool(tmp_path / "vai_c_xir", """
arguments = sys.argv[1:]
output = pathlib.Path(arguments[arguments.index("-o") + 1]); output.mkdir(parents=True)
(output / (arguments[arguments.index("-n") + 1] + ".xmodel")).write_text("c")""")
    board = fake_tool(tmp_path / "board", """
mode = sys.argv[sys.argv.index("--mode") + 1]
print(json.dumps({"mode": "latency", "threads": 1, "dpu_batch": 1, "job_ms": [1.5, 1.6]} if mode == "latency" else
                 {"mode": "throughput", "threads": 5, "dpu_batch": 1, "images": 1000, "seconds": 0.5, "fps": 2000.0}))""")
    fpga = {"name": "fpga", "backend": "vitis", "precision": "int8", "report": ["latency", "throughput"], "options": {
        "calibration": str(tiny_data / "val"), "quantize_python": quantize, "compiler": compiler, "run_command": board + " --mode {mode}"}}
    architectures = tmp_path / "archs.jsonl"
    from accelbench.search_space import Architecture

    architectures.write_text("".join(Architecture.from_compact(text).to_json() + "\n" for text in (SMALL, BIG)))
    values = sweep_values(tiny_data, tmp_path / "onnx", targets=[fpga])
    values["architectures"] = {"file": str(architectures)}
    values["training"]["overrides"] = {**values["training"]["overrides"], "untrainable_above_bytes": 64 * 2**20}
    store = Store(tmp_path / "store")
    collect(Sweep.from_dict(values), store, stream=io.StringIO())

    small, big = Architecture.from_compact(SMALL).arch_id, Architecture.from_compact(BIG).arch_id
    train = {row["arch_id"]: row for row in store.read("train").to_pylist()}
    profile = {row["arch_id"]: row for row in store.read("profile").to_pylist()}
    weights = Path(store.root) / train[small]["weights_path"]

    assert train[small]["status"] == "ok" and weights.is_file() and hashlib.sha256(weights.read_bytes()).hexdigest() == train[small]["weights_sha256"]
    assert train[small]["weights_path"].startswith("_artifacts/weights/") and train[big]["weights_path"] is None
    assert profile[small]["status"] == "ok", profile[small]["error"]
    assert (profile[small]["accuracy_top1"], profile[small]["accuracy_top5"]) == (50.0, 75.0) and profile[small]["throughput_ips"] == 2000.0
    assert json.loads(profile[small]["environment"])["quantization"]["weights"] == str(weights)
    assert profile[small]["started_at"] >= train[small]["finished_at"]
    assert profile[big]["status"] == "unavailable" and "no trained weights" in profile[big]["error"]
    assert collect(Sweep.from_dict(values), store, stream=io.StringIO()).planned == 0


def test_block_tasks_are_run_and_recorded_like_profile_tasks(ray_cluster, tiny_data, tmp_path):
    """A target with blocks = true queues every distinct block of the space beside the architectures;
    on a target no node offers, each becomes an `unavailable` block record, and a rerun has nothing to do."""
    from accelbench.search_space import Architecture
    from accelbench.search_space.blocks import all_blocks

    architectures = tmp_path / "archs.jsonl"
    architectures.write_text(Architecture.from_compact(SMALL).to_json() + "\n")
    values = sweep_values(tiny_data, tmp_path / "onnx", targets=[
        {"name": "fpga", "backend": "onnxruntime", "resolution": 32, "options": FAST_ORT, "resources": {"zcu102": 1}, "blocks": True},
    ])
    values["architectures"] = {"file": str(architectures)}
    sweep = Sweep.from_dict(values)
    store = Store(tmp_path / "store")
    summary = collect(sweep, store, stream=io.StringIO())
    blocks = store.read("blocks", ["block", "status", "error"]).to_pylist()
    assert summary.ran == 1 + 1 + len(all_blocks()) and len(blocks) == len(all_blocks())
    assert {row["block"] for row in blocks} == {block.key for block in all_blocks()}
    assert all(row["status"] == "unavailable" and "zcu102" in row["error"] for row in blocks)
    assert collect(sweep, store, stream=io.StringIO()).ran == 0


def test_an_ofa_sweep_profiles_each_architecture_at_its_own_resolution_and_trains_the_first_n(ray_cluster, tiny_data, tmp_path):
    """The ofa space through collect: records of its space, a profile per architecture at its own
    resolution (the target's resolution is its block table's), training of the first N only, and a
    rerun with nothing to do."""
    from accelbench.pipeline.views import wide
    from accelbench.search_space import Architecture
    from accelbench.search_space.ofa import OFA

    smallest = [[(3, 3)] * 2] * 5
    chosen = [Architecture(OFA.values_of(resolution, smallest), "ofa") for resolution in (128, 160)]
    architectures = tmp_path / "archs.jsonl"
    architectures.write_text("".join(a.to_json() + "\n" for a in chosen))
    values = sweep_values(tiny_data, tmp_path / "onnx", targets=[{"name": "cpu", "backend": "onnxruntime", "resolution": 224, "options": FAST_ORT}],
                          architectures=1)
    values["architectures"] = {"space": "ofa", "file": str(architectures)}
    sweep = Sweep.from_dict(values)
    store = Store(tmp_path / "store")

    summary = collect(sweep, store, stream=io.StringIO())

    assert summary.ran == 1 + 2 and not summary.interrupted
    assert store.read("archs", ["space"]).column("space").to_pylist() == ["ofa", "ofa"]
    assert [row["arch_id"] for row in store.read("train", ["arch_id", "status"]).to_pylist() if row["status"] == "ok"] == [chosen[0].arch_id]
    profiled = {row["arch_id"]: row for row in store.read("profile").to_pylist()}
    assert {profiled[a.arch_id]["resolution"] for a in chosen} == {128, 160} and all(row["status"] == "ok" for row in profiled.values())
    assert all(profiled[a.arch_id]["resolution"] == a.choices[0] for a in chosen)
    frame = wide(store).set_index("arch_id")
    assert frame["latency_cpu"].notna().all() and frame["val_top1"].notna().sum() == 1
    assert collect(sweep, store, stream=io.StringIO()).ran == 0
