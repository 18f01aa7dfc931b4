"""The training recipe: a typed, validated value with a stable id, its schedules, and the presets.

Batch: `batch_per_device` images on each of `devices` data-parallel devices (DistributedDataParallel),
so one step sees `global_batch` images. The peak learning rate is `lr`, scaled by `lr_scaling` for a
global batch other than `lr_reference_batch`: none (as given), linear (lr x global / reference) or sqrt
(lr x sqrt(global / reference)). Iterations per epoch are `len(train) // global_batch`.

Data subset (for proxies): `subset_classes` classes (all when None) and `subset_fraction` of each
class's training images, both drawn from `subset_seed` (training.folders.subset_samples); validation
uses every validation image of the chosen classes.

Trainability: before training, one step at `trainability_batch` images per device and
`trainability_resolution` px (with the recipe's mixed precision) must fit in `untrainable_above_bytes`
of peak device memory, weights included (None: the device's memory); otherwise the architecture is
recorded `untrainable` with the figure. The reference's rule: 512, 192 px, AMP, 22.0e9 bytes.

Schedules follow the reference's FFCV-style proxified recipe:
- learning rate, per iteration, piecewise linear in fractional epochs t = epoch + i / iterations:
  from `lr_start_factor * lr` at t=0 to `lr` at t=`lr_peak_epoch`, then to 0 at t=`epochs`;
- resolution, per epoch: `min_resolution` up to `resize_start_epoch`, `max_resolution` from
  `resize_end_epoch`, in between linearly interpolated and rounded (half to even) to a multiple of
  `resolution_step`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from accelbench.common.config import table_of, validate
from accelbench.common.errors import InputError
from accelbench.common.toml import read_toml


class RecipeError(InputError):
    """A recipe value that is not allowed."""


Positive = Annotated[int, Field(gt=0)]


TOP1_CONVENTIONS = ("best_of_validated", "last")
LR_SCALINGS = ("none", "linear", "sqrt")
CLASSIFIER_INITS = ("reference", "zero")
LOADERS = ("cpu", "gpu")  # where images are decoded, cropped and resized (training.gpu_data for "gpu")


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: Positive
    batch_per_device: Positive  # images per device per step
    devices: Positive  # data-parallel devices; one step sees batch_per_device * devices images
    lr: Annotated[float, Field(gt=0)]  # peak learning rate at lr_reference_batch (the peak at this recipe's batch: `peak_lr`)
    lr_peak_epoch: Annotated[float, Field(ge=0)]
    lr_start_factor: Annotated[float, Field(ge=0, le=1)]
    momentum: Annotated[float, Field(ge=0, lt=1)]
    weight_decay: Annotated[float, Field(ge=0)]  # on weights only: never on batch-norm parameters or biases
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    min_resolution: Positive
    max_resolution: Positive
    resize_start_epoch: Annotated[int, Field(ge=0)]
    resize_end_epoch: Annotated[int, Field(ge=0)]
    resolution_step: Positive
    crop_scale_min: Annotated[float, Field(gt=0, le=1)]  # random-resized-crop area range (min, 1)
    val_resolution: Positive
    val_crop_ratio: Annotated[float, Field(gt=0, le=1)]  # centre crop of this share of the shorter side, resized to val_resolution
    validate_last_epochs: Positive
    top1_convention: Literal[TOP1_CONVENTIONS]  # how the reported top-1 is chosen among the validated epochs
    dropout: Annotated[float, Field(ge=0, lt=1)]
    stochastic_depth: Annotated[float, Field(ge=0, lt=1)]
    activation: Literal["relu", "silu"]
    mixed_precision: bool  # fp16 + loss scaling, on CUDA only
    channels_last: bool  # on CUDA only
    random_weight_epochs: Annotated[int, Field(ge=0)]  # classifier epochs of the random-weight evaluation; 0 turns it off
    trainability_batch: Positive  # images per device in the trainability check
    trainability_resolution: Positive
    untrainable_above_bytes: Annotated[float, Field(gt=0)] | None = None  # peak memory (weights included) above which a model is skipped; None: the device's
    lr_scaling: Literal[LR_SCALINGS] = "none"  # how the peak lr follows the global batch: none, linear, sqrt
    lr_reference_batch: Positive | None = None  # the global batch `lr` is for (None: this recipe's own)
    subset_classes: Annotated[int, Field(ge=2)] | None = None  # train and validate on this many classes (None: all)
    subset_fraction: Annotated[float, Field(gt=0, le=1)] = 1.0  # of each class's training images
    subset_seed: int = 0  # draws the classes and images
    classifier_init: Literal[CLASSIFIER_INITS] = "reference"  # the final layer: "reference" (torchvision's, uniform +-1/sqrt(classes)) or "zero"
    loader: Literal[LOADERS] = "cpu"  # where images are decoded and cropped: "cpu" (worker processes) or "gpu" (the device; training.gpu_data)

    def __post_init__(self) -> None:
        """Each field's type and range (the annotations above), then the rules between fields."""
        validate(table_of(Recipe), dataclasses.asdict(self), "", "", RecipeError)

        def need(condition: bool, field: str, allowed: str) -> None:
            if not condition:
                raise RecipeError(f"{field}={getattr(self, field)!r} is not allowed; {allowed}")

        need(self.lr_peak_epoch < self.epochs, "lr_peak_epoch", f"it must be in [0, epochs={self.epochs})")
        need(self.min_resolution <= self.max_resolution, "max_resolution", f"it must be >= min_resolution={self.min_resolution}")
        need(self.resize_start_epoch <= self.resize_end_epoch, "resize_end_epoch", f"it must be >= resize_start_epoch={self.resize_start_epoch} >= 0")
        need(self.validate_last_epochs <= self.epochs, "validate_last_epochs", f"it must be <= epochs={self.epochs}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Recipe":
        validate(table_of(cls), values, "", "", RecipeError)  # unknown and missing fields, before the dataclass sees them
        return cls(**values)

    def replace(self, **changes: Any) -> "Recipe":
        return self.from_dict(self.to_dict() | changes)

    @property
    def global_batch(self) -> int:
        return self.batch_per_device * self.devices

    @property
    def peak_lr(self) -> float:
        """The peak learning rate at this recipe's global batch, by its scaling rule."""
        ratio = self.global_batch / (self.lr_reference_batch or self.global_batch)
        return self.lr * {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[self.lr_scaling]

    @property
    def subset(self) -> tuple[int | None, float, int] | None:
        """(classes, fraction, seed) when training on part of the data, else None."""
        if self.subset_classes is None and self.subset_fraction == 1.0:
            return None
        return self.subset_classes, self.subset_fraction, self.subset_seed

    def trainability_rule(self) -> str:
        """The untrainable rule in words, recorded with every training."""
        limit = f"{self.untrainable_above_bytes / 1e9:g}e9 bytes" if self.untrainable_above_bytes else "the device's memory"
        return (f"peak device memory, weights included, of one step at {self.trainability_batch} images per device, "
                f"{self.trainability_resolution} px{', AMP' if self.mixed_precision else ''} > {limit}")

    @property
    def recipe_id(self) -> str:
        """A short hash of every field but the name: equal schedules share an id. Fields at their default
        are left out, so that a knob added later does not change the ids of existing records."""
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.default is not dataclasses.MISSING}
        values = {k: v for k, v in self.to_dict().items() if k != "name" and not (k in defaults and v == defaults[k])}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]

    # --- schedules ---
    def lr_at(self, epoch: int, iteration: int, iterations_per_epoch: int) -> float:
        t = epoch + iteration / iterations_per_epoch
        peak = self.peak_lr
        start = peak * self.lr_start_factor
        if t <= self.lr_peak_epoch:
            return start + (peak - start) * (t / self.lr_peak_epoch if self.lr_peak_epoch else 1.0)
        return peak * max(0.0, (self.epochs - t) / (self.epochs - self.lr_peak_epoch))

    def resolution_at(self, epoch: int) -> int:
        if epoch <= self.resize_start_epoch:
            return self.min_resolution
        if epoch >= self.resize_end_epoch:
            return self.max_resolution
        fraction = (epoch - self.resize_start_epoch) / (self.resize_end_epoch - self.resize_start_epoch)
        value = self.min_resolution + fraction * (self.max_resolution - self.min_resolution)
        return round(value / self.resolution_step) * self.resolution_step

    def validates(self, epoch: int) -> bool:
        return epoch >= self.epochs - self.validate_last_epochs


