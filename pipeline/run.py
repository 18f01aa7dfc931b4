"""The sweep driver: plan what is missing, run it on Ray with bounded in-flight work, record every result.

The driver is idempotent: the store is the only state. Killed at any moment, a rerun plans again
from the store and runs only what has no record. A worker that dies is retried (`max_retries`), then
recorded as failed with the reason; an architecture's own failure is a record the worker returns.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ray
from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

from pipeline.plan import Plan, Task, make_plan, sweep_recipe
from pipeline.progress import Progress
from pipeline.records import arch_row
from pipeline.atomic import write_bytes_atomic
from pipeline.store import SWEEPS_FOLDER, Store
from pipeline.sweep import Sweep
from pipeline import workers

WAIT_TIMEOUT_S = 1.0  # ray.wait always with a timeout (ray#44909)
SYSTEM_FAILURES = (RayActorError, WorkerCrashedError, ray.exceptions.ObjectLostError, ray.exceptions.NodeDiedError)


@dataclass
class Summary:
    planned: int
    already_done: int
    statuses: dict[str, Counter] = field(default_factory=dict)  # stage -> status -> count, this run
    interrupted: bool = False
    quarantined: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return sum(sum(counts.values()) for counts in self.statuses.values())


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("accelbench")
    except PackageNotFoundError:
        text = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
            text += f"+g{commit.stdout.strip()}{'.dirty' if dirty.stdout.strip() else ''}"
    except (OSError, subprocess.SubprocessError):
        pass
    return text


def connect(address: str | None) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), else start Ray here; True when this call started it."""
    if ray.is_initialized():
        return False
    # "local": a fresh Ray here even if `ray start` runs on this machine; joining one is always explicit
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False, logging_level="WARNING")
    return True


