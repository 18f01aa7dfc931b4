"""Architectures as genotypes for the optimizers: one integer per key of the space (the index of its value
among the key's choices, in the space's key order), so that sampling, mutation and policies work on
plain integer arrays and never produce an invalid architecture.

A key that applies only under a condition (an ofa layer beyond its stage's depth) keeps a gene all the
same; it is read only while the condition holds. `canonical` sets such inactive genes to 0, so that one
architecture has one genotype (what the problem records and a tabular benchmark looks up)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from accelbench.search_space import Architecture, get_space


@lru_cache(maxsize=None)
def _choices(space: str) -> tuple[tuple[int, ...], ...]:
    search_space = get_space(space)
    return tuple(tuple(int(v) for v in search_space.choices_of(key)) for key in search_space.keys)


@lru_cache(maxsize=None)
def _conditions(space: str) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """(gene, parent gene, the parent's choice indices under which the gene applies) per conditional key."""
    search_space = get_space(space)
    position = {key: index for index, key in enumerate(search_space.keys)}
    return tuple((position[key], position[parent], tuple(_choices(space)[position[parent]].index(int(v)) for v in allowed))
                 for key, parent, allowed in search_space.conditions())


def cardinalities(space: str = "anb") -> np.ndarray:
    return np.array([len(values) for values in _choices(space)])


def random_genotypes(rng: np.random.Generator, n: int, space: str = "anb") -> np.ndarray:
    return canonical((rng.random((n, len(_choices(space)))) * cardinalities(space)).astype(np.int64), space)


def mutate(rng: np.random.Generator, genotype: np.ndarray, changes: int = 1, space: str = "anb") -> np.ndarray:
    """A copy with `changes` choices set to another of their values."""
    child = genotype.copy()
    sizes = cardinalities(space)
    for position in rng.choice(len(sizes), size=changes, replace=False):
        child[position] = (child[position] + 1 + rng.integers(sizes[position] - 1)) % sizes[position]
    return canonical(child[None, :], space)[0]


def active(genotypes: np.ndarray, space: str = "anb") -> np.ndarray:
    """(n, genes) booleans: whether each gene applies."""
    mask = np.ones(genotypes.shape, dtype=bool)
    for gene, parent, allowed in _conditions(space):
        mask[:, gene] = np.isin(genotypes[:, parent], allowed)
    return mask


def canonical(genotypes: np.ndarray, space: str = "anb") -> np.ndarray:
    """The genotypes with every gene that does not apply set to 0 (a copy where any changes)."""
    if not _conditions(space):
        return genotypes
    return np.where(active(genotypes, space), genotypes, 0)


def to_values(genotypes: np.ndarray, space: str = "anb") -> np.ndarray:
    """(n, keys) choice values (anb's squeeze-excite as 0/1; a key that does not apply as 0), what
    `surrogate.features.features_of_choices` takes."""
    columns = [np.asarray(values)[genotypes[:, j]] for j, values in enumerate(_choices(space))]
    values = np.column_stack(columns).astype(np.int64)
    return np.where(active(genotypes, space), values, 0) if _conditions(space) else values


def to_architecture(genotype: np.ndarray, space: str = "anb") -> Architecture:
    values = to_values(genotype[None, :], space)[0]
    search_space = get_space(space)
    mask = active(genotype[None, :], space)[0]
    keys = {key: (None if not on else bool(value) if key.endswith("_se") else int(value)) for key, value, on in zip(search_space.keys, values, mask)}
    return Architecture.from_reference({key: value for key, value in keys.items() if value is not None}, space)


def from_architectures(architectures: list[Architecture], space: str = "anb") -> np.ndarray:
    choices = _choices(space)
    rows = []
    for architecture in architectures:
        if architecture.space != space:
            raise ValueError(f"architecture {architecture.arch_id} is of the {architecture.space} space, not {space}")
        rows.append([0 if value is None else values.index(int(value)) for value, values in zip(architecture.choices, choices)])
    return np.array(rows, dtype=np.int64).reshape(-1, len(choices))
