"""Regularized evolution (Real et al., 2019), as the reference ran it: a population aged out
oldest-first; each step mutates one choice of the best of a random tournament."""

from __future__ import annotations

from collections import deque

import numpy as np

from accelbench.optimizers.encoding import mutate
from accelbench.optimizers.problem import Problem, fitness

NAME = "evolution"
MULTI_OBJECTIVE = False
POPULATION, TOURNAMENT = 50, 10


def run(problem: Problem, rng: np.random.Generator) -> None:
    population: deque[tuple[np.ndarray, float]] = deque()
    genotypes = problem.sample(rng, min(POPULATION, problem.remaining))
    scores, feasible = problem.evaluate(genotypes)
    population.extend(zip(genotypes, fitness(scores, feasible)))
    while problem.remaining > 0:
        contenders = rng.choice(len(population), size=min(TOURNAMENT, len(population)), replace=False)
        parent = max(contenders, key=lambda i: population[i][1])
        child = problem.project(mutate(rng, population[parent][0], space=problem.space)[None, :])
        scores, feasible = problem.evaluate(child)
        population.append((child[0], float(fitness(scores, feasible)[0])))
        population.popleft()
