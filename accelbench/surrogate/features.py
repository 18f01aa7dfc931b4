"""Features of an architecture, computed from its choices alone and vectorised over many at once; one
set per search space (`featurizer`), each the same shape: the choices (None as 0), derived numbers
(depth, kernel area, ...), and the closed-form parameter count and MACs in total and per stage.

anb: the 28 choices, depth, squeeze-excite layers, kernel area, params and MACs (224 px, reference
convention). Each stage's contribution depends only on its own choices (the skeleton fixes its input
width and resolution), so a lookup table per stage gives params and MACs exactly, at numpy speed.

ofa: the 46 choices, depth, kernel area, expansion sum, params and MACs (at the architecture's own
resolution). Every layer's widths are fixed by its stage and whether it is the stage's first, so its
params come from a table over (stage, first, kernel, expansion) and its MACs from one per resolution.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from accelbench.search_space import ANB, Architecture, Stage, SpaceError, count_macs, count_params, get_space
from accelbench.search_space.mbconv import same_size, stage_input_sizes
from accelbench.search_space.ofa import MobileNetV3Space
from accelbench.search_space.space import Block

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


def encode(architectures: pd.DataFrame | Iterable[Architecture] | Iterable[Mapping[str, Any]], space: str = "anb") -> np.ndarray:
    """The (n, keys) integer matrix of choices, in the space's key order (None as 0); every value checked."""
    if space != ANB.name:
        return featurizer(space).encode(architectures)
    if isinstance(architectures, pd.DataFrame):
        missing = [c for c in CHOICE_COLUMNS if c not in architectures.columns]
        if missing:
            raise SpaceError(f"missing columns: {', '.join(missing)}; architectures need block{{0..6}}_{{e,k,l,se}}")
        columns = {name: architectures[name].to_numpy() for name in CHOICE_COLUMNS}
    else:
        items = list(architectures)
        if items and all(isinstance(item, Architecture) for item in items):
            return architecture_choices(items, ANB.name)
        rows = [item.to_reference() if isinstance(item, Architecture) else item for item in items]
        columns = {name: np.array([row.get(name) for row in rows], dtype=object) for name in CHOICE_COLUMNS}
    length = len(next(iter(columns.values())))
    result = np.empty((length, len(CHOICE_COLUMNS)), dtype=np.int64)
    for index, name in enumerate(CHOICE_COLUMNS):
        result[:, index] = _checked_column(name, columns[name])
    return result


def choice_columns(space: str = "anb") -> list[str]:
    """The leading columns of the feature matrix: one per key of the space."""
    return list(get_space(space).keys)


def choice_levels(space: str, column: str) -> tuple[int, ...]:
    """A choice column's values as the matrix holds them, the first being the reference level: 0 (absent)
    first for a key that applies only under a condition; squeeze-excite off = 0, on = 1."""
    search_space = get_space(space)
    if column.endswith("_se") and search_space.name == ANB.name:
        return (0, 1)
    conditional = {key for key, _, _ in search_space.conditions()}
    return ((0,) if column in conditional else ()) + tuple(int(v) for v in search_space.choices_of(column))


def architecture_choices(architectures: list[Architecture], space: str) -> np.ndarray:
    """Architectures were checked when they were made: their choices go straight into the matrix, in
    the space's key order, without a dict per architecture: each carries its choices as bytes
    (`Architecture.choice_codes`, None as 0), joined here into one buffer."""
    other = next((a for a in architectures if a.space != space), None)
    if other is not None:
        raise SpaceError(f"architecture {other.arch_id} is of the space {other.space!r}; these surrogates answer for {space!r}")
    width = len(get_space(space).keys)
    values = np.frombuffer(b"".join([a.choice_codes for a in architectures]), dtype=np.uint8).astype(np.int64)
    return values.reshape(len(architectures), width)


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


def feature_names(space: str = "anb") -> list[str]:
    if space != ANB.name:
        return featurizer(space).names()
    return (
        CHOICE_COLUMNS
        + ["depth", "se_layers", "kernel_area", "params", "macs"]
        + [f"params_stage{i}" for i in range(STAGES)]
        + [f"macs_stage{i}" for i in range(STAGES)]
    )


def features(architectures, space: str = "anb") -> np.ndarray:
    """The (n, len(feature_names(space))) float matrix."""
    return features_of_choices(encode(architectures, space), space)


def features_of_choices(choices: np.ndarray, space: str = "anb") -> np.ndarray:
    """`features` of an (n, keys) matrix of choice values already checked (as `encode` gives them)."""
    if space != ANB.name:
        return featurizer(space).of_choices(choices)
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