def ray_resources(resources: dict[str, float], default_cpus: float) -> dict[str, Any]:
    """A target's resource dict as Ray task options."""
    options: dict[str, Any] = {"num_cpus": resources.get("CPU", default_cpus), "num_gpus": resources.get("GPU", 0)}
    custom = {name: amount for name, amount in resources.items() if name not in ("CPU", "GPU")}
    if custom:
        options["resources"] = custom
    return options


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def describe(error: BaseException) -> str:
    """An error in one line: its type and first line, and the root cause (the traceback's last line)."""
    lines = [line.strip() for line in ANSI_ESCAPE.sub("", str(error)).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    head = f"{type(error).__name__}: {lines[0][:200]}"
    return head if len(lines) == 1 else f"{head} ... {lines[-1][:300]}"


def unplaceable(needed: dict[str, float], nodes: list[dict[str, float]]) -> str | None:
    """Why no single node can run a task needing `needed` (None when one can)."""
    needed = {name: amount for name, amount in needed.items() if amount > 0}
    if any(all(node.get(name, 0) >= amount for name, amount in needed.items()) for node in nodes):
        return None
    most = {name: max((node.get(name, 0) for node in nodes), default=0) for name in needed}
    wanted = ", ".join(f"{name}={amount:g}" for name, amount in needed.items())
    best = ", ".join(f"{name}={amount:g}" for name, amount in most.items())
    return f"no node of the Ray cluster offers {wanted} together (the most any node has: {best}); start one with ray start --resources"


class Driver:
    def __init__(self, sweep: Sweep, store: Store, plan: Plan, stream: TextIO) -> None:
        self.sweep, self.store, self.plan, self.stream = sweep, store, plan, stream
        self.version = code_version()
        self.progress = Progress(len(plan.todo), sweep.scheduling.progress_interval_s, stream)
        self.statuses: dict[str, Counter] = {}
        self.in_flight: dict[ray.ObjectRef, tuple[Task, Any]] = {}  # ref -> (task, actor or None)
        self.attempts: Counter[str] = Counter()
        self.train_queue: deque[Task] = deque(task for task in plan.todo if task.table == "train")
        self.profile_queue: deque[Task] = deque(task for task in plan.todo if task.table == "profile")
        self.exports: dict[tuple[str, int], ray.ObjectRef] = {}
        self.exports_left: Counter[tuple[str, int]] = Counter()
        self.actors: list[Any] = []
        self.idle_actors: list[Any] = []
        self.models_per_actor: Counter[Any] = Counter()
        nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
        self.unavailable_reason: dict[str, str] = {}
        if sweep.training:
            self.recipe = sweep_recipe(sweep).to_dict()
            needed = {"CPU": sweep.training.cpus_per_worker, "GPU": sweep.training.gpus_per_worker}
            if sweep.training.device == "cuda" and not needed["GPU"]:
                needed["GPU"] = 1
            self.train_options = {"num_cpus": needed["CPU"], "num_gpus": needed["GPU"], "max_restarts": -1, "max_task_retries": 0}
            reason = unplaceable(needed, nodes)
            if reason:
                self.unavailable_reason["train"] = reason
        if sweep.profiling:
            for spec in sweep.profiling.targets:
                reason = unplaceable({"CPU": spec.target.threads, **spec.resources}, nodes)
                if reason:
                    self.unavailable_reason[spec.name] = reason
            for task in self.profile_queue:
                if self.needs_onnx(task):
                    self.exports_left[self.export_key(task)] += 1

    # --- submission ---
    @staticmethod
    def export_key(task: Task) -> tuple[str, int]:
        return task.architecture.arch_id, int(task.target.target.option("resolution", 224))

    def needs_onnx(self, task: Task) -> bool:
        from profiling.backends import get_backend

        return get_backend(task.target.target.backend).needs_onnx and task.target.name not in self.unavailable_reason

    def submit_train(self, task: Task, actor: Any) -> None:
        budget = self.sweep.training.memory_budget_gb
        ref = actor.train.remote(
            task.architecture.to_json(), self.recipe, task.seed, int(budget * 2**30) if budget else None, self.version, self.attempts[task.key] + 1
        )
        self.in_flight[ref] = (task, actor)

    def submit_profile(self, task: Task) -> None:
        spec = task.target
        onnx = None
        if self.needs_onnx(task):
            key = self.export_key(task)
            if key not in self.exports:
                export = workers.export_task.options(num_cpus=self.sweep.profiling.export_cpus, max_retries=self.sweep.scheduling.max_retries)
                self.exports[key] = export.remote(task.architecture.to_json(), key[1], self.sweep.profiling.cache)
            onnx = self.exports[key]
        options = ray_resources(spec.resources, spec.target.threads)
        if options["num_gpus"]:
            options["max_calls"] = 1  # GPU memory leaks across tasks in one worker (ray#29606)
        remote = workers.profile_task.options(max_retries=0, name=f"profile:{spec.name}", **options)
        ref = remote.remote(task.architecture.to_json(), spec.target.to_dict(), spec.reported, onnx, self.sweep.profiling.cache, self.version, self.attempts[task.key] + 1)
        self.in_flight[ref] = (task, None)

    def new_actor(self) -> Any:
        stage = self.sweep.training
        actor = workers.TrainingWorker.options(**self.train_options).remote(stage.data, stage.loader_workers, stage.device)
        self.actors.append(actor)
        return actor

    def fill(self) -> None:
        cap = self.sweep.scheduling.max_in_flight
        while self.train_queue and "train" in self.unavailable_reason:
            task = self.train_queue.popleft()
            self.record(task, workers.failed_train(task.architecture.to_json(), self.recipe, task.seed, "unavailable", self.unavailable_reason["train"], self.version, 0))
        if not self.train_queue:  # training is over: give the actors' CPUs and GPUs to profiling
            for actor in list(self.idle_actors):
                self.retire(actor)
        while self.train_queue and len(self.in_flight) < cap:
            if not self.idle_actors and len(self.actors) < self.sweep.training.workers:
                self.idle_actors.append(self.new_actor())
            if not self.idle_actors:
                break
            self.submit_train(self.train_queue.popleft(), self.idle_actors.pop())
        while self.profile_queue and len(self.in_flight) < cap:
            task = self.profile_queue.popleft()
            reason = self.unavailable_reason.get(task.target.name)
            if reason:
                self.record(task, workers.unavailable_profile(task.architecture.to_json(), task.target.target.to_dict(), task.target.reported, reason, self.version))
            else:
                self.submit_profile(task)
        self.progress.running = len(self.in_flight)

    # --- results ---
    def record(self, task: Task, row: dict[str, Any]) -> None:
        self.store.write(task.table, [row])
        self.statuses.setdefault(task.stage, Counter())[row["status"]] += 1
        self.progress.record(row["status"])
        if row["status"] != "ok":
            print(f"  {task.stage} {task.architecture.arch_id}: {row['status']}: {(row.get('error') or '')[:200]}", file=self.stream, flush=True)

    def finish(self, ref: ray.ObjectRef) -> None:
        task, actor = self.in_flight.pop(ref)
        self.attempts[task.key] += 1
        try:
            row = ray.get(ref, timeout=60)
        except SYSTEM_FAILURES as error:
            if actor is not None:
                self.retire(actor)
            if self.attempts[task.key] <= self.sweep.scheduling.max_retries:
                print(f"  {task.stage} {task.architecture.arch_id}: worker lost ({type(error).__name__}); retrying", file=self.stream, flush=True)
                (self.train_queue if task.table == "train" else self.profile_queue).appendleft(task)
                return
            row = self.failure_row(task, f"worker died {self.attempts[task.key]} times; last: {describe(error)}")
        except RayTaskError as error:  # a bug, or the export this task depended on failed
            row = self.failure_row(task, describe(error.cause or error))
            self.release(actor)
        else:
            self.release(actor)
        if task.table == "profile" and self.needs_onnx(task):
            key = self.export_key(task)
            self.exports_left[key] -= 1
            if self.exports_left[key] == 0:
                self.exports.pop(key, None)  # drops the last reference: the object store frees the ONNX bytes
        self.record(task, row)

    def release(self, actor: Any) -> None:
        """An actor whose call came back: idle again, or recycled after `recycle_after` models."""
        if actor is None:
            return
        self.models_per_actor[actor] += 1
        if self.models_per_actor[actor] >= self.sweep.training.recycle_after:
            self.retire(actor)
        else:
            self.idle_actors.append(actor)

    def retire(self, actor: Any) -> None:
        ray.kill(actor, no_restart=True)
        self.actors.remove(actor)
        if actor in self.idle_actors:
            self.idle_actors.remove(actor)

    def failure_row(self, task: Task, error: str) -> dict[str, Any]:
        if task.table == "train":
            return workers.failed_train(task.architecture.to_json(), self.recipe, task.seed, "failed", error, self.version, self.attempts[task.key])
        return workers.failed_profile(task.architecture.to_json(), task.target.target.to_dict(), task.target.reported, error, self.version, self.attempts[task.key])

    # --- the loop ---
    def run(self) -> None:
        self.progress.maybe_show(force=True)
        self.fill()
        while self.in_flight or self.train_queue or self.profile_queue:
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=WAIT_TIMEOUT_S)
            if ready:  # and whatever else has finished meanwhile
                ready, _ = ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=0)
            for ref in ready:
                self.finish(ref)
            self.fill()
            self.progress.maybe_show()
        self.progress.maybe_show(force=True)

    def stop(self) -> None:
        """Stop the training actors; the driver's other tasks end with it (Ray ends a driver's
        non-detached work when it disconnects). Force-cancelling tasks here tripped a Ray internal
        check (task_manager.cc "Tried to complete task that was not pending") and aborted the driver."""
        for actor in list(self.actors):
            ray.kill(actor, no_restart=True)


