"""Parameter count and MACs in closed form from the architecture alone (no torch needed); each space
counts its own (`SearchSpace.count_params`, `SearchSpace.count_macs`)."""

from __future__ import annotations

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.space import MAC_CONVENTIONS, SpaceError


def count_params(architecture: Architecture, num_classes: int | None = None) -> int:
    space = architecture.search_space
    return space.count_params(architecture, space.num_classes if num_classes is None else num_classes)


def count_macs(
    architecture: Architecture,
    resolution: int | None = None,
    num_classes: int | None = None,
    convention: str = "reference",
) -> int:
    """Multiply-accumulates of one image at `resolution` px (default: the architecture's own, 224 px for
    `anb`). `conv_linear` counts convolutions and linear layers only (= torch.utils.flop_counter FLOPs / 2);
    `reference` is the convention of the space's reference records (see the space's `count_macs`)."""
    if convention not in MAC_CONVENTIONS:
        raise SpaceError(f"convention={convention!r} is not allowed; choices are {', '.join(MAC_CONVENTIONS)}")
    space = architecture.search_space
    if resolution is None:
        resolution = space.resolution_of(architecture.choices)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise SpaceError(f"resolution={resolution!r} is not allowed; it must be a positive number of pixels")
    return space.count_macs(architecture, resolution, space.num_classes if num_classes is None else num_classes, convention)
