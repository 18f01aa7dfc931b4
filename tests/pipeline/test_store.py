"""The Parquet store: atomic fragments, resume keys, quarantine, compaction, the lock, the wide view."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelbench.pipeline.records import RecordError, arch_row, row, to_table
from accelbench.pipeline.store import NotAStore, Store, StoreError
from accelbench.pipeline.views import wide
from accelbench.search_space import sample
from accelbench.common.errors import InputError

ARCHS = sample(6, seed=3)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def profile_row(arch_index: int, target: str = "cpu", status: str = "ok", latency: float = 10.0, minute: int = 0, batch: int = 1) -> dict:
    arch_id = ARCHS[arch_index].arch_id
    ok = status == "ok"
    return row(
        "profile", task_key=f"{arch_id}/profile/{target}id", arch_id=arch_id, target=target, target_id=f"{target}id",
        backend="onnxruntime", device="cpu", batch=batch, precision="fp32", threads=1,
        reported=["latency"] if batch == 1 else ["throughput"], status=status,
        latency_ms_median=latency if ok else None, latency_ms_mean=latency if ok else None, latency_ms_std=0.1 if ok else None,
        latency_ms_p90=latency if ok else None, n=30 if ok else 0, throughput_ips=batch * 1000 / latency if ok else None,
        throughput_ips_std=1.0 if ok else None, samples_ms=[latency] * 3 if ok else [], other_load=0.0,
        environment="{}", attempts=1, host="h", started_at=T0, finished_at=T0 + timedelta(minutes=minute),
        code_version="test", error=None if ok else "boom",
    )


def train_row(arch_index: int, top1: float, seed: int = 0, recipe_id: str = "r1", status: str = "ok") -> dict:
    arch_id = ARCHS[arch_index].arch_id
    return row(
        "train", task_key=f"{arch_id}/train/{recipe_id}-s{seed}", arch_id=arch_id, recipe_id=recipe_id, recipe_name="smoke", seed=seed, data_id="d1",
        status=status, val_top1=top1, val_top5=99.0, top1_convention="best_of_validated",
        curve=[{"epoch": 0, "resolution": 32, "lr": 0.1, "train_loss": 2.0, "train_top1": 10.0, "val_top1": None, "val_top5": None}],
        train_time_s=1.0, device_name="cpu", device_count=1, attempts=1, host="h", started_at=T0, finished_at=T0, code_version="test",
    )


def test_fragments_are_written_whole_and_named_by_their_key(tmp_path):
    store = Store(tmp_path)
    path = store.write("profile", [profile_row(0)])
    assert Path(path).name == f"{ARCHS[0].arch_id}.cpuid.parquet"
    assert store.done_keys("profile") == {profile_row(0)["task_key"]}
    assert not list(tmp_path.rglob(".tmp-*"))
    assert store.read("profile").to_pylist()[0]["latency_ms_median"] == 10.0


def test_a_write_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    store = Store(tmp_path)

    def broken(table, sink, **kwargs):
        sink.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write("profile", [profile_row(0)])
    assert list((tmp_path / "profile").iterdir()) == []


def test_rows_that_do_not_fit_the_schema_are_refused_naming_the_column():
    row = profile_row(0)
    row["latency"] = 3.0
    with pytest.raises(RecordError, match="unknown columns \\['latency'\\]"):
        to_table("profile", [row])
    with pytest.raises(RecordError, match="status='weird'"):
        to_table("profile", [profile_row(0, status="weird")])
    with pytest.raises(RecordError, match="table='nope' is unknown"):
        to_table("nope", [])


def test_truncated_fragment_is_quarantined_by_the_lock_holder_and_its_task_no_longer_counts_as_done(tmp_path):
    store = Store(tmp_path)
    good = store.write("profile", [profile_row(0)])
    bad = Path(store.write("profile", [profile_row(1)]))
    bad.write_bytes(bad.read_bytes()[:-9])
    with store.lock("collect"):
        assert store.done_keys("profile") == {profile_row(0)["task_key"]}
    assert not bad.exists() and Path(good).exists()
    moved = list((tmp_path / "_quarantine" / "profile").iterdir())
    assert len(moved) == 1 and "truncated" in store.quarantine_log()[0]["reason"]
    assert store.reported_quarantine and "redone" in store.reported_quarantine[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_reader_without_the_lock_skips_bad_files_and_changes_nothing(tmp_path):
    store = Store(tmp_path)
    store.write("profile", [profile_row(0)])
    bad = Path(store.write("profile", [profile_row(1)]))
    bad.write_bytes(bad.read_bytes()[:-9])
    before = snapshot(tmp_path)
    reader = Store(tmp_path)
    assert reader.done_keys("profile") == {profile_row(0)["task_key"]}
    assert [row["arch_id"] for row in reader.read("profile").to_pylist()] == [ARCHS[0].arch_id]
    assert snapshot(tmp_path) == before and not (tmp_path / "_quarantine").exists()
    assert len(reader.skipped) == 1 and "truncated" in reader.skipped[0] and "skipped" in reader.skipped[0]


def test_stray_and_foreign_files_in_a_table_folder_are_left_alone_and_reported(tmp_path):
    store = Store(tmp_path)
    store.write("profile", [profile_row(0)])
    (tmp_path / "profile" / "notes.txt").write_text("mine")
    (tmp_path / "profile" / "foo.parquet").write_bytes(b"not even parquet")
    foreign = pa.table({"x": [1, 2]})
    pq.write_table(foreign, tmp_path / "profile" / "part-0.parquet")  # what pandas or Spark would name a file
    pq.write_table(foreign, tmp_path / "profile" / f"{ARCHS[1].arch_id}.cpuid.parquet")  # a record's name, another schema
    reader = Store(tmp_path)
    assert reader.done_keys("profile") >= {profile_row(0)["task_key"]}
    assert [row["arch_id"] for row in reader.read("profile").to_pylist()] == [ARCHS[0].arch_id]
    skipped = "\n".join(reader.skipped)
    assert "notes.txt: not a record file name" in skipped and "foo.parquet: not a record file name" in skipped
    assert "part-0.parquet: not a profile record file (no column task_key" in skipped
    assert f"{ARCHS[1].arch_id}.cpuid.parquet" in skipped
    assert (tmp_path / "profile" / "notes.txt").read_text() == "mine"


def test_a_fragment_with_a_footer_but_a_corrupt_body_is_quarantined_when_read(tmp_path):
    store = Store(tmp_path)
    store.write("profile", [profile_row(0)])
    bad = Path(store.write("profile", [profile_row(1)]))
    data = bytearray(bad.read_bytes())
    data[4:40] = b"\xff" * 36
    bad.write_bytes(bytes(data))
    with store.lock("collect"):
        rows = store.read("profile").to_pylist()
    assert [row["arch_id"] for row in rows] == [ARCHS[0].arch_id]
    assert not bad.exists()


def test_writing_several_tables_is_all_or_nothing(tmp_path):
    store = Store(tmp_path)
    good = [arch_row(a) for a in ARCHS[:2]]
    bad = profile_row(0)
    bad["status"] = "weird"
    with pytest.raises(RecordError, match="status='weird'"):
        store.write_tables({"archs": good, "profile": [bad]})
    assert not any(p.suffix == ".parquet" for p in tmp_path.rglob("*"))
    store.write_tables({"archs": good, "profile": [profile_row(0)]})
    assert store.read("archs").num_rows == 2 and store.read("profile").num_rows == 1
    assert (tmp_path / "_store.json").is_file()


def test_a_path_that_is_not_a_store_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotAStore, match="is a file, not a store folder"):
        Store(tmp_path / "file").check_usable(create=True)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "thesis.tex").write_text("x")
    with pytest.raises(NotAStore, match="not an accelbench store"):
        Store(tmp_path / "folder").check_usable(create=True)
    with pytest.raises(NotAStore, match="no such store"):
        Store(tmp_path / "absent").check_usable(create=False)
    Store(tmp_path / "absent").check_usable(create=True)
    (tmp_path / "empty").mkdir()
    Store(tmp_path / "empty").check_usable(create=True)


def test_the_latest_record_of_a_key_wins(tmp_path):
    store = Store(tmp_path)
    store.write("profile", [profile_row(0, status="failed", minute=0)])
    retried = profile_row(0, latency=12.0, minute=5)
    store.write("profile", [retried])
    rows = store.read("profile").to_pylist()
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["latency_ms_median"] == 12.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["cpu", "gpu"]), st.integers(0, 9)), min_size=1, max_size=14), st.booleans())
def test_compaction_keeps_exactly_the_latest_row_of_every_key(tmp_path_factory, writes, crash_between_write_and_delete):
    store = Store(tmp_path_factory.mktemp("store"))
    expected = {}
    for arch_index, target, minute in writes:
        row = profile_row(arch_index, target, latency=1.0 + minute, minute=minute)
        if row["task_key"] in expected and expected[row["task_key"]]["finished_at"] > row["finished_at"]:
            continue  # an older record never replaces a newer one on disk either: skip writing it
        store.write("profile", [row])
        expected[row["task_key"]] = row
    before = {Path(p).name: Path(p).read_bytes() for p in store.list("profile").files}

    store.compact("profile")
    if crash_between_write_and_delete:  # the fragments come back as if the deletes never happened
        for name, content in before.items():
            (Path(store.root) / "profile" / name).write_bytes(content)

    rows = {row["task_key"]: row for row in store.read("profile").to_pylist()}
    assert set(rows) == set(expected)
    assert {k: r["latency_ms_median"] for k, r in rows.items()} == {k: r["latency_ms_median"] for k, r in expected.items()}
    assert store.done_keys("profile") == set(expected)
    store.compact("profile")
    assert len(store.list("profile").files) == 1


def _hold_lock(root: str, ready, release) -> None:
    with Store(root).lock("test holder"):
        ready.set()
        release.wait(30)


def test_a_second_driver_is_refused_while_the_first_holds_the_store(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(StoreError, match=f"in use by test holder .*pid {holder.pid}"):
            with Store(tmp_path).lock("second"):
                pass
    finally:
        release.set()
        holder.join(30)
    with Store(tmp_path).lock("after"):  # released on exit
        assert (tmp_path / "_lock").exists()
    assert not (tmp_path / "_lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(60)
    holder.kill()
    holder.join()
    assert (tmp_path / "_lock").exists()
    with Store(tmp_path).lock("successor"):
        assert f'"pid": {os.getpid()}' in (tmp_path / "_lock").read_text()


def _contend(root: str, rounds: int, start, log: str) -> None:
    """Try to take the store's lock `rounds` times; inside, do a non-atomic read-modify-write."""
    import time as clock

    store = Store(root)
    start.wait(60)
    for _ in range(rounds):
        try:
            with store.lock("contender"):
                counter = Path(root) / "counter"
                value = int(counter.read_text()) if counter.exists() else 0
                clock.sleep(0.002)
                counter.write_text(str(value + 1))
                with open(log, "a") as handle:
                    handle.write("1\n")
        except StoreError:
            clock.sleep(0.001)


