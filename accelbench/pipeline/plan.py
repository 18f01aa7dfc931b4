"""Resume planning: every task a sweep asks for, minus those the store already holds a record of."""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.pipeline.records import task_key, train_config_id
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep, TargetSpec
from accelbench.search_space import Architecture, sample
from accelbench.search_space.sampling import sample_spread
from accelbench.search_space.blocks import Block, all_blocks
from accelbench.search_space.jsonl import read_architectures


@dataclass(frozen=True)
class Task:
    key: str
    table: str  # "train", "profile" or "blocks"
    architecture: Architecture | None  # None for a block
    seed: int | None = None  # train tasks
    target: TargetSpec | None = None  # profile and blocks tasks
    block: Block | None = None  # blocks tasks

    @property
    def stage(self) -> str:
        return self.table if self.table == "train" else f"{self.table}:{self.target.name}"

    @property
    def subject(self) -> str:
        """What the task is about, in messages: an arch_id or a block."""
        return self.block.key if self.block else self.architecture.arch_id


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
        return list(dict.fromkeys(read_architectures(source.file)))  # keeps the first of repeated lines
    if source.select == "spread":
        return sample_spread(source.sample, source.seed, source.space)
    return sample(source.sample, source.seed, source.space)


def sweep_tasks(sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[Task]:
    """In the order they should run: architecture by architecture, training before profiling.
    `data_id` (the training dataset's fingerprint) is part of every training task's key."""
    tasks = []
    train_configs = [(seed, train_config_id(sweep.training.resolved_recipe.recipe_id, seed, data_id)) for seed in sweep.training.seeds] if sweep.training else []
    targets = [(spec, spec.target.target_id) for spec in sweep.profiling.targets] if sweep.profiling else []
    for architecture in architectures:
        arch_id = architecture.arch_id
        for seed, config_id in train_configs:
            tasks.append(Task(task_key(arch_id, "train", config_id), "train", architecture, seed=seed))
        for spec, target_id in targets:
            tasks.append(Task(task_key(arch_id, "profile", target_id), "profile", architecture, target=spec))
    for spec, target_id in targets:  # per-block tables: every distinct block of the space, once per target
        if spec.blocks:
            tasks += [Task(task_key(block.block_id, "blocks", target_id), "blocks", None, target=spec, block=block) for block in all_blocks(sweep.architectures.space)]
    return tasks


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
