"""One process's training: the trainability check, sessions, epochs, evaluation, random-weight accuracy;
`train_here` runs the epochs on this process's device (`trainer.train` decides where)."""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psutil
import torch
from torch import nn

from accelbench.search_space import Architecture
from accelbench.search_space.builder import build
from accelbench.training.data import TrainingData, normalise
from accelbench.training.recipe import Recipe

STATUSES = ("ok", "untrainable", "diverged", "failed")
RANDOM_WEIGHT_MAX_IMAGES = 51_200  # features of at most this many images per split (ImageNet: ~50 a class)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    resolution: int
    lr: float  # at the epoch's last iteration
    train_loss: float  # mean over every image of the epoch, all devices
    train_top1: float
    val_top1: float | None  # None in epochs without validation
    val_top5: float | None


@dataclass(frozen=True)
class StepRecord:
    """One optimiser step (kept only when asked for: `trace_steps`)."""

    epoch: int
    iteration: int
    lr: float
    loss: float  # mean over the global batch


@dataclass(frozen=True)
class TrainResult:
    arch_id: str
    recipe_id: str
    recipe_name: str
    seed: int
    status: str
    val_top1: float | None  # best top-1 over the validated epochs (convention "best_of_validated")
    val_top5: float | None  # best top-5 over the same epochs, taken on its own (as the reference)
    top1_convention: str
    curve: tuple[EpochRecord, ...]
    random_weight_top1: float | None
    train_time_s: float | None  # wall time of the training epochs (validation included), not of the checks
    check_time_s: float | None  # the trainability check
    random_weight_time_s: float | None
    device_name: str
    device_count: int
    train_images: int | None  # training images per epoch after the recipe's data subset
    num_classes: int | None
    check_memory_bytes: int | None  # the trainability check's figure
    peak_memory_bytes: int | None  # the training's peak on the first device (CUDA)
    trainability_rule: str
    error: str | None
    steps: tuple[StepRecord, ...] = ()  # with trace_steps only; never recorded in the store

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        del values["steps"]
        return values


class Untrainable(Exception):
    def __init__(self, needed_bytes: int | None, detail: str) -> None:
        super().__init__(detail)
        self.needed_bytes = needed_bytes


class Diverged(Exception):
    pass


