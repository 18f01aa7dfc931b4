"""The `Architecture` value of any space: its choices, encodings (flat keys, compact string, JSON) and `arch_id`.

`arch_id` is the first 16 hex digits of SHA-256 over the ASCII text `"<space>/<compact string>"`,
e.g. `sha256(b"anb/e1k3l1se-e6k3l2se-...")[:16]`. It depends only on the architecture's choices, so it
is the same on every machine, process and Python version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

from accelbench.search_space.space import SearchSpace, SpaceError
from accelbench.search_space.spaces import SPACES, get_space


@dataclass(frozen=True)
class Architecture:
    choices: tuple  # one value per key of the space (`SearchSpace.keys`), None where a key does not apply
    space: str = "anb"

    def __post_init__(self) -> None:
        definition = get_space(self.space)
        if not isinstance(self.choices, tuple):
            raise SpaceError(f"choices must be a tuple of the {self.space} space's values, got {type(self.choices).__name__}")
        object.__setattr__(self, "choices", definition.check(self.choices))  # as plain int and bool
        self.choice_codes  # made now, while the choices are at hand: a batch of queries then only joins them

    @cached_property
    def choice_codes(self) -> bytes:
        """The choices as one byte each (None as 0; every space's values fit a byte): a batch's choice
        matrix is these bytes joined, without a Python value per choice."""
        return bytes(0 if value is None else int(value) for value in self.choices)

    @property
    def search_space(self) -> SearchSpace:
        return get_space(self.space)

    # --- the space's flat keys, e.g. the reference's block{i}_{e,k,l,se} ---
    def to_reference(self) -> dict[str, Any]:
        """Every key that applies, with its value."""
        return {key: value for key, value in zip(self.search_space.keys, self.choices) if value is not None}

    @classmethod
    def from_reference(cls, keys: Mapping[str, Any], space: str = "anb") -> "Architecture":
        definition = get_space(space)
        if not isinstance(keys, Mapping):
            raise SpaceError(f"expected a mapping of the {space} space's keys ({definition.key_pattern}), got {type(keys).__name__}")
        unknown = sorted(set(keys) - set(definition.keys), key=str)
        foreign = unknown and not set(keys) & set(definition.keys)
        other = next((name for name, other in SPACES.items() if foreign and name != space and set(unknown) <= set(other.keys)), None)
        if other is not None:
            raise SpaceError(f"these are keys of the {other} space ({unknown[0]}, ...), not of the {space} space; give space={other!r} or an {space} architecture ({definition.key_pattern})")
        missing = definition.missing_keys(keys)
        if missing:
            raise SpaceError(f"missing keys: {', '.join(missing)}")
        if unknown:
            raise SpaceError(f"unknown keys: {', '.join(map(str, unknown))}; allowed are {definition.key_pattern}")
        return cls(tuple(keys.get(key) for key in definition.keys), space)

    # --- compact human string, e.g. "e1k3l1se-e6k3l2se-..." ---
    def compact(self) -> str:
        return self.search_space.compact(self.choices)

    @classmethod
    def from_compact(cls, text: str, space: str = "anb") -> "Architecture":
        return cls(get_space(space).parse_compact(text), space)

    # --- JSON: the flat keys plus the space name ---
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
