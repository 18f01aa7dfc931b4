"""The GPU data path (training.gpu_data) run on the CPU: the same code that runs on a GPU, decoding here."""

import random
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode

import accelbench.training.images as cpu_data
from accelbench.training.data import TrainingData
from accelbench.training.images import ImageFolderData, SampleRequest
from accelbench.training.recipe import get_recipe
from accelbench.training.gpu_data import DeviceBatches, EncodedImageFolder, collate, crop_resize, decode, decode_batch
from accelbench.training.recipe import ANB_PROXY, RecipeError

# Mean absolute difference per image, in uint8 levels, over ImageNet-sized photos at 160 and 192 px,
# from the exact crop (full-size decode, the box to the pixel, torch's antialiased bilinear resize).
# Measured on these photos: the GPU path 0.04-2.45 (an area average of bilinear samples where the box
# shrinks 1.5-2.5x, torch's triangle filter in the exact crop); the CPU loader 0.06-10.5 (its crop is cut
# from libjpeg-turbo's 1/2- or 1/4-scale decode, to the scaled pixel). A wrong box, flip or channel
# order gives 20 and more.
GPU_TOLERANCE = 3.0
CPU_TOLERANCE = 12.0


@pytest.fixture(scope="module")
def photo_root(tmp_path_factory):
    """2 classes x 12 train and 4 val JPEGs at ImageNet sizes, cut from scikit-learn's sample photos."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    root = tmp_path_factory.mktemp("photos")
    rng = random.Random(0)
    for split, count in (("train", 12), ("val", 4)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for index in range(count):
                photo = photos[rng.randrange(2)]
                h, w = rng.randint(200, 427), rng.randint(200, 640)
                top, left = rng.randint(0, 427 - h), rng.randint(0, 640 - w)
                image = Image.fromarray(np.ascontiguousarray(photo[top : top + h, left : left + w]))
                short = rng.randint(333, 500)
                image = image.resize((int(short * w / min(h, w)), int(short * h / min(h, w))), Image.BICUBIC)
                image.save(root / split / label / f"{index:03d}.JPEG", quality=90)
    return root


def batches(data: TrainingData, name: str, loader: str, epoch: int, resolution: int, seed: int):
    split = data.split(name, get_recipe("smoke").replace(batch_per_device=8, crop_scale_min=0.08, val_crop_ratio=0.875, loader=loader))
    return [(images.clone(), labels.clone()) for images, labels in split.epoch(epoch, resolution, seed)]


@pytest.mark.parametrize("name", ["train", "val"])
def test_gpu_path_matches_the_cpu_loader(photo_root, name):
    data = TrainingData(photo_root, workers=0)
    for epoch, resolution in ((0, 160), (3, 192)):  # a step of the resolution ramp
        cpu = batches(data, name, "cpu", epoch, resolution, seed=7)
        gpu = batches(data, name, "gpu", epoch, resolution, seed=7)
        assert len(cpu) == len(gpu) >= 1
        for (cpu_images, cpu_labels), (gpu_images, gpu_labels) in zip(cpu, gpu):
            assert torch.equal(cpu_labels, gpu_labels)
            assert gpu_images.dtype == torch.uint8 and gpu_images.shape == cpu_images.shape == (len(cpu_labels), 3, resolution, resolution)
            difference = (gpu_images.float() - cpu_images.float()).abs().mean(dim=(1, 2, 3))
            assert float(difference.max()) < GPU_TOLERANCE + CPU_TOLERANCE


@pytest.mark.parametrize("train", [True, False])
def test_both_paths_stay_near_the_exact_crop(photo_root, train):
    images = ImageFolderData(photo_root / ("train" if train else "val"), train=train)
    encoded = EncodedImageFolder(images)
    gpu_errors, cpu_errors = [], []
    for index in range(len(images)):
        request = SampleRequest(index, epoch=1, resolution=160, seed=3)
        cpu_image, _ = images[request]
        item = encoded[request]
        gpu_image = decode_batch(collate([item]), torch.device("cpu"))[0][0]
        _, (left, top, width, height), flip, _, _ = item
        full = torch.from_numpy(np.array(Image.open(images.samples[index][0]).convert("RGB"))).permute(2, 0, 1)
        exact = torch.nn.functional.interpolate(full[None, :, top : top + height, left : left + width].float(), size=(160, 160), mode="bilinear",
                                                antialias=True).round().clamp(0, 255)[0]
        exact = exact.flip(-1) if flip else exact
        gpu_errors.append(float((gpu_image.float() - exact).abs().mean()))
        cpu_errors.append(float((cpu_image.float() - exact).abs().mean()))
    assert max(gpu_errors) < GPU_TOLERANCE and max(cpu_errors) < CPU_TOLERANCE
    assert np.mean(gpu_errors) <= np.mean(cpu_errors)  # the GPU path is the nearer of the two


def test_a_wrong_flip_is_far_outside_the_tolerance(photo_root):
    data = TrainingData(photo_root, workers=0)
    cpu = batches(data, "train", "cpu", 0, 160, seed=7)[0][0]
    gpu = batches(data, "train", "gpu", 0, 160, seed=7)[0][0]
    assert float((gpu.flip(-1).float() - cpu.float()).abs().mean()) > GPU_TOLERANCE + CPU_TOLERANCE


def test_boxes_and_flips_are_the_cpu_loaders(photo_root, monkeypatch):
    images = ImageFolderData(photo_root / "train", train=True)
    seen = []

    def spy(path, box_for, resolution, flip=False):
        with Image.open(path) as image:
            seen.append((box_for(*image.size), flip))
        return torch.zeros(3, resolution, resolution, dtype=torch.uint8)

    monkeypatch.setattr(cpu_data, "load_crop", spy)
    encoded = EncodedImageFolder(images)
    for index in range(len(images)):
        request = SampleRequest(index, epoch=2, resolution=160, seed=11)
        images[request]
        _, box, flip, label, resolution = encoded[request]
        assert (box, flip) == seen[-1] and label == images.samples[index][1] and resolution == 160
    assert 0 < sum(flip for _, flip in seen) < len(seen)


def test_upsampling_equals_torchs_bilinear_resize():
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8, generator=generator)
    box = (7, 5, 30, 24)  # left, top, width, height: every side below the output size
    got = crop_resize([image], torch.tensor([box], dtype=torch.float32), torch.tensor([False]), 64)[0]
    crop = image[None, :, 5:29, 7:37].float()
    expected = torch.nn.functional.interpolate(crop, size=(64, 64), mode="bilinear", antialias=True).round().clamp(0, 255)[0]
    assert float((got.float() - expected).abs().max()) <= 1.0


def test_images_of_other_sizes_in_one_batch_read_only_their_own_pixels():
    """A box at the far edge of a small image beside a large bright one keeps the small image's edge."""
    small = torch.full((3, 10, 12), 50, dtype=torch.uint8)
    large = torch.full((3, 60, 80), 250, dtype=torch.uint8)
    boxes = torch.tensor([[4, 3, 8, 7], [0, 0, 80, 60]], dtype=torch.float32)
    out = crop_resize([small, large], boxes, torch.tensor([True, False]), 32)
    assert torch.all(out[0] == 50) and torch.all(out[1] == 250)