def test_lock_stress_never_two_holders_even_when_taking_over_a_dead_owners_lock(tmp_path):
    """Eight processes race for the lock, starting from a lock file left by a SIGKILLed owner. Each
    holder increments a counter without any other protection: a lost update means two held it."""
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    dead = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    dead.start()
    assert ready.wait(60)
    dead.kill()
    dead.join()
    start, log = context.Event(), tmp_path / "entries"
    contenders = [context.Process(target=_contend, args=(str(tmp_path), 60, start, str(log))) for _ in range(8)]
    for process in contenders:
        process.start()
    start.set()
    for process in contenders:
        process.join(240)
        assert process.exitcode == 0
    entries = len(log.read_text().splitlines())
    assert entries > 8 and int((tmp_path / "counter").read_text()) == entries
    assert not (tmp_path / "_lock").exists()


def test_only_the_holder_releases_the_lock(tmp_path):
    first = Store(tmp_path)
    context = multiprocessing.get_context("spawn")
    with first.lock("first"):
        other = context.Process(target=_try_lock, args=(str(tmp_path),))
        other.start()
        other.join(60)
        assert other.exitcode == 3  # refused, and its refusal removed nothing
        assert '"purpose": "first"' in (tmp_path / "_lock").read_text()


def _try_lock(root: str) -> None:
    try:
        with Store(root).lock("second"):
            raise SystemExit(0)
    except StoreError:
        raise SystemExit(3)


