"""The PyTorch network of an architecture, or of one block, in any space: each space's own network
module (`SearchSpace.network_module`) builds it; this module keeps torch out of every other import."""

from __future__ import annotations

import importlib
from typing import Any

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.blocks import Block
from accelbench.search_space.spaces import get_space


def build(architecture: Architecture, **options: Any):
    """The network (torch.nn.Module) of the architecture; `options` as its space's network takes them
    (e.g. num_classes, activation, dropout, stochastic_depth, classifier_init for `anb`)."""
    return importlib.import_module(architecture.search_space.network_module).build(architecture, **options)


def build_block(block: Block, **options: Any):
    """One block of a network as its own module, in eval mode: what a per-block latency table times."""
    return importlib.import_module(get_space(block.space).network_module).build_block(block, **options)
