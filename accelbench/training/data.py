"""A training split's loader, CPU (`images`) or GPU (`gpu_data`), and `TrainingData`, what the trainer reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch.utils.data import DataLoader

from accelbench.training.folders import DataError, Subset, list_image_folder, subset_samples
from accelbench.training.gpu_data import DeviceBatches, make_encoded_loader
from accelbench.training.images import MEAN_RGB, STD_RGB, EpochBatchSampler, ImageFolderData, load_crop
from accelbench.training.recipe import LOADERS, Recipe

__all__ = ["DataError", "EpochBatchSampler", "ImageFolderData", "Split", "TrainingData", "load_crop", "make_split", "normalise"]


@dataclass
class Split:
    """A split's dataset, loader and sampler: set the sampler's epoch/resolution, then iterate the loader
    (uint8 NCHW images and labels; on the device already with the "gpu" loader)."""

    dataset: ImageFolderData
    sampler: EpochBatchSampler
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]]

    def epoch(self, epoch: int, resolution: int, seed: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(epoch, resolution, seed)
        return self.loader


def make_split(root: Path, train: bool, batch_size: int, workers: int, pin_memory: bool, crop_scale_min: float, val_crop_ratio: float,
               rank: int = 0, ranks: int = 1, subset: Subset | None = None, training_images: bool | None = None, loader: str = "cpu",
               device: torch.device | str = "cpu") -> Split:
    dataset = ImageFolderData(root, train, crop_scale_min, val_crop_ratio, subset, training_images)
    # never drop the only batch of a tiny training set
    drop_last = train and len(dataset) >= 2 * batch_size * ranks
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=train, drop_last=drop_last, rank=rank, ranks=ranks)
    if loader == "gpu":
        return Split(dataset, sampler, DeviceBatches(make_encoded_loader(dataset, sampler, workers), torch.device(device)))
    if loader != "cpu":
        raise DataError(f"loader={loader!r} is not allowed; choices are {', '.join(LOADERS)}")
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
    )
    return Split(dataset, sampler, loader)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW on any device -> float, ImageNet-normalised."""
    mean = torch.tensor(MEAN_RGB, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD_RGB, device=images.device).view(1, 3, 1, 1)
    return (images.float() - mean) / std


class TrainingData:
    """An ImageNet-layout folder opened once per worker process and reused for every architecture:
    loaders (and their persistent worker processes) are made once per batch size and kept. A data-parallel
    rank opens its own, with its `rank` of `ranks`: its training batches are its slices of global batches."""

    def __init__(self, root: str | Path, workers: int = 0, pin_memory: bool = False, rank: int = 0, ranks: int = 1) -> None:
        self.root = Path(root)
        for split in ("train", "val"):
            if not (self.root / split).is_dir():
                raise DataError(f"{self.root} has no {split}/ folder; expected {self.root}/{{train,val}}/<class>/<image>.JPEG")
        self.classes = list_image_folder(self.root / "val")[0]
        self.workers = workers
        self.pin_memory = pin_memory
        self.rank, self.ranks = rank, ranks
        self._splits: dict[tuple, Split] = {}

    def split(self, name: str, recipe: Recipe, augment: bool | None = None, device: torch.device | str = "cpu") -> Split:
        """The recipe's loader of split `name`: its batch per device, crops, data subset and loader ("gpu"
        decodes on `device`, training.gpu_data). `augment` (default: for train only) picks
        random-resized-crop + flip over the centre crop. Training is sharded over the ranks; validation is
        not (rank 0 validates the whole split)."""
        batch_size, crop_scale_min, val_crop_ratio, subset, loader = (recipe.batch_per_device, recipe.crop_scale_min, recipe.val_crop_ratio,
                                                                      recipe.subset, recipe.loader)
        augment = name == "train" if augment is None else augment
        rank, ranks = (self.rank, self.ranks) if name == "train" else (0, 1)
        device = torch.device(device) if loader == "gpu" else torch.device("cpu")
        key = (name, batch_size, crop_scale_min, val_crop_ratio, augment, subset, loader, device)
        if key not in self._splits:
            split = make_split(self.root / name, augment, batch_size, self.workers, self.pin_memory, crop_scale_min, val_crop_ratio, rank, ranks, subset,
                               training_images=name == "train", loader=loader, device=device)
            if split.dataset.classes != self.classes_of(subset):
                raise DataError(f"{self.root}/{name} has other class folders than {self.root}/val")
            self._splits[key] = split
        return self._splits[key]

    def classes_of(self, subset: Subset | None = None) -> list[str]:
        return subset_samples(self.classes, [], subset, False)[0]

    def num_classes(self, subset: Subset | None = None) -> int:
        return len(self.classes_of(subset))
