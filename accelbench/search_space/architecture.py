"""The `Architecture` value: validation, encodings (reference keys, compact string, JSON, index) and `arch_id`.

`arch_id` is the first 16 hex digits of SHA-256 over the ASCII text `"<space>/<compact string>"`,
e.g. `sha256(b"anb/e1k3l1se-e6k3l2se-...")[:16]`. It depends only on the architecture's choices, so it
is the same on every machine, process and Python version.
"""

from __future__ import annotations

import hashlib
import json
import numbers as numbers_module
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

import numpy

from accelbench.search_space.space import SearchSpace, SpaceError, get_space

_STAGE_PATTERN = re.compile(r"e(\d+)k(\d+)l(\d+)(se)?")


@dataclass(frozen=True)
class Stage:
    expansion: int
    kernel: int
    layers: int
    se: bool

    def compact(self) -> str:
        return f"e{self.expansion}k{self.kernel}l{self.layers}{'se' if self.se else ''}"


@dataclass(frozen=True)
class Architecture:
    stages: tuple[Stage, ...]
    space: str = "anb"

    def __post_init__(self) -> None:
        space = get_space(self.space)
        if not isinstance(self.stages, tuple) or not all(isinstance(s, Stage) for s in self.stages):
            raise SpaceError("stages must be a tuple of Stage values")
        if len(self.stages) != space.num_stages:
            raise SpaceError(f"an {space.name} architecture has {space.num_stages} stages, got {len(self.stages)}")
        for index, stage in enumerate(self.stages):
            _check_choice(index, "e", stage.expansion, space.expansion_choices)
            _check_choice(index, "k", stage.kernel, space.kernel_choices)
            _check_choice(index, "l", stage.layers, space.layer_choices[index])
            _check_choice(index, "se", stage.se, space.se_choices)
        self.choice_codes  # made now, while the stages are at hand: a batch of queries then only joins them

    @cached_property
    def choice_codes(self) -> bytes:
        """The choices as one byte each, stage by stage (e, k, l, se): a batch's choice matrix is these
        bytes joined, without a Python value per choice."""
        return bytes(value for s in self.stages for value in (s.expansion, s.kernel, s.layers, s.se))

    @property
    def search_space(self) -> SearchSpace:
        return get_space(self.space)

    # --- the reference's flat keys: block{i}_{e,k,l,se} ---
    def to_reference(self) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for index, stage in enumerate(self.stages):
            keys[f"block{index}_e"] = stage.expansion
            keys[f"block{index}_k"] = stage.kernel
            keys[f"block{index}_l"] = stage.layers
            keys[f"block{index}_se"] = stage.se
        return keys

    @classmethod
    def from_reference(cls, keys: Mapping[str, Any], space: str = "anb") -> "Architecture":
        if not isinstance(keys, Mapping):
            raise SpaceError(f"expected a mapping of block{{i}}_{{e,k,l,se}} keys, got {type(keys).__name__}")
        definition = get_space(space)
        expected = set(definition.reference_keys)
        missing = sorted(expected - keys.keys())
        unknown = sorted(set(keys) - expected)
        if missing:
            raise SpaceError(f"missing keys: {', '.join(missing)}")
        if unknown:
            raise SpaceError(f"unknown keys: {', '.join(map(str, unknown))}; allowed are block0..{definition.num_stages - 1}_{{e,k,l,se}}")
        stages = []
        for i in range(definition.num_stages):
            se = keys[f"block{i}_se"]
            if not _is_bool(se):
                raise SpaceError(f"block{i}_se={se!r} is not allowed; choices are true, false")
            numbers = []
            for field in ("e", "k", "l"):
                value = keys[f"block{i}_{field}"]
                if _is_bool(value) or not isinstance(value, numbers_module.Integral):
                    raise SpaceError(f"block{i}_{field}={value!r} is not an integer")
                numbers.append(int(value))
            stages.append(Stage(*numbers, se=bool(se)))
        return cls(tuple(stages), space)

    # --- compact human string: "e1k3l1se-e6k3l2se-..." ---
    def compact(self) -> str:
        return "-".join(stage.compact() for stage in self.stages)

    @classmethod
    def from_compact(cls, text: str, space: str = "anb") -> "Architecture":
        parts = text.strip().split("-")
        stages = []
        for index, part in enumerate(parts):
            match = _STAGE_PATTERN.fullmatch(part)
            if match is None:
                raise SpaceError(f"stage {index} {part!r} is not of the form e<E>k<K>l<L>[se], e.g. e6k3l2se")
            e, k, l, se = match.groups()
            stages.append(Stage(int(e), int(k), int(l), se is not None))
        return cls(tuple(stages), space)

    # --- JSON: the reference keys plus the space name ---
    def to_json(self) -> str:
        return json.dumps({"space": self.space, **self.to_reference()}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpaceError(f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise SpaceError(f"expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        space = data.pop("space", "anb")
        return cls.from_reference(data, space)

    @cached_property
    def arch_id(self) -> str:
        return hashlib.sha256(f"{self.space}/{self.compact()}".encode("ascii")).hexdigest()[:16]

    def __str__(self) -> str:
        return self.compact()


def _check_choice(stage: int, field: str, value: Any, choices: tuple) -> None:
    # bool is an int in Python: keep True out of integer fields and 1 out of the boolean one
    if isinstance(value, bool) != isinstance(choices[0], bool) or value not in choices:
        allowed = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
        raise SpaceError(f"block{stage}_{field}={value!r} is not allowed; choices are {allowed}")


def _is_bool(value: Any) -> bool:
    # numpy's bool (from ConfigSpace, pandas) is no subclass of bool
    return isinstance(value, (bool, numpy.bool_))
