"""The PyTorch network of an architecture, or of one block, in any space: each space's own network
module (`SearchSpace.network_module`) builds it; this module keeps torch out of every other import."""

from __future__ import annotations

import importlib
from typing import Any

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.blocks import Block
from accelbench.search_space.space import SpaceError
from accelbench.search_space.spaces import SPACES, get_space


def build(architecture: Architecture, num_classes: int | None = None, **options: Any):
    """The network (torch.nn.Module) of the architecture. `options` are a recipe's or an export's
    network settings (activation, dropout, stochastic_depth, classifier_init); those its space's network
    does not take are left out (`SearchSpace.network_options`: ofa fixes its activations, so a recipe's
    activation does not apply to it). An option no space takes is an error."""
    space = architecture.search_space
    return importlib.import_module(space.network_module).build(architecture, num_classes=num_classes, **_taken(options, space.network_options))


def build_block(block: Block, num_classes: int | None = None, **options: Any):
    """One block of a network as its own module, in eval mode: what a per-block latency table times."""
    space = get_space(block.space)
    return importlib.import_module(space.network_module).build_block(block, num_classes=num_classes, **_taken(options, space.network_options))


def _taken(options: dict[str, Any], taken: tuple[str, ...]) -> dict[str, Any]:
    known = sorted({name for space in SPACES.values() for name in space.network_options})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SpaceError(f"network options {', '.join(unknown)} are unknown; options are {', '.join(known)}")
    return {name: value for name, value in options.items() if name in taken}
