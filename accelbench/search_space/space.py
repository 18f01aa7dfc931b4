"""What a search space is (`SearchSpace`): everything space-specific behind one interface.

An architecture is a tuple of choice values, one per key of its space (`SearchSpace.keys`), `None` where
a key does not apply (a layer beyond its stage's depth). The spaces themselves (`anb`, `ofa`) and their
registry are in `search_space.spaces`; their torch networks in a module each that only `build` imports.
"""

from __future__ import annotations

import hashlib
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy

from accelbench.common.errors import InputError

if TYPE_CHECKING:
    from accelbench.search_space.architecture import Architecture
    from accelbench.search_space.mbconv import LayerSpec

Values = tuple[Any, ...]  # one choice per key of the space, None where the key does not apply

MAC_CONVENTIONS = ("reference", "conv_linear")


class SpaceError(InputError):
    """An architecture, encoding or space name that does not fit the search space."""


KINDS = ("stem", "mbconv", "head")


@dataclass(frozen=True)
class Block:
    """A block of a network, as per-block latency tables (ProxylessNAS-style) count them: the stem, the
    head, or one MBConv layer by (stage, expansion, kernel, squeeze-excite, first of its stage or repeated)."""

    kind: str  # stem, mbconv, head
    stage: int | None = None
    expansion: int | None = None
    kernel: int | None = None
    se: bool | None = None
    first: bool | None = None  # the stage's first layer (its stride and input width) or a repeated one
    space: str = "anb"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpaceError(f"block kind={self.kind!r} is not allowed; choices are {', '.join(KINDS)}")

    @property
    def key(self) -> str:
        """e.g. stem, head, s3-e6k5se-first, s0-e1k3-repeat."""
        if self.kind != "mbconv":
            return self.kind
        return f"s{self.stage}-e{self.expansion}k{self.kernel}{'se' if self.se else ''}-{'first' if self.first else 'repeat'}"

    @property
    def block_id(self) -> str:
        """The first 16 hex digits of SHA-256 of "<space>-block/<key>" (the id its records are keyed by)."""
        return hashlib.sha256(f"{self.space}-block/{self.key}".encode("ascii")).hexdigest()[:16]

    @classmethod
    def from_key(cls, key: str, space: str = "anb") -> "Block":
        if key in ("stem", "head"):
            return cls(key, space=space)
        try:
            stage, choice, position = key.split("-")
            expansion, kernel = choice[1:].split("k")
            return cls("mbconv", int(stage[1:]), int(expansion), int(kernel.removesuffix("se")), kernel.endswith("se"), position == "first", space)
        except ValueError:
            raise SpaceError(f"block {key!r} is not of the form s<stage>-e<E>k<K>[se]-first|repeat, stem or head") from None


class SearchSpace(ABC):
    """One search space: its choices, how an architecture is written and numbered, its closed-form cost,
    its network and its blocks (for per-block latency tables)."""

    name: str
    num_classes: int
    network_module: str  # the module (it imports torch) with build(architecture, ...) and build_block(block, ...)
    network_options: tuple[str, ...]  # the options its network takes besides num_classes (see builder.build)
    has_resolution_choice: bool = False  # the input resolution is one of the architecture's choices (ofa)

    # --- choices ---
    @property
    @abstractmethod
    def keys(self) -> tuple[str, ...]:
        """The flat keys of an architecture, in encoding order (the reference's, for `anb`)."""

    @abstractmethod
    def choices_of(self, key: str) -> tuple:
        """The values `key` allows, in the space's order."""

    @property
    @abstractmethod
    def key_pattern(self) -> str:
        """The keys in words, for messages, e.g. block0..6_{e,k,l,se}."""

    def missing_keys(self, keys: Mapping[str, Any]) -> list[str]:
        """The keys an architecture needs that the mapping `keys` lacks."""
        return [key for key in self.keys if key not in keys]

    def default_of(self, key: str) -> Any:
        """The value a ConfigSpace of the space starts from."""
        return self.choices_of(key)[0]

    def conditions(self) -> tuple[tuple[str, str, tuple], ...]:
        """(key, parent key, parent values under which key applies): a layer's keys apply only in deep enough stages."""
        return ()

    @abstractmethod
    def check(self, values: Values) -> Values:
        """`values` if they are an architecture of the space, else a SpaceError naming the first key that is not."""

    # --- numbering and text ---
    @property
    @abstractmethod
    def size(self) -> int:
        """How many distinct architectures the space has."""

    @abstractmethod
    def to_index(self, values: Values) -> int:
        """The architecture's number in [0, size)."""

    @abstractmethod
    def from_index(self, index: int) -> Values:
        """The architecture numbered `index` (0 <= index < size, checked by the caller)."""

    def draw(self, bits: int) -> Values:
        """The architecture that a random integer of 256 bits picks, for seeded sampling: uniform over
        the architectures unless a space says otherwise (bias below 1e-50 for sizes up to 1e21)."""
        return self.from_index(bits % self.size)

    @abstractmethod
    def compact(self, values: Values) -> str:
        """A short human string of the architecture; its arch_id is hashed from it."""

    @abstractmethod
    def parse_compact(self, text: str) -> Values:
        """The values of a compact string (checked afterwards by the caller)."""

    # --- closed forms ---
    def resolution_of(self, values: Values) -> int:
        """The input resolution the architecture is measured at: a fixed one, or one of its choices."""
        return 224

    @abstractmethod
    def count_params(self, architecture: "Architecture", num_classes: int) -> int:
        """Parameters of the network, without torch."""

    @abstractmethod
    def count_macs(self, architecture: "Architecture", resolution: int, num_classes: int, convention: str) -> int:
        """Multiply-accumulates of one image at `resolution` px, without torch (`MAC_CONVENTIONS`)."""

    # --- blocks ---
    @abstractmethod
    def all_blocks(self) -> tuple["Block", ...]:
        """Every distinct block of the space (the rows of a per-block latency table)."""

    @abstractmethod
    def blocks_of(self, architecture: "Architecture") -> list["Block"]:
        """The network's blocks in order, each one of `all_blocks()`."""

    @abstractmethod
    def block_layer(self, block: "Block") -> "LayerSpec":
        """An MBConv block's channels, stride, kernel and squeeze width."""

    @abstractmethod
    def block_input_shape(self, block: "Block", resolution: int) -> tuple[int, int, int]:
        """(channels, height, width) of the block's input when the network's input is `resolution` px."""


def check_choice(key: str, value: Any, choices: tuple) -> None:
    """A SpaceError naming `key` unless `value` is one of `choices` (an integer, or a boolean for a boolean key)."""
    boolean = isinstance(choices[0], bool)
    # bool is an int in Python: keep True out of integer keys and 1 out of boolean ones
    if not boolean and (is_bool(value) or not isinstance(value, numbers.Integral)):
        raise SpaceError(f"{key}={value!r} is not an integer")
    if is_bool(value) != boolean or value not in choices:
        allowed = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
        raise SpaceError(f"{key}={value!r} is not allowed; choices are {allowed}")


def is_bool(value: Any) -> bool:
    # numpy's bool (from ConfigSpace, pandas) is no subclass of bool
    return isinstance(value, (bool, numpy.bool_))
