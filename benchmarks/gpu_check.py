"""The GPU checks: the paths no CPU can exercise (CUDA hosts only; never part of `make test`).

    python -m benchmarks.gpu_check --write-reference sample.json      # here: 20 reference architectures
    python -m benchmarks.gpu_check --reference sample.json --out DIR  # on the GPU host

1. the trainability rule as the reference measured it (512 images, 192 px, AMP, peak CUDA memory with the
   weights) for four architectures, against its 22e9-byte threshold;
2. a short `anb-proxy` training (one GPU; 2 epochs) on a synthetic ImageNet-layout folder of JPEGs at
   ImageNet sizes cut from scikit-learn's sample photos: images/s, peak memory, and whether the loader
   keeps the GPU busy (step time with a batch already on the GPU vs with the loader);
3. DistributedDataParallel through NCCL across the GPUs the host has (one rank when it has one);
4. the `torch` backend (eager CUDA, AMP, cuDNN benchmark) on 20 of the reference's architectures:
   latency at batch 1 and throughput at batch 512, 256 px; Kendall tau of the throughputs against the
   reference's A100 and 3090 records;
5. which ONNX Runtime execution providers this host has.
Prints and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path

B0 = "e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se"
SMALLEST = "-".join(["e1k3l1"] * 7)
WIDE_EARLY = "e6k5l3se-e6k5l3se-e6k5l3se-e6k3l1-e1k3l1-e1k3l1-e1k3l1"  # stage-0 e6/l3/SE: rarely trainable in the records
LARGEST = "e6k5l3se-e6k5l3se-e6k5l3se-e6k5l3se-e6k5l3se-e6k5l4se-e6k5l3se"


def write_reference(path: Path, count: int = 20, seed: int = 0) -> None:
    from accelbench.pipeline.anb_format import iter_anb_records
    from accelbench.search_space import Architecture

    shared = Path(os.environ.get("ACCELBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    records = [r for r in iter_anb_records(shared / "data" / "anb" / "anb_dataset_dev.tar.gz")
               if {"throughput_a100", "throughput_3090"} <= set(r.data.get("platform_perf") or {})]
    chosen = random.Random(seed).sample(records, count)
    path.write_text(json.dumps([{"compact": Architecture.from_reference(r.data["architecture"]).compact(), "record": r.name,
                                 "throughput_a100": r.data["platform_perf"]["throughput_a100"]["throughput_mean"],
                                 "throughput_3090": r.data["platform_perf"]["throughput_3090"]["throughput_mean"]} for r in chosen], indent=1))


@lru_cache(maxsize=1)
def _sample_photos():
    from sklearn.datasets import load_sample_images

    return load_sample_images().images


def _photo(arguments: tuple[int, str]) -> None:
    """One JPEG at an ImageNet-like size: a random crop of a scikit-learn sample photo, resized, flipped."""
    index, path = arguments
    import numpy as np
    from PIL import Image

    rng = random.Random(index)
    photo = _sample_photos()[index % 2]
    height, width = photo.shape[:2]
    crop_h, crop_w = rng.randint(height // 2, height), rng.randint(width // 2, width)
    top, left = rng.randint(0, height - crop_h), rng.randint(0, width - crop_w)
    image = Image.fromarray(np.ascontiguousarray(photo[top : top + crop_h, left : left + crop_w]))
    short = rng.randint(333, 500)
    ratio = rng.uniform(0.75, 1.333)
    image = image.resize((int(short * max(ratio, 1)), int(short * max(1 / ratio, 1))), Image.BICUBIC)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90)


def synthetic_imagenet(root: Path, classes: int = 10, train: int = 4096, val: int = 512) -> Path:
    jobs = [(i, str(root / "train" / f"c{i % classes:03d}" / f"{i:06d}.JPEG")) for i in range(train)]
    jobs += [(train + i, str(root / "val" / f"c{i % classes:03d}" / f"{train + i:06d}.JPEG")) for i in range(val)]
    with Pool(min(16, os.cpu_count() or 1)) as pool:
        pool.map(_photo, jobs, chunksize=64)
    return root


def trainability(summary: dict) -> None:
    import torch

    from accelbench.search_space import Architecture
    from accelbench.training.recipe import ANB_PROXY
    from accelbench.training.loop import Untrainable, check_trainable

    recipe = ANB_PROXY.replace(devices=1)
    figures = {}
    for label, compact in (("smallest", SMALLEST), ("efficientnet_b0", B0), ("wide_early_stages", WIDE_EARLY), ("largest", LARGEST)):
        try:
            figures[label] = {"bytes": check_trainable(Architecture.from_compact(compact), recipe, 1000, torch.device("cuda")), "untrainable": False}
        except Untrainable as failure:
            figures[label] = {"bytes": failure.needed_bytes, "untrainable": True, "why": str(failure)}
    summary["trainability_rule"] = recipe.trainability_rule()
    summary["trainability"] = figures


def training(summary: dict, root: Path) -> None:
    import torch

    from accelbench.search_space import Architecture
    from accelbench.search_space.builder import build
    from accelbench.training.data import TrainingData
    from accelbench.training.recipe import ANB_PROXY
    from accelbench.training.loop import Session
    from accelbench.training.trainer import train

    recipe = ANB_PROXY.replace(name="gpu-check", devices=1, epochs=2, lr_peak_epoch=1, resize_start_epoch=0, resize_end_epoch=1,
                               validate_last_epochs=1, random_weight_epochs=1)
    data = TrainingData(root, workers=12, pin_memory=True)
    architecture = Architecture.from_compact(B0)
    result = train(architecture, recipe, data, "cuda", seed=0)
    images = recipe.epochs * (len(data.split("train", recipe).sampler) * recipe.global_batch)
    summary["training"] = {
        "status": result.status, "error": result.error, "epochs": recipe.epochs, "global_batch": recipe.global_batch,
        "train_time_s": result.train_time_s, "check_time_s": result.check_time_s, "random_weight_time_s": result.random_weight_time_s,
        "images_per_s_incl_validation": images / result.train_time_s if result.train_time_s else None,
        "peak_memory_bytes": result.peak_memory_bytes, "check_memory_bytes": result.check_memory_bytes,
        "curve": [dict(loss=r.train_loss, top1=r.train_top1, val_top1=r.val_top1, resolution=r.resolution) for r in result.curve],
    }
    # does the loader keep the GPU busy? the same steps with a batch already on the GPU, and with the loader
    session = Session(build(architecture, num_classes=data.num_classes(), activation=recipe.activation), recipe, torch.device("cuda"))
    optimizer = torch.optim.SGD(session.model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")
    split = data.split("train", recipe)

    def step(images, labels) -> None:
        loss = session.loss(session.forward(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    batches = [session.batch(*batch) for batch in list(split.epoch(0, 160, 0))[:2]]
    for images, labels in batches:
        step(images, labels)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for index in range(16):
        step(*batches[index % 2])
    torch.cuda.synchronize()
    cached = (time.perf_counter() - started) / 16
    started, count = time.perf_counter(), 0
    for epoch in range(3):
        for images, labels in split.epoch(epoch + 1, 160, 0):
            step(*session.batch(images, labels))
            count += 1
    torch.cuda.synchronize()
    loaded = (time.perf_counter() - started) / count
    summary["loader"] = {"step_s_cached_batch": cached, "step_s_with_loader": loaded, "loader_workers": 12, "batch": recipe.batch_per_device,
                         "resolution": 160, "gpu_busy_share": cached / loaded, "images_per_s_gpu_bound": recipe.batch_per_device / cached,
                         "images_per_s_with_loader": recipe.batch_per_device / loaded}


def data_parallel(summary: dict, root: Path) -> None:
    import torch

    from accelbench.search_space import Architecture
    from accelbench.training.data import TrainingData
    from accelbench.training.distributed import train_data_parallel
    from accelbench.training.recipe import ANB_PROXY

    devices = torch.cuda.device_count()
    recipe = ANB_PROXY.replace(name="gpu-check-ddp", devices=devices, epochs=1, lr_peak_epoch=0, resize_start_epoch=0, resize_end_epoch=1,
                               validate_last_epochs=1, random_weight_epochs=0)
    started = time.perf_counter()
    outcome = train_data_parallel(Architecture.from_compact(B0), recipe, TrainingData(root, workers=8), "cuda", 0, None, True)
    summary["ddp_nccl"] = {"ranks": devices, "wall_s": time.perf_counter() - started, "steps": len(outcome.steps),
                           "loss_first_last": [outcome.steps[0].loss, outcome.steps[-1].loss], "val_top1": outcome.curve[-1].val_top1}


def profiling(summary: dict, reference: list[dict]) -> None:
    from scipy.stats import kendalltau

    from accelbench.profiling.backends.torch_cuda import TorchCudaBackend
    from accelbench.profiling.target import Target
    from accelbench.search_space import Architecture

    backend = TorchCudaBackend()
    throughput = Target("h200", "torch", batch=512, resolution=256, device="cuda", precision="fp16", options={"images_per_pass": 10240})
    latency = Target("h200_b1", "torch", batch=1, resolution=256, device="cuda", precision="fp16", options={"repeats": 30})
    rows = []
    for entry in reference:
        architecture = Architecture.from_compact(entry["compact"])
        started = time.perf_counter()
        big, one = backend.measure(architecture, None, throughput), backend.measure(architecture, None, latency)
        rows.append({**entry, "throughput_ips": big.throughput_ips, "throughput_std_ips": big.throughput_std_ips, "pass_ips": big.environment.get("pass_throughputs_ips"),
                     "latency_ms_b1": one.latency.median_ms if one.latency else None, "status": [big.status, one.status], "error": big.error or one.error,
                     "seconds": time.perf_counter() - started})
        print(f"  {entry['compact']}: {rows[-1]['throughput_ips']} img/s, b1 {rows[-1]['latency_ms_b1']} ms {rows[-1]['error'] or ''}", flush=True)
    ok = [r for r in rows if r["throughput_ips"]]
    ours = [r["throughput_ips"] for r in ok]
    summary["profiling"] = {
        "architectures": len(rows), "ok": len(ok), "target": throughput.to_dict(), "rows": rows,
        "kendall_tau_vs_reference_a100": float(kendalltau(ours, [r["throughput_a100"] for r in ok]).statistic),
        "kendall_tau_vs_reference_3090": float(kendalltau(ours, [r["throughput_3090"] for r in ok]).statistic),
        "kendall_tau_reference_a100_vs_3090": float(kendalltau([r["throughput_a100"] for r in ok], [r["throughput_3090"] for r in ok]).statistic),
        "kendall_tau_b512_throughput_vs_b1_latency": float(kendalltau(ours, [-r["latency_ms_b1"] for r in ok]).statistic),
        "pass_to_pass_cv_median": statistics.median(r["throughput_std_ips"] / r["throughput_ips"] for r in ok),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-reference")
    parser.add_argument("--reference")
    parser.add_argument("--out", default=".")
    arguments = parser.parse_args()
    if arguments.write_reference:
        write_reference(Path(arguments.write_reference))
        return
    import torch

    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    summary: dict = {"gpu": smi.stdout.strip(), "torch": torch.__version__, "cuda": torch.version.cuda, "devices": torch.cuda.device_count()}
    root = Path("/tmp/synthetic-imagenet")
    steps = [("data", lambda: synthetic_imagenet(root)), ("trainability", lambda: trainability(summary))]  # JPEGs first: forked before CUDA starts
    steps += [("training", lambda: training(summary, root)), ("ddp", lambda: data_parallel(summary, root))]
    steps.append(("profiling", lambda: profiling(summary, json.loads(Path(arguments.reference).read_text()))))
    for name, step in steps:
        started = time.perf_counter()
        try:
            step()
        except Exception as error:  # noqa: BLE001 - one failing check must not hide the others' numbers
            summary[f"{name}_error"] = f"{type(error).__name__}: {error}"
        summary.setdefault("seconds", {})[name] = time.perf_counter() - started
        print(f"== {name}: {summary['seconds'][name]:.1f} s", flush=True)
        (out / "gpu_check.json").write_text(json.dumps(summary, indent=1, default=str))
    try:
        import onnxruntime

        summary["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    except ImportError as error:
        summary["onnxruntime"] = str(error)
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "profiling"}, indent=1, default=str))
    print(json.dumps({k: v for k, v in summary.get("profiling", {}).items() if k != "rows"}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