# The reference's proxified ImageNet scheme (train_nmodels_proxified.py, configs/conf_local.cfg):
# torchrun on 4 GPUs at 512 images each, peak lr 0.425 for the 2,048-image step.
ANB_PROXY = Recipe(
    name="anb-proxy",
    epochs=16,
    batch_per_device=512,
    devices=4,
    lr=0.425,
    lr_peak_epoch=2,
    lr_start_factor=1e-4,
    momentum=0.9,
    weight_decay=1e-4,
    label_smoothing=0.1,
    min_resolution=160,
    max_resolution=192,
    resize_start_epoch=11,
    resize_end_epoch=13,
    resolution_step=32,
    crop_scale_min=0.08,
    val_resolution=256,
    val_crop_ratio=224 / 256,
    validate_last_epochs=3,
    top1_convention="best_of_validated",
    dropout=0.2,
    stochastic_depth=0.2,
    activation="relu",
    mixed_precision=True,
    channels_last=True,
    random_weight_epochs=10,
    trainability_batch=512,
    trainability_resolution=192,
    untrainable_above_bytes=22.0e9,
)

# The same scheme shrunk for CPU and tests: the embedded digits at 40-56 px, about a minute on 2 cores.
SMOKE = ANB_PROXY.replace(
    name="smoke",
    epochs=5,
    batch_per_device=64,
    devices=1,
    lr=0.05,
    lr_peak_epoch=1,
    min_resolution=40,
    max_resolution=56,
    resize_start_epoch=2,
    resize_end_epoch=4,
    resolution_step=8,
    crop_scale_min=0.5,
    val_resolution=56,
    val_crop_ratio=1.0,
    validate_last_epochs=2,
    dropout=0.1,
    stochastic_depth=0.1,
    trainability_batch=64,
    trainability_resolution=56,
    untrainable_above_bytes=None,
)

