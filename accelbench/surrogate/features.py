"""Features of an architecture, computed from its choices alone and vectorised over many at once.

The encoding (28 choices) plus derived numbers: depth, squeeze-excite layers, kernel area, and the
closed-form parameter count and MACs (224 px, reference convention) in total and per stage. Each
stage's contribution depends only on its own choices (the skeleton fixes its input width and
resolution), so a lookup table per stage gives params and MACs exactly, at numpy speed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from accelbench.search_space import ANB, Architecture, Stage, SpaceError, count_macs, count_params

FIELDS = ("e", "k", "l", "se")
STAGES = ANB.num_stages
CHOICE_COLUMNS = list(ANB.keys)


@lru_cache(maxsize=1)
def stage_tables() -> tuple[np.ndarray, np.ndarray, int, int]:
    """(params[stage, e, k, l, se], macs[...], base_params, base_macs) indexed by the choice values."""
    space = ANB
    base = [Stage(space.expansion_choices[0], space.kernel_choices[0], space.layer_choices[i][0], False) for i in range(STAGES)]
    base_architecture = Architecture(ANB.values_of(tuple(base)))
    base_params, base_macs = count_params(base_architecture), count_macs(base_architecture)
    params = np.zeros((STAGES, 7, 6, 5, 2), dtype=np.int64)
    macs = np.zeros_like(params)
    for stage in range(STAGES):
        for e in space.expansion_choices:
            for k in space.kernel_choices:
                for l in space.layer_choices[stage]:
                    for se in (False, True):
                        stages = list(base)
                        stages[stage] = Stage(e, k, l, se)
                        architecture = Architecture(ANB.values_of(tuple(stages)))
                        params[stage, e, k, l, int(se)] = count_params(architecture) - base_params
                        macs[stage, e, k, l, int(se)] = count_macs(architecture) - base_macs
    return params, macs, base_params, base_macs


def encode(architectures: pd.DataFrame | Iterable[Architecture] | Iterable[Mapping[str, Any]]) -> np.ndarray:
    """The (n, 28) integer matrix of choices, in CHOICE_COLUMNS order; every value checked."""
    if isinstance(architectures, pd.DataFrame):
        missing = [c for c in CHOICE_COLUMNS if c not in architectures.columns]
        if missing:
            raise SpaceError(f"missing columns: {', '.join(missing)}; architectures need block{{0..6}}_{{e,k,l,se}}")
        columns = {name: architectures[name].to_numpy() for name in CHOICE_COLUMNS}
    else:
        items = list(architectures)
        if items and all(isinstance(item, Architecture) for item in items):
            return _architecture_choices(items)
        rows = [item.to_reference() if isinstance(item, Architecture) else item for item in items]
        columns = {name: np.array([row.get(name) for row in rows], dtype=object) for name in CHOICE_COLUMNS}
    length = len(next(iter(columns.values())))
    result = np.empty((length, len(CHOICE_COLUMNS)), dtype=np.int64)
    for index, name in enumerate(CHOICE_COLUMNS):
        result[:, index] = _checked_column(name, columns[name])
    return result


def _architecture_choices(architectures: list[Architecture]) -> np.ndarray:
    """Architectures were checked when they were made: their choices go straight into the matrix, in
    CHOICE_COLUMNS order (stage by stage: e, k, l, se), without a dict per architecture: each carries
    its choices as bytes (`Architecture.choice_codes`), joined here into one buffer."""
    other = next((a for a in architectures if a.space != ANB.name), None)
    if other is not None:
        raise SpaceError(f"architecture {other.arch_id} is of the space {other.space!r}; these surrogates answer for {ANB.name!r}")
    values = np.frombuffer(b"".join([a.choice_codes for a in architectures]), dtype=np.uint8).astype(np.int64)
    return values.reshape(len(architectures), len(CHOICE_COLUMNS))


def _checked_column(name: str, values: np.ndarray) -> np.ndarray:
    field = name.split("_")[1]
    allowed = ANB.choices_of(name)
    if values.dtype == object:  # from Python values: a bool is not a number, a number is not a bool
        ok = np.array([isinstance(v, (bool, np.bool_)) if field == "se" else (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v in allowed) for v in values], dtype=bool)
    elif field == "se":
        ok = np.full(len(values), values.dtype == bool) | (np.isin(values, (0, 1)) if values.dtype.kind in "iu" else False)
    else:
        ok = np.isin(values, allowed) if values.dtype.kind in "iu" else np.zeros(len(values), dtype=bool)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        value = values[row].item() if isinstance(values[row], np.generic) else values[row]
        choices = "true, false" if field == "se" else ", ".join(map(str, allowed))
        raise SpaceError(f"architecture {row}: {name}={value!r} is not allowed; choices are {choices}")
    return values.astype(np.int64)


def feature_names() -> list[str]:
    return (
        CHOICE_COLUMNS
        + ["depth", "se_layers", "kernel_area", "params", "macs"]
        + [f"params_stage{i}" for i in range(STAGES)]
        + [f"macs_stage{i}" for i in range(STAGES)]
    )


def features(architectures) -> np.ndarray:
    """The (n, len(feature_names())) float matrix."""
    return features_of_choices(encode(architectures))


def features_of_choices(choices: np.ndarray) -> np.ndarray:
    """`features` of an (n, 28) matrix of choice values already checked (as `encode` gives them)."""
    e, k, l, se = (choices[:, i :: len(FIELDS)] for i in range(len(FIELDS)))
    params_table, macs_table, base_params, base_macs = stage_tables()
    stage = np.arange(STAGES)[None, :]
    stage_params = params_table[stage, e, k, l, se]
    stage_macs = macs_table[stage, e, k, l, se]
    derived = np.column_stack([
        l.sum(axis=1),
        (l * se).sum(axis=1),
        (l * k * k).sum(axis=1),
        base_params + stage_params.sum(axis=1),
        base_macs + stage_macs.sum(axis=1),
    ])
    return np.hstack([choices, derived, stage_params, stage_macs]).astype(np.float64)
