"""Search spaces: the Accel-NASBench MnasNet space, architecture values, ids, sampling, encodings.

The builder (`search_space.builder`) is the only module that imports torch.
"""

from accelbench.search_space.architecture import Architecture, Stage
from accelbench.search_space.complexity import count_macs, count_params
from accelbench.search_space.sampling import from_index, sample, to_index
from accelbench.search_space.space import ANB, SPACES, SearchSpace, SpaceError, get_space

__all__ = [
    "ANB",
    "SPACES",
    "Architecture",
    "SearchSpace",
    "SpaceError",
    "Stage",
    "count_macs",
    "count_params",
    "from_index",
    "get_space",
    "sample",
    "to_index",
]