class MobileNetV3Features:
    """The `ofa`-like spaces' features: layer tables over (stage, first, kernel, expansion), MACs per resolution."""

    def __init__(self, space: MobileNetV3Space) -> None:
        self.space = space
        self.keys = list(space.keys)
        self.per_stage = 1 + 2 * space.max_depth

    def names(self) -> list[str]:
        stages = range(self.space.num_stages)
        return (self.keys + ["depth", "kernel_area", "expansion_sum", "params", "macs"]
                + [f"params_stage{i}" for i in stages] + [f"macs_stage{i}" for i in stages])

    def encode(self, architectures) -> np.ndarray:
        if isinstance(architectures, pd.DataFrame):
            missing = [c for c in self.keys if c not in architectures.columns]
            if missing:
                raise SpaceError(f"missing columns: {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; {self.space.name} architectures need {self.space.key_pattern}")
            rows = architectures[self.keys].astype(object).where(architectures[self.keys].notna(), None).to_dict("records")
        else:
            rows = list(architectures)
        made = []
        for number, row in enumerate(rows):
            if isinstance(row, Architecture):
                made.append(row)
                continue
            try:
                made.append(Architecture.from_reference({key: _plain(value) for key, value in row.items()}, self.space.name))
            except SpaceError as error:
                raise SpaceError(f"architecture {number}: {error}") from None
        return architecture_choices(made, self.space.name) if made else np.zeros((0, len(self.keys)), dtype=np.int64)

    @cached_property
    def tables(self) -> dict[str, np.ndarray]:
        """params[stage, first, k, e] and macs[resolution, stage, first, k, e], indexed by the choice values
        (zero where a value is no choice, as a layer beyond its stage's depth encodes), and what lies outside
        the searchable layers: params, and MACs per resolution (the space's closed form less its layers)."""
        space = self.space
        size = max(max(space.kernel_choices), max(space.expansion_choices)) + 1
        top = max(space.resolution_choices) + 1
        params = np.zeros((space.num_stages, 2, size, size), dtype=np.int64)
        macs = np.zeros((top, space.num_stages, 2, size, size), dtype=np.int64)
        for stage in range(space.num_stages):
            for kernel in space.kernel_choices:
                for expansion in space.expansion_choices:
                    for first in (0, 1):
                        spec = space.block_layer(Block("mbconv", stage, expansion, kernel, space.stage_se[stage], bool(first), space.name))
                        params[stage, first, kernel, expansion] = space.layer_params(spec)
                        for resolution in space.resolution_choices:
                            entry = stage_input_sizes(resolution, space.stage_strides)[stage]
                            macs[resolution, stage, first, kernel, expansion] = space.layer_macs(spec, entry if first else same_size(entry, space.stage_strides[stage]))
        smallest = Architecture(space.from_index(0), space.name)
        layers = [(stage, int(j == 0), k, e) for stage, stage_layers in enumerate(space.stages_of(smallest.choices)) for j, (k, e) in enumerate(stage_layers)]
        base_params = count_params(smallest) - sum(params[layer] for layer in layers)
        base_macs = np.zeros(top, dtype=np.int64)
        for resolution in space.resolution_choices:
            network = Architecture((resolution, *smallest.choices[1:]), space.name)
            base_macs[resolution] = count_macs(network) - sum(macs[(resolution, *layer)] for layer in layers)
        return {"params": params, "macs": macs, "base_params": np.int64(base_params), "base_macs": base_macs}

    def of_choices(self, choices: np.ndarray) -> np.ndarray:
        tables = self.tables
        space, n = self.space, len(choices)
        resolution = choices[:, 0]
        stage_params = np.zeros((n, space.num_stages), dtype=np.int64)
        stage_macs = np.zeros_like(stage_params)
        depth = np.zeros(n, dtype=np.int64)
        kernel_area = np.zeros(n, dtype=np.int64)
        expansion_sum = np.zeros(n, dtype=np.int64)
        for stage in range(space.num_stages):
            start = 1 + stage * self.per_stage
            depth += choices[:, start]
            for j in range(space.max_depth):
                kernel, expansion = choices[:, start + 1 + 2 * j], choices[:, start + 2 + 2 * j]  # 0 beyond the stage's depth: the tables' zero rows
                first = int(j == 0)
                stage_params[:, stage] += tables["params"][stage, first, kernel, expansion]
                stage_macs[:, stage] += tables["macs"][resolution, stage, first, kernel, expansion]
                kernel_area += kernel * kernel
                expansion_sum += expansion
        derived = np.column_stack([depth, kernel_area, expansion_sum,
                                   tables["base_params"] + stage_params.sum(axis=1), tables["base_macs"][resolution] + stage_macs.sum(axis=1)])
        return np.hstack([choices, derived, stage_params, stage_macs]).astype(np.float64)


def _plain(value: Any) -> Any:
    """A value as the space checks it: numpy numbers as Python ones (a whole float as an int: pandas
    turns a column with missing values into floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


FEATURIZERS = {"ofa": MobileNetV3Features}


@lru_cache(maxsize=None)
def featurizer(space: str):
    """The feature set of a space other than anb (whose are the module's functions above)."""
    get_space(space)
    if space not in FEATURIZERS:
        raise SpaceError(f"no surrogate features for the {space} space; spaces with features: anb, {', '.join(FEATURIZERS)}")
    return FEATURIZERS[space](get_space(space))
