"""The profile stage: each architecture measured on each target of the sweep. ONNX backends share one
export per architecture and resolution (through Ray's object store, freed after its last target);
targets that measure the trained network (the FPGA flow) wait for the architecture's training."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from accelbench.pipeline.atomic import write_bytes_atomic
from accelbench.pipeline.records import PROFILE, now, profile_row, task_key, train_config_id
from accelbench.pipeline.stages.base import RunContext, StageRun, Task, ray_resources, unplaceable
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep
from accelbench.pipeline.workers import onnx_cache, ray_node
from accelbench.profiling.backends import get_backend
from accelbench.profiling.export import ExportSettings, cached_export
from accelbench.profiling.protocol import failed, unavailable
from accelbench.search_space import Architecture

NO_WEIGHTS = ("this target measures the trained network and the architecture has no trained weights "
              "(its training did not end ok, did not run in this sweep, or kept no weights: training.save_weights)")


class ProfileStage:
    table = "profile"
    schema = PROFILE

    def tasks(self, sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[tuple[int, Task]]:
        """Keyed by architecture and target (its settings' id)."""
        specs = sweep.profiling.targets if sweep.profiling else ()
        return [(index, Task(task_key(architecture.arch_id, "profile", spec.target.target_id), self.table, architecture, f"{self.table}:{spec.name}", architecture.arch_id, detail=spec))
                for index, architecture in enumerate(architectures) for spec in (each.for_architecture(architecture) for each in specs)]

    def start(self, context: RunContext, tasks: list[Task]) -> StageRun:
        return ProfileRun(context, tasks)


def target_reasons(context: RunContext) -> dict[str, str]:
    """Targets no node of the cluster can host, with why."""
    specs = context.sweep.profiling.targets if context.sweep.profiling else ()
    reasons = {spec.name: unplaceable({"CPU": spec.target.threads, **spec.resources}, context.nodes) for spec in specs}
    return {name: reason for name, reason in reasons.items() if reason}


def needs_weights(task: Task) -> bool:
    return get_backend(task.detail.target.backend).needs_trained_weights


class ProfileRun(StageRun):
    def __init__(self, context: RunContext, tasks: list[Task]) -> None:
        super().__init__(context, tasks)
        import ray

        self.remote = ray.remote(profile_target)
        self.export = ray.remote(export_onnx_bytes)
        self.reasons = target_reasons(context)
        self.weights: dict[str, str | None] = {}  # arch_id -> weights path in the store (None: no weights)
        self.waiting: dict[str, list[Task]] = {}  # arch_id -> tasks waiting for its training (first seed)
        self.exports: dict[tuple[str, int], Any] = {}
        self.exports_left: Counter[tuple[str, int]] = Counter()
        if any(needs_weights(task) for task in self.queue):
            self.weights = self.recorded_weights()
            training = {task.architecture.arch_id for task in context.plan.todo if task.table == "train" and task.detail == context.first_seed}
            ready = []
            for task in self.queue:
                if needs_weights(task) and task.architecture.arch_id in training:
                    self.waiting.setdefault(task.architecture.arch_id, []).append(task)
                else:
                    ready.append(task)
            self.queue.clear()
            self.queue.extend(ready)
        for task in self.queue:
            if self.needs_onnx(task):
                self.exports_left[export_key(task)] += 1

    def recorded_weights(self) -> dict[str, str | None]:
        """Weights of trainings recorded before this run (first seed, this recipe and dataset)."""
        sweep, plan = self.context.sweep, self.context.plan
        if not sweep.training:
            return {}
        rows = self.context.store.read("train", ["task_key", "arch_id", "status", "weights_path"]).to_pylist()
        config = train_config_id(sweep.training.resolved_recipe.recipe_id, self.context.first_seed, plan.data_id)
        wanted = {task_key(a.arch_id, "train", config) for a in plan.architectures}
        return {row["arch_id"]: (row["weights_path"] if row["status"] == "ok" else None) for row in rows if row["task_key"] in wanted}

    def needs_onnx(self, task: Task) -> bool:
        """Whether the task takes the architecture's shared ONNX export."""
        return get_backend(task.detail.target.backend).needs_onnx and task.detail.name not in self.reasons

    def unavailable(self, task: Task) -> str | None:
        reason = self.reasons.get(task.detail.name)
        if reason is None and needs_weights(task) and not self.weights.get(task.architecture.arch_id):
            return NO_WEIGHTS
        return reason

    def submit(self, task: Task, attempt: int) -> Any:
        spec, sweep = task.detail, self.context.sweep
        onnx = None
        if self.needs_onnx(task):
            key = export_key(task)
            if key not in self.exports:
                export = self.export.options(num_cpus=sweep.profiling.export_cpus, max_retries=sweep.scheduling.max_retries)
                self.exports[key] = export.remote(task.architecture.to_json(), key[1], sweep.profiling.cache)
            onnx = self.exports[key]
        options = ray_resources(spec.resources, spec.target.threads)
        if options["num_gpus"]:
            options["max_calls"] = 1  # GPU memory leaks across tasks in one worker (ray#29606)
        remote = self.remote.options(max_retries=0, name=f"profile:{spec.name}", **options)
        weights = (self.context.store.uri, self.weights[task.architecture.arch_id]) if needs_weights(task) else None
        return remote.remote(task.architecture.to_json(), spec.target.to_dict(), spec.reported, onnx, sweep.profiling.cache, self.context.version,
                             attempt, weights)

    def row(self, task: Task, status: str, error: str, attempts: int) -> dict[str, Any]:
        record = unavailable if status == "unavailable" else failed
        measurement = record(task.architecture.arch_id, task.detail.target, error)
        return profile_row(measurement.to_row(), task.detail.reported, now(), self.context.version, attempts)

    def finished(self, task: Task) -> None:
        if self.needs_onnx(task):
            key = export_key(task)
            self.exports_left[key] -= 1
            if self.exports_left[key] == 0:
                self.exports.pop(key, None)  # drops the last reference: the object store frees the ONNX bytes

    def recorded(self, task: Task, row: dict[str, Any]) -> None:
        if task.table == "train" and task.detail == self.context.first_seed:  # release what waited for these weights
            arch_id = task.architecture.arch_id
            self.weights[arch_id] = row.get("weights_path") if row["status"] == "ok" else None
            self.queue.extend(self.waiting.pop(arch_id, []))

    def pending(self) -> bool:
        return bool(self.queue or self.waiting)


def export_key(task: Task) -> tuple[str, int]:
    return task.architecture.arch_id, task.detail.target.resolution


def export_onnx_bytes(architecture_json: str, resolution: int, cache: str | None) -> bytes:
    """On a worker: the architecture's ONNX file, exported once and shared by all its targets through the object store."""
    path = cached_export(Architecture.from_json(architecture_json), onnx_cache(cache), ExportSettings(resolution=resolution))
    return path.read_bytes()


def profile_target(architecture_json: str, target: dict[str, Any], report: tuple[str, ...], onnx: bytes | None, cache: str | None, code_version: str,
                   attempts: int, weights: tuple[str, str] | None = None) -> dict[str, Any]:
    """On a worker: one architecture on one target. `weights`: (store URI, path in the store) of the
    trained weights, for targets that quantise them."""
    from accelbench.profiling.runner import profile
    from accelbench.profiling.target import Target

    started = now()
    architecture = Architecture.from_json(architecture_json)
    target_value = Target(**target)
    onnx_path = None
    if onnx is not None:  # the exported bytes, written once per host into its cache
        settings = ExportSettings(resolution=target_value.resolution)
        onnx_path = onnx_cache(cache) / f"{architecture.arch_id}-{settings.settings_id}.onnx"
        if not onnx_path.exists():
            write_bytes_atomic(onnx_path, onnx)
    if weights is None:
        measurement = profile(architecture, target_value, onnx_cache(cache), onnx_path)
    else:
        with fetched_weights(*weights) as local:
            measurement = profile(architecture, target_value, onnx_cache(cache), onnx_path, local)
    row = measurement.to_row()
    row["environment"] = {**row["environment"], "ray_node_id": ray_node()}
    return profile_row(row, report, started, code_version, attempts)


@contextmanager
def fetched_weights(store_uri: str, relative: str) -> Iterator[Path]:
    """The trained weights as a local file (the store may be an object store)."""
    store = Store(store_uri)
    if store.local:
        yield Path(store.path(relative))
        return
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / Path(relative).name
        with store.filesystem.open_input_stream(store.path(relative)) as source, open(local, "wb") as sink:
            shutil.copyfileobj(source, sink)
        yield local
