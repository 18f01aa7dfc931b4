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
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ray
from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

from accelbench.pipeline.plan import Plan, Task, make_plan
from accelbench.pipeline.progress import Progress
from accelbench.pipeline.records import arch_row, task_key, train_config_id
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep, weights_needed
from accelbench.pipeline import workers
from accelbench.common.errors import InputError
from accelbench.training.folders import DataError, DatasetIdentity

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


def alive_node_resources() -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node["Alive"]]


def training_resources(sweep: Sweep) -> dict[str, float]:
    """What one training worker asks of its host: on CUDA, one GPU per data-parallel device of the recipe."""
    stage = sweep.training
    return {"CPU": stage.cpus_per_worker, "GPU": stage.gpus_per_worker or (stage.resolved_recipe.devices if stage.device == "cuda" else 0)}


class Driver:
    def __init__(self, sweep: Sweep, store: Store, plan: Plan, stream: TextIO) -> None:
        self.sweep, self.store, self.plan, self.stream = sweep, store, plan, stream
        self.version = code_version()
        self.progress = Progress(len(plan.todo), sweep.scheduling.progress_interval_s, stream)
        self.statuses: dict[str, Counter] = {}
        self.in_flight: dict[ray.ObjectRef, tuple[Task, Any]] = {}  # ref -> (task, actor or None)
        self.attempts: Counter[str] = Counter()
        self.train_queue: deque[Task] = deque(task for task in plan.todo if task.table == "train")
        self.profile_queue: deque[Task] = deque(task for task in plan.todo if task.table in ("profile", "blocks"))
        self.exports: dict[tuple[str, int], ray.ObjectRef] = {}
        self.exports_left: Counter[tuple[str, int]] = Counter()
        self.actors: list[Any] = []
        self.idle_actors: list[Any] = []
        self.models_per_actor: Counter[Any] = Counter()
        nodes = alive_node_resources()
        self.unavailable_reason: dict[str, str] = {}
        if sweep.training:
            self.recipe = sweep.training.resolved_recipe
            needed = training_resources(sweep)
            self.train_options = {"num_cpus": needed["CPU"], "num_gpus": needed["GPU"], "max_restarts": -1, "max_task_retries": 0}
            reason = unplaceable(needed, nodes)
            if reason:
                self.unavailable_reason["train"] = reason
        if sweep.profiling:
            for spec in sweep.profiling.targets:
                reason = unplaceable({"CPU": spec.target.threads, **spec.resources}, nodes)
                if reason:
                    self.unavailable_reason[spec.name] = reason
        # targets that measure the trained network wait for their architecture's (first seed's) training
        self.keep_weights = weights_needed(sweep)
        self.weights: dict[str, str | None] = {}  # arch_id -> weights path in the store (None: no weights)
        self.waiting: dict[str, list[Task]] = {}
        if any(self.needs_weights(task) for task in self.profile_queue):
            self.weights = self.recorded_weights()
            training = {task.architecture.arch_id for task in self.train_queue if task.seed == self.first_seed}
            ready = deque()
            for task in self.profile_queue:
                if self.needs_weights(task) and task.architecture.arch_id in training:
                    self.waiting.setdefault(task.architecture.arch_id, []).append(task)
                else:
                    ready.append(task)
            self.profile_queue = ready
            for task in self.profile_queue:
                if self.needs_onnx(task):
                    self.exports_left[self.export_key(task)] += 1

    @property
    def first_seed(self) -> int | None:
        return self.sweep.training.seeds[0] if self.sweep.training else None

    def needs_weights(self, task: Task) -> bool:
        from accelbench.profiling.backends import get_backend

        return task.table == "profile" and get_backend(task.target.target.backend).needs_trained_weights

    def recorded_weights(self) -> dict[str, str | None]:
        """Weights of trainings recorded before this run (first seed, this recipe and dataset)."""
        if not self.sweep.training:
            return {}
        rows = self.store.read("train", ["task_key", "arch_id", "status", "weights_path"]).to_pylist()
        wanted = {task_key(a.arch_id, "train", train_config_id(self.recipe.recipe_id, self.first_seed, self.plan.data_id)) for a in self.plan.architectures}
        return {row["arch_id"]: (row["weights_path"] if row["status"] == "ok" else None) for row in rows if row["task_key"] in wanted}

    # --- submission ---
    @staticmethod
    def export_key(task: Task) -> tuple[str, int]:
        return task.architecture.arch_id, task.target.target.resolution

    def needs_onnx(self, task: Task) -> bool:
        """Whether a profile task takes the architecture's shared ONNX export (a block exports its own)."""
        from accelbench.profiling.backends import get_backend

        return task.table == "profile" and get_backend(task.target.target.backend).needs_onnx and task.target.name not in self.unavailable_reason

    def submit_train(self, task: Task, actor: Any) -> None:
        weights_to = (self.store.uri, Store.weights_path(task.key)) if self.keep_weights else None
        ref = actor.train.remote(task.architecture.to_json(), self.recipe, task.seed, self.plan.data_id, weights_to, self.version, self.attempts[task.key] + 1)
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
        weights = (self.store.uri, self.weights[task.architecture.arch_id]) if self.needs_weights(task) else None
        ref = remote.remote(task.architecture.to_json(), spec.target.to_dict(), spec.reported, onnx, self.sweep.profiling.cache, self.version,
                            self.attempts[task.key] + 1, weights)
        self.in_flight[ref] = (task, None)

    def submit_block(self, task: Task) -> None:
        spec = task.target
        options = ray_resources(spec.resources, spec.target.threads)
        if options["num_gpus"]:
            options["max_calls"] = 1
        remote = workers.block_task.options(max_retries=0, name=f"blocks:{spec.name}", **options)
        ref = remote.remote(task.block.key, task.block.space, spec.target.to_dict(), self.sweep.profiling.cache, self.version, self.attempts[task.key] + 1)
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
            self.record(task, workers.failed_train(task.architecture.to_json(), self.recipe, task.seed, self.plan.data_id, "unavailable", self.unavailable_reason["train"], self.version, 0))
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
            if reason is None and self.needs_weights(task) and not self.weights.get(task.architecture.arch_id):
                reason = ("this target measures the trained network and the architecture has no trained weights "
                          "(its training did not end ok, did not run in this sweep, or kept no weights: training.save_weights)")
            if reason and task.table == "blocks":
                self.record(task, workers.block_record(task.block.key, task.block.space, task.target.target.to_dict(), "unavailable", reason, self.version, 0))
            elif reason:
                self.record(task, workers.unavailable_profile(task.architecture.to_json(), task.target.target.to_dict(), task.target.reported, reason, self.version))
            elif task.table == "blocks":
                self.submit_block(task)
            else:
                self.submit_profile(task)
        self.progress.running = len(self.in_flight)

    # --- results ---
    def record(self, task: Task, row: dict[str, Any]) -> None:
        self.store.write(task.table, [row])
        if task.table == "train" and task.seed == self.first_seed:  # release what waited for these weights
            arch_id = task.architecture.arch_id
            self.weights[arch_id] = row.get("weights_path") if row["status"] == "ok" else None
            self.profile_queue.extend(self.waiting.pop(arch_id, []))
        self.statuses.setdefault(task.stage, Counter())[row["status"]] += 1
        self.progress.record(row["status"])
        if row["status"] != "ok":
            print(f"  {task.stage} {task.subject}: {row['status']}: {(row.get('error') or '')[:200]}", file=self.stream, flush=True)

    def finish(self, ref: ray.ObjectRef) -> None:
        task, actor = self.in_flight.pop(ref)
        self.attempts[task.key] += 1
        try:
            row = ray.get(ref, timeout=60)
        except SYSTEM_FAILURES as error:
            if actor is not None:
                self.retire(actor)
            if self.attempts[task.key] <= self.sweep.scheduling.max_retries:
                print(f"  {task.stage} {task.subject}: worker lost ({type(error).__name__}); retrying", file=self.stream, flush=True)
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
        if task.table == "blocks":
            return workers.block_record(task.block.key, task.block.space, task.target.target.to_dict(), "failed", error, self.version, self.attempts[task.key])
        if task.table == "train":
            return workers.failed_train(task.architecture.to_json(), self.recipe, task.seed, self.plan.data_id, "failed", error, self.version, self.attempts[task.key])
        return workers.failed_profile(task.architecture.to_json(), task.target.target.to_dict(), task.target.reported, error, self.version, self.attempts[task.key])

    # --- the loop ---
    def run(self) -> None:
        self.progress.maybe_show(force=True)
        self.fill()
        while self.in_flight or self.train_queue or self.profile_queue or self.waiting:
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
    from accelbench.training.folders import identify, resolve_data

    path = resolve_data(sweep.training.data)
    return identify(path) if path.exists() else None


def probe_identity(sweep: Sweep, timeout_s: float = 900) -> DatasetIdentity:
    """The training data as a training host sees it: one small task with a training worker's resources."""
    from accelbench.training.folders import DataError

    needed = training_resources(sweep)
    ref = workers.probe_task.options(num_cpus=needed["CPU"], num_gpus=needed["GPU"], max_retries=1).remote(sweep.training.data)
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

