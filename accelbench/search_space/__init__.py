"""Search spaces behind one interface (`space.SearchSpace`; the registry in `spaces`): the Accel-NASBench
MnasNet space `anb`, architecture values of any space, ids, sampling, encodings, closed-form costs.

The spaces' network modules (`anb_network`), reached through `search_space.builder`, are the only ones that import torch.
"""

from accelbench.search_space.anb import ANB, Stage
from accelbench.search_space.architecture import Architecture
from accelbench.search_space.complexity import count_macs, count_params
from accelbench.search_space.sampling import from_index, sample, to_index
from accelbench.search_space.space import SearchSpace, SpaceError
from accelbench.search_space.spaces import SPACES, get_space

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
