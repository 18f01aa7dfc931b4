"""The candidates of a proxy search: the reference recipe with some knobs changed, the schedule's
epochs and the peak lr following the changes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accelbench.pipeline.sweep import ConfigError
from accelbench.common.errors import check_name
from accelbench.training.recipe import RecipeError

if TYPE_CHECKING:
    from accelbench.proxy.config import ProxyConfig


def _label(changes: dict) -> str:
    return ",".join(f"{key}={value}" for key, value in changes.items())


def derive(reference, changes: dict, lr_scaling: str, name: str):
    """The reference recipe with `changes`; the schedule's epochs follow a change of `epochs`."""
    derived: dict = {}
    epochs = changes.get("epochs", reference.epochs)
    if epochs != reference.epochs:
        scale = epochs / reference.epochs
        peak = min(reference.lr_peak_epoch * scale, epochs - 1)
        derived["lr_peak_epoch"] = round(peak) if isinstance(reference.lr_peak_epoch, int) else peak
        derived["resize_start_epoch"] = round(reference.resize_start_epoch * scale)
        derived["resize_end_epoch"] = max(derived["resize_start_epoch"], round(reference.resize_end_epoch * scale))
        derived["validate_last_epochs"] = max(1, min(epochs, round(reference.validate_last_epochs * scale)))
    if "max_resolution" in changes and "min_resolution" not in changes:
        derived["min_resolution"] = min(reference.min_resolution, changes["max_resolution"])
    if "min_resolution" in changes and "max_resolution" not in changes:
        derived["max_resolution"] = max(reference.max_resolution, changes["min_resolution"])
    if ("batch_per_device" in changes or "devices" in changes) and "lr" not in changes:
        derived.update(lr=reference.peak_lr, lr_scaling=lr_scaling, lr_reference_batch=reference.global_batch)
    return reference.replace(name=name, **{**derived, **changes})


@dataclass(frozen=True)
class Candidate:
    label: str
    changes: dict
    recipe: object  # training.recipe.Recipe


def candidate_recipes(config: ProxyConfig, source: str = "config") -> list[Candidate]:
    reference = config.reference.training.resolved_recipe
    candidates = []
    for values in itertools.product(*config.knobs.values()):
        changes = dict(zip(config.knobs, values))
        try:
            recipe = derive(reference, changes, config.lr_scaling, check_name(f"{config.name}-proxy", "recipe name"))
        except RecipeError as error:
            raise ConfigError(f"{source}: the candidate {_label(changes)} is not a valid recipe: {error}") from None
        candidates.append(Candidate(_label(changes), changes, recipe))
    return candidates


def transferred(truth, proxy, reference) -> dict:
    """A proxy scheme found for one dataset, carried to another: its proportions to its own truth (epochs,
    top resolution, data fraction) applied to `reference`, another truth. Epochs are whole: at least one."""
    return {"epochs": max(1, round(reference.epochs * proxy.epochs / truth.epochs)),
            "max_resolution": max(1, round(reference.max_resolution * proxy.max_resolution / truth.max_resolution)),
            "subset_fraction": min(1.0, reference.subset_fraction * proxy.subset_fraction / truth.subset_fraction)}
