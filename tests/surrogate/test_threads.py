"""Thread discipline (accelbench/common/threads.py): fits and queries use the cores they were given.

Thread counts are read from the kernel (/proc/PID/task: the threads that did work), never inferred from
times, so the tests hold on a busy machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from accelbench.common import threads as thread_settings
from accelbench.common.errors import InputError

REPO = Path(__file__).parents[2]
WORKED = 0.25  # CPU seconds a thread must have used to count as one the fit worked on
TICK = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def restore_threads():
    yield
    thread_settings._chosen = None


def test_threads_come_from_the_affinity_mask_unless_set(restore_threads):
    assert thread_settings.threads() == len(os.sched_getaffinity(0))
    assert thread_settings.set_threads(1) == 1 and thread_settings.threads() == 1
    for bad in (0, -1, 2.5, True, 10**6):
        with pytest.raises(InputError, match="--threads"):
            thread_settings.set_threads(bad)


def test_a_ray_task_uses_the_cpus_ray_gave_it(ray_cluster):
    import ray

    @ray.remote(num_cpus=1)
    def given() -> int:
        from accelbench.common.threads import threads

        return threads()

    assert ray.get(given.remote()) == 1  # of the head's 2 CPUs, the task was given one
    assert thread_settings.ray_cores() is None  # the driver has none assigned: its affinity mask counts


@pytest.mark.parametrize("name, capacity", [("xgboost", {"rounds": 300}), ("lightgbm", {"rounds": 300}), ("block_queue_robust", {"rounds": 300}),
                                            ("linear", {"penalty": 1.0})], ids=["xgboost", "lightgbm", "block_queue_robust", "linear"])  # BLAS's sums split over threads: the linear fit holds it to one
def test_a_fit_is_the_same_on_any_thread_count(reference_frame, name, capacity, restore_threads, tmp_path):
    from accelbench.surrogate.features import features
    from accelbench.surrogate.fit import fit_member

    frame = reference_frame.iloc[:900]
    x, y = features(frame), frame["throughput_a100"].to_numpy(dtype=float)
    predictions, saved = [], []
    for count in (1, 2):
        thread_settings.set_threads(count)
        model = fit_member(name, "log", x[:600], y[:600], None, None, seed=0, bootstrap=False, target="throughput_a100", capacity={**capacity, "rows": 600})
        predictions.append(model.predict(x[800:]))
        (tmp_path / str(count)).mkdir()
        saved.append(model.save(tmp_path / str(count) / "member"))
    assert np.array_equal(*predictions)
    assert (tmp_path / "1" / saved[0]).read_bytes() == (tmp_path / "2" / saved[1]).read_bytes()  # a release's files too


def test_a_commands_threads_end_with_it(tmp_path, restore_threads):
    from accelbench.workflows import cli

    before = thread_settings.threads(), os.environ.get("OMP_NUM_THREADS")
    given = str(before[0] + 1)
    assert cli.main(["fit", "--store", str(tmp_path / "none"), "--out", str(tmp_path / "fit"), "--threads", given]) != 0  # no store: fails after --threads
    assert (thread_settings.threads(), os.environ.get("OMP_NUM_THREADS")) == before


def cpu_seconds_by_thread(pid: int) -> dict[int, float]:
    seen = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between the listing and the read
        seen[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return seen


def threads_that_worked(processes: list[subprocess.Popen]) -> list[int]:
    """Per process: how many of its threads used at least WORKED CPU seconds (sampled until it exits)."""
    seen: list[dict[int, float]] = [{} for _ in processes]
    while any(p.poll() is None for p in processes):
        for process, record in zip(processes, seen):
            try:
                record.update(cpu_seconds_by_thread(process.pid))
            except (FileNotFoundError, ProcessLookupError):
                pass
        time.sleep(0.05)
    assert all(p.returncode == 0 for p in processes), [p.stderr.read() for p in processes]
    return [sum(seconds >= WORKED for seconds in record.values()) for record in seen]


def test_two_fits_at_once_each_work_on_the_threads_they_were_given(anb_records, tmp_path):
    from accelbench.pipeline.anb_format import rows_from_records
    from accelbench.pipeline.store import Store

    store = Store(tmp_path / "store")
    for table, rows in rows_from_records(anb_records[:600], "test").items():
        store.write(table, rows)

    def fit(name: str, *threads: str, one_core: bool = False) -> subprocess.Popen:
        command = [sys.executable, "-m", "accelbench.workflows.cli", "fit", "--store", str(tmp_path / "store"), "--out", str(tmp_path / name),
                   "--targets", "throughput_a100", "--models", "lightgbm", "xgboost", "--members", "1", "--calibration-folds", "2", *threads]
        preexec = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_core else None
        return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=preexec)

    assert threads_that_worked([fit("a", "--threads", "1"), fit("b", "--threads", "1")]) == [1, 1]
    one_core, two_threads = threads_that_worked([fit("c", one_core=True), fit("d", "--threads", "2")])
    assert one_core == 1  # the affinity mask of one core, no --threads
    assert two_threads > 1  # the measure sees more when more are given
