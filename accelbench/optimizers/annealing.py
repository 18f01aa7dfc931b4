"""Simulated annealing as FOX-NAS ran it: a walk of one- or two-choice moves guided by a fast predictor,
accepting a worse neighbour with probability exp(delta / T), T cooling geometrically over the budget;
a neighbour that breaks a constraint is never accepted. The start is the best of a few random feasible
draws."""

from __future__ import annotations

import numpy as np

from accelbench.optimizers.encoding import mutate
from accelbench.optimizers.problem import Problem, fitness

NAME = "annealing"
MULTI_OBJECTIVE = False
START_DRAWS = 20
FINAL_TEMPERATURE_RATIO = 1e-3


def run(problem: Problem, rng: np.random.Generator) -> None:
    genotypes = problem.sample(rng, min(START_DRAWS, problem.remaining))
    scores, feasible = problem.evaluate(genotypes)
    values = fitness(scores, feasible)
    current, current_value = genotypes[int(np.argmax(values))], float(values.max())
    temperature = max(float(np.std(scores[:, 0])), 1e-9)  # to start, the spread of objectives between random architectures
    cooling = FINAL_TEMPERATURE_RATIO ** (1 / max(problem.remaining, 1))
    while problem.remaining > 0:
        neighbour = problem.project(mutate(rng, current, changes=1 + int(rng.random() < 0.3), space=problem.space)[None, :])
        scores, feasible = problem.evaluate(neighbour)
        value = float(fitness(scores, feasible)[0])
        if np.isfinite(value) and (not np.isfinite(current_value) or value >= current_value or rng.random() < np.exp((value - current_value) / temperature)):
            current, current_value = neighbour[0], value
        temperature *= cooling
