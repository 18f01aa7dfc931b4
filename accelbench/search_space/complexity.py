"""Parameter count and MACs in closed form from the architecture alone (no torch needed).

MACs: two documented conventions (see `count_macs`). The default, `reference`, is the one the
Accel-NASBench records were counted with, so that imported and newly collected records agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.space import SpaceError


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channel counts as torchvision/TF EfficientNet do: nearest multiple, never below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class LayerSpec:
    """One MBConv layer of a built network."""

    stage: int
    input_channels: int
    expanded_channels: int
    output_channels: int
    kernel: int
    stride: int
    se_channels: int  # 0 when the layer has no squeeze-excite

    @property
    def has_expansion(self) -> bool:
        return self.expanded_channels != self.input_channels

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.input_channels == self.output_channels


def layer_specs(architecture: Architecture) -> Iterator[LayerSpec]:
    space = architecture.search_space
    for number, stage in enumerate(architecture.stages):
        for layer in range(stage.layers):
            input_channels = space.stage_input_channels(number) if layer == 0 else space.stage_channels[number]
            yield LayerSpec(
                stage=number,
                input_channels=input_channels,
                expanded_channels=make_divisible(input_channels * stage.expansion),
                output_channels=space.stage_channels[number],
                kernel=stage.kernel,
                stride=space.stage_strides[number] if layer == 0 else 1,
                se_channels=max(1, input_channels // 4) if stage.se else 0,
            )


def _conv_out(size: int, stride: int) -> int:
    return -(-size // stride)  # "same" padding: ceil(size / stride)


def count_params(architecture: Architecture, num_classes: int | None = None) -> int:
    space = architecture.search_space
    classes = space.num_classes if num_classes is None else num_classes
    total = 3 * space.stem_channels * 9 + 2 * space.stem_channels
    for spec in layer_specs(architecture):
        expanded = spec.expanded_channels
        if spec.has_expansion:
            total += spec.input_channels * expanded + 2 * expanded
        total += expanded * spec.kernel**2 + 2 * expanded
        if spec.se_channels:
            total += 2 * expanded * spec.se_channels + spec.se_channels + expanded
        total += expanded * spec.output_channels + 2 * spec.output_channels
    last = space.stage_channels[-1]
    total += last * space.head_channels + 2 * space.head_channels
    total += space.head_channels * classes + classes
    return total


MAC_CONVENTIONS = ("reference", "conv_linear")


def count_macs(
    architecture: Architecture,
    resolution: int = 224,
    num_classes: int | None = None,
    convention: str = "reference",
) -> int:
    """Multiply-accumulates of one image at `resolution` px.

    `conv_linear`: convolutions and linear layers only (= torch.utils.flop_counter FLOPs / 2).
    `reference`: the Accel-NASBench records' convention (thop): conv_linear plus 4 per batch-norm
    output element, and each global average pool counted as its input plus output elements.
    It equals the `macs` of every shared reference record exactly.
    """
    if convention not in MAC_CONVENTIONS:
        raise SpaceError(f"convention={convention!r} is not allowed; choices are {', '.join(MAC_CONVENTIONS)}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise SpaceError(f"resolution={resolution!r} is not allowed; it must be a positive number of pixels")
    reference = convention == "reference"
    space = architecture.search_space
    classes = space.num_classes if num_classes is None else num_classes

    def conv(size: int, in_per_group: int, kernel: int, out_channels: int) -> int:
        macs = size * size * in_per_group * kernel * kernel * out_channels
        batch_norm = 4 * size * size * out_channels if reference else 0
        return macs + batch_norm

    size = _conv_out(resolution, 2)
    total = conv(size, 3, 3, space.stem_channels)
    for spec in layer_specs(architecture):
        expanded = spec.expanded_channels
        if spec.has_expansion:
            total += conv(size, spec.input_channels, 1, expanded)
        size = _conv_out(size, spec.stride)
        total += conv(size, 1, spec.kernel, expanded)
        if spec.se_channels:
            total += 2 * expanded * spec.se_channels
            if reference:
                total += size * size * expanded + expanded
        total += conv(size, expanded, 1, spec.output_channels)
    total += conv(size, space.stage_channels[-1], 1, space.head_channels)
    if reference:
        total += size * size * space.head_channels + space.head_channels
    total += space.head_channels * classes
    return total
