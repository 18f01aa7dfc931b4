"""A proxy search's typed configuration. Its [architectures], [training] (the reference recipe: the
"truth") and [scheduling] are a sweep's and are checked as one; [noise], [candidates], [search] and
[selection] are its own. Every error names the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from accelbench.common.config import Table, validate
from accelbench.pipeline.sweep import ConfigError, Sweep
from accelbench.proxy.candidates import candidate_recipes
from accelbench.training.recipe import LR_SCALINGS, Recipe


class NoiseCeiling(Table):
    """The reference recipe again with other seeds on the first `architectures` reference architectures."""

    seeds: list[int] = Field(default=[1], min_length=1)
    architectures: int = Field(ge=3)


class SearchSettings(Table):
    strategy: Literal["grid", "halving"] = "grid"
    budget_device_s: float | None = Field(default=None, gt=0)  # the candidates' training device-seconds
    seeds: list[int] = Field(default=[0], min_length=1)  # each candidate is trained with these seeds
    eta: int = Field(default=3, ge=2)  # halving: keep 1/eta of the candidates at each rung
    min_architectures: int = Field(default=4, ge=3)  # halving: the first rung
    trials: int | None = Field(default=None, ge=1)  # halving: at most this many (default: the number of candidates)
    seed: int = 0  # halving: Optuna's sampler


class SelectionSettings(Table):
    rule: Literal["overlap", "cost-cap"] = "overlap"
    cost_cap: float | None = Field(default=None, gt=0, le=1)
    bootstrap: int = Field(default=1000, ge=100)
    level: float = Field(default=0.95, gt=0.5, lt=1)


@dataclass(frozen=True)
class ProxyConfig:
    name: str
    reference: Sweep  # the reference architectures, the reference recipe and seeds, data, scheduling
    noise: NoiseCeiling
    knobs: dict[str, tuple]  # recipe field -> the values a candidate may take
    lr_scaling: str  # how a candidate's peak lr follows its global batch (training.recipe)
    search: SearchSettings
    selection: SelectionSettings


SECTIONS = {"name", "architectures", "training", "scheduling", "noise", "candidates", "search", "selection"}


def parse_proxy_config(values: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> ProxyConfig:
    unknown = sorted(set(values) - SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; allowed are {', '.join(sorted(SECTIONS))}")
    if "training" not in values:
        raise ConfigError(f"{source}: [training] is missing: the reference recipe (the truth), its seeds and the data")
    reference = Sweep.from_dict({key: values[key] for key in ("name", "architectures", "training", "scheduling") if key in values}, source, base_dir)
    candidates = dict(values.get("candidates") or {})
    lr_scaling = candidates.pop("lr_scaling", "linear")
    if lr_scaling not in LR_SCALINGS:
        raise ConfigError(f"{source}: candidates.lr_scaling={lr_scaling!r} is not allowed; choices are {', '.join(LR_SCALINGS)}")
    fields = {field.name for field in dataclasses.fields(Recipe)} - {"name"}
    if not candidates:
        raise ConfigError(f"{source}: [candidates] is empty: give one or more recipe fields with the values to try, e.g. epochs = [2, 4]")
    knobs = {}
    for key, choices in candidates.items():
        if key not in fields:
            raise ConfigError(f"{source}: candidates.{key} is not a recipe field; knobs are recipe fields: {', '.join(sorted(fields))}")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{source}: candidates.{key}={choices!r} is not allowed; it must be a non-empty list of values")
        knobs[key] = tuple(choices)
    noise = validate(NoiseCeiling, values.get("noise"), "noise", source, ConfigError)
    search = validate(SearchSettings, values.get("search"), "search", source, ConfigError)
    selection = validate(SelectionSettings, values.get("selection"), "selection", source, ConfigError)
    if selection.rule == "cost-cap" and selection.cost_cap is None:
        raise ConfigError(f"{source}: selection.rule = \"cost-cap\" needs selection.cost_cap, the largest share of the reference's cost to accept")
    total = reference.architectures.sample
    if total is not None and noise.architectures > total:
        raise ConfigError(f"{source}: noise.architectures={noise.architectures} is not allowed; it must be at most the {total} reference architectures")
    if set(noise.seeds) & set(reference.training.seeds):
        raise ConfigError(f"{source}: noise.seeds={noise.seeds} is not allowed; they must differ from the reference's training.seeds {list(reference.training.seeds)}")
    config = ProxyConfig(reference.name, reference, noise, knobs, lr_scaling, search, selection)
    candidate_recipes(config, source)  # every candidate must be a valid recipe: errors now, not after hours
    return config
