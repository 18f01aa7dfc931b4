"""The sweep driver: plan what is missing, run it on Ray with bounded in-flight work, record every result.

The driver is idempotent: the store is the only state. Killed at any moment, a rerun plans again
from the store and runs only what has no record. A worker that dies is retried (`max_retries`), then
recorded as failed with the reason; an architecture's own failure is a record the worker returns.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ray
from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

from accelbench.common.errors import InputError
from accelbench.pipeline.plan import Plan, make_plan
from accelbench.pipeline.progress import Progress
from accelbench.pipeline.records import arch_row
from accelbench.pipeline.stages import RunContext, STAGES, StageRun, Task
from accelbench.pipeline.stages.base import unplaceable
from accelbench.pipeline.stages.train import training_resources
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep
from accelbench.pipeline.workers import probe_data
from accelbench.training.folders import DataError, DatasetIdentity, identify, resolve_data


class ClusterError(InputError):
    """A Ray cluster that cannot be reached or used as configured."""


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


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def describe(error: BaseException) -> str:
    """An error in one line: its type and first line, and the root cause (the traceback's last line)."""
    lines = [line.strip() for line in ANSI_ESCAPE.sub("", str(error)).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    head = f"{type(error).__name__}: {lines[0][:200]}"
    return head if len(lines) == 1 else f"{head} ... {lines[-1][:300]}"


def alive_node_resources() -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node["Alive"]]


class Driver:
    """Runs the plan's tasks stage by stage (`pipeline.stages`, in registry order) with at most
    `max_in_flight` submitted, writes every record, retries a task whose worker died."""

    def __init__(self, sweep: Sweep, store: Store, plan: Plan, stream: TextIO) -> None:
        self.sweep, self.store, self.plan, self.stream = sweep, store, plan, stream
        self.version = code_version()
        self.progress = Progress(len(plan.todo), sweep.scheduling.progress_interval_s, stream)
        self.statuses: dict[str, Counter] = {}
        self.in_flight: dict[ray.ObjectRef, Task] = {}
        self.attempts: Counter[str] = Counter()
        context = RunContext(sweep, store, plan, self.version, alive_node_resources())
        self.runs: dict[str, StageRun] = {}
        for name, stage in STAGES.items():
            tasks = [task for task in plan.todo if task.table == name]
            if tasks:
                self.runs[name] = stage.start(context, tasks)

    def fill(self) -> None:
        cap = self.sweep.scheduling.max_in_flight
        for run in self.runs.values():
            while len(self.in_flight) < cap:
                task = run.next_task()
                if task is None:
                    break
                reason = run.unavailable(task)
                if reason:
                    self.record(task, run.row(task, "unavailable", reason, 0))
                    run.finished(task)
                else:
                    self.in_flight[run.submit(task, self.attempts[task.key] + 1)] = task
        self.progress.running = len(self.in_flight)

    def record(self, task: Task, row: dict[str, Any]) -> None:
        self.store.write(task.table, [row])
        for run in self.runs.values():
            run.recorded(task, row)
        self.statuses.setdefault(task.label, Counter())[row["status"]] += 1
        self.progress.record(row["status"])
        if row["status"] != "ok":
            print(f"  {task.label} {task.subject}: {row['status']}: {(row.get('error') or '')[:200]}", file=self.stream, flush=True)

    def finish(self, ref: ray.ObjectRef) -> None:
        task = self.in_flight.pop(ref)
        run = self.runs[task.table]
        self.attempts[task.key] += 1
        try:
            row = ray.get(ref, timeout=60)
        except SYSTEM_FAILURES as error:
            run.lost(task)
            if self.attempts[task.key] <= self.sweep.scheduling.max_retries:
                print(f"  {task.label} {task.subject}: worker lost ({type(error).__name__}); retrying", file=self.stream, flush=True)
                run.requeue(task)
                return
            row = run.row(task, "failed", f"worker died {self.attempts[task.key]} times; last: {describe(error)}", self.attempts[task.key])
        except RayTaskError as error:  # a bug, or the export this task depended on failed
            row = run.row(task, "failed", describe(error.cause or error), self.attempts[task.key])
        run.finished(task)
        self.record(task, row)

    def run(self) -> None:
        self.progress.maybe_show(force=True)
        self.fill()
        while self.in_flight or any(run.pending() for run in self.runs.values()):
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=WAIT_TIMEOUT_S)
            if ready:  # and whatever else has finished meanwhile
                ready, _ = ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=0)
            for ref in ready:
                self.finish(ref)
            self.fill()
            self.progress.maybe_show()
        self.progress.maybe_show(force=True)

    def stop(self) -> None:
        """Stop what the stages keep running (the training actors); the driver's other tasks end with it
        (Ray ends a driver's non-detached work when it disconnects). Force-cancelling tasks here tripped a
        Ray internal check (task_manager.cc "Tried to complete task that was not pending") and aborted the driver."""
        for run in self.runs.values():
            run.stop()


