"""The blocks of a space, as per-block latency tables (ProxylessNAS-style) count them: the stem, the
head, and each MBConv layer by (stage, expansion, kernel, squeeze-excite, first of its stage or
repeated). A layer's shapes follow from these and the space's fixed skeleton, so a few hundred blocks
cover every architecture of a space (170 for `anb`, 92 for `ofa`)."""

from __future__ import annotations

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.mbconv import LayerSpec
from accelbench.search_space.space import KINDS, Block
from accelbench.search_space.spaces import get_space

__all__ = ["KINDS", "Block", "all_blocks", "blocks_of", "input_shape", "layer_of"]


def all_blocks(space: str = "anb") -> tuple[Block, ...]:
    """Every distinct block of the space: the rows of its per-block latency table."""
    return get_space(space).all_blocks()


def blocks_of(architecture: Architecture) -> list[Block]:
    """Every block of the network in order: the stem, each stage's first and repeated layers, the head."""
    return architecture.search_space.blocks_of(architecture)


def layer_of(block: Block) -> LayerSpec:
    """An MBConv block's channels, stride, kernel and squeeze width."""
    return get_space(block.space).block_layer(block)


def input_shape(block: Block, resolution: int) -> tuple[int, int, int]:
    """(channels, height, width) of the block's input when the network's input is `resolution` px."""
    return get_space(block.space).block_input_shape(block, resolution)
