"""Architectures as integers in [0, space.size), and seeded uniform sampling without duplicates.

Sampling draws integers from SHA-256 of `"<space>:<seed>:<counter>"`, not from a library RNG, so a seed
gives the same architectures on every machine and with every version of Python or numpy.
"""

from __future__ import annotations

import hashlib
import random

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.complexity import count_macs
from accelbench.search_space.space import SpaceError
from accelbench.search_space.spaces import get_space


def to_index(architecture: Architecture) -> int:
    """The architecture's number in its space (for `anb`: mixed radix, stage 0 the most significant digit)."""
    return architecture.search_space.to_index(architecture.choices)


def from_index(index: int, space: str = "anb") -> Architecture:
    definition = get_space(space)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < definition.size:
        raise SpaceError(f"index={index!r} is out of range; allowed are 0 .. {definition.size - 1}")
    return Architecture(definition.from_index(index), space)


def sample(n: int, seed: int, space: str = "anb") -> list[Architecture]:
    """`n` distinct architectures drawn as the space draws them (`SearchSpace.draw`: uniformly for `anb`,
    each choice uniformly for `ofa`); the first k of sample(n) equal sample(k)."""
    definition = get_space(space)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= definition.size:
        raise SpaceError(f"n={n!r} is not allowed; choose 0 .. {definition.size}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SpaceError(f"seed={seed!r} must be an integer")
    chosen: list[Architecture] = []
    seen: set[tuple] = set()
    counter = 0
    while len(chosen) < n:
        digest = hashlib.sha256(f"{space}:{seed}:{counter}".encode("ascii")).digest()
        counter += 1
        values = definition.draw(int.from_bytes(digest, "big"))  # canonical: equal values, equal architectures
        if values not in seen:
            seen.add(values)
            chosen.append(Architecture(values, space))
    return chosen


SELECTIONS = ("uniform", "spread")
SPREAD_POOL = 50  # candidates per architecture wanted, for a spread sample


def spread_indices(values, k: int, seed: int) -> list[int]:
    """k positions into `values`: sorted by value, cut into k equal bins, one drawn (seeded) from each,
    so that k picks span the range instead of bunching in its middle."""
    if not 0 <= k <= len(values):
        raise SpaceError(f"cannot pick {k} of {len(values)}")
    order = sorted(range(len(values)), key=lambda position: (values[position], position))
    edges = [round(bin_number * len(order) / k) for bin_number in range(k + 1)] if k else [0]
    rng = random.Random(seed)
    return [order[rng.randrange(low, max(low + 1, high))] for low, high in zip(edges[:-1], edges[1:])]


def sample_spread(n: int, seed: int, space: str = "anb") -> list[Architecture]:
    """`n` distinct architectures spread over MACs: one per MAC quantile of a uniform sample of 50 n, so
    that a handful of measurements spans the cost range (a sweep's `select = "spread"`, in any space; for
    a new device's few shots in the `anb` space, `surrogate.cross_device.select_shots` also chooses
    within each quantile)."""
    pool = sample(min(SPREAD_POOL * n, get_space(space).size), seed, space)
    return [pool[position] for position in spread_indices([count_macs(a) for a in pool], n, seed)]
