"""The embedded default dataset: scikit-learn's handwritten digits (real scans shipped with the
package), written once as JPEGs in the ImageNet folder layout, so the default run uses the very
loader that ImageNet runs use."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from accelbench.common.paths import cache_root

NAME = "digits-jpeg-v1"
IMAGE_SIZE = 64
VAL_EVERY = 5  # every 5th image of each class goes to val


def embedded_dataset(root: Path | None = None) -> Path:
    """The folder holding `train/` and `val/`; written on first use (atomically), reused after."""
    target = (root or cache_root()) / NAME
    if (target / "train").is_dir() and (target / "val").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{NAME}."))
    try:
        _write_digits(staging)
        os.rename(staging, target)
    except OSError:
        if not (target / "val").is_dir():  # another process did not win the race: a real error
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_digits(folder: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    seen = np.zeros(10, dtype=int)
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        split = "val" if seen[label] % VAL_EVERY == VAL_EVERY - 1 else "train"
        seen[label] += 1
        grey = Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L")
        image = grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC).convert("RGB")
        path = folder / split / str(label) / f"{index:04d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, "JPEG", quality=90)
