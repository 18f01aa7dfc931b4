"""Random search: uniform architectures (measured ones, on a tabular benchmark), queried in batches."""

from __future__ import annotations

import numpy as np

from accelbench.optimizers.problem import Problem

NAME = "random"
MULTI_OBJECTIVE = True
BATCH = 1000


def run(problem: Problem, rng: np.random.Generator) -> None:
    while problem.remaining > 0:
        problem.evaluate(problem.sample(rng, min(BATCH, problem.remaining)))