def check_reachable(address: str | None, timeout_s: float = 10.0) -> None:
    """Fail fast, before the store is locked or written, when a Ray cluster's address does not answer."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as connection:
            speaks_grpc = _answers_http2(connection)
    except OSError as error:
        raise ClusterError(f"no Ray cluster answers at {address} within {timeout_s:g} s ({error.strerror or error}); "
                           "check the address, and that `ray start --head` runs there") from None
    if not speaks_grpc:
        raise ClusterError(f"something listens at {address}, but it is not a Ray cluster (no gRPC answer within {timeout_s:g} s); "
                           "give the head's GCS address (`ray start --head` prints it; port 6379 by default)")


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # and an empty SETTINGS frame


def _answers_http2(connection: socket.socket) -> bool:
    """Whether the peer answers HTTP/2's connection preface with a SETTINGS frame, as any gRPC server
    (Ray's GCS, the Ray Client server) must: 9 bytes of frame header, type 4."""
    connection.sendall(HTTP2_PREFACE)
    header = b""
    try:
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except socket.timeout:
        return False
    return header[3] == 4


def local_identity(sweep: Sweep) -> DatasetIdentity | None:
    """The training data's identity as this host sees it (None when the path is not here: a cluster's)."""
    path = resolve_data(sweep.training.data)
    return identify(path) if path.exists() else None


def probe_identity(sweep: Sweep, timeout_s: float = 900) -> DatasetIdentity:
    """The training data as a training host sees it: one small task with a training worker's resources."""
    needed = training_resources(sweep)
    ref = ray.remote(probe_data).options(num_cpus=needed["CPU"], num_gpus=needed["GPU"], max_retries=1).remote(sweep.training.data)
    try:
        return DatasetIdentity(**ray.get(ref, timeout=timeout_s))
    except RayTaskError as error:
        cause = error.cause
        if isinstance(cause, DataError):
            raise DataError(f"training.data on a training host: {cause}") from None
        raise ClusterError(f"the dataset probe failed on a training host: {describe(cause or error)}") from None
    except ray.exceptions.GetTimeoutError:
        ray.cancel(ref)
        raise ClusterError(f"the dataset probe found no free training host in {timeout_s:g} s (it asks for CPU={needed['CPU']:g}, GPU={needed['GPU']:g})") from None


def collect(sweep: Sweep, store: Store, address: str | None = None, retry: tuple[str, ...] = (), stream: TextIO | None = None) -> Summary:
    """Run every task of the sweep that has no record in the store (or whose status is in `retry`).

    Before anything is written: the cluster's address must answer, the store must be a store (or a new
    folder), and the training data must exist with the ImageNet layout on a training host; its identity
    becomes part of every training task's key."""
    stream = stream or sys.stderr
    check_reachable(address)
    store.check_usable(create=True)
    started_ray = False
    try:
        with store.lock(f"accelbench collect {sweep.name}"):
            if store.lock_is_advisory:
                print(f"note: {store.uri} is an object store; its lock is advisory: run one collect on it at a time", file=stream, flush=True)
            store.remove_temporaries()
            identity = probed = local_identity(sweep) if sweep.training else None
            if sweep.training and identity is None:  # the data is on the cluster's hosts only
                started_ray = connect(address)
                if not unplaceable(training_resources(sweep), alive_node_resources()):
                    identity = probed = probe_identity(sweep)
            plan = make_plan(sweep, store, retry, identity.data_id if identity else None)
            summary = Summary(planned=len(plan.todo), already_done=plan.done - plan.redo, quarantined=store.reported_quarantine)
            print(f"{sweep.name}: {plan.total} tasks over {len(plan.architectures)} architectures; {summary.already_done} already recorded, "
                  f"{len(plan.todo)} to run{f' ({plan.redo} retried)' if plan.redo else ''}", file=stream, flush=True)
            for line in store.reported_quarantine:
                print(f"  quarantined {line}", file=stream, flush=True)
            if not plan.todo:
                print("nothing to do: every task has a record", file=stream, flush=True)
                return summary
            started_ray = connect(address) or started_ray
            if any(task.table == "train" for task in plan.todo) and probed is None and not unplaceable(training_resources(sweep), alive_node_resources()):
                seen = probe_identity(sweep)
                if seen != identity:
                    raise DataError(f"training.data={sweep.training.data!r}: a training host sees {seen.train_images} + {seen.val_images} images "
                                    f"(id {seen.data_id}), this host {identity.train_images} + {identity.val_images} (id {identity.data_id}); "
                                    "make every host see the same dataset")
            store.save_sweep(sweep.name, {"sweep": sweep.to_dict(), "data_id": plan.data_id})
            known = store.done_keys("archs")
            new_rows = [arch_row(a) for a in plan.architectures if f"{a.arch_id}/archs/{a.space}" not in known]
            if new_rows:
                store.write("archs", new_rows)
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
            return summary
    finally:
        if started_ray:
            ray.shutdown()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

