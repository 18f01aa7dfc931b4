"""Per-task overhead of accelbench's scheduling and store path over a bare Ray task.

2,000 no-op tasks, the same in-flight cap, on a local Ray started once:
- bare: `ray.remote` no-op tasks driven by a `ray.wait` loop, results discarded;
- accelbench: the real `collect` driver (planning, resource options, retries bookkeeping, progress,
  one Parquet fragment written atomically per task, the store lock), with the profiling task
  replaced by a no-op that returns a ready-made record, so only the pipeline's own cost is timed.
"""

from __future__ import annotations

import io
import tempfile
import time

import ray

TASKS = 2000
IN_FLIGHT = 64


@ray.remote(num_cpus=0.1)
def noop() -> None:
    return None


def bare_seconds() -> float:
    started = time.perf_counter()
    pending, submitted = [], 0
    while submitted < TASKS or pending:
        while submitted < TASKS and len(pending) < IN_FLIGHT:
            pending.append(noop.remote())
            submitted += 1
        ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
        ray.get(ready)
    return time.perf_counter() - started


def accelbench_seconds() -> float:
    from accelbench.pipeline.stages import profile as profile_stage
    from accelbench.pipeline.records import now, profile_row
    from accelbench.pipeline.run import collect
    from accelbench.pipeline.store import Store
    from accelbench.pipeline.sweep import Sweep
    from accelbench.profiling.protocol import Measurement
    from accelbench.profiling.target import Target

    def record_without_measuring(architecture_json, target, report, onnx, cache, code_version, attempts, weights=None):
        from accelbench.search_space import Architecture

        arch_id = Architecture.from_json(architecture_json).arch_id
        measurement = Measurement.of_samples(arch_id, Target(**target), [1.0, 1.1, 0.9])
        return profile_row(measurement.to_row(), report, now(), code_version, attempts)

    sweep = Sweep.from_dict({
        "name": "overhead",
        "architectures": {"sample": TASKS, "seed": 0},
        # a backend that needs no ONNX, so no export tasks run; the task itself is replaced below
        "profiling": {"targets": [{"name": "noop", "backend": "torch", "device": "cuda", "resources": {"CPU": 0.1}}]},
        "scheduling": {"max_in_flight": IN_FLIGHT, "progress_interval_s": 3600},
    })
    original = profile_stage.profile_target
    profile_stage.profile_target = record_without_measuring  # the profile stage makes its Ray task from this when a run starts
    try:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            summary = collect(sweep, Store(folder), stream=io.StringIO())
            elapsed = time.perf_counter() - started
            assert summary.ran == TASKS, summary
    finally:
        profile_stage.profile_target = original
    return elapsed


def main() -> None:
    ray.init(address="local", include_dashboard=False, logging_level="WARNING")
    try:
        bare_seconds()  # warm the worker pool
        bare = bare_seconds()
        ours = accelbench_seconds()
    finally:
        ray.shutdown()
    per_task_bare, per_task_ours = bare / TASKS * 1000, ours / TASKS * 1000
    print(f"{TASKS} no-op tasks, {IN_FLIGHT} in flight, local Ray")
    print(f"  bare Ray task         {per_task_bare:6.2f} ms/task  ({bare:.1f} s)")
    print(f"  accelbench pipeline   {per_task_ours:6.2f} ms/task  ({ours:.1f} s, incl. one Parquet fragment per task)")
    print(f"  overhead              {per_task_ours - per_task_bare:+6.2f} ms/task, ratio {ours / bare:.2f}x the bare path")
    print("  (a proxified training takes ~3 GPU-hours and a profile seconds to minutes: the overhead is noise)")


if __name__ == "__main__":
    main()
