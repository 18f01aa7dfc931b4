"""Resume planning over 100,000 done records: how long a rerun takes to decide what is left.

The store holds 10,000 architectures x 10 profiling targets = 100,000 records: 90,000 compacted (as
after `accelbench compact`) and 10,000 loose fragments (written since). accelbench's planning lists the
fragments by name, reads only the `task_key` column of the parts and checks every fragment's footer.
Baseline, in the same run: reading every record in full with pyarrow and taking its keys. Goal: <= 2 s.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

ARCHITECTURES = 10_000
TARGETS = 10
LOOSE = 10_000


def sweep_values():
    targets = [{"name": f"t{i}", "backend": "onnxruntime", "options": {"tag": i}} for i in range(TARGETS)]
    return {"name": "planning", "architectures": {"sample": ARCHITECTURES, "seed": 1}, "profiling": {"targets": targets}}


def fill(store, sweep) -> None:
    from accelbench.pipeline.plan import sweep_architectures, sweep_tasks
    from accelbench.pipeline.records import to_table

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    tasks = sweep_tasks(sweep, sweep_architectures(sweep))
    rows = [
        {"task_key": t.key, "arch_id": t.architecture.arch_id, "target": t.target.name, "target_id": t.key.rsplit("/", 1)[1],
         "backend": "onnxruntime", "device": "cpu", "batch": 1, "precision": "fp32", "threads": 1, "reported": ["latency"], "status": "ok",
         "latency_ms_median": 10.0, "latency_ms_mean": 10.0, "latency_ms_std": 0.1, "latency_ms_p90": 10.2, "n": 30, "throughput_ips": 100.0,
         "throughput_ips_std": 1.0, "samples_ms": [10.0] * 30, "build_time_s": None, "other_load": 0.0, "environment": "{}", "attempts": 1,
         "host": "bench", "started_at": when, "finished_at": when, "code_version": "bench", "error": None}
        for t in tasks
    ]
    compacted = rows[: len(rows) - LOOSE]
    store._write_file("profile", "part-bench.parquet", to_table("profile", compacted))
    for row in rows[len(rows) - LOOSE :]:
        store.write("profile", [row])


def main() -> None:
    from accelbench.pipeline.plan import make_plan
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.sweep import Sweep

    sweep = Sweep.from_dict(sweep_values())
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        started = time.perf_counter()
        fill(store, sweep)
        print(f"store: {ARCHITECTURES * TARGETS} records ({LOOSE} fragments + 1 part) written in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        plan = make_plan(sweep, store)
        ours = time.perf_counter() - started
        assert plan.done == ARCHITECTURES * TARGETS and not plan.todo, plan.done

        started = time.perf_counter()
        import pyarrow.parquet as pq

        tables = [pq.read_table(path) for path in sorted(str(p) for p in Path(folder, "profile").glob("*.parquet"))]
        keys = set(pa.concat_tables(tables).column("task_key").to_pylist())
        baseline = time.perf_counter() - started
        assert len(keys) == ARCHITECTURES * TARGETS
    print(f"  accelbench planning (sampling, task keys, listing, footers, key column)  {ours:.2f} s  (goal <= 2 s)")
    print(f"  baseline: read every record in full                                       {baseline:.2f} s")
    print(f"  ratio {baseline / ours:.1f}x faster than the baseline")


if __name__ == "__main__":
    main()
