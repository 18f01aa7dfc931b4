"""The GPU campaign: everything a lent GPU machine should measure, from a bare start, in one run.

    python -m benchmarks.gpu_campaign --out DIR     # writes DIR/gpu_campaign_<gpu>.json (default: benchmarks/results)

Steps (a failing step is recorded with its error; the others go on):
1. setup: GPU, driver, torch/torchvision, ONNX Runtime providers, TensorRT (Python API or trtexec);
2. data: a synthetic ImageNet-layout folder of JPEGs at ImageNet sizes (benchmarks.gpu_check), and its
   prepared copy (`accelbench data prepare`: longest side 400 px, quality 90, as the reference's FFCV store);
3. loader: EfficientNet-B0, batch 512, 160 px, AMP, channels-last. The same training step fed a batch
   already on the GPU (the model-bound baseline), the CPU loader (worker processes), and the GPU path
   (training.gpu_data), on the ImageNet-size JPEGs and on the prepared copy; `gpu_busy_share` = baseline
   step time / step time with the loader. Then the GPU path's thread doing only its decoding, and only its
   crop + resize, beside training: which part takes the SMs;
4. gpu_decode: the GPU path alone (decode + crop + resize), images/s; whether its batches equal those of
   a run that waits for the GPU after every batch, and how often crop + resize makes the host wait for
   the GPU (torch's sync debug mode; the design says never); whether nvJPEG opens its hardware backend
   (the GPU's JPEG engines);
5. train_gpu_loader: `train()` with `loader = "gpu"` (2 short epochs, validation included);
6. ddp: DistributedDataParallel over every GPU present, GPU path;
7. engines: TensorRT and ONNX Runtime's CUDA / TensorRT providers on the 20 reference architectures
   (benchmarks/reference_architectures.json), latency at batch 1 and throughput at 512, 256 px, with
   the torch backend beside them; Kendall tau against the reference's A100 and 3090 records and the
   torch backend. A runtime that is not installed is recorded as unavailable, with why.
8. proxy_fashion (by name only: --steps proxy_fashion): the proxy search `proxy-fashion-gpu` on all of
   Fashion-MNIST (`--fashion-mnist DIR`, the four IDX files; they travel, 30 MB, where the Debian
   package is not installed): its noise ceiling (saved before the candidates start), candidates, chosen
   recipe and wall time (goal 10 min).

The JSON is written after every step. SIGINT (`timeout -s INT`) ends the step in progress and the run,
keeping what was saved. On a lent machine, `make gpu-kit` (benchmarks/gpu_kit.py) prepares what the
machine lacks and prints the calls.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from benchmarks.docs_blocks import replace_block
from benchmarks.gpu_check import B0, synthetic_imagenet

REFERENCE = Path(__file__).with_name("reference_architectures.json")
GPU_PATH_CODE = Path(__file__).resolve().parents[1] / "accelbench" / "training" / "gpu_data.py"
BATCH, RESOLUTION = 512, 160
TRAIN_IMAGES, VAL_IMAGES = 8192, 1024
MEASURED_EPOCHS = 2  # after one warm-up epoch


def setup(summary: dict) -> None:
    import torch
    import torchvision

    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        smi = None
    figures = {"nvidia_smi": smi, "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
               "torchvision": torchvision.__version__, "devices": torch.cuda.device_count(), "cpus": os.cpu_count()}
    figures["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        import onnxruntime

        figures["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    except ImportError as error:
        figures["onnxruntime"] = f"not installed: {error}"
    from accelbench.profiling.backends.tensorrt import tensorrt_runtime

    figures["tensorrt"] = tensorrt_runtime()
    summary["setup"] = figures


def loading(loader: str):
    """The campaign's loader settings as a recipe: batch BATCH, ImageNet's crops, `loader` "cpu" or "gpu"."""
    from accelbench.training.recipe import get_recipe

    return get_recipe("anb-proxy").replace(batch_per_device=BATCH, crop_scale_min=0.08, val_crop_ratio=0.875, loader=loader)


def _model_and_step(classes: int):
    import torch

    from accelbench.search_space import Architecture
    from accelbench.search_space.builder import build
    from accelbench.training.recipe import ANB_PROXY
    from accelbench.training.loop import Session

    recipe = ANB_PROXY.replace(devices=1)
    torch.backends.cudnn.benchmark = True
    session = Session(build(Architecture.from_compact(B0), num_classes=classes, activation=recipe.activation), recipe, torch.device("cuda"))
    optimizer = torch.optim.SGD(session.model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")

    def step(images, labels) -> None:
        images, labels = session.batch(images, labels)
        loss = session.loss(session.forward(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return session, step


def _timed_epochs(split, step) -> tuple[float, int]:
    """Seconds per step over MEASURED_EPOCHS epochs, after one warm-up epoch."""
    import torch

    for images, labels in split.epoch(0, RESOLUTION, 0):
        step(images, labels)
    torch.cuda.synchronize()
    started, steps = time.perf_counter(), 0
    for epoch in range(1, 1 + MEASURED_EPOCHS):
        for images, labels in split.epoch(epoch, RESOLUTION, 0):
            step(images, labels)
            steps += 1
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps, steps


def prepared_copy(root: Path) -> Path:
    return root.with_name(root.name + "-prepared")


def make_data(root: Path) -> None:
    """The synthetic folder and its prepared copy (both made with process pools: before CUDA starts)."""
    from accelbench.training.prepare import PrepareSettings, prepare

    synthetic_imagenet(root, classes=10, train=TRAIN_IMAGES, val=VAL_IMAGES)
    prepare(root, prepared_copy(root), PrepareSettings(max_side=400, quality=90))


def loader(summary: dict, root: Path) -> None:
    import torch

    from accelbench.training.data import TrainingData

    cpu_workers = max(1, (os.cpu_count() or 2) - 2)
    gpu_workers = min(8, cpu_workers)
    cpu_data = TrainingData(root, workers=cpu_workers, pin_memory=True)
    session, step = _model_and_step(cpu_data.num_classes())
    figures: dict = {"model": "efficientnet_b0", "batch": BATCH, "resolution": RESOLUTION, "train_images": TRAIN_IMAGES, "measured_epochs": MEASURED_EPOCHS}
    summary["loader"] = figures

    cpu_split = cpu_data.split("train", loading("cpu"))
    cached = [tensor.to("cuda") for tensor in next(iter(cpu_split.epoch(0, RESOLUTION, 0)))]
    for _ in range(3):
        step(*cached)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(20):
        step(*cached)
    torch.cuda.synchronize()
    baseline = (time.perf_counter() - started) / 20
    figures["cached_batch"] = {"step_s": baseline, "images_per_s": BATCH / baseline}

    def measure(name: str, split, workers: int) -> None:
        step_s, steps = _timed_epochs(split, step)
        figures[name] = {"step_s": step_s, "steps": steps, "images_per_s": BATCH / step_s, "gpu_busy_share": baseline / step_s, "loader_workers": workers}
        print(f"  {name}: {BATCH / step_s:,.0f} images/s, busy share {baseline / step_s:.2f}", flush=True)

    def both_loaders(folder: Path, suffix: str):
        gpu_split = TrainingData(folder, workers=gpu_workers).split("train", loading("gpu"), device="cuda")
        measure("gpu_path" + suffix, gpu_split, gpu_workers)
        measure("cpu_loader" + suffix, TrainingData(folder, workers=cpu_workers, pin_memory=True).split("train", loading("cpu"), device="cuda"), cpu_workers)
        return gpu_split

    gpu_split = both_loaders(root, "")
    if prepared_copy(root).is_dir():
        both_loaders(prepared_copy(root), "_prepared")
    whole_path = gpu_split.loader.decode_fn
    for name, part in path_parts(gpu_split, cached, torch.device("cuda")).items():
        gpu_split.loader.decode_fn = part
        try:
            measure(name, gpu_split, gpu_workers)
        finally:
            gpu_split.loader.decode_fn = whole_path


def path_parts(split, cached: list, device) -> dict:
    """The GPU path's background thread doing one part of its work while training takes the `cached`
    batch: how much of the SMs each part takes from training (`gpu_busy_share`). "decode_only" decodes
    each batch and drops it; "crop_resize_only" crops and resizes the first batch's decoded images again
    at every step."""
    import torch

    from accelbench.training.gpu_data import crop_resize, decode

    split.sampler.set_epoch(0, RESOLUTION, 0)
    first = next(iter(split.loader.loader))  # the workers' first EncodedBatch
    decoded = decode(first, device)

    def decode_only(batch, device):
        decode(batch, device)
        return cached[0], cached[1]

    def crop_resize_only(batch, device):
        return crop_resize(decoded, first.boxes, first.flips, first.resolution).contiguous(memory_format=torch.channels_last), cached[1]

    return {"gpu_path_decode_only": decode_only, "gpu_path_crop_resize_only": crop_resize_only}


def gpu_decode(summary: dict, root: Path) -> None:
    """The GPU path alone, and its parts: bytes from the loader workers, decode, crop + resize."""
    import torch

    from accelbench.training.data import TrainingData
    from accelbench.training.gpu_data import crop_resize, decode

    data = TrainingData(root, workers=8)
    split = data.split("train", loading("gpu"), device="cuda")
    figures: dict = {"loader_workers": 8}
    summary["gpu_decode"] = figures

    def rate(work) -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        images = work()
        torch.cuda.synchronize()
        return images / (time.perf_counter() - started)

    def whole_path(split) -> float:  # after a warm-up epoch
        for _ in split.epoch(0, RESOLUTION, 0):
            pass
        return rate(lambda: sum(len(batch) for epoch in (1, 2) for batch, _ in split.epoch(epoch, RESOLUTION, 0)))

    figures["whole_path_images_per_s"] = whole_path(split)
    encoded = split.loader.loader  # the workers' DataLoader of EncodedBatch
    figures["bytes_only_images_per_s"] = rate(lambda: sum(len(batch.sizes) for epoch in (1, 2) for batch in split.epoch(epoch, RESOLUTION, 0).loader))
    batches = list(encoded)[:4]
    figures["decode_only_images_per_s"] = rate(lambda: sum(len(decode(batch, torch.device("cuda"))) for batch in batches * 3))
    decoded = [(decode(batch, torch.device("cuda")), batch) for batch in batches]
    figures["crop_resize_only_images_per_s"] = rate(lambda: sum(len(crop_resize(images, batch.boxes, batch.flips, RESOLUTION)) for images, batch in decoded * 3))
    if prepared_copy(root).is_dir():
        figures["whole_path_prepared_images_per_s"] = whole_path(TrainingData(prepared_copy(root), workers=8).split("train", loading("gpu"), device="cuda"))
    for name, value in figures.items():
        print(f"  {name}: {value:,.0f}", flush=True)
    figures["host_waits_in_crop_resize"] = host_waits(lambda: [crop_resize(images, batch.boxes, batch.flips, RESOLUTION) for images, batch in decoded])
    figures["batches_equal_a_waiting_run"] = equals_waiting_run(split, torch.device("cuda"))
    print(f"  host waits in crop + resize: {figures['host_waits_in_crop_resize']}; batches equal a waiting run's: {figures['batches_equal_a_waiting_run']}",
          flush=True)
    figures["nvjpeg"] = nvjpeg_hardware()
    print(f"  nvjpeg: {figures['nvjpeg']}", flush=True)


def host_waits(work) -> int:
    """How many times `work` makes the host wait for the GPU (torch's sync debug mode warns at each)."""
    import warnings

    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            work()
            torch.cuda.synchronize()  # outside torch's ops: not counted
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(warning.message) for warning in caught)


