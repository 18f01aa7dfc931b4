"""The GPU campaign's diagnostics that run without a GPU: the GPU path's parts (run here on the CPU, as
the path itself is) and the nvJPEG hardware-backend probe (against a small C library with nvJPEG's two
entry points, compiled here)."""

import shutil
import subprocess

import pytest
import torch

from benchmarks import gpu_campaign
from benchmarks.gpu_check import synthetic_imagenet


@pytest.fixture(scope="module")
def gpu_split(tmp_path_factory):
    from accelbench.training.data import TrainingData

    root = synthetic_imagenet(tmp_path_factory.mktemp("imagenet"), classes=2, train=24, val=4)
    recipe = gpu_campaign.loading("gpu").replace(batch_per_device=8)
    return TrainingData(root, workers=0).split("train", recipe, device="cpu")


def test_each_part_of_the_gpu_path_runs_alone_beside_a_cached_batch(gpu_split):
    from accelbench.training.gpu_data import crop_resize, decode

    cached = [torch.zeros(8, 3, gpu_campaign.RESOLUTION, gpu_campaign.RESOLUTION, dtype=torch.uint8), torch.arange(8)]
    parts = gpu_campaign.path_parts(gpu_split, cached, torch.device("cpu"))
    assert set(parts) == {"gpu_path_decode_only", "gpu_path_crop_resize_only"}
    gpu_split.sampler.set_epoch(1, gpu_campaign.RESOLUTION, 0)
    first, second = list(gpu_split.loader.loader)[:2]

    whole_path, gpu_split.loader.decode_fn = gpu_split.loader.decode_fn, parts["gpu_path_decode_only"]
    try:
        fed = list(gpu_split.epoch(1, gpu_campaign.RESOLUTION, 0))
    finally:
        gpu_split.loader.decode_fn = whole_path
    assert len(fed) == 3 and all(images is cached[0] and labels is cached[1] for images, labels in fed)

    gpu_split.sampler.set_epoch(0, gpu_campaign.RESOLUTION, 0)
    epoch_zero = next(iter(gpu_split.loader.loader))
    again, labels = parts["gpu_path_crop_resize_only"](second, torch.device("cpu"))  # whatever batch comes, epoch 0's first is resized
    expected = crop_resize(decode(epoch_zero, torch.device("cpu")), epoch_zero.boxes, epoch_zero.flips, gpu_campaign.RESOLUTION)
    assert torch.equal(again, expected) and labels is cached[1]
    assert again.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(epoch_zero.boxes, first.boxes)  # epochs draw other boxes: the equality above is not a coincidence