def collect(sweep: Sweep, store: Store, address: str | None = None, retry: tuple[str, ...] = (), stream: TextIO | None = None) -> Summary:
    """Run every task of the sweep that has no record in the store (or whose status is in `retry`)."""
    stream = stream or sys.stderr
    with store.lock(f"accelbench collect {sweep.name}"):
        store.remove_temporaries()
        if store.local:
            write_bytes_atomic(f"{store.root}/{SWEEPS_FOLDER}/{sweep.name}.json", json.dumps(sweep.to_dict(), indent=1).encode())
        plan = make_plan(sweep, store, retry)
        summary = Summary(planned=len(plan.todo), already_done=plan.done - plan.redo, quarantined=store.reported_quarantine)
        known = store.done_keys("archs")
        new_rows = [arch_row(a) for a in plan.architectures if f"{a.arch_id}/archs/{a.space}" not in known]
        if new_rows:
            store.write("archs", new_rows)
        print(f"{sweep.name}: {plan.total} tasks over {len(plan.architectures)} architectures; {summary.already_done} already recorded, "
              f"{len(plan.todo)} to run{f' ({plan.redo} retried)' if plan.redo else ''}", file=stream, flush=True)
        for line in store.reported_quarantine:
            print(f"  quarantined {line}", file=stream, flush=True)
        if not plan.todo:
            print("nothing to do: every task has a record", file=stream, flush=True)
            return summary
        started_ray = connect(address)
        driver = Driver(sweep, store, plan, stream)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt) if _in_main_thread() else None
        try:
            driver.run()
        except KeyboardInterrupt:
            summary.interrupted = True
            driver.stop()
            print(f"\ninterrupted: {driver.progress.finished} records written in this run are kept; run the same command again to resume",
                  file=stream, flush=True)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            summary.statuses = driver.statuses
            if started_ray:
                ray.shutdown()
        return summary


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

