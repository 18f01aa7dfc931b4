"""The blocks stage: every distinct block of the space timed alone on each target that asks for it
(`blocks = true`): a per-block latency table, once per target, after every architecture's work."""

from __future__ import annotations

from typing import Any

from accelbench.pipeline.records import BLOCKS, block_row, now, task_key
from accelbench.pipeline.stages.base import RunContext, StageRun, Task, ray_resources
from accelbench.pipeline.stages.profile import target_reasons
from accelbench.pipeline.sweep import Sweep
from accelbench.pipeline.workers import onnx_cache, ray_node
from accelbench.profiling.protocol import Measurement
from accelbench.search_space import Architecture
from accelbench.search_space.blocks import Block, all_blocks


class BlocksStage:
    table = "blocks"
    schema = BLOCKS

    def tasks(self, sweep: Sweep, architectures: list[Architecture], data_id: str | None) -> list[tuple[int, Task]]:
        """Keyed by block and target; placed after every architecture."""
        specs = [spec for spec in sweep.profiling.targets if spec.blocks] if sweep.profiling else []
        return [(len(architectures), Task(task_key(block.block_id, "blocks", spec.target.target_id), self.table, None, f"{self.table}:{spec.name}", block.key, detail=(spec, block)))
                for spec in specs for block in all_blocks(sweep.architectures.space)]

    def start(self, context: RunContext, tasks: list[Task]) -> StageRun:
        return BlocksRun(context, tasks)


class BlocksRun(StageRun):
    def __init__(self, context: RunContext, tasks: list[Task]) -> None:
        super().__init__(context, tasks)
        import ray

        self.remote = ray.remote(profile_block)
        self.reasons = target_reasons(context)

    def unavailable(self, task: Task) -> str | None:
        spec, _ = task.detail
        return self.reasons.get(spec.name)

    def submit(self, task: Task, attempt: int) -> Any:
        spec, block = task.detail
        options = ray_resources(spec.resources, spec.target.threads)
        if options["num_gpus"]:
            options["max_calls"] = 1  # GPU memory leaks across tasks in one worker (ray#29606)
        remote = self.remote.options(max_retries=0, name=f"blocks:{spec.name}", **options)
        return remote.remote(block.key, block.space, spec.target.to_dict(), self.context.sweep.profiling.cache, self.context.version, attempt)

    def row(self, task: Task, status: str, error: str, attempts: int) -> dict[str, Any]:
        spec, block = task.detail
        measurement = Measurement(block.block_id, spec.target, status, error=error)
        return block_row(measurement.to_row(), block, now(), self.context.version, attempts)


def profile_block(block_key: str, space: str, target: dict[str, Any], cache: str | None, code_version: str, attempts: int) -> dict[str, Any]:
    """On a worker: one block on one target."""
    from accelbench.profiling.runner import profile_block as measure
    from accelbench.profiling.target import Target

    started = now()
    block = Block.from_key(block_key, space)
    row = measure(block, Target(**target), onnx_cache(cache)).to_row()
    row["environment"] = {**row["environment"], "ray_node_id": ray_node()}
    return block_row(row, block, started, code_version, attempts)
