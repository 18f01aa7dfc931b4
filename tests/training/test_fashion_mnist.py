"""Fashion-MNIST from IDX files (accelbench/training/fashion_mnist.py), on small IDX files written here:
good ones give a balanced ImageNet-layout folder the loader reads; truncated, foreign or miscounted
ones are named in one line (exit 2 through the CLI) and nothing is written."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from accelbench.training import fashion_mnist
from accelbench.training.fashion_mnist import CLASSES, FashionMnistError, fashion_mnist_dataset, read_idx
from accelbench.training.folders import identify, list_image_folder, resolve_data

PER_CLASS = {"train": 6, "val": 2}


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", size) for size in array.shape) + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, gzipped: bool = True, seed: int = 0) -> Path:
    """The four files of a tiny Fashion-MNIST: PER_CLASS images of each class per split, shuffled."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images_name, labels_name) in fashion_mnist.FILES.items():
        labels = rng.permutation(np.repeat(np.arange(len(CLASSES)), PER_CLASS[split]))
        images = rng.integers(0, 256, (len(labels), 28, 28))
        images[np.arange(len(labels)), labels, :] = 255  # a bright row at the label: images differ by class
        for name, data in ((images_name, idx_bytes(images, 0x803)), (labels_name, idx_bytes(labels, 0x801))):
            (folder / (name + ".gz" if gzipped else name)).write_bytes(gzip.compress(data) if gzipped else data)
    return folder


def test_the_written_folder_is_balanced_and_read_by_the_loader(tmp_path):
    source = write_idx_folder(tmp_path / "idx")
    root = fashion_mnist_dataset(source, tmp_path / "cache")
    for split, per_class in PER_CLASS.items():
        classes, samples = list_image_folder(root / split)
        assert classes == [f"{i}-{name}" for i, name in enumerate(CLASSES)]
        assert np.bincount([label for _, label in samples], minlength=len(CLASSES)).tolist() == [per_class] * len(CLASSES)
    identity = identify(root)
    assert (identity.classes, identity.train_images, identity.val_images) == (10, 60, 20)
    assert fashion_mnist_dataset(source, tmp_path / "cache") == root  # written once, reused
    from accelbench.training.images import load_crop

    path = next((root / "val" / "3-dress").iterdir())
    pixels = load_crop(str(path), lambda width, height: (0, 0, width, height), 28).numpy()
    assert pixels.shape == (3, 28, 28) and (pixels[:, 3] > 180).all()  # grey decoded to RGB, the class's bright row kept


def test_its_fingerprint_differs_from_the_digits_and_from_other_files(tmp_path):
    first = identify(fashion_mnist_dataset(write_idx_folder(tmp_path / "a"), tmp_path / "cache"))
    other = fashion_mnist_dataset(write_idx_folder(tmp_path / "b", gzipped=False, seed=1), tmp_path / "cache")
    assert first.data_id != identify(resolve_data("embedded")).data_id
    assert other != fashion_mnist_dataset(tmp_path / "a", tmp_path / "cache")  # a copy per source
    assert resolve_data(f"fashion-mnist:{tmp_path / 'b'}").name.startswith(fashion_mnist.VERSION)


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-100], "truncated"),
    (lambda data: data + bytes(28), "too long"),
    (lambda data: struct.pack(">I", 0x801) + data[4:], "not an IDX file of 3-dimensional"),
    (lambda data: b"\x89PNG\r\n\x1a\n" + data[8:], "magic number 0x89504e47"),
])
def test_a_damaged_images_file_is_named(tmp_path, damage, message):
    source = write_idx_folder(tmp_path / "idx", gzipped=False)
    path = source / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(FashionMnistError, match=message) as raised:
        fashion_mnist_dataset(source, tmp_path / "cache")
    assert "train-images-idx3-ubyte" in str(raised.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing half-written


def test_a_label_count_that_does_not_match_is_named(tmp_path):
    source = write_idx_folder(tmp_path / "idx", gzipped=False)
    labels = read_idx(source / "t10k-labels-idx1-ubyte", 0x801)
    (source / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels[:-1], 0x801))
    with pytest.raises(FashionMnistError, match="holds 20 images but t10k-labels-idx1-ubyte 19 labels"):
        fashion_mnist_dataset(source, tmp_path / "cache")


def test_the_cli_says_what_to_install_when_the_files_are_missing(tmp_path, capsys):
    import json

    from accelbench.search_space import sample
    from accelbench.workflows.cli import main

    (tmp_path / "a.jsonl").write_text(json.dumps(sample(1, 0)[0].to_reference()) + "\n")
    assert main(["train", "--recipe", "smoke", "--input", str(tmp_path / "a.jsonl"), "--data", f"fashion-mnist:{tmp_path / 'none'}"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "make fashion-mnist" in error
