"""Data-parallel training across one worker's devices, as the reference's `torchrun --nproc_per_node=4`:
one process per device (spawned for each architecture), joined by torch.distributed (NCCL on CUDA,
gloo on CPU) and DistributedDataParallel, `batch_per_device` images each, so one step sees the recipe's
global batch. No SyncBatchNorm, as the reference (batch-norm statistics are per device).

Why torch.distributed inside the worker rather than Ray Train: the reference's unit of work is one
architecture on one multi-GPU host, which is exactly one Ray actor holding that host's GPUs here; a
process group per architecture costs seconds against hours of training; and a failure of any rank
(out of memory, divergence, a bad image) stops every rank at once and comes back as that
architecture's record, where the reference's ranks could hang.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch

from accelbench.search_space import Architecture
from accelbench.training.data import TrainingData
from accelbench.training.recipe import Recipe
from accelbench.training.loop import Collective, Diverged, EpochRecord, StepRecord, train_here


@dataclass(frozen=True)
class Outcome:
    curve: tuple[EpochRecord, ...]
    steps: tuple[StepRecord, ...]
    peak_memory_bytes: int | None


class RankFailure(RuntimeError):
    """A rank's error, as text (its message says "out of memory" when that was the cause)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_data_parallel(architecture: Architecture, recipe: Recipe, data: TrainingData, device_type: str, seed: int, weights_to: Path | None, trace_steps: bool) -> Outcome:
    context = torch.multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    shared = (architecture.to_json(), recipe, str(data.root), data.workers, data.pin_memory, device_type, seed,
              str(weights_to) if weights_to else None, trace_steps, _free_port(), results)
    # not daemonic: each rank has DataLoader worker processes of its own
    processes = [context.Process(target=_rank_main, args=(rank, recipe.devices, *shared)) for rank in range(recipe.devices)]
    for process in processes:
        process.start()
    try:
        return _wait(processes, results)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join()


def _wait(processes, results) -> Outcome:
    outcome = None
    checksums: dict[int, float] = {}
    while True:
        while not results.empty():
            kind, rank, payload = results.get()
            if kind == "diverged":
                raise Diverged(payload)
            if kind == "failed":
                raise RankFailure(f"rank {rank}: {payload}")
            if kind == "checksum":
                checksums[rank] = payload
            else:
                outcome = payload
        codes = [process.exitcode for process in processes]
        failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
        if failed and results.empty():
            rank, code = failed[0]
            raise RankFailure(f"rank {rank} died with exit code {code}")
        if all(code == 0 for code in codes) and results.empty():
            if outcome is None or len(checksums) != len(processes):
                raise RankFailure("the ranks ended without a result")
            if len(set(checksums.values())) > 1:  # DistributedDataParallel keeps them bitwise equal: anything else is a bug
                raise RankFailure(f"the ranks ended with different weights (parameter sums {checksums})")
            return outcome
        time.sleep(0.1)


def _rank_main(rank: int, ranks: int, architecture_json: str, recipe: Recipe, root: str, workers: int, pin_memory: bool, device_type: str,
               seed: int, weights_to: str | None, trace_steps: bool, port: int, results) -> None:
    import torch.distributed as dist

    try:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        if device_type == "cuda":
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True
        else:
            device = torch.device("cpu")
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks))
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=ranks, timeout=timedelta(minutes=30))
        data = TrainingData(root, workers, pin_memory, rank, ranks)
        curve, steps, peak, checksum = train_here(Architecture.from_json(architecture_json), recipe, data, device, seed, None,
                                                  Path(weights_to) if weights_to else None, trace_steps, Collective(rank, ranks))
        results.put(("checksum", rank, checksum))
        if rank == 0:
            results.put(("ok", rank, Outcome(tuple(curve), tuple(steps), peak)))
        dist.destroy_process_group()
    except Diverged as error:
        results.put(("diverged", rank, str(error)))
        os._exit(1)  # the other ranks are stopped by the parent; nothing here waits on them
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which stops every rank
        results.put(("failed", rank, "".join(traceback.format_exception_only(error)).strip()))
        os._exit(1)