def test_the_nvjpeg_probe_says_when_there_is_no_library(tmp_path, monkeypatch):
    import ctypes.util

    maps = tmp_path / "maps"
    maps.write_text("7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    answer = gpu_campaign.nvjpeg_hardware(maps)
    assert answer["library"] is None and answer["hardware_backend"] is None and "no libnvjpeg" in answer["why"]


FAKE_NVJPEG = """
static int destroyed = 0;
static int handle_storage;
int nvjpegCreateEx(int backend, void *device_allocator, void *pinned_allocator, unsigned int flags, void **handle) {
    if (backend != 3 || device_allocator || pinned_allocator || flags) return 2;  /* NVJPEG_STATUS_INVALID_PARAMETER */
    if (ANSWER != 0) return ANSWER;
    *handle = &handle_storage;
    return 0;
}
int nvjpegDestroy(void *handle) { destroyed += handle == &handle_storage; return 0; }
int destroyed_handles(void) { return destroyed; }
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build the stand-in library")
@pytest.mark.parametrize("answer", [0, 7])  # success; NVJPEG_STATUS_ARCH_MISMATCH, a GPU without JPEG engines
def test_the_nvjpeg_probe_asks_the_loaded_library_for_its_hardware_backend(tmp_path, answer):
    import ctypes

    source, library = tmp_path / "nvjpeg.c", tmp_path / "libnvjpeg.so.13"
    source.write_text(FAKE_NVJPEG.replace("ANSWER", str(answer)))
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    maps = tmp_path / "maps"
    maps.write_text(f"7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n7f0000002000-7f0000003000 r-xp 00000000 08:01 2 {library}\n")
    answer_seen = gpu_campaign.nvjpeg_hardware(maps)
    assert answer_seen == {"library": str(library), "hardware_backend": answer == 0, "status": answer}
    assert ctypes.CDLL(str(library)).destroyed_handles() == (1 if answer == 0 else 0)  # an opened handle is closed again


def test_the_table_shows_the_parts_and_the_nvjpeg_answer_once_a_campaign_has_them():
    import copy
    import json

    latest = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200.json").read_text())
    first = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200_first.json").read_text())
    before = gpu_campaign.table(latest, first)
    assert "doing only its" not in before and "nvJPEG" not in before  # the committed run predates them
    newer = copy.deepcopy(latest)
    newer["loader"]["gpu_path_decode_only"] = {"images_per_s": 9876.4, "gpu_busy_share": 0.951}
    newer["loader"]["gpu_path_crop_resize_only"] = {"images_per_s": 7001.0, "gpu_busy_share": 0.674}
    newer["gpu_decode"]["nvjpeg"] = {"library": "/x/libnvjpeg.so.13", "hardware_backend": True, "status": 0}
    after = gpu_campaign.table(newer, first)
    assert "| beside training, the GPU path's thread doing only its decoding | 9,876 | 0.95 |" in after
    assert "| beside training, the GPU path's thread doing only its crop + resize | 7,001 | 0.67 |" in after
    assert "nvJPEG opens its hardware backend (the GPU's JPEG engines) there." in after


def test_the_path_ahead_is_checked_against_a_run_that_waits_after_every_batch(gpu_split):
    assert gpu_campaign.equals_waiting_run(gpu_split, torch.device("cpu"))
    whole_path = gpu_split.loader.decode_fn

    def stale(batch, device):  # what a batch's memory written while still being read would look like
        images, labels = whole_path(batch, device)
        return images.roll(1, dims=0), labels

    gpu_split.loader.decode_fn = stale
    try:
        assert not gpu_campaign.equals_waiting_run(gpu_split, torch.device("cpu"))
    finally:
        gpu_split.loader.decode_fn = whole_path


def test_the_table_shows_the_prepared_copy_and_the_host_waits_once_a_campaign_has_them():
    import copy
    import json

    latest = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200.json").read_text())
    first = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200_first.json").read_text())
    older = copy.deepcopy(latest)
    for key in ("gpu_path_prepared", "cpu_loader_prepared"):
        older["loader"].pop(key, None)
    for key in ("whole_path_prepared_images_per_s", "host_waits_in_crop_resize", "batches_equal_a_waiting_run"):
        older["gpu_decode"].pop(key, None)
    assert "prepared copy" not in gpu_campaign.table(older, first) and "wait for the GPU" not in gpu_campaign.table(older, first)
    newer = copy.deepcopy(older)
    newer["loader"]["gpu_path_prepared"] = {"images_per_s": 9500.2, "gpu_busy_share": 0.923}
    newer["gpu_decode"].update(whole_path_prepared_images_per_s=15123.0, host_waits_in_crop_resize=0, batches_equal_a_waiting_run=False)
    after = gpu_campaign.table(newer, first)
    assert "| GPU path, on the prepared copy (longest side 400 px, quality 90: the reference's FFCV store) | 9,500 | 0.92 |" in after
    assert "| GPU path without training, on the prepared copy | 15,123 |  |" in after
    assert "CPU loader, on the prepared copy" not in after
    assert "wait for the GPU 0 times over 4 batches; the path's batches do NOT equal" in after


def test_the_table_says_whether_the_gpu_path_measured_is_the_current_code():
    import json

    latest = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200.json").read_text())
    first = json.loads((gpu_campaign.RESULTS / "gpu_campaign_h200_first.json").read_text())
    moved_on = "has changed since this run"
    assert moved_on in gpu_campaign.table(dict(latest, gpu_data_sha256="0" * 64), first)
    assert moved_on in gpu_campaign.table({k: v for k, v in latest.items() if k != "gpu_data_sha256"}, first)  # a run from before the field
    assert moved_on not in gpu_campaign.table(dict(latest, gpu_data_sha256=gpu_campaign.gpu_path_code()), first)
