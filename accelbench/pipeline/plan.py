"""Resume planning: every task a sweep asks for, minus those the store already holds a record of."""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.pipeline.stages import STAGES, Task
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep
from accelbench.search_space import Architecture, sample
from accelbench.search_space.jsonl import read_architectures
from accelbench.search_space.sampling import sample_spread


@dataclass(frozen=True)
class Plan:
    architectures: tuple[Architecture, ...]
    todo: tuple[Task, ...]
    total: int  # tasks the sweep asks for
    done: int  # of those, already recorded
    redo: int  # recorded, but with a status asked to be retried
    data_id: str | None = None  # the training dataset's fingerprint, part of training keys


def sweep_architectures(sweep: Sweep) -> list[Architecture]:
    source = sweep.architectures
    if source.file is not None:
        return list(dict.fromkeys(read_architectures(source.file, (source.space,), f"the sweep's [architectures] space = {source.space!r}")))  # keeps the first of repeated lines
    if source.select == "spread":
        return sample_spread(source.sample, source.seed, source.space)
    return sample(source.sample, source.seed, source.space)


def sweep_tasks(sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[Task]:
    """Every stage's tasks, in the order they should run: architecture by architecture, each
    architecture's in stage order (training before profiling), then the work of the whole space.
    `data_id` (the training dataset's fingerprint) is part of every training task's key."""
    placed = [(place, order, task) for order, stage in enumerate(STAGES.values()) for place, task in stage.tasks(sweep, architectures, data_id)]
    return [task for _, _, task in sorted(placed, key=lambda item: item[:2])]


def make_plan(sweep: Sweep, store: Store, retry: tuple[str, ...] = (), data_id: str | None = None) -> Plan:
    architectures = sweep_architectures(sweep)
    tasks = sweep_tasks(sweep, architectures, data_id)
    done: set[str] = set()
    redo: set[str] = set()
    for table in {task.table for task in tasks}:
        done |= store.done_keys(table)
        if retry:
            statuses = store.read(table, ["task_key", "status"])
            redo |= {key for key, status in zip(statuses.column("task_key").to_pylist(), statuses.column("status").to_pylist()) if status in retry}
    wanted = {task.key for task in tasks}
    todo = tuple(task for task in tasks if task.key not in done or task.key in redo)
    return Plan(tuple(architectures), todo, len(tasks), len(wanted & done), len(wanted & redo), data_id)
