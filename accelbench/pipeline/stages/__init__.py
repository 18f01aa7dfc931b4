"""The registry of pipeline stages, in the order their work runs (`base.Stage`; one file each).

A new stage is one file with a `Stage` (its table, tasks and keys) and its `StageRun` (how a task
starts, its failure records), and one line here; its table's schema joins `pipeline.records.SCHEMAS`."""

from __future__ import annotations

from accelbench.pipeline.stages.base import RunContext, Stage, StageRun, Task
from accelbench.pipeline.stages.blocks import BlocksStage
from accelbench.pipeline.stages.profile import ProfileStage
from accelbench.pipeline.stages.train import TrainStage

STAGES: dict[str, Stage] = {stage.table: stage for stage in (TrainStage(), ProfileStage(), BlocksStage())}

__all__ = ["STAGES", "RunContext", "Stage", "StageRun", "Task"]
