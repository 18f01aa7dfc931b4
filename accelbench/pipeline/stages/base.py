"""What a pipeline stage is: one kind of work of a sweep, recorded in one table. A stage says which tasks
a sweep asks of it (and their keys), and, for one run of the driver, which task can start next, how it
is submitted to Ray, and the record of a task that could not run or failed. The driver
(`pipeline.run.Driver`) schedules every stage the same way and knows none of them by name."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep, TargetSpec
from accelbench.search_space import Architecture

if TYPE_CHECKING:
    from accelbench.pipeline.plan import Plan


@dataclass(frozen=True)
class Task:
    """One piece of a stage's work. The driver reads only `key`, `table`, `label` and `subject`; what
    else the stage needs travels in `detail`, which only that stage reads."""

    key: str
    table: str  # the stage's name: its records' table
    architecture: Architecture | None  # None for work of the whole space (a block)
    label: str  # the stage in messages and counts: train, profile:<target>, blocks:<target>
    subject: str  # what the task is about, in messages: an arch_id or a block
    detail: Any = None  # the stage's own: a seed (train), a TargetSpec (profile), (TargetSpec, Block) (blocks)


@dataclass
class RunContext:
    """What every stage's run shares: the sweep, the store, the plan, this code's version, the cluster's nodes."""

    sweep: Sweep
    store: Store
    plan: Plan
    version: str
    nodes: list[dict[str, float]]  # the resources of every live node

    @property
    def first_seed(self) -> int | None:
        return self.sweep.training.seeds[0] if self.sweep.training else None


class Stage(Protocol):
    table: str  # its records' table (pipeline.records.SCHEMAS) and its tasks' kind

    def tasks(self, sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[tuple[int, Task]]:
        """Every task the sweep asks of this stage, each with its place: the index of its architecture, or
        len(architectures) for work of the whole space (after every architecture's)."""
        ...

    def start(self, context: RunContext, tasks: list[Task]) -> "StageRun":
        """This stage's part of one driver run, for the tasks still to do."""
        ...


class StageRun:
    """A stage's tasks in one run: a queue in plan order. The hooks below do nothing unless a stage needs them."""

    def __init__(self, context: RunContext, tasks: list[Task]) -> None:
        self.context = context
        self.queue: deque[Task] = deque(tasks)

    def next_task(self) -> Task | None:
        """The task to start next, or None when none can start now."""
        return self.queue.popleft() if self.queue else None

    def unavailable(self, task: Task) -> str | None:
        """Why the task cannot run in this sweep (it is then recorded `unavailable` with the reason)."""
        return None

    def submit(self, task: Task, attempt: int) -> Any:
        """Start the task on Ray; its ObjectRef comes back with the task's record (a dict row)."""
        raise NotImplementedError

    def row(self, task: Task, status: str, error: str, attempts: int) -> dict[str, Any]:
        """The record of a task that did not run (`unavailable`) or failed (`failed`), with the reason."""
        raise NotImplementedError

    def lost(self, task: Task) -> None:
        """The task's worker died (the task may be queued again with `requeue`)."""

    def requeue(self, task: Task) -> None:
        self.queue.appendleft(task)

    def finished(self, task: Task) -> None:
        """The task has its record (a result, or a failure after its last try)."""

    def recorded(self, task: Task, row: dict[str, Any]) -> None:
        """A record of any stage was written: a stage that waits for another's results hears it here."""

    def pending(self) -> bool:
        """Whether tasks are left to start (queued, or waiting for another stage)."""
        return bool(self.queue)

    def stop(self) -> None:
        """The run ends early: stop what the stage keeps running (actors)."""


def ray_resources(resources: dict[str, float], default_cpus: float) -> dict[str, Any]:
    """A resource dict as Ray task options."""
    options: dict[str, Any] = {"num_cpus": resources.get("CPU", default_cpus), "num_gpus": resources.get("GPU", 0)}
    custom = {name: amount for name, amount in resources.items() if name not in ("CPU", "GPU")}
    if custom:
        options["resources"] = custom
    return options


def unplaceable(needed: dict[str, float], nodes: list[dict[str, float]]) -> str | None:
    """Why no single node can run a task needing `needed` (None when one can)."""
    needed = {name: amount for name, amount in needed.items() if amount > 0}
    if any(all(node.get(name, 0) >= amount for name, amount in needed.items()) for node in nodes):
        return None
    most = {name: max((node.get(name, 0) for node in nodes), default=0) for name in needed}
    wanted = ", ".join(f"{name}={amount:g}" for name, amount in needed.items())
    best = ", ".join(f"{name}={amount:g}" for name, amount in most.items())
    return f"no node of the Ray cluster offers {wanted} together (the most any node has: {best}); start one with ray start --resources"