def test_wide_view_has_one_row_per_architecture_and_a_column_per_result(tmp_path):
    store = Store(tmp_path)
    store.write("archs", [arch_row(a) for a in ARCHS[:3]])
    store.write("train", [train_row(0, 50.0, seed=0)])
    store.write("train", [train_row(0, 60.0, seed=1)])
    store.write("train", [train_row(1, 40.0)])
    store.write("train", [train_row(2, 0.0, status="diverged")])
    store.write("profile", [profile_row(0, "cpu", latency=10.0)])
    store.write("profile", [profile_row(1, "cpu", latency=20.0)])
    store.write("profile", [profile_row(0, "b16", latency=100.0, batch=16)])
    store.write("profile", [profile_row(2, "cpu", status="failed")])

    frame = wide(store).set_index("arch_id")

    assert list(frame.index) == sorted(a.arch_id for a in ARCHS[:3])
    first, second, third = (frame.loc[a.arch_id] for a in ARCHS[:3])
    assert first["val_top1"] == 55.0 and first["val_top1_std"] == 5.0 and first["train_seeds"] == 2
    assert second["val_top1"] == 40.0 and third.isna()["val_top1"]
    assert first["latency_cpu"] == 10.0 and second["latency_cpu"] == 20.0 and third.isna()["latency_cpu"]
    assert first["throughput_b16"] == 160.0 and "latency_b16" not in frame.columns and "throughput_cpu" not in frame.columns
    assert first["params"] == arch_row(ARCHS[0])["params"]