def device_description(device: torch.device, count: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def memory_limit(recipe: Recipe, device: torch.device) -> float:
    if recipe.untrainable_above_bytes is not None:
        return recipe.untrainable_above_bytes
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
        self.model = model.to(device, memory_format=self.memory_format)
        self.loss = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    @property
    def network(self) -> nn.Module:
        """The model itself, also when wrapped for data parallelism."""
        return getattr(self.model, "module", self.model)

    def batch(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        images = normalise(images).contiguous(memory_format=self.memory_format)
        return images, labels.to(self.device, non_blocking=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            return self.model(images)


def check_trainable(architecture: Architecture, recipe: Recipe, num_classes: int, device: torch.device) -> int:
    """The recipe's memory rule, measured as the reference did (train_nmodels_proxified.py, profile_memory):
    a fresh model, one forward (under AMP where the recipe uses it) and backward at `trainability_batch`
    images and `trainability_resolution` px; the bytes needed from before the model existed, weights
    included. Unlike the reference, the CUDA peak counter is reset first (it never was there, so after the
    first model its figure measured nothing). Returns the bytes; raises Untrainable over the limit.

    CPU (no peak counter): weights, gradients, input and every tensor autograd saved for the backward pass.
    """
    resolution, batch = recipe.trainability_resolution, recipe.trainability_batch
    limit = memory_limit(recipe, device)
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
        session = Session(build(architecture, num_classes=num_classes, activation=recipe.activation), recipe, device)
        session.model.train()
        images = torch.randn(batch, 3, resolution, resolution, device=device).contiguous(memory_format=session.memory_format)
        labels = torch.zeros(batch, dtype=torch.long, device=device)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = session.loss(session.forward(images).float(), labels)
        loss.backward()
        if device.type == "cuda":
            needed = torch.cuda.max_memory_allocated(device) - before
        else:
            parameter_bytes = sum(p.numel() * p.element_size() for p in session.model.parameters())
            needed = saved + 2 * parameter_bytes + images.numel() * images.element_size()
        del session, images, labels, loss
    except Exception as error:
        if is_out_of_memory(error):
            raise Untrainable(None, f"out of memory in the trainability check ({recipe.trainability_rule()})") from None
        raise
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if needed > limit:
        raise Untrainable(needed, f"needs {needed / 1e9:.3f}e9 bytes by the rule: {recipe.trainability_rule()}")
    return needed


def evaluate(session: Session, data: TrainingData, recipe: Recipe, seed: int) -> tuple[float, float]:
    split = data.split("val", recipe, device=session.device)
    model = session.network
    model.eval()
    top1 = top5 = total = 0
    with torch.no_grad():
        for images, labels in split.epoch(0, recipe.val_resolution, seed):
            images, labels = session.batch(images, labels)
            with torch.autocast(session.device.type, dtype=torch.float16, enabled=session.amp):
                logits = model(images)
            top1 += accuracy(logits, labels, 1)
            top5 += accuracy(logits, labels, 5)
            total += len(labels)
    return 100.0 * top1 / total, 100.0 * top5 / total


@dataclass
class Collective:
    """How this process sums numbers with the other data-parallel ranks (one process: nothing to do)."""

    rank: int = 0
    ranks: int = 1

    def sum(self, *values: float) -> list[float]:
        if self.ranks == 1:
            return list(values)
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self) -> None:
        if self.ranks > 1:
            import torch.distributed as dist

            dist.barrier()


def run_epochs(
    session: Session,
    data: TrainingData,
    recipe: Recipe,
    seed: int,
    on_epoch: Callable[[EpochRecord], None] | None,
    collective: Collective = Collective(),
    trace: list[StepRecord] | None = None,
) -> list[EpochRecord]:
    """The recipe's epochs; with several ranks, each runs this on its shard and rank 0 validates."""
    model = session.model
    optimizer = torch.optim.SGD(weight_decay_groups(model, recipe.weight_decay), lr=recipe.lr, momentum=recipe.momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=session.amp)
    split = data.split("train", recipe, device=session.device)
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
            if trace is not None:
                step_loss, step_images = collective.sum(loss.item() * len(labels), len(labels))
                trace.append(StepRecord(epoch, iteration, lr, step_loss / step_images))
        loss_sum, correct, seen = collective.sum(loss_sum, correct, seen)
        val_top1 = val_top5 = None
        if recipe.validates(epoch) and collective.rank == 0:
            val_top1, val_top5 = evaluate(session, data, recipe, seed)
        collective.barrier()
        record = EpochRecord(epoch, resolution, lr, loss_sum / seen, 100.0 * correct / seen, val_top1, val_top5)
        curve.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return curve


def reported_accuracy(curve: list[EpochRecord], convention: str) -> tuple[float, float]:
    """best_of_validated: the best top-1 and, on its own, the best top-5 of the validated epochs (the
    reference's `best_acc_top1`, `best_acc_top5`); last: both of the last epoch."""
    validated = [record for record in curve if record.val_top1 is not None]
    if convention == "best_of_validated":
        return max(r.val_top1 for r in validated), max(r.val_top5 for r in validated)
    return validated[-1].val_top1, validated[-1].val_top5


def random_weight_top1(architecture: Architecture, recipe: Recipe, data: TrainingData, device: torch.device, seed: int) -> float:
    """Accuracy of a linear classifier trained on the frozen, randomly initialised backbone.

    Batch-norm statistics are first recalibrated on one pass of training images (without it a random
    backbone's features collapse), then features of train and val images (both at the smallest training
    resolution) are computed once and the classifier is trained on them for
    `recipe.random_weight_epochs` epochs.
    """
    torch.manual_seed(seed)
    model = build(architecture, num_classes=data.num_classes(recipe.subset), activation=recipe.activation, dropout=0.0, stochastic_depth=0.0)
    session = Session(model, recipe, device)
    resolution = recipe.min_resolution
    train_split = data.split("train", recipe, augment=False, device=device)
    val_split = data.split("val", recipe, device=device)
    network = session.network

    def features(loader, train_mode: bool) -> tuple[torch.Tensor, torch.Tensor]:
        network.train(train_mode)
        rows, targets = [], []
        with torch.no_grad():
            for batch, (images, labels) in enumerate(loader):
                if batch * recipe.batch_per_device >= RANDOM_WEIGHT_MAX_IMAGES:
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

    classifier = nn.Linear(train_x.shape[1], data.num_classes(recipe.subset)).to(device)
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


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """The trained state dict as safetensors (never a pickle), written whole or not at all."""
    import os

    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in getattr(model, "module", model).state_dict().items()}
    temporary = path.with_name(f".{path.name}.partial")
    save_file(state, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def train_here(
    architecture: Architecture,
    recipe: Recipe,
    data: TrainingData,
    device: torch.device,
    seed: int,
    on_epoch: Callable[[EpochRecord], None] | None,
    weights_to: Path | None,
    trace_steps: bool,
    collective: Collective = Collective(),
) -> tuple[list[EpochRecord], list[StepRecord], int | None, float]:
    """The epochs in this process: on one device, or as one data-parallel rank (`collective`). Returns the
    curve, the traced steps, the device's peak memory and a checksum of the trained parameters (data-parallel
    ranks must end with identical ones)."""
    torch.manual_seed(seed)
    session = Session(build(architecture, num_classes=data.num_classes(recipe.subset), activation=recipe.activation, dropout=recipe.dropout, stochastic_depth=recipe.stochastic_depth, classifier_init=recipe.classifier_init), recipe, device)
    if collective.ranks > 1:
        session.model = nn.parallel.DistributedDataParallel(session.model, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trace: list[StepRecord] | None = [] if trace_steps else None
    curve = run_epochs(session, data, recipe, seed, on_epoch, collective, trace)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    if weights_to is not None and collective.rank == 0:
        save_weights(session.model, weights_to, {"arch": architecture.compact(), "recipe_id": recipe.recipe_id, "seed": str(seed)})
    checksum = float(sum(parameter.detach().double().sum() for parameter in session.network.parameters()))
    return curve, trace or [], peak, checksum
