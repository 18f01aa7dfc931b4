"""Architectures as genotypes for the optimizers: one integer per choice (the index of its value among
the space's choices, in `search_space` reference-key order), so that sampling, mutation and policies
work on plain integer arrays and never produce an invalid architecture."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from accelbench.search_space import ANB, Architecture


@lru_cache(maxsize=1)
def _choices() -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in ANB.choices_of(key)) for key in ANB.keys)


def cardinalities() -> np.ndarray:
    return np.array([len(values) for values in _choices()])


def random_genotypes(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.random((n, len(_choices()))) * cardinalities()).astype(np.int64)


def mutate(rng: np.random.Generator, genotype: np.ndarray, changes: int = 1) -> np.ndarray:
    """A copy with `changes` choices set to another of their values."""
    child = genotype.copy()
    sizes = cardinalities()
    for position in rng.choice(len(sizes), size=changes, replace=False):
        child[position] = (child[position] + 1 + rng.integers(sizes[position] - 1)) % sizes[position]
    return child


def to_values(genotypes: np.ndarray) -> np.ndarray:
    """(n, 28) choice values (squeeze-excite as 0/1), what `surrogate.features.features_of_choices` takes."""
    columns = [np.asarray(values)[genotypes[:, j]] for j, values in enumerate(_choices())]
    return np.column_stack(columns).astype(np.int64)


def to_architecture(genotype: np.ndarray) -> Architecture:
    values = to_values(genotype[None, :])[0]
    keys = {key: (bool(value) if key.endswith("_se") else int(value)) for key, value in zip(ANB.keys, values)}
    return Architecture.from_reference(keys)


def from_architectures(architectures: list[Architecture]) -> np.ndarray:
    rows = []
    for architecture in architectures:
        reference = architecture.to_reference()
        rows.append([values.index(int(reference[key])) for key, values in zip(ANB.keys, _choices())])
    return np.array(rows, dtype=np.int64).reshape(-1, len(_choices()))