def equals_waiting_run(split, device) -> bool:
    """The path's batches (decoded a few ahead, the host never waiting) against the same batches decoded
    one at a time with the host waiting for the GPU after each: equal unless a batch's memory is written
    while still being read."""
    import torch

    from accelbench.training.gpu_data import decode_batch

    ahead = [images.clone() for images, _ in split.epoch(1, RESOLUTION, 0)]
    waiting = []
    for batch in split.epoch(1, RESOLUTION, 0).loader:
        waiting.append(decode_batch(batch, device)[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
    return len(ahead) == len(waiting) and all(torch.equal(a, b) for a, b in zip(ahead, waiting))


NVJPEG_BACKEND_HARDWARE = 3  # nvjpeg.h: nvjpegBackend_t; nvjpegCreateEx answers NVJPEG_STATUS_ARCH_MISMATCH (7) on a GPU without JPEG engines


def nvjpeg_hardware(maps: Path = Path("/proc/self/maps")) -> dict:
    """Whether nvJPEG opens its hardware backend here. torchvision's batched GPU decode sends baseline
    JPEGs to the GPU's JPEG engines (A100, H100, H200) when it does, and to the CUDA cores when it does
    not. Asked of the libnvjpeg this process has loaded (after a GPU decode), else of the one on the
    loader's path."""
    import ctypes
    import ctypes.util

    loaded = sorted({line.split()[-1] for line in maps.read_text().splitlines() if "libnvjpeg" in line}) if maps.exists() else []
    path = loaded[0] if loaded else ctypes.util.find_library("nvjpeg")
    if path is None:
        return {"library": None, "hardware_backend": None, "why": "no libnvjpeg loaded by this process or on the loader's path"}
    library = ctypes.CDLL(path)
    handle = ctypes.c_void_p()
    status = library.nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE, None, None, 0, ctypes.byref(handle))
    if status == 0:
        library.nvjpegDestroy(handle)
    return {"library": path, "hardware_backend": status == 0, "status": status}


def train_gpu_loader(summary: dict, root: Path) -> None:
    from accelbench.search_space import Architecture
    from accelbench.training.data import TrainingData
    from accelbench.training.recipe import ANB_PROXY
    from accelbench.training.trainer import train

    recipe = ANB_PROXY.replace(name="campaign-gpu-loader", devices=1, epochs=2, lr_peak_epoch=1, resize_start_epoch=0, resize_end_epoch=1,
                               validate_last_epochs=1, random_weight_epochs=0, loader="gpu")
    result = train(Architecture.from_compact(B0), recipe, TrainingData(root, workers=8), "cuda", seed=0)
    summary["train_gpu_loader"] = {"status": result.status, "error": result.error, "train_time_s": result.train_time_s, "val_top1": result.val_top1,
                                   "peak_memory_bytes": result.peak_memory_bytes,
                                   "curve": [dict(loss=r.train_loss, top1=r.train_top1, val_top1=r.val_top1, resolution=r.resolution) for r in result.curve]}


def ddp(summary: dict, root: Path) -> None:
    import torch

    from accelbench.search_space import Architecture
    from accelbench.training.data import TrainingData
    from accelbench.training.distributed import train_data_parallel
    from accelbench.training.recipe import ANB_PROXY

    devices = torch.cuda.device_count()
    recipe = ANB_PROXY.replace(name="campaign-ddp", devices=devices, epochs=1, lr_peak_epoch=0, resize_start_epoch=0, resize_end_epoch=1,
                               validate_last_epochs=1, random_weight_epochs=0, loader="gpu")
    started = time.perf_counter()
    outcome = train_data_parallel(Architecture.from_compact(B0), recipe, TrainingData(root, workers=8), "cuda", 0, None, True)
    summary["ddp"] = {"ranks": devices, "wall_s": time.perf_counter() - started, "steps": len(outcome.steps),
                      "loss_first_last": [outcome.steps[0].loss, outcome.steps[-1].loss], "val_top1": outcome.curve[-1].val_top1}


def engine_targets():
    from accelbench.profiling.target import Target

    return {
        "tensorrt": (Target("trt_b512", "tensorrt", batch=512, resolution=256, device="cuda", precision="fp16"),
                     Target("trt_b1", "tensorrt", batch=1, resolution=256, device="cuda", precision="fp16")),
        "ort_tensorrt": (Target("ort_trt_b512", "onnxruntime", batch=512, resolution=256, device="tensorrt", precision="fp32"),
                         Target("ort_trt_b1", "onnxruntime", batch=1, resolution=256, device="tensorrt", precision="fp32")),
        "ort_cuda": (Target("ort_cuda_b512", "onnxruntime", batch=512, resolution=256, device="cuda", precision="fp32"),
                     Target("ort_cuda_b1", "onnxruntime", batch=1, resolution=256, device="cuda", precision="fp32")),
        "torch": (Target("torch_b512", "torch", batch=512, resolution=256, device="cuda", precision="fp16", options={"images_per_pass": 10240}),
                  Target("torch_b1", "torch", batch=1, resolution=256, device="cuda", precision="fp16", options={"repeats": 30})),
    }


def engines(summary: dict, reference: list[dict], work: Path) -> None:
    """Every engine that is available, on the reference architectures; the torch backend only beside one."""
    from scipy.stats import kendalltau

    from accelbench.profiling.backends import get_backend
    from accelbench.profiling.export import ExportSettings, export_onnx
    from accelbench.search_space import Architecture

    targets = engine_targets()
    figures: dict = {}
    summary["engines"] = figures
    runnable = []
    for name, (big, one) in targets.items():
        availability = get_backend(big.backend).available(big)
        figures[name] = {"available": availability.ok, "why": availability.reason}
        if availability.ok:
            runnable.append(name)
    if runnable == ["torch"] or not runnable:
        figures["skipped"] = "no TensorRT or ONNX Runtime GPU provider here: nothing to compare the torch backend with"
        return
    onnx = {}
    for entry in reference:
        architecture = Architecture.from_compact(entry["compact"])
        path = export_onnx(architecture, work / f"{architecture.arch_id}.onnx", ExportSettings(resolution=256))  # a dynamic batch axis
        onnx[entry["compact"]] = {1: path, 512: path}
    for name in runnable:
        big, one = targets[name]
        backend = get_backend(big.backend)
        rows = []
        for entry in reference:
            architecture = Architecture.from_compact(entry["compact"])
            paths = onnx[entry["compact"]]
            started = time.perf_counter()
            wide, single = backend.measure(architecture, paths[512], big), backend.measure(architecture, paths[1], one)
            rows.append({"compact": entry["compact"], "throughput_ips": wide.throughput_ips, "latency_ms_b1": single.latency.median_ms if single.latency else None,
                         "build_time_s": [wide.build_time_s, single.build_time_s], "error": wide.error or single.error,
                         "environment": {k: v for k, v in wide.environment.items() if k != "command"}, "seconds": time.perf_counter() - started})
            print(f"  {name} {entry['compact']}: {rows[-1]['throughput_ips']} img/s {rows[-1]['error'] or ''}", flush=True)
        figures[name]["rows"] = rows
    for name in runnable:
        rows = figures[name]["rows"]
        ok = [(r, e) for r, e in zip(rows, reference) if r["throughput_ips"]]
        if len(ok) < 3:
            continue
        ours = [r["throughput_ips"] for r, _ in ok]
        figures[name]["kendall_tau_vs_reference_a100"] = float(kendalltau(ours, [e["throughput_a100"] for _, e in ok]).statistic)
        figures[name]["kendall_tau_vs_reference_3090"] = float(kendalltau(ours, [e["throughput_3090"] for _, e in ok]).statistic)
        if name != "torch" and "torch" in runnable:
            torch_rows = {r["compact"]: r["throughput_ips"] for r in figures["torch"]["rows"]}
            pairs = [(r["throughput_ips"], torch_rows[r["compact"]]) for r, _ in ok if torch_rows.get(r["compact"])]
            figures[name]["kendall_tau_vs_torch_backend"] = float(kendalltau(*zip(*pairs)).statistic) if len(pairs) >= 3 else None


def gpu_path_code() -> str:
    """The GPU path's code as measured (its file's sha256): the table says when the code has moved on since."""
    return hashlib.sha256(GPU_PATH_CODE.read_bytes()).hexdigest()


def gpu_slug(summary: dict) -> str:
    name = ((summary.get("setup") or {}).get("gpu") or "unknown").lower()
    for prefix in ("nvidia ", "geforce ", "tesla "):
        name = name.replace(prefix, "")
    return "".join(c if c.isalnum() else "_" for c in name).strip("_") or "unknown"


TABLE_BEGIN, TABLE_END = "<!-- gpu_campaign table: begin (python -m benchmarks.gpu_campaign --docs) -->", "<!-- gpu_campaign table: end -->"
RESULTS = Path(__file__).with_name("results")


def latest_run(results: Path = RESULTS) -> Path:
    """The newest committed run with the loader and gpu_decode steps (a `_first` run holds the steps only
    the first run made; a labelled proxy_fashion run holds no loader)."""
    runs = []
    for path in results.glob("gpu_campaign_*.json"):
        summary = json.loads(path.read_text())
        if not path.stem.endswith("_first") and "loader" in summary and "gpu_decode" in summary:
            runs.append((summary["started"], path))
    return max(runs)[1]


def table(latest: dict, first: dict, name: str = "gpu_campaign_h200.json") -> str:
    """The README's and docs/FIDELITY.md's table of the campaign's results (`latest`: the loader and its
    parts with the current code; `first`: the steps only the first run made)."""
    loader, decode = latest["loader"], latest["gpu_decode"]
    gpu = latest["setup"]["gpu"]

    def rate(entry: dict) -> str:
        return f"{entry['images_per_s']:,.0f}"

    rows = [
        ("batch already on the GPU (the model-bound step)", rate(loader["cached_batch"]), "1.00"),
        (f"GPU path (`loader = \"gpu\"`), {loader['gpu_path']['loader_workers']} workers reading bytes", rate(loader["gpu_path"]),
         f"{loader['gpu_path']['gpu_busy_share']:.2f}"),
        (f"CPU loader, {loader['cpu_loader']['loader_workers']} worker processes", rate(loader["cpu_loader"]), f"{loader['cpu_loader']['gpu_busy_share']:.2f}"),
        *[(f"{what}, on the prepared copy (longest side 400 px, quality 90: the reference's FFCV store)", rate(loader[key]),
           f"{loader[key]['gpu_busy_share']:.2f}") for key, what in (("gpu_path_prepared", "GPU path"), ("cpu_loader_prepared", "CPU loader")) if key in loader],
        *[(f"beside training, the GPU path's thread doing only its {part}", rate(loader[key]), f"{loader[key]['gpu_busy_share']:.2f}")
          for key, part in (("gpu_path_decode_only", "decoding"), ("gpu_path_crop_resize_only", "crop + resize")) if key in loader],
        ("GPU path without training: whole / bytes from workers / decode / crop + resize",
         " / ".join(f"{decode[k]:,.0f}" for k in ("whole_path_images_per_s", "bytes_only_images_per_s", "decode_only_images_per_s", "crop_resize_only_images_per_s")), ""),
    ]
    if "whole_path_prepared_images_per_s" in decode:
        rows.append(("GPU path without training, on the prepared copy", f"{decode['whole_path_prepared_images_per_s']:,.0f}", ""))
    trained, ddp = first["train_gpu_loader"], first["ddp"]
    lines = [f"EfficientNet-B0, batch {loader['batch']}, {loader['resolution']} px, AMP, channels-last, {loader['train_images']:,} synthetic "
             f"ImageNet-size JPEGs; {gpu}, torch {latest['setup']['torch']}, torchvision {latest['setup']['torchvision']}, "
             f"{latest['setup']['cpus']} CPUs (`benchmarks/results/{name}`):", "",
             "| step | images/s | GPU busy share |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if latest.get("gpu_data_sha256") != gpu_path_code():
        lines += ["", "The GPU path (`accelbench/training/gpu_data.py`) has changed since this run: its rows are those of the earlier code."]
    if "host_waits_in_crop_resize" in decode:
        equal = "equal" if decode["batches_equal_a_waiting_run"] else "do NOT equal"
        lines += ["", f"Crop + resize made the host wait for the GPU {decode['host_waits_in_crop_resize']} times over 4 batches; the path's batches "
                      f"{equal} those of a run that waits for the GPU after every batch."]
    if "nvjpeg" in decode:
        opened = {True: "opens", False: "does not open", None: "was not found to ask"}[decode["nvjpeg"]["hardware_backend"]]
        lines += ["", f"nvJPEG {opened} its hardware backend (the GPU's JPEG engines) there."]
    engines = first["engines"]
    lines += ["", f"`train()` with the GPU path ({first['code'].split(':')[0]}): {trained['status']}, 2 epochs 160 -> 192 px in {trained['train_time_s']:.1f} s; "
              f"DDP over {ddp['ranks']} GPU with it: ok, {ddp['steps']} steps. TensorRT and ONNX Runtime's GPU providers: not installed there "
              f"(\"{engines['tensorrt']['why'].split(':')[0]}\"; \"{engines['ort_cuda']['why'].split(';')[0]}\")."]
    return "\n".join([TABLE_BEGIN, *lines, TABLE_END])


def write_docs(paths: list[Path]) -> None:
    latest = latest_run()
    block = table(json.loads(latest.read_text()), json.loads((RESULTS / "gpu_campaign_h200_first.json").read_text()), latest.name)
    for path in paths:
        replace_block(path, TABLE_BEGIN, TABLE_END, block)


def proxy_fashion(summary: dict, work: Path, idx_folder: str, save) -> None:
    """The GPU preset's proxy search. The truth and its noise seed first (`--ceiling-only`), saved at once:
    if the candidates then overrun the call, the ceiling (is there a ranking signal?) is already kept.
    The whole search reuses those trainings."""
    import dataclasses

    from accelbench.pipeline.store import Store
    from accelbench.proxy.search import ProxySearch
    from accelbench.workflows.config import load_proxy_config
    from accelbench.workflows.proxy_report import rows

    config = load_proxy_config("proxy-fashion-gpu")
    training = dataclasses.replace(config.reference.training, data=f"fashion-mnist:{idx_folder}")
    config = dataclasses.replace(config, reference=dataclasses.replace(config.reference, training=training))
    store = Store(work / "proxy-fashion-gpu")
    figures: dict = {}
    summary["proxy_fashion"] = figures
    started = time.monotonic()
    try:
        ceiling = ProxySearch(config, store).run(ceiling_only=True)
        figures.update(ceiling_wall_s=time.monotonic() - started, noise=dataclasses.asdict(ceiling.noise), reference_cost_s=ceiling.reference_cost_s)
        save()
        result = ProxySearch(config, store).run()
        wall = time.monotonic() - started
        figures.update(wall_s=wall, within_10_minutes=wall <= 600, spent_s=result.spent_s, notes=result.notes,
                       chosen=None if result.chosen is None else result.results[result.chosen].candidate.label, candidates=rows(result))
    finally:  # every training recorded, with its recipe and seed: what a search stopped early still tells
        columns = ["arch_id", "recipe_id", "recipe_name", "seed", "status", "val_top1", "train_time_s", "error"]
        figures["trainings"] = store.read("train", columns).to_pylist() if store.is_store() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results")), help="folder for gpu_campaign_<gpu>.json")
    parser.add_argument("--work", default="/tmp/gpu-campaign", help="scratch folder (synthetic JPEGs, ONNX files)")
    parser.add_argument("--steps", default="setup,data,loader,gpu_decode,train_gpu_loader,ddp,engines", help="comma-separated steps to run")
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist", help="folder of Fashion-MNIST's four IDX files (step proxy_fashion)")
    parser.add_argument("--label", default="", help="added to the file's name (gpu_campaign_<gpu>_<label>.json): letters, digits, _ and -")
    parser.add_argument("--docs", action="store_true", help="rewrite the results table in README.md and docs/FIDELITY.md from the committed JSON")
    arguments = parser.parse_args(argv)
    if arguments.docs:
        root = Path(__file__).resolve().parents[1]
        write_docs([root / "README.md", root / "docs" / "FIDELITY.md"])
        return 0
    if not re.fullmatch(r"[A-Za-z0-9_-]*", arguments.label):
        print(f"--label {arguments.label!r} is not allowed: use letters, digits, _ and - only", file=sys.stderr)
        return 2
    out, work = Path(arguments.out), Path(arguments.work)
    out.mkdir(parents=True, exist_ok=True)
    (work / "onnx").mkdir(parents=True, exist_ok=True)
    root = work / "imagenet"
    summary: dict = {"command": "python -m benchmarks.gpu_campaign " + " ".join(argv if argv is not None else sys.argv[1:]), "started": time.time(),
                     "gpu_data_sha256": gpu_path_code()}
    steps = {
        "setup": lambda: setup(summary),
        "data": lambda: make_data(root),  # before CUDA starts: the pools fork
        "loader": lambda: loader(summary, root),
        "gpu_decode": lambda: gpu_decode(summary, root),
        "train_gpu_loader": lambda: train_gpu_loader(summary, root),
        "ddp": lambda: ddp(summary, root),
        "engines": lambda: engines(summary, json.loads(REFERENCE.read_text()), work / "onnx"),
        "proxy_fashion": lambda: proxy_fashion(summary, work, arguments.fashion_mnist, save),
    }
    chosen = arguments.steps.split(",")
    unknown = [name for name in chosen if name not in steps]
    if unknown:
        print(f"unknown steps: {', '.join(unknown)}; choices are {', '.join(steps)}", file=sys.stderr)
        return 2
    def save() -> Path:
        path = out / f"gpu_campaign_{gpu_slug(summary)}{'_' + arguments.label if arguments.label else ''}.json"  # the GPU is named once setup ran
        path.write_text(json.dumps(summary, indent=1, default=str))
        return path

    for name in [n for n in steps if n in chosen]:
        started = time.perf_counter()
        interrupted = False
        try:
            steps[name]()
        except KeyboardInterrupt:  # SIGINT (`timeout -s INT`, Ctrl-C): keep what the steps have, run no more
            summary.setdefault("errors", {})[name] = "interrupted (SIGINT)"
            interrupted = True
        except Exception as error:  # noqa: BLE001 - one failing step must not hide the others' numbers
            summary.setdefault("errors", {})[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        summary.setdefault("seconds", {})[name] = time.perf_counter() - started
        print(f"== {name}: {summary['seconds'][name]:.1f} s{' (failed)' if name in summary.get('errors', {}) else ''}", flush=True)
        path = save()
        if interrupted:
            break
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
