"""The registry of search spaces. A new space is one module implementing `space.SearchSpace` (and one
for its torch network, named by its `network_module`), and one entry here."""

from __future__ import annotations

from accelbench.search_space.anb import ANB
from accelbench.search_space.ofa import OFA
from accelbench.search_space.space import SearchSpace, SpaceError

SPACES: dict[str, SearchSpace] = {space.name: space for space in (ANB, OFA)}


def get_space(name: str) -> SearchSpace:
    try:
        return SPACES[name]
    except (KeyError, TypeError):
        raise SpaceError(f"space={name!r} is unknown; known spaces are {', '.join(sorted(SPACES))}") from None
