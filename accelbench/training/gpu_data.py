"""The GPU data path (recipe `loader = "gpu"`): loader workers read JPEG bytes and choose each image's
crop from its header; the device decodes the whole batch (nvJPEG through `torchvision.io.decode_jpeg`),
crops and resizes it with one `roi_align`, and does so in a background thread on its own CUDA stream,
a few batches ahead of training.

The semantics are training.data's: the same batches, boxes and flips (one seeded function chooses
them), the same resolution ramp and validation crop. Pixels differ slightly. The resize averages
`ceil(box / resolution)`² bilinear samples per output pixel instead of using torch's antialiased
bilinear kernel (the two are identical when upsampling), and the JPEG is decoded at full size instead
of at libjpeg-turbo's DCT scale. tests/training/test_gpu_data.py states the tolerance. On a CPU device
the same code runs, decoding on the CPU.
"""

from __future__ import annotations

import functools
import io
import queue
import random
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import simplejpeg
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg
from torchvision.ops import roi_align

from accelbench.training.images import Box, ImageFolderData, SampleRequest, centre_crop_box, random_resized_crop_box

PREFETCH_BATCHES = 3  # decoded batches waiting on the device, per split
CANVAS_IMAGES = 64
CANVAS_PIXELS = 128 * 2**20  # per canvas (x 3 channels x 4 bytes): the crops of raw ImageNet's few huge images get canvases of their own


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone."""
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        return width, height
    except ValueError:
        with Image.open(io.BytesIO(data)) as image:
            return image.size


def is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


@dataclass
class EncodedBatch:
    """A batch before decoding: the files' bytes end to end (one tensor: a worker hands the batch over in
    one shared-memory block, not one per image), each image's crop box in full-size pixels, flips, labels,
    and which files are JPEGs (told by the worker, so the decoding thread does no per-file work)."""

    encoded: torch.Tensor  # uint8, 1-D: the files one after another
    sizes: list[int]  # bytes of each file
    jpegs: list[bool]
    boxes: torch.Tensor  # float32 [N, 4]: left, top, width, height
    flips: torch.Tensor  # bool [N]
    labels: torch.Tensor  # int64 [N]
    resolution: int

    @property
    def data(self) -> list[torch.Tensor]:
        """Each file's bytes: views, no copies."""
        return list(torch.split(self.encoded, self.sizes))


class EncodedImageFolder(Dataset):
    """ImageFolderData's images as bytes with their boxes: the same seeded choices, no decoding."""

    def __init__(self, images: ImageFolderData) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, request: SampleRequest) -> tuple[bytes, Box, bool, int, int]:
        path, label = self.images.samples[request.index]
        with open(path, "rb") as handle:
            data = handle.read()
        flip, box = crop_choice(self.images, request, *image_size(data))
        return data, box, flip, label, request.resolution


def crop_choice(images: ImageFolderData, request: SampleRequest, width: int, height: int) -> tuple[bool, Box]:
    """The flip and box training.data.ImageFolderData draws for this request (same seed, same order)."""
    if not images.train:
        return False, centre_crop_box(width, height, images.val_crop_ratio)
    rng = random.Random(f"{request.seed}:{request.epoch}:{request.index}")
    flip = rng.random() < 0.5
    return flip, random_resized_crop_box(width, height, images.crop_scale_min, rng)


def collate(items: list[tuple[bytes, Box, bool, int, int]]) -> EncodedBatch:
    data, boxes, flips, labels, resolutions = zip(*items)
    encoded = torch.frombuffer(bytearray(b"".join(data)), dtype=torch.uint8)
    return EncodedBatch(encoded, [len(item) for item in data], [is_jpeg(item) for item in data], torch.tensor(boxes, dtype=torch.float32),
                        torch.tensor(flips), torch.tensor(labels), resolutions[0])


def decode(batch: EncodedBatch, device: torch.device) -> list[torch.Tensor]:
    """RGB uint8 CHW images on `device`: the JPEGs decoded there as one batch, other files on the CPU."""
    data = batch.data
    jpegs = [i for i, jpeg in enumerate(batch.jpegs) if jpeg]
    images: list[torch.Tensor | None] = [None] * len(data)
    if jpegs:
        try:
            decoded = _decode_jpegs([data[i] for i in jpegs], device)
        except RuntimeError:  # a JPEG the device decoder refuses (CMYK, say): the CPU decodes that batch
            decoded = [decode_jpeg(data[i], mode=ImageReadMode.RGB).to(device) for i in jpegs]
        for i, image in zip(jpegs, decoded):
            images[i] = image
    for i, item in enumerate(data):
        if images[i] is None:
            images[i] = decode_image(item, mode=ImageReadMode.RGB).to(device)
    return images  # type: ignore[return-value]


