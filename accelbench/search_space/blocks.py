"""The distinct blocks of the space, as per-block latency tables (ProxylessNAS-style) count them: the
stem, the head, and each MBConv layer by (stage, expansion, kernel, squeeze-excite, first of its stage or
repeated). A layer's shapes follow from these and the fixed skeleton (input resolution, channels,
stride), so 7 x 3 x 2 x 2 x 2 = 168 layers, plus stem and head, cover every architecture.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.complexity import LayerSpec, make_divisible
from accelbench.search_space.space import SearchSpace, SpaceError, get_space

KINDS = ("stem", "mbconv", "head")


@dataclass(frozen=True)
class Block:
    kind: str  # stem, mbconv, head
    stage: int | None = None
    expansion: int | None = None
    kernel: int | None = None
    se: bool | None = None
    first: bool | None = None  # the stage's first layer (its stride and input width) or a repeated one
    space: str = "anb"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpaceError(f"block kind={self.kind!r} is not allowed; choices are {', '.join(KINDS)}")

    @property
    def key(self) -> str:
        """e.g. stem, head, s3-e6k5se-first, s0-e1k3-repeat."""
        if self.kind != "mbconv":
            return self.kind
        return f"s{self.stage}-e{self.expansion}k{self.kernel}{'se' if self.se else ''}-{'first' if self.first else 'repeat'}"

    @property
    def block_id(self) -> str:
        """The first 16 hex digits of SHA-256 of "<space>-block/<key>" (the id its records are keyed by)."""
        return hashlib.sha256(f"{self.space}-block/{self.key}".encode("ascii")).hexdigest()[:16]

    @classmethod
    def from_key(cls, key: str, space: str = "anb") -> "Block":
        if key in ("stem", "head"):
            return cls(key, space=space)
        try:
            stage, choice, position = key.split("-")
            expansion, kernel = choice[1:].split("k")
            return cls("mbconv", int(stage[1:]), int(expansion), int(kernel.removesuffix("se")), kernel.endswith("se"), position == "first", space)
        except ValueError:
            raise SpaceError(f"block {key!r} is not of the form s<stage>-e<E>k<K>[se]-first|repeat, stem or head") from None

    def layer(self) -> LayerSpec:
        """The MBConv layer's channels, stride and squeeze width (mbconv blocks only)."""
        space = get_space(self.space)
        input_channels = space.stage_input_channels(self.stage) if self.first else space.stage_channels[self.stage]
        return LayerSpec(
            stage=self.stage,
            input_channels=input_channels,
            expanded_channels=make_divisible(input_channels * self.expansion),
            output_channels=space.stage_channels[self.stage],
            kernel=self.kernel,
            stride=space.stage_strides[self.stage] if self.first else 1,
            se_channels=max(1, input_channels // 4) if self.se else 0,
        )

    def input_shape(self, resolution: int) -> tuple[int, int, int]:
        """(channels, height, width) of the block's input when the network's input is `resolution` px."""
        space = get_space(self.space)
        if self.kind == "stem":
            return 3, resolution, resolution
        size = stage_input_size(space, resolution)
        if self.kind == "head":
            return space.stage_channels[-1], size[-1], size[-1]
        spatial = size[self.stage] if self.first else -(-size[self.stage] // space.stage_strides[self.stage])
        return self.layer().input_channels, spatial, spatial


def stage_input_size(space: SearchSpace, resolution: int) -> list[int]:
    """The spatial size entering each stage, and (last) the size entering the head ("same" padding)."""
    sizes, size = [], -(-resolution // 2)  # the stem's stride
    for stride in space.stage_strides:
        sizes.append(size)
        size = -(-size // stride)
    return sizes + [size]


@lru_cache(maxsize=None)
def all_blocks(space: str = "anb") -> tuple[Block, ...]:
    definition = get_space(space)
    layers = tuple(
        Block("mbconv", stage, expansion, kernel, se, first, space)
        for stage in range(definition.num_stages)
        for expansion in definition.expansion_choices
        for kernel in definition.kernel_choices
        for se in (True, False)
        for first in (True, False)
    )
    return (Block("stem", space=space), *layers, Block("head", space=space))


def blocks_of(architecture: Architecture) -> list[Block]:
    """Every block of the network in order: the stem, each stage's first and repeated layers, the head."""
    blocks = [Block("stem", space=architecture.space)]
    for stage, choice in enumerate(architecture.stages):
        for layer in range(choice.layers):
            blocks.append(Block("mbconv", stage, choice.expansion, choice.kernel, choice.se, layer == 0, architecture.space))
    return blocks + [Block("head", space=architecture.space)]
