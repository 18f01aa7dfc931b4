"""Training-loader throughput per core at 160 px on ImageNet-sized JPEGs, against torchvision's standard
ImageFolder + RandomResizedCrop + flip + ToTensor + Normalize on the same files, in the same run.

The JPEGs are scikit-learn's two sample photographs, cut and scaled to ImageNet's typical sizes.
Both run as DataLoaders with one persistent worker process each (one core decoding), alternating
rounds; the median round is reported. accelbench's loader hands uint8 batches to the trainer, which
normalises them on the device; the standard pipeline converts and normalises on the CPU.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGES_PER_CLASS = 100
CLASSES = 4
SIZES = [(500, 375), (375, 500), (500, 333), (500, 400), (640, 480)]
RESOLUTION = 160
BATCH = 64
WORKERS = 1
ROUNDS = 3
EPOCHS_PER_ROUND = 2


def write_photos(root: Path) -> None:
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(image) for image in load_sample_images().images]
    rng = np.random.default_rng(0)
    for label in range(CLASSES):
        folder = root / "train" / f"n{label:08d}"
        folder.mkdir(parents=True)
        for index in range(IMAGES_PER_CLASS):
            photo = photos[(label + index) % len(photos)]
            width, height = SIZES[index % len(SIZES)]
            scale = rng.uniform(0.6, 1.0)
            w, h = int(photo.width * scale), int(photo.height * scale)
            left, top = rng.integers(0, photo.width - w + 1), rng.integers(0, photo.height - h + 1)
            image = photo.crop((left, top, left + w, top + h)).resize((width, height), Image.BICUBIC)
            image.save(folder / f"{index:05d}.JPEG", quality=90)


def rate(loader, epochs: int) -> float:
    """Images per second over `epochs` passes of a loader whose worker processes are already started."""
    for _ in loader:  # warm-up pass: starts the persistent workers
        pass
    count = 0
    started = time.perf_counter()
    for _ in range(epochs):
        for images, _labels in loader:
            count += len(images)
    return count / (time.perf_counter() - started)


def main() -> None:
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms

    from accelbench.training.data import TrainingData
    from accelbench.training.recipe import get_recipe

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_photos(root)
        (root / "val").symlink_to(root / "train")
        standard = torchvision.datasets.ImageFolder(
            root / "train",
            transforms.Compose(
                [
                    transforms.RandomResizedCrop(RESOLUTION),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                ]
            ),
        )
        baseline = DataLoader(standard, batch_size=BATCH, shuffle=True, num_workers=WORKERS, persistent_workers=True, prefetch_factor=4)
        split = TrainingData(root, workers=WORKERS).split("train", get_recipe("anb-proxy").replace(batch_per_device=BATCH, crop_scale_min=0.08, val_crop_ratio=0.875))
        ours = split.epoch(0, RESOLUTION, seed=0)
        baseline_rates, our_rates = [], []
        for _ in range(ROUNDS):
            baseline_rates.append(rate(baseline, EPOCHS_PER_ROUND))
            our_rates.append(rate(ours, EPOCHS_PER_ROUND))
    base, fast = statistics.median(baseline_rates), statistics.median(our_rates)
    print(f"{len(standard)} JPEGs of {', '.join(f'{w}x{h}' for w, h in SIZES)}; {RESOLUTION} px random-resized-crop + flip; batch {BATCH}")
    print(f"DataLoader with {WORKERS} worker process (one core decoding); median of {ROUNDS} rounds of {EPOCHS_PER_ROUND} epochs")
    print(f"torchvision ImageFolder + RandomResizedCrop + ToTensor + Normalize: {base / WORKERS:8.1f} images/s per core")
    print(f"accelbench TrainingData (uint8 out, normalised on the device):     {fast / WORKERS:8.1f} images/s per core")
    print(f"ratio: {fast / base:.2f}x (goal >= 2x)")


if __name__ == "__main__":
    main()
