import os

import numpy as np
import pytest
import torch
from PIL import Image

from accelbench.training.data import DataError, TrainingData, load_crop
from accelbench.training.embedded import embedded_dataset
from accelbench.training.recipe import get_recipe


def test_embedded_dataset_layout_and_reuse(embedded_root):
    classes = sorted(p.name for p in (embedded_root / "train").iterdir())
    assert classes == [str(d) for d in range(10)]
    train = sum(len(os.listdir(embedded_root / "train" / c)) for c in classes)
    val = sum(len(os.listdir(embedded_root / "val" / c)) for c in classes)
    assert (train, val) == (1442, 355)  # all 1,797 digits, every 5th of each class in val
    assert Image.open(next((embedded_root / "val" / "3").iterdir())).format == "JPEG"
    before = (embedded_root / "train" / "0").stat().st_mtime_ns
    assert embedded_dataset(embedded_root.parent) == embedded_root
    assert (embedded_root / "train" / "0").stat().st_mtime_ns == before


LOADING = get_recipe("smoke").replace(batch_per_device=16, crop_scale_min=0.08, val_crop_ratio=1.0)


def batches(data, epoch, resolution, seed):
    split = data.split("train", LOADING)
    return [(images.clone(), labels.clone()) for images, labels in split.epoch(epoch, resolution, seed)]


def test_augmentation_is_seeded_and_independent_of_workers(tiny_root):
    serial = batches(TrainingData(tiny_root, workers=0), 1, 32, seed=5)
    parallel = batches(TrainingData(tiny_root, workers=2), 1, 32, seed=5)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(serial, parallel))
    other_seed = batches(TrainingData(tiny_root, workers=0), 1, 32, seed=6)
    assert not torch.equal(serial[0][0], other_seed[0][0])


def test_resolution_changes_between_epochs_without_new_workers(tiny_root):
    data = TrainingData(tiny_root, workers=2)
    split = data.split("train", LOADING)
    shapes, workers = [], []
    for epoch, resolution in enumerate((32, 48, 40)):
        loader = split.epoch(epoch, resolution, 0)
        iterator = iter(loader)
        shapes.append(next(iterator)[0].shape[-1])
        workers.append(tuple(w.pid for w in iterator._workers))
        del iterator
    assert shapes == [32, 48, 40]
    assert len(set(workers)) == 1  # the same persistent worker processes throughout


def test_reduced_scale_decoding_matches_full_decoding(tmp_path):
    rng = np.random.default_rng(0)
    smooth = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    photo = Image.fromarray(smooth).resize((500, 375), Image.BICUBIC)
    path = tmp_path / "photo.JPEG"
    photo.save(path, quality=95)
    # a box on multiples of 8 px, so that it maps exactly onto every DCT scale (other boxes move by up
    # to half a pixel of the reduced image: a jitter well inside random-resized-crop's own)
    box = lambda w, h: (64, 0, 368, 368)  # noqa: E731
    fast = load_crop(str(path), box, 64).permute(1, 2, 0).numpy().astype(float)
    with Image.open(path) as full:  # full-size decode, the same crop and resize
        full = torch.from_numpy(np.asarray(full.convert("RGB"))[:368, 64:432].copy()).permute(2, 0, 1)[None]
    full = torch.nn.functional.interpolate(full, size=(64, 64), mode="bilinear", antialias=True)[0].permute(1, 2, 0).numpy()
    assert np.abs(fast - full.astype(float)).mean() < 2.0  # of 255
    png = tmp_path / "photo.png"
    photo.save(png)  # not a JPEG: the Pillow path
    from_png = load_crop(str(png), box, 64).permute(1, 2, 0).numpy().astype(float)
    assert np.abs(from_png - fast).mean() < 4.0


def test_uint8_batches_and_labels(tiny_root):
    images, labels = batches(TrainingData(tiny_root), 0, 40, 0)[0]
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 40, 40)
    assert set(labels.tolist()) <= {0, 1, 2, 3}


def test_bad_folders(tmp_path):
    with pytest.raises(DataError, match="has no train/ folder"):
        TrainingData(tmp_path)
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match="has no class folders"):
        TrainingData(tmp_path)
