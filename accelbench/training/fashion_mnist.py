"""Fashion-MNIST (Zalando; MIT licence): 60,000 + 10,000 real 28x28 grey images of 10 clothing classes,
read from its four IDX files as Debian's `dataset-fashion-mnist` installs them
(/usr/share/datasets/fashion-mnist/, gzipped; `make fashion-mnist`) and written once, atomically, as
JPEGs in the ImageNet folder layout at their own 28 px (the recipe's resolution does the upscaling), so
the loader, the dataset fingerprint and the recipes serve it as any folder: `data = "fashion-mnist"`,
or `"fashion-mnist:DIR"` for the four files somewhere else. train/ holds the 60,000 training images,
val/ the 10,000 test images."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from accelbench.common.errors import InputError
from accelbench.common.paths import cache_root

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
SPEC = "fashion-mnist"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # unsigned bytes, 3 dimensions / 1 dimension
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
VERSION = "fashion-mnist-jpeg-v1"
QUALITY = 95


class FashionMnistError(InputError):
    """Fashion-MNIST's IDX files are missing, truncated or not IDX files of the expected kind."""


def idx_path(folder: Path, name: str) -> Path:
    """The file `name` in `folder`, gzipped (as Debian ships it) or not."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise FashionMnistError(f"{folder}: no {name}.gz or {name}; install Debian's dataset-fashion-mnist (`make fashion-mnist`) "
                            f"or give the folder that holds the four IDX files as data = \"{SPEC}:DIR\"")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array of an IDX file of unsigned bytes; its magic number and its length are checked."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise FashionMnistError(f"{path}: cannot be read ({error})") from None
    dimensions = magic & 0xFF
    header = 4 + 4 * dimensions
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        found = f"{int.from_bytes(data[:4], 'big'):#010x}" if len(data) >= 4 else "nothing"
        raise FashionMnistError(f"{path}: not an IDX file of {dimensions}-dimensional unsigned bytes (magic number {found}, expected {magic:#010x})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise FashionMnistError(f"{path}: {len(data):,} bytes where its header ({' x '.join(map(str, shape))}) says {expected:,}; "
                                f"the file is {'truncated' if len(data) < expected else 'too long'}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, rows, cols), labels (n,)) of `split`; counts and labels checked."""
    images_name, labels_name = FILES[split]
    images, labels = read_idx(idx_path(folder, images_name), IMAGES_MAGIC), read_idx(idx_path(folder, labels_name), LABELS_MAGIC)
    if len(images) != len(labels):
        raise FashionMnistError(f"{folder}: {images_name} holds {len(images):,} images but {labels_name} {len(labels):,} labels")
    if len(labels) and labels.max() >= len(CLASSES):
        raise FashionMnistError(f"{folder}/{labels_name}: label {int(labels.max())}; Fashion-MNIST's labels are 0-{len(CLASSES) - 1}")
    return images, labels


def source_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for names in FILES.values():
        for name in names:
            digest.update(idx_path(folder, name).read_bytes())
    return digest.hexdigest()[:12]


def fashion_mnist_dataset(source: Path = DEFAULT_DIR, root: Path | None = None) -> Path:
    """The ImageNet-layout folder of the IDX files in `source`: written on first use (atomically, all
    files checked first), reused after; a copy per source (its files' digest is in the folder's name)."""
    source = Path(source)
    if not source.is_dir():
        raise FashionMnistError(f"{source} is not a folder; install Debian's dataset-fashion-mnist (`make fashion-mnist`) or give "
                                f"the folder of the four IDX files as data = \"{SPEC}:DIR\"")
    target = (root or cache_root()) / f"{VERSION}-{source_digest(source)}"
    if (target / "train").is_dir() and (target / "val").is_dir():
        return target
    splits = {split: read_split(source, split) for split in FILES}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for split, (images, labels) in splits.items():
            write_split(staging / split, images, labels)
        os.rename(staging, target)
    except OSError:
        if not (target / "val").is_dir():  # another process did not win the race: a real error
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One grey JPEG per image under `<label>-<class name>/` (the names sort in label order)."""
    from PIL import Image

    for label, name in enumerate(CLASSES):
        (folder / f"{label}-{name}").mkdir(parents=True)
    for index, (pixels, label) in enumerate(zip(images, labels)):
        Image.fromarray(pixels, mode="L").save(folder / f"{label}-{CLASSES[label]}" / f"{index:05d}.JPEG", "JPEG", quality=QUALITY)


def is_fashion_mnist(spec: str) -> bool:
    return spec == SPEC or spec.startswith(f"{SPEC}:")


def resolve(spec: str) -> Path:
    """`fashion-mnist` (Debian's files) or `fashion-mnist:DIR` to the written folder."""
    return fashion_mnist_dataset(Path(spec.split(":", 1)[1]) if ":" in spec else DEFAULT_DIR)
