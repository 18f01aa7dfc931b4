"""The distinct blocks of the space: their count, ids, shapes, and that they cover every architecture."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from accelbench.search_space import ANB
from accelbench.search_space.blocks import Block, all_blocks, blocks_of, input_shape, layer_of
from accelbench.search_space.builder import build_block
from accelbench.search_space.space import SpaceError
from tests.search_space.strategies import architectures


def test_the_space_has_170_distinct_blocks():
    blocks = all_blocks()
    expected = 2 + ANB.num_stages * len(ANB.expansion_choices) * len(ANB.kernel_choices) * 2 * 2  # stem, head, (stage, e, k, se, first)
    assert len(blocks) == expected == 170
    assert len({b.block_id for b in blocks}) == len({b.key for b in blocks}) == 170
    assert all(Block.from_key(b.key) == b for b in blocks)
    with pytest.raises(SpaceError, match="is not of the form"):
        Block.from_key("s3-e6x5-first")


@settings(max_examples=60, deadline=None)
@given(architectures)
def test_every_block_of_every_architecture_is_in_the_table(architecture):
    blocks = blocks_of(architecture)
    assert set(blocks) <= set(all_blocks())
    assert len(blocks) == 2 + sum(stage.layers for stage in ANB.stages_of(architecture.choices))
    assert [layer_of(b) for b in blocks[1:-1]] == list(ANB.layer_specs(architecture))  # the same layers the network has


@settings(max_examples=8, deadline=None)
@given(architectures)
def test_block_shapes_chain_into_the_network(architecture):
    """Each block's input is the previous block's output, at any input resolution."""
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        for block in blocks_of(architecture):
            assert tuple(x.shape[1:]) == input_shape(block, 64), block.key
            x = build_block(block)(x)
    assert tuple(x.shape) == (1, 1000)
