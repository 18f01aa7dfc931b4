"""Train one architecture under a recipe: trainability check, proxified training, random-weight evaluation.

`train` never raises for a failure of the architecture: out of memory gives `untrainable` (with the
figure), a non-finite loss gives `diverged`, anything else `failed` with the error; the worker lives on.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import psutil
import torch
from torch import nn

from search_space import Architecture
from search_space.builder import build
from training.data import TrainingData, normalise
from training.recipe import Recipe

STATUSES = ("ok", "untrainable", "diverged", "failed")
RANDOM_WEIGHT_MAX_IMAGES = 51_200  # features of at most this many images per split (ImageNet: ~50 a class)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    resolution: int
    lr: float  # at the epoch's last iteration
    train_loss: float
    train_top1: float
    val_top1: float | None  # None in epochs without validation
    val_top5: float | None


@dataclass(frozen=True)
class TrainResult:
    arch_id: str
    recipe_id: str
    recipe_name: str
    seed: int
    status: str
    val_top1: float | None
    val_top5: float | None
    top1_convention: str
    curve: tuple[EpochRecord, ...]
    random_weight_top1: float | None
    train_time_s: float
    device_name: str
    device_count: int
    peak_memory_bytes: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Untrainable(Exception):
    def __init__(self, needed_bytes: int | None, budget_bytes: int, detail: str) -> None:
        super().__init__(detail)
        self.needed_bytes = needed_bytes
        self.budget_bytes = budget_bytes


class Diverged(Exception):
    pass


def device_description(device: torch.device) -> tuple[str, int]:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device), torch.cuda.device_count()
    return platform.processor() or platform.machine(), 1


def default_memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return psutil.virtual_memory().available


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only, never on batch-norm parameters or biases."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    k = min(k, logits.shape[1])
    return int((logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1).sum())


class Session:
    """One model on one device with its recipe: the pieces shared by the check, training and evaluation."""

    def __init__(self, model: nn.Module, recipe: Recipe, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.memory_format = torch.channels_last if (self.cuda and recipe.channels_last) else torch.contiguous_format
        self.amp = self.cuda and recipe.mixed_precision
        model = model.to(device, memory_format=self.memory_format)
        if self.cuda and torch.cuda.device_count() > 1:
            model = nn.DataParallel(model)
        self.model = model
        self.loss = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    def batch(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        images = normalise(images).contiguous(memory_format=self.memory_format)
        return images, labels.to(self.device, non_blocking=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            return self.model(images)


def check_trainable(session: Session, recipe: Recipe, num_classes: int, budget_bytes: int) -> int:
    """One forward/backward at the largest training resolution and batch; returns the bytes it needed.

    CUDA: the allocator's peak, reset first. CPU: parameters, gradients and momentum buffers plus
    every tensor autograd saved for the backward pass (CPU has no resettable peak counter).
    """
    resolution = recipe.max_resolution
    images = torch.zeros(recipe.batch_size, 3, resolution, resolution, dtype=torch.uint8)
    labels = torch.zeros(recipe.batch_size, dtype=torch.long)
    state = copy.deepcopy(session.model.state_dict())  # the check must not move batch-norm statistics
    try:
        if session.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(session.device)
            before = torch.cuda.memory_allocated(session.device)
        saved = 0

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal saved
            saved += tensor.numel() * tensor.element_size()
            return tensor

        session.model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            inputs, targets = session.batch(images, labels)
            loss = session.loss(session.forward(inputs).float(), targets)
        loss.backward()
        if session.cuda:
            needed = torch.cuda.max_memory_allocated(session.device) - before
        else:
            parameter_bytes = sum(p.numel() * p.element_size() for p in session.model.parameters())
            needed = saved + 3 * parameter_bytes
    except Exception as error:
        if is_out_of_memory(error):
            raise Untrainable(None, budget_bytes, f"out of memory in the trainability check at batch {recipe.batch_size}, {resolution} px") from None
        raise
    finally:
        session.model.zero_grad(set_to_none=True)
        session.model.load_state_dict(state)
        if session.cuda:
            torch.cuda.empty_cache()
    if needed > budget_bytes:
        raise Untrainable(needed, budget_bytes, f"a step at batch {recipe.batch_size}, {resolution} px needs {needed / 2**20:.1f} MiB; the budget is {budget_bytes / 2**20:.1f} MiB")
    return needed


def evaluate(session: Session, data: TrainingData, recipe: Recipe, seed: int) -> tuple[float, float]:
    split = data.split("val", recipe.batch_size, recipe.crop_scale_min, recipe.val_crop_ratio)
    session.model.eval()
    top1 = top5 = total = 0
    with torch.no_grad():
        for images, labels in split.epoch(0, recipe.val_resolution, seed):
            images, labels = session.batch(images, labels)
            logits = session.forward(images)
            top1 += accuracy(logits, labels, 1)
            top5 += accuracy(logits, labels, 5)
            total += len(labels)
    return 100.0 * top1 / total, 100.0 * top5 / total


def run_epochs(session: Session, data: TrainingData, recipe: Recipe, seed: int, on_epoch: Callable[[EpochRecord], None] | None) -> list[EpochRecord]:
    model = session.model
    optimizer = torch.optim.SGD(weight_decay_groups(model, recipe.weight_decay), lr=recipe.lr, momentum=recipe.momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=session.amp)
    split = data.split("train", recipe.batch_size, recipe.crop_scale_min, recipe.val_crop_ratio)
    iterations = len(split.sampler)
    curve = []
    for epoch in range(recipe.epochs):
        resolution = recipe.resolution_at(epoch)
        model.train()
        loss_sum = correct = seen = 0.0
        lr = recipe.lr_at(epoch, 0, iterations)
        for iteration, (images, labels) in enumerate(split.epoch(epoch, resolution, seed)):
            lr = recipe.lr_at(epoch, iteration, iterations)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, labels = session.batch(images, labels)
            logits = session.forward(images)
            loss = session.loss(logits.float(), labels)
            if not torch.isfinite(loss):
                raise Diverged(f"loss is {loss.item()} at epoch {epoch}, iteration {iteration} (lr {lr:.4g})")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.item() * len(labels)
            correct += accuracy(logits.detach(), labels, 1)
            seen += len(labels)
        val_top1 = val_top5 = None
        if recipe.validates(epoch):
            val_top1, val_top5 = evaluate(session, data, recipe, seed)
        record = EpochRecord(epoch, resolution, lr, loss_sum / seen, 100.0 * correct / seen, val_top1, val_top5)
        curve.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return curve


def reported_accuracy(curve: list[EpochRecord], convention: str) -> tuple[float, float]:
    validated = [record for record in curve if record.val_top1 is not None]
    chosen = max(validated, key=lambda r: r.val_top1) if convention == "best_of_validated" else validated[-1]
    return chosen.val_top1, chosen.val_top5


def random_weight_top1(architecture: Architecture, recipe: Recipe, data: TrainingData, device: torch.device, seed: int) -> float:
    """Accuracy of a linear classifier trained on the frozen, randomly initialised backbone.

    Batch-norm statistics are first recalibrated on one pass of training images (without it a random
    backbone's features collapse), then features of train and val images (both at the smallest training
    resolution) are computed once and the classifier is trained on them for
    `recipe.random_weight_epochs` epochs.
    """
    torch.manual_seed(seed)
    model = build(architecture, data.num_classes, recipe.activation, dropout=0.0, stochastic_depth=0.0)
    session = Session(model, recipe, device)
    resolution = recipe.min_resolution
    train_split = data.split("train", recipe.batch_size, recipe.crop_scale_min, recipe.val_crop_ratio, augment=False)
    val_split = data.split("val", recipe.batch_size, recipe.crop_scale_min, recipe.val_crop_ratio)
    network = session.model.module if isinstance(session.model, nn.DataParallel) else session.model

    def features(loader, train_mode: bool) -> tuple[torch.Tensor, torch.Tensor]:
        network.train(train_mode)
        rows, targets = [], []
        with torch.no_grad():
            for batch, (images, labels) in enumerate(loader):
                if batch * recipe.batch_size >= RANDOM_WEIGHT_MAX_IMAGES:
                    break
                images, labels = session.batch(images, labels)
                with torch.autocast(device.type, dtype=torch.float16, enabled=session.amp):
                    rows.append(network.forward_features(images).float())
                targets.append(labels)
        return torch.cat(rows), torch.cat(targets)

    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the recalibration pass
    features(train_split.epoch(0, resolution, seed), train_mode=True)
    train_x, train_y = features(train_split.epoch(0, resolution, seed), train_mode=False)
    val_x, val_y = features(val_split.epoch(0, resolution, seed), train_mode=False)
    # per-feature standardisation, but dead (near-constant) features must not be blown up
    mean, std = train_x.mean(0), train_x.std(0)
    std = std.clamp_min(0.1 * float(std.mean()) + 1e-12)
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std

    classifier = nn.Linear(train_x.shape[1], data.num_classes).to(device)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(recipe.random_weight_epochs):
        for batch in torch.randperm(len(train_x), generator=generator).split(256):
            batch = batch.to(device)
            loss = nn.functional.cross_entropy(classifier(train_x[batch]), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return 100.0 * accuracy(classifier(val_x), val_y, 1) / len(val_y)


def train(
    architecture: Architecture,
    recipe: Recipe,
    data: TrainingData,
    device: str | torch.device = "cpu",
    seed: int = 0,
    memory_budget_bytes: int | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    device = torch.device(device)
    device_name, device_count = device_description(device)
    budget = memory_budget_bytes if memory_budget_bytes is not None else default_memory_budget(device)
    started = time.perf_counter()
    curve: list[EpochRecord] = []
    peak = None
    status, error = "ok", None
    top1 = top5 = random_top1 = None

    def collect(record: EpochRecord) -> None:
        curve.append(record)
        if on_epoch is not None:
            on_epoch(record)

    try:
        torch.manual_seed(seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = build(architecture, data.num_classes, recipe.activation, recipe.dropout, recipe.stochastic_depth)
        session = Session(model, recipe, device)
        peak = check_trainable(session, recipe, data.num_classes, budget)
        if recipe.random_weight_epochs:
            random_top1 = random_weight_top1(architecture, recipe, data, device, seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        run_epochs(session, data, recipe, seed, collect)
        top1, top5 = reported_accuracy(curve, recipe.top1_convention)
        if device.type == "cuda":
            peak = max(peak, torch.cuda.max_memory_allocated(device))
    except Untrainable as failure:
        status, error = "untrainable", str(failure)
        peak = failure.needed_bytes
    except Diverged as failure:
        status, error = "diverged", str(failure)
    except Exception as failure:  # noqa: BLE001 - any failure of one architecture is a record, not a crash
        if is_out_of_memory(failure):
            status, error = "untrainable", f"out of memory during training: {failure}"
        else:
            status, error = "failed", "".join(traceback.format_exception_only(failure)).strip()
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return TrainResult(
        arch_id=architecture.arch_id,
        recipe_id=recipe.recipe_id,
        recipe_name=recipe.name,
        seed=seed,
        status=status,
        val_top1=top1,
        val_top5=top5,
        top1_convention=recipe.top1_convention,
        curve=tuple(curve),
        random_weight_top1=random_top1,
        train_time_s=time.perf_counter() - started,
        device_name=device_name,
        device_count=device_count,
        peak_memory_bytes=peak,
        error=error,
    )
