"""NAS optimizers that search a benchmark (a release's surrogates, or a store's measured architectures).

One module per algorithm, each a `run(problem, rng)` that queries `problem` until its budget is spent.
This package reads benchmarks through the query API; nothing below it imports it."""

from __future__ import annotations

from types import ModuleType

from accelbench.optimizers import annealing, evolution, nsga2, random_search, reinforce
from accelbench.optimizers.problem import SearchError

ALGORITHMS: dict[str, ModuleType] = {module.NAME: module for module in (random_search, evolution, reinforce, annealing, nsga2)}


def get_algorithm(name: str) -> ModuleType:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise SearchError(f"--algorithm {name!r} is unknown; choices are {', '.join(ALGORITHMS)}") from None
