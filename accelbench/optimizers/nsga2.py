"""NSGA-II (Deb et al., 2002) from pymoo, driven ask-and-tell so that the budget is exact: integer
choices with simulated binary crossover and polynomial mutation, rounded; constraints by pymoo's
feasibility-first ranking. With one objective it is a plain genetic algorithm."""

from __future__ import annotations

import numpy as np

from accelbench.optimizers.encoding import cardinalities
from accelbench.optimizers.problem import Problem

NAME = "nsga2"
MULTI_OBJECTIVE = True
POPULATION = 50


def run(problem: Problem, rng: np.random.Generator) -> None:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    sizes = cardinalities(problem.space)
    space = PymooProblem(n_var=len(sizes), n_obj=len(problem.objectives), n_ieq_constr=1 if problem.constraints else 0, xl=0, xu=sizes - 1, vtype=int)
    algorithm = NSGA2(pop_size=POPULATION, sampling=IntegerRandomSampling(), eliminate_duplicates=True,
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()))
    algorithm.setup(space, seed=int(rng.integers(2**31)), verbose=False)
    while problem.remaining > 0:
        population = algorithm.ask()
        genotypes = problem.project(np.clip(np.rint(population.get("X")), 0, sizes - 1).astype(np.int64))
        population.set("X", genotypes)
        count = min(len(genotypes), problem.remaining)
        scores, _ = problem.evaluate(genotypes[:count])
        objectives = np.full((len(genotypes), len(problem.objectives)), np.inf)
        objectives[:count] = -scores  # pymoo minimises
        population.set("F", objectives)
        if problem.constraints:
            violation = np.full((len(genotypes), 1), np.inf)
            violation[:count, 0] = problem.last_violation
            population.set("G", violation)
        algorithm.tell(infills=population)
