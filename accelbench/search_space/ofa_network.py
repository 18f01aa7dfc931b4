"""The PyTorch network of an `ofa` architecture: the static MobileNetV3 subnet that the `ofa` package's
`OFAMobileNetV3.get_active_subnet` gives, module for module and with the same parameter names
(first_conv, blocks.i.conv.{inverted_bottleneck,depth_conv,point_linear}, blocks.i.shortcut,
final_expand_layer, feature_mix_layer, classifier.linear), so that its weights load by name."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from accelbench.search_space.architecture import Architecture
from accelbench.search_space.mbconv import LayerSpec
from accelbench.search_space.ofa import OFA, MobileNetV3Space
from accelbench.search_space.space import Block, SpaceError

ACTIVATIONS = {"relu": nn.ReLU, "h_swish": nn.Hardswish}  # OFA's Hswish is x * relu6(x + 3) / 6


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, bn: bool = True, activation: str | None = None) -> nn.Sequential:
    modules: list[tuple[str, nn.Module]] = [("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False))]
    if bn:
        modules.append(("bn", nn.BatchNorm2d(out_channels)))
    if activation:
        modules.append(("act", ACTIVATIONS[activation](inplace=True)))
    return nn.Sequential(OrderedDict(modules))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(OrderedDict([
            ("reduce", nn.Conv2d(channels, squeezed, 1)),
            ("relu", nn.ReLU(inplace=True)),
            ("expand", nn.Conv2d(squeezed, channels, 1)),
            ("h_sigmoid", nn.Hardsigmoid(inplace=True)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(3, keepdim=True).mean(2, keepdim=True))


class MBConv(nn.Module):
    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        middle, act = spec.expanded_channels, spec.activation
        self.inverted_bottleneck = _conv(spec.input_channels, middle, 1, activation=act) if spec.has_expansion else None
        self.depth_conv = _conv(middle, middle, spec.kernel, spec.stride, groups=middle, activation=act)
        if spec.se_channels:
            self.depth_conv.add_module("se", SqueezeExcite(middle, spec.se_channels))
        self.point_linear = _conv(middle, spec.output_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class Residual(nn.Module):
    """OFA's ResidualBlock: the layer, plus its input where the shapes allow (an identity `shortcut`)."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.conv = MBConv(spec)
        self.shortcut = nn.Identity() if spec.has_residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x if self.shortcut is not None else self.conv(x)


def _first_block(space: MobileNetV3Space) -> Residual:
    stem = space.stem_channels
    return Residual(LayerSpec(-1, stem, stem, stem, 3, 1, 0, "relu"))


def _head(space: MobileNetV3Space) -> tuple[nn.Module, nn.Module]:
    final_expand = _conv(space.stage_channels[-1], space.final_expand_channels, 1, activation="h_swish")
    feature_mix = _conv(space.final_expand_channels, space.head_channels, 1, bn=False, activation="h_swish")
    return final_expand, feature_mix


def _classifier(space: MobileNetV3Space, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("dropout", nn.Dropout(dropout, inplace=True)), ("linear", nn.Linear(space.head_channels, num_classes))]))


def _head_features(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the classifier of a module holding final_expand_layer and feature_mix_layer sees: OFA pools between the two."""
    x = module.final_expand_layer(x).mean(3, keepdim=True).mean(2, keepdim=True)
    return torch.flatten(module.feature_mix_layer(x), 1)


class Network(nn.Module):
    def __init__(self, architecture: Architecture, num_classes: int | None = None, dropout: float | None = None) -> None:
        super().__init__()
        space: MobileNetV3Space = architecture.search_space
        self.first_conv = _conv(3, space.stem_channels, 3, 2, activation="h_swish")
        self.blocks = nn.ModuleList([_first_block(space), *(Residual(spec) for spec in space.layer_specs(architecture))])
        self.final_expand_layer, self.feature_mix_layer = _head(space)
        self.classifier = _classifier(space, space.num_classes if num_classes is None else num_classes, space.dropout if dropout is None else dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's input (what random-weight evaluation trains a classifier on)."""
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        return _head_features(self, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class _Head(nn.Module):
    def __init__(self, space: MobileNetV3Space, num_classes: int) -> None:
        super().__init__()
        self.final_expand_layer, self.feature_mix_layer = _head(space)
        self.classifier = _classifier(space, num_classes, space.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(_head_features(self, x))


def _check_activation(activation: str | None) -> None:
    if activation is not None:
        raise SpaceError(f"activation={activation!r} does not apply to the ofa space: its stages fix theirs (ReLU, then h-swish); leave it out")


def build(architecture: Architecture, num_classes: int | None = None, activation: str | None = None, dropout: float | None = None) -> Network:
    """The network; `activation` must stay None: the space fixes its activations."""
    _check_activation(activation)
    return Network(architecture, num_classes, dropout)


def build_block(block: Block, num_classes: int | None = None, activation: str | None = None) -> nn.Module:
    """One block as its own module (eval mode): the stem (first conv and first block), an MBConv layer, or the head."""
    _check_activation(activation)
    space = OFA
    if block.kind == "stem":
        module: nn.Module = nn.Sequential(_conv(3, space.stem_channels, 3, 2, activation="h_swish"), _first_block(space))
    elif block.kind == "head":
        module = _Head(space, space.num_classes if num_classes is None else num_classes)
    else:
        module = Residual(space.block_layer(block))
    return module.eval()
