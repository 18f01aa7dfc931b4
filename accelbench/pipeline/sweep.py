"""A sweep's typed configuration: which architectures, how to train them, where to profile them.

Built from plain dicts (the TOML presets in `accelbench/workflows/configs/`), validated in one place; every
error names the field (`training.recipe`), the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from accelbench.pipeline.records import REPORTABLE, default_report
from accelbench.profiling.protocol import TargetError
from accelbench.profiling.target import Target
from accelbench.common.errors import InputError, check_name
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


# --- validation ---
def _check_keys(values: Any, allowed: set[str], where: str, source: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{where}] must be a table, got {type(values).__name__}")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(f'{where}.{k}' if where else k for k in unknown)}; allowed are {', '.join(sorted(allowed))}")
    return values


def _number(values: dict[str, Any], key: str, where: str, source: str, default: Any, kind: type = int, minimum: float = 0) -> Any:
    value = values.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value < minimum:
        kind_name = "a number" if kind is float else "an integer"
        raise ConfigError(f"{source}: {where}.{key}={value!r} is not allowed; it must be {kind_name} >= {minimum:g}")
    return value


def _string(values: dict[str, Any], key: str, where: str, source: str, default: Any, choices: tuple[str, ...] | None = None) -> Any:
    value = values.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or not value or (choices and value not in choices):
        allowed = f"choices are {', '.join(choices)}" if choices else "it must be a non-empty string"
        raise ConfigError(f"{source}: {where}.{key}={value!r} is not allowed; {allowed}")
    return value


def _parse_sweep(values: dict[str, Any], source: str, base_dir: Path | None) -> Sweep:
    _check_keys(values, {"name", "architectures", "training", "profiling", "scheduling"}, "", source)
    name = _string(values, "name", "sweep", source, None)
    if name is None:
        raise ConfigError(f"{source}: 'name' is missing; give the sweep a name, e.g. name = \"default\"")
    try:
        check_name(name, "name")
    except InputError as error:
        raise ConfigError(f"{source}: {error}") from None
    if "architectures" not in values:
        raise ConfigError(f"{source}: [architectures] is missing; give sample = N and seed = S, or file = PATH")
    if "training" not in values and "profiling" not in values:
        raise ConfigError(f"{source}: nothing to do: give [training], [[profiling.targets]] or both")
    return Sweep(
        name=name,
        architectures=_parse_architectures(values["architectures"], source, base_dir),
        training=_parse_training(values["training"], source, base_dir) if "training" in values else None,
        profiling=_parse_profiling(values["profiling"], source) if "profiling" in values else None,
        scheduling=_parse_scheduling(values.get("scheduling", {}), source),
    )


def _parse_architectures(values: Any, source: str, base_dir: Path | None) -> ArchitectureSource:
    from accelbench.search_space import SPACES

    where = "architectures"
    from accelbench.search_space.sampling import SELECTIONS

    _check_keys(values, {"space", "sample", "seed", "file", "select"}, where, source)
    space = _string(values, "space", where, source, "anb", tuple(SPACES))
    sample = _number(values, "sample", where, source, None, minimum=1)
    file = _string(values, "file", where, source, None)
    if (sample is None) == (file is None):
        raise ConfigError(f"{source}: [architectures] needs exactly one of sample = N or file = PATH")
    select = _string(values, "select", where, source, "uniform", SELECTIONS)
    if file is not None and select != "uniform":
        raise ConfigError(f"{source}: [architectures] select applies to sample = N, not to a file")
    if file is not None and base_dir is not None and not Path(file).is_absolute():
        file = str((base_dir / file).resolve())
    return ArchitectureSource(space, sample, _number(values, "seed", where, source, 0), file, select)


def _parse_training(values: Any, source: str, base_dir: Path | None = None) -> TrainingStage:
    where = "training"
    defaults = TrainingStage()
    allowed = set(TrainingStage.__dataclass_fields__)
    _check_keys(values, allowed, where, source)
    recipe = _string(values, "recipe", where, source, defaults.recipe)
    if recipe.endswith(".toml") and base_dir is not None and not Path(recipe).is_absolute():
        recipe = str((base_dir / recipe).resolve())
    overrides = values.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: training.overrides must be a table of recipe fields")
    try:
        base = load_recipe(recipe)
    except RecipeError as error:
        raise ConfigError(f"{source}: training: {error}") from None
    try:
        resolved = base.replace(**overrides)
    except RecipeError as error:
        raise ConfigError(f"{source}: training.overrides: {error}") from None
    device = _string(values, "device", where, source, defaults.device, ("cpu", "cuda"))
    gpus = _number(values, "gpus_per_worker", where, source, defaults.gpus_per_worker, float)
    if device == "cuda" and gpus and gpus != resolved.devices:
        raise ConfigError(f"{source}: training.gpus_per_worker={gpus:g} is not allowed; the recipe {recipe} trains data-parallel on "
                          f"{resolved.devices} devices: set gpus_per_worker = {resolved.devices} (or leave it out), or override devices")
    save_weights = values.get("save_weights", "auto")
    if save_weights not in ("auto", True, False):
        raise ConfigError(f"{source}: training.save_weights={save_weights!r} is not allowed; choices are true, false, \"auto\" (when a target needs them)")
    seeds = values.get("seeds", list(defaults.seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{source}: training.seeds={seeds!r} is not allowed; it must be a non-empty list of integers")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{source}: training.seeds={seeds!r} repeats a seed")
    stage = TrainingStage(
        recipe=recipe,
        overrides=dict(overrides),
        seeds=tuple(seeds),
        data=_string(values, "data", where, source, defaults.data),
        device=device,
        workers=_number(values, "workers", where, source, defaults.workers, minimum=1),
        cpus_per_worker=_number(values, "cpus_per_worker", where, source, defaults.cpus_per_worker, float),
        gpus_per_worker=gpus,
        loader_workers=_number(values, "loader_workers", where, source, defaults.loader_workers),
        recycle_after=_number(values, "recycle_after", where, source, defaults.recycle_after, minimum=1),
        save_weights=None if save_weights == "auto" else save_weights,
    )
    stage.__dict__["resolved_recipe"] = resolved  # resolved above, with the errors a config gets: kept, not resolved again
    return stage


def _parse_target(values: Any, where: str, source: str) -> TargetSpec:
    from accelbench.profiling.backends import BACKENDS, get_backend

    _check_keys(values, {*Target.__dataclass_fields__, "report", "blocks"}, where, source)
    name = _string(values, "name", where, source, None)
    if name is None:
        raise ConfigError(f"{source}: {where}.name is missing")
    report = values.get("report", [])
    if not isinstance(report, list) or not set(report) <= set(REPORTABLE):
        raise ConfigError(f"{source}: {where}.report={report!r} is not allowed; it lists some of {', '.join(REPORTABLE)}")
    for key in ("options", "resources"):
        if not isinstance(values.get(key, {}), dict):
            raise ConfigError(f"{source}: {where}.{key} must be a table")
    for resource, amount in values.get("resources", {}).items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise ConfigError(f"{source}: {where}.resources.{resource}={amount!r} is not allowed; it must be a number >= 0")
    backend = _string(values, "backend", where, source, None, tuple(BACKENDS))
    if backend is None:
        raise ConfigError(f"{source}: {where}.backend is missing; choices are {', '.join(BACKENDS)}")
    try:
        target = Target(
            name=name,
            backend=backend,
            batch=values.get("batch", 1),
            resolution=values.get("resolution", 224),
            device=values.get("device", "cpu"),
            precision=values.get("precision", "fp32"),
            threads=values.get("threads", 1),
            options=dict(values.get("options", {})),
            resources={key: float(amount) for key, amount in values.get("resources", {}).items()},
        )
    except TargetError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None
    blocks = values.get("blocks", False)
    if not isinstance(blocks, bool):
        raise ConfigError(f"{source}: {where}.blocks={blocks!r} is not allowed; it must be true or false")
    if blocks and not get_backend(backend).needs_onnx:
        raise ConfigError(f"{source}: {where}.blocks = true is not allowed with backend {backend}: per-block tables are timed through ONNX "
                          f"(backends {', '.join(name for name, b in BACKENDS.items() if b.needs_onnx)})")
    return TargetSpec(target, tuple(report), blocks)


def weights_needed(sweep: "Sweep") -> bool:
    """Whether trainings keep their weights: as configured, else when a target measures the trained network."""
    from accelbench.profiling.backends import get_backend

    if sweep.training is None:
        return False
    if sweep.training.save_weights is not None:
        return sweep.training.save_weights
    return bool(sweep.profiling) and any(get_backend(spec.target.backend).needs_trained_weights for spec in sweep.profiling.targets)


def _parse_profiling(values: Any, source: str) -> ProfilingStage:
    where = "profiling"
    _check_keys(values, {"targets", "cache", "export_cpus"}, where, source)
    raw_targets = values.get("targets", [])
    if not isinstance(raw_targets, list) or not raw_targets:
        raise ConfigError(f"{source}: profiling.targets must list at least one [[profiling.targets]]")
    targets = tuple(_parse_target(target, f"profiling.targets[{index}]", source) for index, target in enumerate(raw_targets))
    names = [target.name for target in targets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{source}: profiling target names repeat: {', '.join(repeated)}; each names its result columns")
    return ProfilingStage(targets, _string(values, "cache", where, source, None), _number(values, "export_cpus", where, source, 1, float))


def _parse_scheduling(values: Any, source: str) -> Scheduling:
    where = "scheduling"
    defaults = Scheduling()
    _check_keys(values, set(Scheduling.__dataclass_fields__), where, source)
    return Scheduling(
        max_in_flight=_number(values, "max_in_flight", where, source, defaults.max_in_flight, minimum=1),
        max_retries=_number(values, "max_retries", where, source, defaults.max_retries),
        progress_interval_s=_number(values, "progress_interval_s", where, source, defaults.progress_interval_s, float),
    )
