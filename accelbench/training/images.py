"""What a loader reads: images in the ImageNet folder layout (`train/<class>/*.JPEG`, `val/<class>/*.JPEG`), decoded fast.

Speed at proxy resolutions comes from three things:
- the random-resized-crop box is chosen from the JPEG header alone, then the JPEG is decoded by
  libjpeg-turbo at the smallest DCT scale (1/2, 1/4, 1/8) that still covers the crop at the output size;
- the crop is resized by torch's vectorised uint8 antialiased bilinear kernel;
- samples stay uint8 until the batch is on the device, where they are normalised.

The resolution is carried with each index by the batch sampler, so it can change between epochs
without rebuilding (persistent) workers, and every sample's augmentation is seeded by
(seed, epoch, index): identical whatever the number of workers.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import simplejpeg
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from accelbench.training.folders import Subset, list_image_folder, subset_samples

MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def random_resized_crop_box(width: int, height: int, scale_min: float, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box (area in [scale_min, 1], ratio in [3/4, 4/3]) as (left, top, w, h)."""
    area = width * height
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * rng.uniform(scale_min, 1.0)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    # fall back to a centre crop of the allowed ratio, as torchvision does
    if width / height < 3 / 4:
        w, h = width, int(round(width / (3 / 4)))
    elif width / height > 4 / 3:
        h, w = height, int(round(height * (4 / 3)))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def centre_crop_box(width: int, height: int, ratio: float) -> tuple[int, int, int, int]:
    side = int(round(min(width, height) * ratio))
    return (width - side) // 2, (height - side) // 2, side, side


Box = tuple[int, int, int, int]  # left, top, width, height in the full image


def _jpeg_crop(data: bytes, box_for: Callable[[int, int], Box], resolution: int) -> np.ndarray:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    left, top, w, h = box_for(width, height)
    scale = min(w, h) / resolution
    if scale >= 2:  # libjpeg-turbo's DCT scaling: 1/2, 1/4, 1/8 (smaller factors cost more than they save)
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=math.ceil(height / scale), min_width=math.ceil(width / scale))
    else:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB")
    fy, fx = pixels.shape[0] / height, pixels.shape[1] / width
    return pixels[int(top * fy) : max(int(top * fy) + 1, int((top + h) * fy)), int(left * fx) : max(int(left * fx) + 1, int((left + w) * fx))]


def _pillow_crop(data: bytes, box_for: Callable[[int, int], Box]) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        left, top, w, h = box_for(*image.size)
        return np.array(image.convert("RGB"))[top : top + h, left : left + w]


def load_crop(path: str, box_for: Callable[[int, int], Box], resolution: int, flip: bool = False) -> torch.Tensor:
    """The crop `box_for(width, height)` of an image, resized to resolution x resolution: uint8, CHW.

    The box is chosen from the header alone; JPEGs (simplejpeg, libjpeg-turbo) are then decoded at the
    smallest DCT scale that still covers the crop at the output size. Other files and JPEGs that
    libjpeg-turbo refuses (CMYK, say) go through Pillow at full size.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        pixels = _jpeg_crop(data, box_for, resolution)
    except ValueError:
        pixels = _pillow_crop(data, box_for)
    # HWC memory seen as NCHW is channels-last, the layout of torch's fast uint8 antialiased resize;
    # the crop stays a strided view (no copy), and the result stays channels-last, as CUDA training wants
    crop = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(crop, size=(resolution, resolution), mode="bilinear", antialias=True)[0]
    return resized.flip(-1) if flip else resized


@dataclass(frozen=True)
class SampleRequest:
    index: int
    epoch: int
    resolution: int
    seed: int  # travels with the request: persistent workers hold an old copy of the dataset


class ImageFolderData(Dataset):
    """One split of an ImageNet-layout folder; items are requested with their resolution and epoch."""

    def __init__(self, root: str | Path, train: bool, crop_scale_min: float = 0.08, val_crop_ratio: float = 0.875, subset: Subset | None = None,
                 training_images: bool | None = None) -> None:
        """`train`: augment; `training_images` (default: `train`): the subset's fraction of images applies."""
        self.root = Path(root)
        self.classes, self.samples = subset_samples(*list_image_folder(self.root), subset, train if training_images is None else training_images)
        self.train = train
        self.crop_scale_min = crop_scale_min
        self.val_crop_ratio = val_crop_ratio

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, request: SampleRequest) -> tuple[torch.Tensor, int]:
        path, label = self.samples[request.index]
        if self.train:
            rng = random.Random(f"{request.seed}:{request.epoch}:{request.index}")
            flip = rng.random() < 0.5
            image = load_crop(path, lambda w, h: random_resized_crop_box(w, h, self.crop_scale_min, rng), request.resolution, flip)
        else:
            image = load_crop(path, lambda w, h: centre_crop_box(w, h, self.val_crop_ratio), request.resolution)
        return image, label


class EpochBatchSampler(Sampler[list[SampleRequest]]):
    """Batches of (index, epoch, resolution); `set_epoch` changes order and resolution for the next pass.

    Data-parallel: the epoch's order is cut into global batches of `batch_size * ranks` images and rank
    r takes the r-th slice of each, so one step over all ranks sees exactly the images one process would
    see at the global batch (and, augmentation being seeded per image, the same crops)."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, drop_last: bool, rank: int = 0, ranks: int = 1) -> None:
        self.size, self.batch_size, self.shuffle, self.drop_last = size, batch_size, shuffle, drop_last
        self.rank, self.ranks = rank, ranks
        self.epoch, self.resolution, self.seed = 0, 0, 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.ranks

    def set_epoch(self, epoch: int, resolution: int, seed: int) -> None:
        self.epoch, self.resolution, self.seed = epoch, resolution, seed

    def __iter__(self) -> Iterator[list[SampleRequest]]:
        order = list(range(self.size))
        if self.shuffle:
            random.Random(f"order:{self.seed}:{self.epoch}").shuffle(order)
        for batch in range(len(self)):
            chunk = order[batch * self.global_batch : (batch + 1) * self.global_batch]
            mine = chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            yield [SampleRequest(index, self.epoch, self.resolution, self.seed) for index in mine]

    def __len__(self) -> int:
        """Steps per epoch: whole global batches (a training set smaller than two is used whole)."""
        if self.drop_last:
            return self.size // self.global_batch
        return math.ceil(self.size / self.global_batch)
