"""A sweep's typed configuration: which architectures, how to train them, where to profile them.

Built from plain dicts (the TOML presets in `accelbench/workflows/configs/`), validated in one place; every
error names the field (`training.recipe`), the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from accelbench.common.config import Table, validate
from accelbench.common.errors import InputError, check_name
from accelbench.pipeline.records import REPORTABLE, default_report
from accelbench.profiling.backends import BACKENDS, get_backend
from accelbench.profiling.protocol import TargetError
from accelbench.profiling.target import Target
from accelbench.search_space import SPACES, Architecture
from accelbench.search_space.sampling import SELECTIONS
from accelbench.training.recipe import Recipe, RecipeError, load_recipe


class ConfigError(InputError):
    """A sweep configuration that is not allowed."""


@dataclass(frozen=True)
class ArchitectureSource:
    space: str = "anb"
    sample: int | None = None  # uniform sample of this many ...
    seed: int = 0  # ... with this seed
    file: str | None = None  # or: a JSON-lines file of reference keys
    select: str = "uniform"  # or "spread": one per MAC quantile (a new device's first few-shot measurements)


@dataclass(frozen=True)
class TrainingStage:
    recipe: str = "smoke"  # a preset's name or a recipe file; `resolved_recipe` is the value
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    data: str = "embedded"
    device: str = "cpu"
    workers: int = 1  # long-lived training actors
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    loader_workers: int = 2  # DataLoader processes inside each actor (per rank when data-parallel)
    recycle_after: int = 50  # restart an actor after this many models (GPU memory leaks across models)
    save_weights: bool | None = None  # keep trained weights in the store; None: when a target measures them (FPGA)
    architectures: int | None = None  # train only the sweep's first N architectures (profiling takes them all); None: all

    @cached_property
    def resolved_recipe(self) -> Recipe:
        """The recipe the stage trains with: `recipe` with the `overrides`. What the planner keys tasks by
        and what the workers receive, as this value."""
        return load_recipe(self.recipe).replace(**self.overrides)


@dataclass(frozen=True)
class TargetSpec:
    """A target to profile on (its `resources` name the Ray resources of the host that owns the device),
    and which of its numbers are results: latency, throughput (default: by batch)."""

    target: Target
    report: tuple[str, ...] = ()
    blocks: bool = False  # also time every distinct block of the space on this target (a per-block latency table)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def resources(self) -> dict[str, float]:
        return dict(self.target.resources)

    @property
    def reported(self) -> tuple[str, ...]:
        return self.report or default_report(self.target.batch)

    def to_config(self) -> dict[str, Any]:
        return {**self.target.to_dict(), "report": list(self.report), "blocks": self.blocks}

    def for_architecture(self, architecture: Architecture) -> "TargetSpec":
        """`Target.for_architecture`: an architecture has one resolution, so one task key per target."""
        target = self.target.for_architecture(architecture)
        return self if target is self.target else replace(self, target=target)


@dataclass(frozen=True)
class ProfilingStage:
    targets: tuple[TargetSpec, ...] = ()
    cache: str | None = None  # ONNX cache on each host; default: ~/.cache/accelbench/onnx
    export_cpus: float = 1


@dataclass(frozen=True)
class Scheduling:
    max_in_flight: int = 64  # tasks submitted and not yet finished
    max_retries: int = 2  # for a task whose worker died; its own failures are records, not retried
    progress_interval_s: float = 10.0


@dataclass(frozen=True)
class Sweep:
    name: str
    architectures: ArchitectureSource
    training: TrainingStage | None = None
    profiling: ProfilingStage | None = None
    scheduling: Scheduling = Scheduling()

    def to_dict(self) -> dict[str, Any]:
        """The config form (what `from_dict` reads back)."""
        values = asdict(self)
        if self.profiling:
            values["profiling"]["targets"] = [spec.to_config() for spec in self.profiling.targets]
        return _without_none(values)  # an unset value is the absent key (save_weights: "auto")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> "Sweep":
        return _parse_sweep(values, source, base_dir)


def _without_none(values: Any) -> Any:
    if isinstance(values, dict):
        return {key: _without_none(value) for key, value in values.items() if value is not None}
    return [_without_none(value) for value in values] if isinstance(values, (list, tuple)) else values


# --- validation: one pydantic table per config table (accelbench.common.config), then the values above ---
class ArchitecturesTable(Table):
    space: Literal[tuple(SPACES)] = ArchitectureSource.space
    sample: int | None = Field(None, ge=1)
    seed: int = Field(ArchitectureSource.seed, ge=0)
    file: str | None = Field(None, min_length=1)
    select: Literal[SELECTIONS] = ArchitectureSource.select

    @model_validator(mode="after")
    def one_source(self) -> "ArchitecturesTable":
        if (self.sample is None) == (self.file is None):
            raise ValueError("[architectures] needs exactly one of sample = N or file = PATH")
        if self.file is not None and self.select != "uniform":
            raise ValueError("[architectures] select applies to sample = N, not to a file")
        return self


class TrainingTable(Table):
    recipe: str = Field(TrainingStage.recipe, min_length=1)
    overrides: dict[str, Any] = {}
    seeds: list[int] = Field(list(TrainingStage.seeds), min_length=1)
    data: str = Field(TrainingStage.data, min_length=1)
    device: Literal["cpu", "cuda"] = TrainingStage.device
    workers: int = Field(TrainingStage.workers, ge=1)
    cpus_per_worker: float = Field(TrainingStage.cpus_per_worker, ge=0)
    gpus_per_worker: float = Field(TrainingStage.gpus_per_worker, ge=0)
    loader_workers: int = Field(TrainingStage.loader_workers, ge=0)
    recycle_after: int = Field(TrainingStage.recycle_after, ge=1)
    save_weights: Any = "auto"
    architectures: int | None = Field(None, ge=1)

    @field_validator("seeds")
    @classmethod
    def distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("it repeats a seed")
        return seeds

    @field_validator("save_weights")
    @classmethod
    def weights_choice(cls, value: Any) -> Any:
        if value not in ("auto", True, False) or isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('choices are true, false, "auto" (when a target needs them)')
        return value


class TargetTable(Table):
    """A target's own fields are checked by `Target` (its backend's options too): given through as written."""

    name: str = Field(min_length=1)
    backend: str
    batch: Any = Target.batch
    resolution: Any = Target.resolution
    device: Any = Target.device
    precision: Any = Target.precision
    threads: Any = Target.threads
    options: dict[str, Any] = {}
    resources: dict[str, Annotated[float, Field(ge=0)]] = {}
    report: list[str] = []
    blocks: bool = False

    @field_validator("report")
    @classmethod
    def reportable(cls, report: list[str]) -> list[str]:
        if not set(report) <= set(REPORTABLE):
            raise ValueError(f"it lists some of {', '.join(REPORTABLE)}")
        return report

    @field_validator("backend")
    @classmethod
    def known_backend(cls, backend: str) -> str:
        if backend not in BACKENDS:
            raise ValueError(f"choices are {', '.join(BACKENDS)}")
        return backend


class ProfilingTable(Table):
    targets: list[TargetTable] = Field(min_length=1)
    cache: str | None = Field(None, min_length=1)
    export_cpus: float = Field(ProfilingStage.export_cpus, ge=0)


class SchedulingTable(Table):
    max_in_flight: int = Field(Scheduling.max_in_flight, ge=1)
    max_retries: int = Field(Scheduling.max_retries, ge=0)
    progress_interval_s: float = Field(Scheduling.progress_interval_s, ge=0)


class SweepTable(Table):
    name: str
    architectures: dict[str, Any]  # each section is checked on its own, so that its errors name it
    training: dict[str, Any] | None = None
    profiling: dict[str, Any] | None = None
    scheduling: dict[str, Any] = {}


def _parse_sweep(values: dict[str, Any], source: str, base_dir: Path | None) -> Sweep:
    if isinstance(values, dict) and "name" not in values:
        raise ConfigError(f"{source}: 'name' is missing; give the sweep a name, e.g. name = \"default\"")
    if isinstance(values, dict) and "architectures" not in values:
        raise ConfigError(f"{source}: [architectures] is missing; give sample = N and seed = S, or file = PATH")
    table = validate(SweepTable, values, "", source, ConfigError)
    try:
        check_name(table.name, "name")
    except InputError as error:
        raise ConfigError(f"{source}: {error}") from None
    return Sweep(
        name=table.name,
        architectures=_architectures(validate(ArchitecturesTable, table.architectures, "architectures", source, ConfigError), base_dir),
        training=_training(validate(TrainingTable, table.training, "training", source, ConfigError), source, base_dir) if table.training is not None else None,
        profiling=_profiling(validate(ProfilingTable, table.profiling, "profiling", source, ConfigError), source) if table.profiling is not None else None,
        scheduling=Scheduling(**validate(SchedulingTable, table.scheduling, "scheduling", source, ConfigError).model_dump()),
    )


def _architectures(table: ArchitecturesTable, base_dir: Path | None) -> ArchitectureSource:
    file = table.file
    if file is not None and base_dir is not None and not Path(file).is_absolute():
        file = str((base_dir / file).resolve())
    return ArchitectureSource(table.space, table.sample, table.seed, file, table.select)


def _training(table: TrainingTable, source: str, base_dir: Path | None) -> TrainingStage:
    recipe = table.recipe
    if recipe.endswith(".toml") and base_dir is not None and not Path(recipe).is_absolute():
        recipe = str((base_dir / recipe).resolve())
    try:
        base = load_recipe(recipe)
    except RecipeError as error:
        raise ConfigError(f"{source}: training: {error}") from None
    try:
        resolved = base.replace(**table.overrides)
    except RecipeError as error:
        raise ConfigError(f"{source}: training.overrides: {error}") from None
    if table.device == "cuda" and table.gpus_per_worker and table.gpus_per_worker != resolved.devices:
        raise ConfigError(f"{source}: training.gpus_per_worker={table.gpus_per_worker:g} is not allowed; the recipe {recipe} trains data-parallel on "
                          f"{resolved.devices} devices: set gpus_per_worker = {resolved.devices} (or leave it out), or override devices")
    values = table.model_dump()
    stage = TrainingStage(**{**values, "recipe": recipe, "overrides": dict(table.overrides), "seeds": tuple(table.seeds),
                             "save_weights": None if table.save_weights == "auto" else table.save_weights})
    stage.__dict__["resolved_recipe"] = resolved  # resolved above, with the errors a config gets: kept, not resolved again
    return stage


def _target(table: TargetTable, where: str, source: str) -> TargetSpec:
    fields = table.model_dump(exclude={"report", "blocks"})
    try:
        target = Target(**{**fields, "resources": {key: float(amount) for key, amount in table.resources.items()}})
    except TargetError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None
    if table.blocks and not get_backend(table.backend).needs_onnx:
        raise ConfigError(f"{source}: {where}.blocks = true is not allowed with backend {table.backend}: per-block tables are timed through ONNX "
                          f"(backends {', '.join(name for name, b in BACKENDS.items() if b.needs_onnx)})")
    return TargetSpec(target, tuple(table.report), table.blocks)


def _profiling(table: ProfilingTable, source: str) -> ProfilingStage:
    targets = tuple(_target(target, f"profiling.targets[{index}]", source) for index, target in enumerate(table.targets))
    names = [target.name for target in targets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{source}: profiling target names repeat: {', '.join(repeated)}; each names its result columns")
    return ProfilingStage(targets, table.cache, table.export_cpus)


def weights_needed(sweep: "Sweep") -> bool:
    """Whether trainings keep their weights: as configured, else when a target measures the trained network."""
    if sweep.training is None:
        return False
    if sweep.training.save_weights is not None:
        return sweep.training.save_weights
    return bool(sweep.profiling) and any(get_backend(spec.target.backend).needs_trained_weights for spec in sweep.profiling.targets)
