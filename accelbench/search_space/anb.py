"""The Accel-NASBench space: torchvision's EfficientNet-B0 skeleton of seven MBConv stages, each with its
own expansion, kernel, depth and squeeze-excite (`block{i}_{e,k,l,se}`, the reference's keys).

Closed forms: the parameter count, and MACs in two documented conventions (`count_macs`); the default,
`reference`, is the one the Accel-NASBench records were counted with (thop), so that imported and newly
collected records agree. The network is in `search_space.anb_network`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator


from accelbench.search_space.mbconv import LayerSpec, make_divisible, same_size, stage_input_sizes
from accelbench.search_space.space import Block, SearchSpace, SpaceError, Values, check_choice, is_bool

if TYPE_CHECKING:
    from accelbench.search_space.architecture import Architecture

FIELDS = ("e", "k", "l", "se")
_STAGE_PATTERN = re.compile(r"e(\d+)k(\d+)l(\d+)(se)?")


@dataclass(frozen=True)
class Stage:
    expansion: int
    kernel: int
    layers: int
    se: bool

    def compact(self) -> str:
        return f"e{self.expansion}k{self.kernel}l{self.layers}{'se' if self.se else ''}"


@dataclass(frozen=True)
class MnasNetSpace(SearchSpace):
    """A MnasNet-style space: a fixed skeleton of MBConv stages, each with its own choices."""

    name: str
    expansion_choices: tuple[int, ...]
    kernel_choices: tuple[int, ...]
    layer_choices: tuple[tuple[int, ...], ...]  # one tuple per stage
    se_choices: tuple[bool, ...]
    stem_channels: int
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    head_channels: int
    num_classes: int
    dropout: float
    stochastic_depth: float
    network_module: str = "accelbench.search_space.anb_network"
    network_options: tuple[str, ...] = ("activation", "dropout", "stochastic_depth", "classifier_init")

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    def stage_input_channels(self, stage: int) -> int:
        return self.stem_channels if stage == 0 else self.stage_channels[stage - 1]

    def stage_size(self, stage: int) -> int:
        """How many distinct configurations one stage has."""
        return len(self.expansion_choices) * len(self.kernel_choices) * len(self.layer_choices[stage]) * len(self.se_choices)

    # --- choices ---
    @cached_property
    def keys(self) -> tuple[str, ...]:
        """The reference's flat keys, `block{i}_{e,k,l,se}`, stage by stage."""
        return tuple(f"block{stage}_{field}" for stage in range(self.num_stages) for field in FIELDS)

    @property
    def key_pattern(self) -> str:
        return f"block0..{self.num_stages - 1}_{{e,k,l,se}}"

    def choices_of(self, key: str) -> tuple:
        """e.g. `block5_l` -> (1, 2, 3, 4)."""
        if key not in self.keys:
            raise SpaceError(f"{key!r} is not a key of the {self.name} space; keys are {self.key_pattern}")
        stage, field = int(key[len("block") : key.index("_")]), key.split("_", 1)[1]
        return {"e": self.expansion_choices, "k": self.kernel_choices, "l": self.layer_choices[stage], "se": self.se_choices}[field]

    @cached_property
    def key_choices(self) -> tuple[tuple, ...]:
        """`choices_of` of every key, in key order."""
        return tuple(self.choices_of(key) for key in self.keys)

    def default_of(self, key: str) -> Any:
        return False if key.endswith("_se") else self.choices_of(key)[0]  # the reference's ConfigSpace defaults

    def check(self, values: Values) -> Values:
        if len(values) != len(self.keys):
            raise SpaceError(f"an {self.name} architecture has {len(self.keys)} choices ({self.key_pattern}), got {len(values)}")
        for key, value, choices in zip(self.keys, values, self.key_choices):
            check_choice(key, value, choices)
        return tuple(bool(v) if is_bool(v) else int(v) for v in values)

    # --- stages: the values read four at a time ---
    def stages_of(self, values: Values) -> tuple[Stage, ...]:
        return tuple(Stage(*values[i : i + len(FIELDS)]) for i in range(0, len(values), len(FIELDS)))

    @staticmethod
    def values_of(stages: tuple[Stage, ...]) -> Values:
        return tuple(value for s in stages for value in (s.expansion, s.kernel, s.layers, s.se))

    # --- numbering and text ---
    @property
    def size(self) -> int:
        return math.prod(self.stage_size(stage) for stage in range(self.num_stages))

    def to_index(self, values: Values) -> int:
        """Mixed-radix number; stage 0 is the most significant digit, then e, k, l, se."""
        index = 0
        for value, choices in zip(values, self.key_choices):
            index = index * len(choices) + choices.index(value)
        return index

    def from_index(self, index: int) -> Values:
        values = []
        for choices in reversed(self.key_choices):
            index, digit = divmod(index, len(choices))
            values.append(choices[digit])
        return tuple(reversed(values))

    def compact(self, values: Values) -> str:
        """e.g. "e1k3l1se-e6k3l2se-...", a stage each."""
        return "-".join(stage.compact() for stage in self.stages_of(values))

    def parse_compact(self, text: str) -> Values:
        parts = text.strip().split("-")
        if len(parts) != self.num_stages:
            raise SpaceError(f"an {self.name} architecture has {self.num_stages} stages, got {len(parts)} in {text!r}")
        stages = []
        for index, part in enumerate(parts):
            match = _STAGE_PATTERN.fullmatch(part)
            if match is None:
                raise SpaceError(f"stage {index} {part!r} is not of the form e<E>k<K>l<L>[se], e.g. e6k3l2se")
            e, k, l, se = match.groups()
            stages.append(Stage(int(e), int(k), int(l), se is not None))
        return self.values_of(tuple(stages))

    # --- closed forms ---
    def layer_specs(self, architecture: "Architecture") -> Iterator[LayerSpec]:
        for number, stage in enumerate(self.stages_of(architecture.choices)):
            for layer in range(stage.layers):
                yield self._layer(number, stage.expansion, stage.kernel, stage.se, layer == 0)

    def _layer(self, stage: int, expansion: int, kernel: int, se: bool, first: bool) -> LayerSpec:
        input_channels = self.stage_input_channels(stage) if first else self.stage_channels[stage]
        return LayerSpec(
            stage=stage,
            input_channels=input_channels,
            expanded_channels=make_divisible(input_channels * expansion),
            output_channels=self.stage_channels[stage],
            kernel=kernel,
            stride=self.stage_strides[stage] if first else 1,
            se_channels=max(1, input_channels // 4) if se else 0,
        )

    def count_params(self, architecture: "Architecture", num_classes: int) -> int:
        total = 3 * self.stem_channels * 9 + 2 * self.stem_channels
        for spec in self.layer_specs(architecture):
            expanded = spec.expanded_channels
            if spec.has_expansion:
                total += spec.input_channels * expanded + 2 * expanded
            total += expanded * spec.kernel**2 + 2 * expanded
            if spec.se_channels:
                total += 2 * expanded * spec.se_channels + spec.se_channels + expanded
            total += expanded * spec.output_channels + 2 * spec.output_channels
        total += self.stage_channels[-1] * self.head_channels + 2 * self.head_channels
        return total + self.head_channels * num_classes + num_classes

    def count_macs(self, architecture: "Architecture", resolution: int, num_classes: int, convention: str) -> int:
        """`conv_linear`: convolutions and linear layers only (= torch.utils.flop_counter FLOPs / 2).
        `reference`: the Accel-NASBench records' convention (thop): conv_linear plus 4 per batch-norm
        output element, and each global average pool counted as its input plus output elements. It
        equals the `macs` of every shared reference record exactly."""
        reference = convention == "reference"

        def conv(size: int, in_per_group: int, kernel: int, out_channels: int) -> int:
            macs = size * size * in_per_group * kernel * kernel * out_channels
            return macs + (4 * size * size * out_channels if reference else 0)

        size = same_size(resolution, 2)
        total = conv(size, 3, 3, self.stem_channels)
        for spec in self.layer_specs(architecture):
            expanded = spec.expanded_channels
            if spec.has_expansion:
                total += conv(size, spec.input_channels, 1, expanded)
            size = same_size(size, spec.stride)
            total += conv(size, 1, spec.kernel, expanded)
            if spec.se_channels:
                total += 2 * expanded * spec.se_channels
                if reference:
                    total += size * size * expanded + expanded
            total += conv(size, expanded, 1, spec.output_channels)
        total += conv(size, self.stage_channels[-1], 1, self.head_channels)
        if reference:
            total += size * size * self.head_channels + self.head_channels
        return total + self.head_channels * num_classes

    # --- blocks: stem, head, and (stage, e, k, se, first): 7 x 3 x 2 x 2 x 2 = 168 layers ---
    def all_blocks(self) -> tuple[Block, ...]:
        layers = tuple(
            Block("mbconv", stage, expansion, kernel, se, first, self.name)
            for stage in range(self.num_stages)
            for expansion in self.expansion_choices
            for kernel in self.kernel_choices
            for se in (True, False)
            for first in (True, False)
        )
        return (Block("stem", space=self.name), *layers, Block("head", space=self.name))

    def blocks_of(self, architecture: "Architecture") -> list[Block]:
        blocks = [Block("stem", space=self.name)]
        for stage, choice in enumerate(self.stages_of(architecture.choices)):
            for layer in range(choice.layers):
                blocks.append(Block("mbconv", stage, choice.expansion, choice.kernel, choice.se, layer == 0, self.name))
        return blocks + [Block("head", space=self.name)]

    def block_layer(self, block: Block) -> LayerSpec:
        return self._layer(block.stage, block.expansion, block.kernel, block.se, block.first)

    def block_input_shape(self, block: Block, resolution: int) -> tuple[int, int, int]:
        if block.kind == "stem":
            return 3, resolution, resolution
        sizes = stage_input_sizes(resolution, self.stage_strides)
        if block.kind == "head":
            return self.stage_channels[-1], sizes[-1], sizes[-1]
        spatial = sizes[block.stage] if block.first else same_size(sizes[block.stage], self.stage_strides[block.stage])
        return self.block_layer(block).input_channels, spatial, spatial



ANB = MnasNetSpace(
    name="anb",
    expansion_choices=(1, 4, 6),
    kernel_choices=(3, 5),
    layer_choices=((1, 2, 3),) * 5 + ((1, 2, 3, 4),) + ((1, 2, 3),),
    se_choices=(True, False),  # the reference's ConfigSpace order
    stem_channels=32,
    stage_channels=(16, 24, 40, 80, 112, 192, 320),
    stage_strides=(1, 2, 2, 2, 1, 2, 1),
    head_channels=1280,
    num_classes=1000,
    dropout=0.2,
    stochastic_depth=0.2,
)