def _decode_jpegs(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """torchvision's batched decode, made safe to call while the current CUDA stream still has work queued.

    torchvision allocates the images on the current stream but writes them on a stream of its own that
    does not wait for the current one; memory freed on the current stream (the previous batch's images,
    still being cropped) could be written before it is read. So the images are allocated on a stream that
    runs nothing, the current stream waits for the decoder, and each image is marked as used by the
    current stream: its memory goes back to the decoder only after the current stream has read it."""
    if device.type != "cuda":
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    current, allocation = torch.cuda.current_stream(device), _allocation_stream(device)
    with torch.cuda.stream(allocation):
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    current.wait_stream(allocation)
    for image in images:
        image.record_stream(current)
    return images


@functools.cache
def _allocation_stream(device: torch.device) -> torch.cuda.Stream:
    return torch.cuda.Stream(device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device` without the host waiting for the device: pinned and non-blocking on CUDA
    (a plain copy from pageable memory waits for everything queued on the stream first)."""
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def crop_resize(images: list[torch.Tensor], boxes: torch.Tensor, flips: torch.Tensor, resolution: int) -> torch.Tensor:
    """Each image's box resized to resolution² and flipped where asked, as one uint8 NCHW batch.

    The crops, largest first, are gathered into canvases of at most CANVAS_IMAGES crops of similar size
    (a canvas is as large as its largest crop) and at most CANVAS_PIXELS, each crop at the
    top left with its last row and column repeated beyond it; one roi_align per canvas resizes them
    all. So a crop is resized as if cut out first (edges clamped to the crop, as torch's interpolate
    does), never reading its neighbours or the rest of its image.

    The host never waits for the device here: shapes come from the host's boxes, and what the kernels
    need of them goes over in one non-blocking copy, so the thread can start decoding the next batch
    while the device still crops this one."""
    device = images[0].device
    boxes, flips = boxes.to(torch.int64).tolist(), flips.tolist()
    areas = [width * height for _, _, width, height in boxes]
    order = sorted(range(len(images)), key=areas.__getitem__, reverse=True)
    canvases, rows = [], []
    while order:
        count = max(1, min(len(order), CANVAS_IMAGES, CANVAS_PIXELS // areas[order[0]]))
        chunk, order = order[:count], order[count:]
        canvases.append((len(rows), chunk, max(boxes[i][3] for i in chunk), max(boxes[i][2] for i in chunk)))
        start = 0
        for i in chunk:
            height, width = images[i].shape[1:]
            rows.append([*boxes[i], width, start, int(flips[i]), i])
            start += height * width
    table = to_device(torch.tensor(rows, dtype=torch.int64), device)  # left, top, width, height, image width, start, flip, batch index
    out = torch.empty(len(images), 3, resolution, resolution, dtype=torch.uint8, device=device)
    for first, chunk, height, width in canvases:
        part = table[first : first + len(chunk)]
        canvas = _canvas([images[i] for i in chunk], part, height, width)
        sizes = part[:, 2:4].float()
        corners = torch.cat([torch.arange(len(chunk), device=device, dtype=torch.float32)[:, None], torch.zeros_like(sizes), sizes], dim=1)
        # aligned=True: pixel centres at +0.5, as torch's interpolate (align_corners=False) places them;
        # sampling_ratio=0: ceil(box / resolution) samples per output pixel and axis (an area average)
        resized = roi_align(canvas, corners, output_size=resolution, spatial_scale=1.0, sampling_ratio=0, aligned=True)
        resized = torch.where(part[:, 6].bool()[:, None, None, None], resized.flip(-1), resized)
        out.index_copy_(0, part[:, 7], resized.round_().clamp_(0, 255).to(torch.uint8))
    return out


def _canvas(images: list[torch.Tensor], part: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """float [N, 3, height, width]: crop i at the top left, its edges repeated beyond it. One gather from
    the images laid end to end; `part` holds crop_resize's table rows for these images, on the device."""
    device = images[0].device
    left, top, box_width, box_height, image_width, start = (part[:, column : column + 1] for column in range(6))
    rows = top + torch.minimum(torch.arange(height, device=device)[None, :], box_height - 1)  # [N, H]
    columns = left + torch.minimum(torch.arange(width, device=device)[None, :], box_width - 1)  # [N, W]
    index = start[:, :, None] + rows[:, :, None] * image_width[:, :, None] + columns[:, None, :]
    flat = torch.cat([image.reshape(3, -1) for image in images], dim=1)
    return flat[:, index].transpose(0, 1).float()


def decode_batch(batch: EncodedBatch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images = crop_resize(decode(batch, device), batch.boxes, batch.flips, batch.resolution)
    return images.contiguous(memory_format=torch.channels_last), to_device(batch.labels, device)


class DeviceBatches:
    """Iterates a loader of EncodedBatch as decoded (images, labels) on `device`.

    A thread decodes up to PREFETCH_BATCHES ahead, on its own CUDA stream; each batch carries an event
    that the consumer's stream waits on, so training never reads a batch before it is decoded, and
    decoding waits for training only when it is that far ahead. Errors in the thread are raised in the
    consumer; leaving the loop early ends the thread."""

    def __init__(self, loader: Iterable[EncodedBatch], device: torch.device, decode_fn: Callable = decode_batch) -> None:
        self.loader, self.device, self.decode_fn = loader, torch.device(device), decode_fn

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        ready: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
        stop = threading.Event()
        worker = threading.Thread(target=self._produce, args=(ready, stop), daemon=True, name="gpu-decode")
        worker.start()
        try:
            while True:
                kind, value = ready.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                images, labels, event = value
                if event is not None:
                    stream = torch.cuda.current_stream(self.device)
                    stream.wait_event(event)
                    images.record_stream(stream)
                    labels.record_stream(stream)
                yield images, labels
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    ready.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()

    def _produce(self, ready: queue.Queue, stop: threading.Event) -> None:
        cuda = self.device.type == "cuda"
        stream = torch.cuda.Stream(self.device) if cuda else None

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for batch in self.loader:
                if stop.is_set():
                    return
                if cuda:
                    with torch.cuda.stream(stream):
                        images, labels = self.decode_fn(batch, self.device)
                        event = torch.cuda.Event()
                        event.record(stream)
                else:
                    (images, labels), event = self.decode_fn(batch, self.device), None
                if not put(("batch", (images, labels, event))):
                    return
            put(("end", None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            put(("error", error))


def make_encoded_loader(images: ImageFolderData, sampler, workers: int) -> DataLoader:
    return DataLoader(
        EncodedImageFolder(images),
        batch_sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate,
        prefetch_factor=4 if workers > 0 else None,
    )
