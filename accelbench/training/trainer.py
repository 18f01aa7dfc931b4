"""Train one architecture under a recipe: trainability check, random-weight evaluation, proxified training.

`train` never raises for a failure of the architecture: over the recipe's memory rule (or out of memory)
gives `untrainable` with the figure, a non-finite loss gives `diverged`, anything else `failed` with the
error; the worker lives on. With `recipe.devices > 1` the epochs run data-parallel (training.distributed);
the check and the random-weight evaluation run here, on the first device.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from accelbench.search_space import Architecture
from accelbench.training.data import TrainingData
from accelbench.training.distributed import train_data_parallel
from accelbench.training.loop import (
    STATUSES, Diverged, EpochRecord, StepRecord, TrainResult, Untrainable, check_trainable, device_description, is_out_of_memory,
    random_weight_top1, reported_accuracy, train_here,
)
from accelbench.training.recipe import Recipe

__all__ = ["STATUSES", "EpochRecord", "StepRecord", "TrainResult", "train"]


@dataclass
class Timings:
    check: float | None = None
    random_weight: float | None = None
    epochs: float | None = None


def train(
    architecture: Architecture,
    recipe: Recipe,
    data: TrainingData,
    device: str | torch.device = "cpu",
    seed: int = 0,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    weights_to: Path | None = None,
    trace_steps: bool = False,
) -> TrainResult:
    """Check, random-weight evaluation, then the recipe's epochs (data-parallel over `recipe.devices`).
    `weights_to`: where to write the trained weights (safetensors); `trace_steps`: keep every step's lr
    and loss in the result (for tests and debugging)."""
    device = torch.device(device)
    curve: list[EpochRecord] = []
    steps: list[StepRecord] = []
    timings = Timings()
    check_bytes = peak = train_images = classes = None
    status, error = "ok", None
    top1 = top5 = random_top1 = None

    def timed(field: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return work()
        finally:
            setattr(timings, field, time.perf_counter() - started)

    try:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            if torch.cuda.device_count() < recipe.devices:
                raise RuntimeError(f"the recipe trains on {recipe.devices} GPUs; this worker sees {torch.cuda.device_count()}")
        torch.manual_seed(seed)
        classes = data.num_classes(recipe.subset)
        train_images = len(data.split("train", recipe.replace(loader="cpu")).dataset)
        check_bytes = timed("check", lambda: check_trainable(architecture, recipe, data.num_classes(recipe.subset), device))
        if recipe.random_weight_epochs:
            random_top1 = timed("random_weight", lambda: random_weight_top1(architecture, recipe, data, device, seed))
        if recipe.devices > 1:
            outcome = timed("epochs", lambda: train_data_parallel(architecture, recipe, data, device.type, seed, weights_to, trace_steps))
            curve, steps, peak = list(outcome.curve), list(outcome.steps), outcome.peak_memory_bytes
            for record in curve:
                if on_epoch is not None:
                    on_epoch(record)
        else:
            curve, steps, peak, _ = timed("epochs", lambda: train_here(architecture, recipe, data, device, seed, on_epoch, weights_to, trace_steps))
        top1, top5 = reported_accuracy(curve, recipe.top1_convention)
    except Untrainable as failure:
        status, error = "untrainable", str(failure)
        check_bytes = failure.needed_bytes
    except Diverged as failure:
        status, error = "diverged", str(failure)
    except Exception as failure:  # noqa: BLE001 - any failure of one architecture is a record, not a crash
        if is_out_of_memory(failure):
            status, error = "untrainable", f"out of memory during training: {failure}"
        else:
            status, error = "failed", "".join(traceback.format_exception_only(failure)).strip()
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return TrainResult(
        arch_id=architecture.arch_id,
        recipe_id=recipe.recipe_id,
        recipe_name=recipe.name,
        seed=seed,
        status=status,
        val_top1=top1,
        val_top5=top5,
        top1_convention=recipe.top1_convention,
        curve=tuple(curve),
        random_weight_top1=random_top1,
        train_time_s=timings.epochs,
        check_time_s=timings.check,
        random_weight_time_s=timings.random_weight,
        device_name=device_description(device, recipe.devices),
        device_count=recipe.devices,
        train_images=train_images,
        num_classes=classes,
        check_memory_bytes=check_bytes,
        peak_memory_bytes=peak,
        trainability_rule=recipe.trainability_rule(),
        error=error,
        steps=tuple(steps),
    )
