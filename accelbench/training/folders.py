"""ImageNet-layout folders (`train/<class>/*.JPEG`, `val/<class>/*.JPEG`) without torch: their listing,
the check that a folder has that layout, and its identity (a fingerprint of its file list).

The fingerprint is part of every training task's key, so a sweep pointed at another dataset makes
new tasks instead of mixing its records with those of the first.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

from accelbench.common.errors import InputError
from accelbench.training import fashion_mnist
from accelbench.training.embedded import embedded_dataset

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
SPLITS = ("train", "val")
MARKER = "prepared.json"  # in a prepared copy (training.prepare): its source and settings


class DataError(InputError):
    """A dataset folder that does not have the ImageNet layout."""


def list_image_folder(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Classes (sorted folder names) and (path, label) samples in a stable order."""
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected <root>/<class>/<image>.JPEG")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise DataError(f"{root} has no class folders; expected <root>/<class>/<image>.JPEG")
    samples = [
        (str(root / name / file), label)
        for label, name in enumerate(classes)
        for file in sorted(entry.name for entry in os.scandir(root / name))
        if os.path.splitext(file)[1].lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise DataError(f"{root} has class folders but no .JPEG/.jpg/.png images")
    return classes, samples


Subset = tuple  # (classes: int | None, fraction: float, seed: int), a recipe's `subset`


def subset_samples(classes: list[str], samples: list[tuple[str, int]], subset: Subset | None, train: bool) -> tuple[list[str], list[tuple[str, int]]]:
    """The classes and (relabelled) samples of a data subset. `subset[0]` classes are drawn from the
    sorted class names with the seed; of each class's training images, `ceil(fraction * n)` (at least one)
    are drawn with the seed and the class name, so a class keeps its draw whatever else is chosen.
    Validation keeps every image of the chosen classes."""
    if subset is None:
        return classes, samples
    count, fraction, seed = subset
    chosen = sorted(random.Random(f"classes:{seed}").sample(range(len(classes)), count)) if count and count < len(classes) else list(range(len(classes)))
    if count and count > len(classes):
        raise DataError(f"subset_classes={count} is more than the {len(classes)} classes of the dataset")
    by_class: dict[int, list[str]] = {}
    for path, label in samples:
        by_class.setdefault(label, []).append(path)
    kept = []
    for new, old in enumerate(chosen):
        paths = by_class.get(old, [])
        if train and fraction < 1.0:
            paths = sorted(random.Random(f"images:{seed}:{classes[old]}").sample(paths, max(1, math.ceil(fraction * len(paths)))))
        kept += [(path, new) for path in paths]
    return [classes[old] for old in chosen], kept


@dataclass(frozen=True)
class DatasetIdentity:
    data_id: str  # first 12 hex digits of sha256 over the sorted "split/class/file" lines
    classes: int
    train_images: int
    val_images: int
    prepared: str | None = None  # a prepared copy's settings and source ("max_side=400 quality=90 of <data_id>")


def identify(root: str | Path) -> DatasetIdentity:
    """The identity of an ImageNet-layout folder; a DataError names what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data={str(root)!r} is not a folder; expected {root}/{{train,val}}/<class>/<image>.JPEG")
    digest = hashlib.sha256()
    counts = {}
    classes: list[str] = []
    for split in SPLITS:
        if not (root / split).is_dir():
            raise DataError(f"{root} has no {split}/ folder; expected {root}/{{train,val}}/<class>/<image>.JPEG")
        split_classes, samples = list_image_folder(root / split)
        if split == "val":
            if split_classes != classes:
                raise DataError(f"{root}/val has other class folders than {root}/train")
        classes = split_classes
        counts[split] = len(samples)
        for path, _ in samples:
            digest.update(f"{split}/{Path(path).parent.name}/{Path(path).name}\n".encode())
    prepared = None
    if (root / MARKER).is_file():
        try:
            marker = json.loads((root / MARKER).read_text())
            prepared = f"max_side={int(marker['max_side'])} quality={int(marker['quality'])} of {marker['source_data_id']}"
        except (ValueError, KeyError, TypeError) as error:
            raise DataError(f"{root / MARKER} is damaged ({error}); run `accelbench data prepare` again with the same SRC and DST") from None
        digest.update(f"prepared {prepared}\n".encode())
    return DatasetIdentity(digest.hexdigest()[:12], len(classes), counts["train"], counts["val"], prepared)


def resolve_data(spec: str | Path) -> Path:
    """`embedded` (the digits), `fashion-mnist[:DIR]` (its IDX files; both written as folders on first
    use) or a path to an ImageNet-layout folder."""
    if str(spec) == "embedded":
        return embedded_dataset()
    if fashion_mnist.is_fashion_mnist(str(spec)):
        return fashion_mnist.resolve(str(spec))
    return Path(spec)