# Full training in the EfficientNet style (long schedule, SiLU, fixed 224 px), to compare against the proxy.
FULL = ANB_PROXY.replace(
    name="full",
    epochs=350,
    batch_per_device=256,
    devices=1,
    lr=0.5,
    lr_peak_epoch=5,
    weight_decay=1e-5,
    min_resolution=224,
    max_resolution=224,
    resize_start_epoch=0,
    resize_end_epoch=0,
    val_resolution=224,
    validate_last_epochs=1,
    top1_convention="last",
    activation="silu",
    random_weight_epochs=0,
    trainability_batch=256,
    trainability_resolution=224,
    untrainable_above_bytes=None,
)

PRESETS: dict[str, Recipe] = {recipe.name: recipe for recipe in (ANB_PROXY, SMOKE, FULL)}


def get_recipe(name: str) -> Recipe:
    try:
        return PRESETS[name]
    except KeyError:
        raise RecipeError(f"recipe={name!r} is unknown; presets are {', '.join(PRESETS)}, or give a recipe file (.toml)") from None


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A preset by name, or a recipe file: TOML with a [recipe] table of fields (`base = "preset"` first
    for the fields it leaves out), as `accelbench proxy-search` writes them."""
    text = str(name_or_path)
    if not text.endswith(".toml"):
        return get_recipe(text)

    path = Path(text)
    values = read_toml(path, RecipeError, f"recipe file {path}")
    fields = values.get("recipe")
    if not isinstance(fields, dict):
        raise RecipeError(f"recipe file {path}: no [recipe] table")
    fields = dict(fields)
    base = fields.pop("base", None)
    try:
        return get_recipe(base).replace(**fields) if base else Recipe.from_dict(fields)
    except RecipeError as error:
        raise RecipeError(f"recipe file {path}: {error}") from None


def recipe_toml(recipe: Recipe, header: str = "") -> str:
    """The recipe as a file `load_recipe` reads back (absent values are left out: TOML has no null)."""
    lines = [f"# {line}" for line in header.splitlines()] + ["[recipe]"]
    for key, value in recipe.to_dict().items():
        if value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
