"""Once-for-All's MobileNetV3 space (`ofa`): the elastic OFAMobileNetV3 of the `ofa` package (Cai et al.,
ICLR 2020) at width multiplier 1.0, with its input resolution a choice too.

Checked against the package's source (`ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`,
`ofa/utils/layers.py`): a fixed stem (3x3 conv to 16 channels, stride 2, h-swish) and first block (an
MBConv of expansion 1, 3x3, ReLU, 16 -> 16 with identity shortcut); five searchable stages of widths 24,
40, 80, 112, 160, strides 2, 2, 2, 1, 2, ReLU in the first two and h-swish after, squeeze-excite in the
40, 112 and 160 stages (reduction 4, rounded to 8, hard-sigmoid gate); each stage 2, 3 or 4 layers deep,
each layer with its own kernel (3, 5, 7) and expansion (3, 4, 6; the middle width rounded to 8); the
head: a 1x1 conv to 960 (BN, h-swish), global pooling, a 1x1 conv to 1280 (no BN, no bias, h-swish),
dropout 0.1 and a linear classifier. The resolution is 128 to 224 px in steps of 4: the sizes OFA's
progressive shrinking trains with (`MyRandomResizedCrop` with CONTINUOUS sizes, IMAGE_SIZE_SEG = 4, between
the 128 and 224 of `train_ofa_net.py`), so every choice is one the supernet was trained at.

Keys: `resolution`, `stage{i}_d`, and `stage{i}_layer{j}_k` / `_e` for the layers j < d (None beyond).
Compact string: `r<res>` then a stage each, its layers `k<K>e<E>` joined by dots, e.g.
`r192-k3e4.k5e6-k7e3.k3e3.k5e4-...`. MACs count convolutions and linear layers, as OFA's own counter
(`ofa.utils.flops_counter`) does, so both conventions agree here. The network is in `search_space.ofa_network`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from accelbench.search_space.mbconv import LayerSpec, make_divisible, same_size, stage_input_sizes
from accelbench.search_space.space import Block, SearchSpace, SpaceError, Values, check_choice

if TYPE_CHECKING:
    from accelbench.search_space.architecture import Architecture

_LAYER = r"k(\d+)e(\d+)"
_STAGE_PATTERN = re.compile(rf"{_LAYER}(?:\.{_LAYER})*")


@dataclass(frozen=True)
class MobileNetV3Space(SearchSpace):
    name: str
    resolution_choices: tuple[int, ...]
    depth_choices: tuple[int, ...]
    kernel_choices: tuple[int, ...]
    expansion_choices: tuple[int, ...]
    stem_channels: int  # the first conv's, and the fixed first block's, width
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    stage_activations: tuple[str, ...]
    stage_se: tuple[bool, ...]
    final_expand_channels: int
    head_channels: int
    num_classes: int
    dropout: float
    network_module: str = "accelbench.search_space.ofa_network"
    network_options: tuple[str, ...] = ("dropout",)  # its stages fix their activations
    has_resolution_choice: bool = True

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def max_depth(self) -> int:
        return max(self.depth_choices)

    # --- choices ---
    @cached_property
    def keys(self) -> tuple[str, ...]:
        layers = lambda stage: (f"stage{stage}_layer{j}_{field}" for j in range(self.max_depth) for field in ("k", "e"))
        return ("resolution", *(key for stage in range(self.num_stages) for key in (f"stage{stage}_d", *layers(stage))))

    @property
    def key_pattern(self) -> str:
        return f"resolution, stage0..{self.num_stages - 1}_d, stage0..{self.num_stages - 1}_layer0..{self.max_depth - 1}_{{k,e}}"

    def choices_of(self, key: str) -> tuple:
        if key not in self.keys:
            raise SpaceError(f"{key!r} is not a key of the {self.name} space; keys are {self.key_pattern}")
        if key == "resolution":
            return self.resolution_choices
        return {"d": self.depth_choices, "k": self.kernel_choices, "e": self.expansion_choices}[key[-1]]

    def conditions(self) -> tuple[tuple[str, str, tuple], ...]:
        return tuple(
            (f"stage{stage}_layer{j}_{field}", f"stage{stage}_d", tuple(d for d in self.depth_choices if d > j))
            for stage in range(self.num_stages)
            for j in range(min(self.depth_choices), self.max_depth)
            for field in ("k", "e")
        )

    def missing_keys(self, keys: Mapping[str, Any]) -> list[str]:
        missing = [key for key in ("resolution", *(f"stage{i}_d" for i in range(self.num_stages))) if key not in keys]
        for stage in range(self.num_stages):
            depth = keys.get(f"stage{stage}_d")
            if depth in self.depth_choices and not isinstance(depth, bool):
                missing += [f"stage{stage}_layer{j}_{f}" for j in range(depth) for f in ("k", "e") if keys.get(f"stage{stage}_layer{j}_{f}") is None]
        return missing

    def check(self, values: Values) -> Values:
        if len(values) != len(self.keys):
            raise SpaceError(f"an {self.name} architecture has {len(self.keys)} choices ({self.key_pattern}), got {len(values)}")
        given = dict(zip(self.keys, values))
        check_choice("resolution", given["resolution"], self.resolution_choices)
        for stage in range(self.num_stages):
            depth = given[f"stage{stage}_d"]
            check_choice(f"stage{stage}_d", depth, self.depth_choices)
            for j in range(self.max_depth):
                for field, choices in (("k", self.kernel_choices), ("e", self.expansion_choices)):
                    key = f"stage{stage}_layer{j}_{field}"
                    if j < depth:
                        check_choice(key, given[key], choices)
                    elif given[key] is not None:
                        raise SpaceError(f"{key}={given[key]!r} does not apply: stage{stage}_d={depth} has layers 0..{depth - 1}; leave it out")
        return tuple(None if value is None else int(value) for value in values)

    # --- the values as stages: (depth, ((kernel, expansion), ...)) ---
    def stages_of(self, values: Values) -> list[list[tuple[int, int]]]:
        """Each stage's layers as (kernel, expansion) pairs."""
        per_stage = 1 + 2 * self.max_depth
        stages = []
        for stage in range(self.num_stages):
            start = 1 + stage * per_stage
            depth, layers = values[start], values[start + 1 : start + per_stage]
            stages.append([(layers[2 * j], layers[2 * j + 1]) for j in range(depth)])
        return stages

    def values_of(self, resolution: int, stages: list[list[tuple[int, int]]]) -> Values:
        values: list[Any] = [resolution]
        for layers in stages:
            values.append(len(layers))
            for j in range(self.max_depth):
                values += list(layers[j]) if j < len(layers) else [None, None]
        return tuple(values)

    # --- numbering and text ---
    def _stage_size(self, depth: int) -> int:
        return (len(self.kernel_choices) * len(self.expansion_choices)) ** depth

    @cached_property
    def stage_size(self) -> int:
        """How many distinct configurations one stage has: 9^2 + 9^3 + 9^4 = 7371."""
        return sum(self._stage_size(depth) for depth in self.depth_choices)

    @property
    def size(self) -> int:
        return len(self.resolution_choices) * self.stage_size**self.num_stages

    def to_index(self, values: Values) -> int:
        """Mixed radix: the resolution most significant, then a digit per stage (its depth's block of
        numbers, then its layers, the first most significant, kernel before expansion)."""
        index = self.resolution_choices.index(values[0])
        for layers in self.stages_of(values):
            digit = sum(self._stage_size(d) for d in self.depth_choices if d < len(layers))
            layer_number = 0
            for kernel, expansion in layers:
                layer_number = (layer_number * len(self.kernel_choices) + self.kernel_choices.index(kernel)) * len(self.expansion_choices) + self.expansion_choices.index(expansion)
            index = index * self.stage_size + digit + layer_number
        return index

    def from_index(self, index: int) -> Values:
        stages = []
        for _ in range(self.num_stages):
            index, digit = divmod(index, self.stage_size)
            for depth in self.depth_choices:
                if digit < self._stage_size(depth):
                    break
                digit -= self._stage_size(depth)
            layers = []
            for _ in range(depth):
                digit, expansion = divmod(digit, len(self.expansion_choices))
                digit, kernel = divmod(digit, len(self.kernel_choices))
                layers.append((self.kernel_choices[kernel], self.expansion_choices[expansion]))
            stages.append(layers[::-1])
        return self.values_of(self.resolution_choices[index], stages[::-1])

    def draw(self, bits: int) -> Values:
        """Each choice uniformly, as OFA's `sample_active_subnet` draws a subnet (a stage's depth first,
        then its layers), and the resolution uniformly: a uniform draw over architectures would make 89%
        of the stages 4 deep (9^4 of the 7371 configurations of a stage)."""
        bits, resolution = divmod(bits, len(self.resolution_choices))
        stages = []
        for _ in range(self.num_stages):
            bits, depth = divmod(bits, len(self.depth_choices))
            layers = []
            for _ in range(self.depth_choices[depth]):
                bits, kernel = divmod(bits, len(self.kernel_choices))
                bits, expansion = divmod(bits, len(self.expansion_choices))
                layers.append((self.kernel_choices[kernel], self.expansion_choices[expansion]))
            stages.append(layers)
        return self.values_of(self.resolution_choices[resolution], stages)

    def compact(self, values: Values) -> str:
        return "-".join([f"r{values[0]}", *(".".join(f"k{k}e{e}" for k, e in layers) for layers in self.stages_of(values))])

    def parse_compact(self, text: str) -> Values:
        parts = text.strip().split("-")
        if len(parts) != 1 + self.num_stages or not re.fullmatch(r"r\d+", parts[0]):
            raise SpaceError(f"{text!r} is not an {self.name} architecture: expected r<resolution> and {self.num_stages} stages, e.g. r224-k3e4.k5e6-...")
        stages = []
        for index, part in enumerate(parts[1:]):
            if _STAGE_PATTERN.fullmatch(part) is None:
                raise SpaceError(f"stage {index} {part!r} is not of the form k<K>e<E>[.k<K>e<E>...], e.g. k3e4.k5e6")
            stages.append([(int(k), int(e)) for k, e in re.findall(_LAYER, part)])
        if any(len(layers) > self.max_depth for layers in stages):
            raise SpaceError(f"{text!r}: a stage has at most {self.max_depth} layers")
        return self.values_of(int(parts[0][1:]), stages)

    def resolution_of(self, values: Values) -> int:
        return values[0]

    # --- closed forms ---
    def layer_specs(self, architecture: "Architecture") -> Iterator[LayerSpec]:
        for stage, layers in enumerate(self.stages_of(architecture.choices)):
            for j, (kernel, expansion) in enumerate(layers):
                yield self._layer(stage, expansion, kernel, j == 0)

    def _layer(self, stage: int, expansion: int, kernel: int, first: bool) -> LayerSpec:
        input_channels = (self.stem_channels if stage == 0 else self.stage_channels[stage - 1]) if first else self.stage_channels[stage]
        middle = make_divisible(round(input_channels * expansion))
        return LayerSpec(
            stage=stage,
            input_channels=input_channels,
            expanded_channels=middle,
            output_channels=self.stage_channels[stage],
            kernel=kernel,
            stride=self.stage_strides[stage] if first else 1,
            se_channels=make_divisible(middle // 4) if self.stage_se[stage] else 0,
            activation=self.stage_activations[stage],
        )

    def count_params(self, architecture: "Architecture", num_classes: int) -> int:
        stem = self.stem_channels
        total = 3 * stem * 9 + 2 * stem  # the first conv and its BN
        total += stem * 9 + 2 * stem + stem * stem + 2 * stem  # the first block: depthwise, pointwise
        total += sum(self.layer_params(spec) for spec in self.layer_specs(architecture))
        total += self.stage_channels[-1] * self.final_expand_channels + 2 * self.final_expand_channels
        total += self.final_expand_channels * self.head_channels  # the feature mix: no BN, no bias
        return total + self.head_channels * num_classes + num_classes

    def count_macs(self, architecture: "Architecture", resolution: int, num_classes: int, convention: str) -> int:
        stem = self.stem_channels
        size = same_size(resolution, 2)
        total = size * size * (3 * 9 * stem + 9 * stem + stem * stem)  # the first conv and the first block
        for spec in self.layer_specs(architecture):
            total += self.layer_macs(spec, size)
            size = same_size(size, spec.stride)
        total += size * size * self.stage_channels[-1] * self.final_expand_channels
        return total + self.final_expand_channels * self.head_channels + self.head_channels * num_classes

    @staticmethod
    def layer_params(spec: LayerSpec) -> int:
        """A searchable layer's parameters: every layer has an expansion (the fixed first block is not one of them)."""
        middle = spec.expanded_channels
        total = spec.input_channels * middle + 2 * middle  # the expansion
        total += middle * spec.kernel**2 + 2 * middle  # the depthwise conv
        if spec.se_channels:
            total += 2 * middle * spec.se_channels + spec.se_channels + middle  # reduce and expand, with biases
        return total + middle * spec.output_channels + 2 * spec.output_channels

    @staticmethod
    def layer_macs(spec: LayerSpec, input_size: int) -> int:
        middle = spec.expanded_channels
        size = same_size(input_size, spec.stride)
        return input_size * input_size * spec.input_channels * middle + size * size * (spec.kernel**2 * middle + middle * spec.output_channels) + 2 * middle * spec.se_channels

    # --- blocks: stem (first conv and first block), head, and (stage, e, k, first): 5 x 3 x 3 x 2 = 90 layers ---
    def all_blocks(self) -> tuple[Block, ...]:
        layers = tuple(
            Block("mbconv", stage, expansion, kernel, self.stage_se[stage], first, self.name)
            for stage in range(self.num_stages)
            for expansion in self.expansion_choices
            for kernel in self.kernel_choices
            for first in (True, False)
        )
        return (Block("stem", space=self.name), *layers, Block("head", space=self.name))

    def blocks_of(self, architecture: "Architecture") -> list[Block]:
        blocks = [Block("stem", space=self.name)]
        for stage, layers in enumerate(self.stages_of(architecture.choices)):
            blocks += [Block("mbconv", stage, e, k, self.stage_se[stage], j == 0, self.name) for j, (k, e) in enumerate(layers)]
        return blocks + [Block("head", space=self.name)]

    def block_layer(self, block: Block) -> LayerSpec:
        return self._layer(block.stage, block.expansion, block.kernel, block.first)

    def block_input_shape(self, block: Block, resolution: int) -> tuple[int, int, int]:
        if block.kind == "stem":
            return 3, resolution, resolution
        sizes = stage_input_sizes(resolution, self.stage_strides)
        if block.kind == "head":
            return self.stage_channels[-1], sizes[-1], sizes[-1]
        spatial = sizes[block.stage] if block.first else same_size(sizes[block.stage], self.stage_strides[block.stage])
        return self.block_layer(block).input_channels, spatial, spatial

    # --- the `ofa` package's own encoding: ks and e for all 20 layers, d per stage, image_size ---
    def to_ofa(self, values: Values) -> dict[str, Any]:
        """The arguments of `OFAMobileNetV3.set_active_subnet` (ks, e, d), and image_size; the layers
        beyond a stage's depth get the smallest choices (the supernet skips them)."""
        ks, e, d = [], [], []
        for layers in self.stages_of(values):
            d.append(len(layers))
            padded = layers + [(self.kernel_choices[0], self.expansion_choices[0])] * (self.max_depth - len(layers))
            ks += [k for k, _ in padded]
            e += [x for _, x in padded]
        return {"ks": ks, "e": e, "d": d, "image_size": values[0]}

    def from_ofa(self, arch: Mapping[str, Any]) -> Values:
        """Values from the `ofa` package's encoding (checked when they become an Architecture); the
        layers beyond each stage's depth are dropped."""
        try:
            ks, e, d, resolution = list(arch["ks"]), list(arch["e"]), list(arch["d"]), arch["image_size"]
        except (KeyError, TypeError):
            raise SpaceError("an ofa encoding needs ks and e (a value per layer), d (a depth per stage) and image_size") from None
        if len(ks) != self.num_stages * self.max_depth or len(e) != len(ks) or len(d) != self.num_stages:
            raise SpaceError(f"an ofa encoding has {self.num_stages * self.max_depth} ks and e values and {self.num_stages} depths")
        values: list[Any] = [resolution]
        for stage, depth in enumerate(d):
            active = depth if depth in self.depth_choices and not isinstance(depth, bool) else self.max_depth
            values.append(depth)
            for j in range(self.max_depth):
                layer = stage * self.max_depth + j
                values += [ks[layer], e[layer]] if j < active else [None, None]
        return tuple(values)


OFA = MobileNetV3Space(
    name="ofa",
    resolution_choices=tuple(range(128, 225, 4)),
    depth_choices=(2, 3, 4),
    kernel_choices=(3, 5, 7),
    expansion_choices=(3, 4, 6),
    stem_channels=16,
    stage_channels=(24, 40, 80, 112, 160),
    stage_strides=(2, 2, 2, 1, 2),
    stage_activations=("relu", "relu", "h_swish", "h_swish", "h_swish"),
    stage_se=(False, True, False, True, True),
    final_expand_channels=960,
    head_channels=1280,
    num_classes=1000,
    dropout=0.1,
)