def test_canvases_split_by_pixel_budget_give_the_same_batch(monkeypatch):
    import accelbench.training.gpu_data as gpu_data

    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 30 + 7 * i, 40 + 5 * i), dtype=torch.uint8, generator=generator) for i in range(6)]
    boxes = torch.tensor([[1, 2, 20, 18]] * 6, dtype=torch.float32)
    flips = torch.tensor([False, True] * 3)
    whole = crop_resize(images, boxes, flips, 16)
    monkeypatch.setattr(gpu_data, "CANVAS_PIXELS", 3000)  # about one image a canvas
    assert torch.equal(crop_resize(images, boxes, flips, 16), whole)


class HostWaits(TorchDispatchMode):
    """What would make the host wait for the device: reading a device value, or a blocking copy to it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        out = func(*args, **kwargs)
        if func is torch.ops.aten._local_scalar_dense.default and source.device.type != "cpu":
            self.waits.append("reads a device value")
        if func is torch.ops.aten._to_copy.default and source.device.type == "cpu" and out.device.type != "cpu" and not kwargs.get("non_blocking"):
            self.waits.append("blocking copy to the device")
        if func is torch.ops.aten.copy_.default and args[1].device.type == "cpu" and source.device.type != "cpu" and not (args[2:] or [kwargs.get("non_blocking")])[0]:
            self.waits.append("blocking copy to the device")
        return out


def test_crop_and_resize_never_make_the_host_wait_for_the_device(monkeypatch):
    """On a GPU the decode thread queues the crop and goes on to decode the next batch. Run on 'meta'
    tensors (shapes without values, the device stand-in here), no op may read a device value or copy to
    the device blocking, and no tensor is built on the device from host values (torch.tensor does that
    copy where no dispatch mode sees it)."""
    built_on_device = []
    tensor = torch.tensor

    def spy(*args, **kwargs):
        if kwargs.get("device") is not None:
            built_on_device.append(kwargs["device"])
        return tensor(*args, **kwargs)

    generator = torch.Generator().manual_seed(2)
    images = [torch.randint(0, 256, (3, 30 + 7 * i, 40 + 5 * i), dtype=torch.uint8, generator=generator).to("meta") for i in range(6)]
    boxes = torch.tensor([[1, 2, 20 + i, 18 - i] for i in range(6)], dtype=torch.float32)
    flips = torch.tensor([False, True] * 3)
    monkeypatch.setattr(torch, "tensor", spy)
    with HostWaits() as mode:
        out = crop_resize(images, boxes, flips, 16)
    assert out.device.type == "meta" and out.shape == (6, 3, 16, 16)
    assert mode.waits == [] and built_on_device == []
    with HostWaits() as mode:  # the detector sees what the path used to do
        torch.ones(2).to("meta")
        torch.empty(2, device="meta").copy_(torch.ones(2))
        torch.empty(2, device="meta").copy_(torch.ones(2), non_blocking=True)
    assert mode.waits == ["blocking copy to the device"] * 2


def test_png_and_grayscale_files_decode_as_rgb(tmp_path):
    Image.fromarray(np.full((20, 30), 90, dtype=np.uint8)).save(tmp_path / "gray.jpg")
    Image.fromarray(np.full((20, 30, 3), 120, dtype=np.uint8)).save(tmp_path / "colour.png")
    batch = collate([((tmp_path / name).read_bytes(), (0, 0, 30, 20), False, 0, 16) for name in ("gray.jpg", "colour.png")])
    gray, colour = decode(batch, torch.device("cpu"))
    assert gray.shape == colour.shape == (3, 20, 30)
    assert abs(int(gray[:, 10, 15].float().mean()) - 90) <= 2 and torch.all(colour == 120)


def test_prefetching_raises_the_decoders_error_and_stops_when_left_early():
    def broken(batch, device):
        raise ValueError("no such JPEG marker")

    with pytest.raises(ValueError, match="no such JPEG marker"):
        list(DeviceBatches([1, 2, 3], torch.device("cpu"), broken))

    produced = []

    def counting(batch, device):
        produced.append(batch)
        return torch.zeros(1), torch.zeros(1)

    before = threading.active_count()
    for index, _ in enumerate(DeviceBatches(range(1000), torch.device("cpu"), counting)):
        if index == 2:
            break
    assert threading.active_count() == before  # the decoding thread has ended
    assert len(produced) < 1000


def test_the_recipes_loader_is_checked_and_keeps_default_ids():
    assert ANB_PROXY.replace(loader="cpu").recipe_id == ANB_PROXY.recipe_id
    assert ANB_PROXY.replace(loader="gpu").recipe_id != ANB_PROXY.recipe_id
    with pytest.raises(RecipeError, match="loader='dali' is not allowed; choices are cpu, gpu"):
        ANB_PROXY.replace(loader="dali")
