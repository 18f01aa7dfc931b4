"""The PyTorch network of an `anb` architecture: torchvision's EfficientNet, block for block.

The module tree and initialisation follow `torchvision.models.efficientnet` (features[0] stem,
features[1..7] stages, features[8] head, avgpool, classifier), built from torchvision's own ops. Two
things differ from torchvision's MBConv, both because the space asks for them: squeeze-excite can be
off, and the activation is selectable (ReLU with a hard-sigmoid gate, as the reference's proxified
training used, or SiLU with a sigmoid gate).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation, SqueezeExcitation, StochasticDepth

from accelbench.search_space.anb import ANB, MnasNetSpace
from accelbench.search_space.architecture import Architecture
from accelbench.search_space.mbconv import LayerSpec
from accelbench.search_space.space import Block, SpaceError

ACTIVATIONS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "relu": (nn.ReLU, nn.Hardsigmoid),
    "silu": (nn.SiLU, nn.Sigmoid),
}


class MBConv(nn.Module):
    def __init__(self, spec: LayerSpec, activation: str, stochastic_depth: float) -> None:
        super().__init__()
        act, gate = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        if spec.has_expansion:
            layers.append(Conv2dNormActivation(spec.input_channels, spec.expanded_channels, 1, activation_layer=act))
        layers.append(
            Conv2dNormActivation(
                spec.expanded_channels,
                spec.expanded_channels,
                spec.kernel,
                stride=spec.stride,
                groups=spec.expanded_channels,
                activation_layer=act,
            )
        )
        if spec.se_channels:
            layers.append(SqueezeExcitation(spec.expanded_channels, spec.se_channels, activation=act, scale_activation=gate))
        layers.append(Conv2dNormActivation(spec.expanded_channels, spec.output_channels, 1, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.use_res_connect = spec.has_residual
        self.stochastic_depth = StochasticDepth(stochastic_depth, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result) + x
        return result


class Network(nn.Module):
    def __init__(
        self,
        architecture: Architecture,
        num_classes: int | None = None,
        activation: str = "relu",
        dropout: float | None = None,
        stochastic_depth: float | None = None,
        classifier_init: str = "reference",
    ) -> None:
        super().__init__()
        if classifier_init not in ("reference", "zero"):
            raise SpaceError(f"classifier_init={classifier_init!r} is not allowed; choices are reference, zero")
        if activation not in ACTIVATIONS:
            raise SpaceError(f"activation={activation!r} is not allowed; choices are {', '.join(ACTIVATIONS)}")
        space: MnasNetSpace = architecture.search_space
        num_classes = space.num_classes if num_classes is None else num_classes
        dropout = space.dropout if dropout is None else dropout
        stochastic_depth = space.stochastic_depth if stochastic_depth is None else stochastic_depth
        act = ACTIVATIONS[activation][0]

        specs = list(space.layer_specs(architecture))
        features: list[nn.Module] = [Conv2dNormActivation(3, space.stem_channels, 3, stride=2, activation_layer=act)]
        for stage in range(space.num_stages):
            blocks = [
                MBConv(spec, activation, stochastic_depth * index / len(specs))
                for index, spec in enumerate(specs)
                if spec.stage == stage
            ]
            features.append(nn.Sequential(*blocks))
        features.append(Conv2dNormActivation(space.stage_channels[-1], space.head_channels, 1, activation_layer=act))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(space.head_channels, num_classes))
        self._initialise(classifier_init)

    def _initialise(self, classifier_init: str) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                # torchvision's bound shrinks with the class count: with 10 classes the initial logits have
                # a std near 5 (loss ~8), which wastes the first epochs of a short schedule; "zero" avoids it
                bound = 1.0 / module.out_features**0.5
                nn.init.uniform_(module.weight, -bound, bound) if classifier_init == "reference" else nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(
    architecture: Architecture,
    num_classes: int | None = None,
    activation: str = "relu",
    dropout: float | None = None,
    stochastic_depth: float | None = None,
    classifier_init: str = "reference",
) -> Network:
    return Network(architecture, num_classes, activation, dropout, stochastic_depth, classifier_init)


def build_block(block: Block, num_classes: int | None = None, activation: str = "relu") -> nn.Module:
    """One block of the network as its own module (eval mode): the stem, an MBConv layer, or the head
    (conv, pooling, classifier) - what a per-block latency table times."""
    if activation not in ACTIVATIONS:
        raise SpaceError(f"activation={activation!r} is not allowed; choices are {', '.join(ACTIVATIONS)}")
    space = ANB
    act = ACTIVATIONS[activation][0]
    if block.kind == "stem":
        module = Conv2dNormActivation(3, space.stem_channels, 3, stride=2, activation_layer=act)
    elif block.kind == "head":
        classes = space.num_classes if num_classes is None else num_classes
        module = nn.Sequential(
            Conv2dNormActivation(space.stage_channels[-1], space.head_channels, 1, activation_layer=act),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Dropout(p=space.dropout),
            nn.Linear(space.head_channels, classes),
        )
    else:
        module = MBConv(space.block_layer(block), activation, 0.0)
    return module.eval()
