"""Search-space definitions: the fixed skeleton and the per-stage choices, and a registry of spaces."""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelbench.common.errors import InputError


class SpaceError(InputError):
    """An architecture, encoding or space name that does not fit the search space."""


@dataclass(frozen=True)
class SearchSpace:
    """A MnasNet-style space: a fixed skeleton of MBConv stages, each with its own choices."""

    name: str
    expansion_choices: tuple[int, ...]
    kernel_choices: tuple[int, ...]
    layer_choices: tuple[tuple[int, ...], ...]  # one tuple per stage
    se_choices: tuple[bool, ...]
    stem_channels: int
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    head_channels: int
    num_classes: int
    dropout: float
    stochastic_depth: float

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    def stage_input_channels(self, stage: int) -> int:
        return self.stem_channels if stage == 0 else self.stage_channels[stage - 1]

    def stage_size(self, stage: int) -> int:
        """How many distinct configurations one stage has."""
        return (
            len(self.expansion_choices)
            * len(self.kernel_choices)
            * len(self.layer_choices[stage])
            * len(self.se_choices)
        )

    @property
    def reference_keys(self) -> tuple[str, ...]:
        """The reference's flat keys, `block{i}_{e,k,l,se}`, stage by stage."""
        return tuple(f"block{stage}_{field}" for stage in range(self.num_stages) for field in ("e", "k", "l", "se"))

    def choices_of(self, key: str) -> tuple:
        """The allowed values of one reference key, e.g. `block5_l` -> (1, 2, 3, 4)."""
        stage, field = int(key[len("block") : key.index("_")]), key.split("_", 1)[1]
        return {"e": self.expansion_choices, "k": self.kernel_choices, "l": self.layer_choices[stage], "se": self.se_choices}[field]

    @property
    def size(self) -> int:
        """The number of distinct architectures in the space."""
        return math.prod(self.stage_size(stage) for stage in range(self.num_stages))


ANB = SearchSpace(
    name="anb",
    expansion_choices=(1, 4, 6),
    kernel_choices=(3, 5),
    layer_choices=((1, 2, 3),) * 5 + ((1, 2, 3, 4),) + ((1, 2, 3),),
    se_choices=(True, False),  # the reference's ConfigSpace order
    stem_channels=32,
    stage_channels=(16, 24, 40, 80, 112, 192, 320),
    stage_strides=(1, 2, 2, 2, 1, 2, 1),
    head_channels=1280,
    num_classes=1000,
    dropout=0.2,
    stochastic_depth=0.2,
)

SPACES: dict[str, SearchSpace] = {ANB.name: ANB}


def get_space(name: str) -> SearchSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise SpaceError(f"space={name!r} is unknown; known spaces are {', '.join(sorted(SPACES))}") from None
