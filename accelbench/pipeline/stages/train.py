"""The train stage: each architecture trained under the sweep's recipe, once per seed, by long-lived
training actors (one dataset opened per actor, recycled after `recycle_after` models)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from accelbench.pipeline.records import TRAIN, now, provenance, row, task_key, train_config_id, train_row
from accelbench.pipeline.stages.base import RunContext, StageRun, Task, unplaceable
from accelbench.pipeline.store import Store
from accelbench.pipeline.sweep import Sweep, weights_needed
from accelbench.search_space import Architecture
from accelbench.training.folders import resolve_data
from accelbench.training.recipe import Recipe


class TrainStage:
    table = "train"
    schema = TRAIN

    def tasks(self, sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[tuple[int, Task]]:
        """Keyed by architecture, recipe, seed and the training dataset's fingerprint (`data_id`)."""
        if not sweep.training:
            return []
        configs = [(seed, train_config_id(sweep.training.resolved_recipe.recipe_id, seed, data_id)) for seed in sweep.training.seeds]
        trained = architectures[: sweep.training.architectures]  # None: all of them
        return [(index, Task(task_key(architecture.arch_id, "train", config_id), self.table, architecture, self.table, architecture.arch_id, detail=seed))
                for index, architecture in enumerate(trained) for seed, config_id in configs]

    def start(self, context: RunContext, tasks: list[Task]) -> StageRun:
        return TrainRun(context, tasks)


def training_resources(sweep: Sweep) -> dict[str, float]:
    """What one training worker asks of its host: on CUDA, one GPU per data-parallel device of the recipe."""
    stage = sweep.training
    return {"CPU": stage.cpus_per_worker, "GPU": stage.gpus_per_worker or (stage.resolved_recipe.devices if stage.device == "cuda" else 0)}


class TrainRun(StageRun):
    def __init__(self, context: RunContext, tasks: list[Task]) -> None:
        super().__init__(context, tasks)
        import ray

        sweep = context.sweep
        self.recipe = sweep.training.resolved_recipe
        needed = training_resources(sweep)
        self.reason = unplaceable(needed, context.nodes)
        self.actor_type = ray.remote(TrainingWorker).options(num_cpus=needed["CPU"], num_gpus=needed["GPU"], max_restarts=-1, max_task_retries=0)
        self.keep_weights = weights_needed(sweep)
        self.actors: list[Any] = []
        self.idle: list[Any] = []
        self.busy: dict[str, Any] = {}  # task key -> its actor
        self.models: Counter[Any] = Counter()

    def next_task(self) -> Task | None:
        if not self.queue:  # training is over: give the actors' CPUs and GPUs to profiling
            for actor in list(self.idle):
                self.retire(actor)
            return None
        if self.reason is None and not self.idle and len(self.actors) < self.context.sweep.training.workers:
            stage = self.context.sweep.training
            actor = self.actor_type.remote(stage.data, stage.loader_workers, stage.device)
            self.actors.append(actor)
            self.idle.append(actor)
        return self.queue.popleft() if self.reason is not None or self.idle else None

    def unavailable(self, task: Task) -> str | None:
        return self.reason

    def submit(self, task: Task, attempt: int) -> Any:
        actor = self.busy[task.key] = self.idle.pop()
        weights_to = (self.context.store.uri, Store.weights_path(task.key)) if self.keep_weights else None
        return actor.train.remote(task.architecture.to_json(), self.recipe, task.detail, self.context.plan.data_id, weights_to, self.context.version, attempt)

    def row(self, task: Task, status: str, error: str, attempts: int) -> dict[str, Any]:
        return failed_train(task.architecture, self.recipe, task.detail, self.context.plan.data_id, status, error, self.context.version, attempts)

    def lost(self, task: Task) -> None:
        self.retire(self.busy.pop(task.key))

    def finished(self, task: Task) -> None:
        """Its actor is idle again, or recycled after `recycle_after` models."""
        actor = self.busy.pop(task.key, None)
        if actor is None:  # lost with its worker
            return
        self.models[actor] += 1
        if self.models[actor] >= self.context.sweep.training.recycle_after:
            self.retire(actor)
        else:
            self.idle.append(actor)

    def retire(self, actor: Any) -> None:
        import ray

        ray.kill(actor, no_restart=True)
        self.actors.remove(actor)
        if actor in self.idle:
            self.idle.remove(actor)

    def stop(self) -> None:
        import ray

        for actor in list(self.actors):
            ray.kill(actor, no_restart=True)


class TrainingWorker:
    """A Ray actor: opens the dataset once, then trains architecture after architecture."""

    def __init__(self, data: str, loader_workers: int, device: str) -> None:
        from accelbench.training.data import TrainingData

        self.device = device
        self.data = TrainingData(resolve_data(data), workers=loader_workers, pin_memory=device == "cuda")

    def train(self, architecture_json: str, recipe: Recipe, seed: int, data_id: str, weights_to: tuple[str, str] | None, code_version: str,
              attempts: int) -> dict[str, Any]:
        """`weights_to`: (store URI, path in the store) where the trained weights go, when they are kept."""
        from accelbench.training.trainer import train

        started = now()
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / "weights.safetensors" if weights_to else None
            result = train(Architecture.from_json(architecture_json), recipe, self.data, self.device, seed, weights_to=local)
            weights = None
            if local is not None and local.exists():
                uri, relative = weights_to
                weights = (relative, Store(uri).put_artifact(relative, local))
        return train_row(result.to_dict(), data_id, started, code_version, attempts, weights)


def failed_train(architecture: Architecture, recipe: Recipe, seed: int, data_id: str, status: str, error: str, code_version: str, attempts: int) -> dict[str, Any]:
    arch_id = architecture.arch_id
    return row(
        "train", task_key=task_key(arch_id, "train", train_config_id(recipe.recipe_id, seed, data_id)), arch_id=arch_id, recipe_id=recipe.recipe_id,
        recipe_name=recipe.name, seed=seed, data_id=data_id, status=status, top1_convention=recipe.top1_convention, curve=[],
        device_count=recipe.devices, trainability_rule=recipe.trainability_rule(), attempts=attempts, **provenance(now(), error, code_version),
    )