def test_wide_view_asks_which_recipe_when_there_are_several(tmp_path):
    store = Store(tmp_path)
    store.write("archs", [arch_row(ARCHS[0])])
    store.write("train", [train_row(0, 50.0, recipe_id="r1")])
    store.write("train", [train_row(0, 70.0, recipe_id="r2")])
    with pytest.raises(InputError, match="several recipes: r1 \\(smoke\\), r2 \\(smoke\\)"):  # exit 2: the user chooses
        wide(store)
    assert wide(store, recipe_id="r2")["val_top1"].tolist() == [70.0]


def test_half_written_files_of_a_killed_writer_are_removed_by_the_next_lock_holder(tmp_path):
    store = Store(tmp_path)
    store.write("profile", [profile_row(0)])
    leftover = tmp_path / "profile" / ".tmp-0123.parquet"
    leftover.write_bytes(b"PAR1 half")
    assert store.done_keys("profile") == {profile_row(0)["task_key"]}  # never listed as a record
    with store.lock("next driver"):
        assert store.remove_temporaries() == 1
    assert not leftover.exists() and len(list((tmp_path / "profile").iterdir())) == 1


def test_a_store_behind_a_pyarrow_filesystem_uri_works_the_same(tmp_path):
    """Object stores are reached through pyarrow's filesystems; its in-memory one stands in here."""
    store = Store("mock:///sweep")
    assert not store.local
    store.write("profile", [profile_row(0)])
    store.write("profile", [profile_row(1)])
    with store.filesystem.open_output_stream(store.path("profile", f"{ARCHS[2].arch_id}.cpuid.parquet")) as sink:
        sink.write(b"PAR1 truncated")
    with store.lock("collect"):
        assert store.done_keys("profile") == {profile_row(0)["task_key"], profile_row(1)["task_key"]}
    assert len(store.reported_quarantine) == 1 and store.lock_is_advisory
    with store.filesystem.open_output_stream(store.path("_lock")) as sink:  # another host's driver
        sink.write(b'{"purpose": "accelbench collect", "host": "elsewhere", "pid": 1}')
    with pytest.raises(StoreError, match="in use by accelbench collect on elsewhere .*delete"):
        with store.lock("second"):
            pass
    store.filesystem.delete_file(store.path("_lock"))
    assert store.compact("profile") == (2, 2)
    assert sorted(row["arch_id"] for row in store.read("profile").to_pylist()) == sorted(a.arch_id for a in ARCHS[:2])


def test_noisy_profiles_are_kept_but_fitted_only_when_asked(tmp_path):
    store = Store(tmp_path)
    store.write("archs", [arch_row(ARCHS[0]), arch_row(ARCHS[1])])
    store.write("profile", [profile_row(0, latency=10.0)])
    store.write("profile", [{**profile_row(1, latency=30.0), "status": "noisy", "latency_ms_median": 30.0, "latency_ms_mean": 30.0, "error": "loaded"}])
    ids = [ARCHS[0].arch_id, ARCHS[1].arch_id]
    quiet = wide(store, training=False).set_index("arch_id")["latency_cpu"]
    assert quiet[ids[0]] == 10.0 and np.isnan(quiet[ids[1]])
    both = wide(store, training=False, include_noisy=True).set_index("arch_id")["latency_cpu"]
    assert both[ids].tolist() == [10.0, 30.0]
