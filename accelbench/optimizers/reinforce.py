"""REINFORCE (Williams, 1992) over the space's choices, as the reference ran it: an independent
categorical policy per choice, updated by the policy gradient with a moving-average baseline.
Rewards are ranks within the batch (scale-free, so one learning rate serves accuracy and throughput);
an infeasible architecture ranks last."""

from __future__ import annotations

import numpy as np

from accelbench.optimizers.encoding import cardinalities
from accelbench.optimizers.problem import Problem, fitness

NAME = "reinforce"
MULTI_OBJECTIVE = False
BATCH, LEARNING_RATE = 10, 0.5


def run(problem: Problem, rng: np.random.Generator) -> None:
    sizes = cardinalities(problem.space)
    logits = [np.zeros(size) for size in sizes]
    while problem.remaining > 0:
        n = min(BATCH, problem.remaining)
        probabilities = [np.exp(l - l.max()) / np.exp(l - l.max()).sum() for l in logits]
        genotypes = np.column_stack([rng.choice(len(p), size=n, p=p) for p in probabilities])
        genotypes = problem.project(genotypes)
        scores, feasible = problem.evaluate(genotypes)
        value = fitness(scores, feasible)
        ranks = np.argsort(np.argsort(np.where(np.isfinite(value), value, -np.inf))) / max(n - 1, 1)
        advantage = ranks - ranks.mean()
        for position, p in enumerate(probabilities):
            gradient = np.zeros_like(p)
            for choice, a in zip(genotypes[:, position], advantage):
                gradient += a * ((np.arange(len(p)) == choice) - p)
            logits[position] += LEARNING_RATE * gradient / n
