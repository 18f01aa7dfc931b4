"""What both MBConv spaces share: channel rounding and the description of one MBConv layer."""

from __future__ import annotations

from dataclasses import dataclass


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channel counts as torchvision, TF EfficientNet and OFA do: nearest multiple, never below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def same_size(size: int, stride: int) -> int:
    """The spatial size after a "same"-padded convolution of `stride`: ceil(size / stride)."""
    return -(-size // stride)


def stage_input_sizes(resolution: int, strides: tuple[int, ...]) -> list[int]:
    """The spatial size entering each stage after a stride-2 stem, and (last) the size entering the head."""
    sizes, size = [], same_size(resolution, 2)
    for stride in strides:
        sizes.append(size)
        size = same_size(size, stride)
    return sizes + [size]


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
    activation: str | None = None  # fixed by the space (ofa: relu or h_swish), or None: the network's choice (anb)

    @property
    def has_expansion(self) -> bool:
        return self.expanded_channels != self.input_channels

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.input_channels == self.output_channels
