import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from accelbench.search_space import ANB, SpaceError, sample, to_index


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 300), st.integers(-(2**40), 2**40))
def test_no_duplicates_and_prefix_stable(n, seed):
    drawn = sample(n, seed)
    assert len(drawn) == n == len(set(drawn))
    assert sample(n // 2, seed) == drawn[: n // 2]


def test_same_seed_same_sample_in_another_process():
    code = "from accelbench.search_space import sample; print(','.join(a.arch_id for a in sample(50, 7)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == ",".join(a.arch_id for a in sample(50, 7))
    assert sample(50, 7) != sample(50, 8)


def test_choices_are_uniform():
    drawn = sample(6000, seed=3)
    for stage in (0, 5):
        for field, choices in [
            ("expansion", ANB.expansion_choices),
            ("kernel", ANB.kernel_choices),
            ("layers", ANB.layer_choices[stage]),
            ("se", ANB.se_choices),
        ]:
            counts = [sum(getattr(ANB.stages_of(a.choices)[stage], field) == c for a in drawn) for c in choices]
            assert chisquare(counts).pvalue > 1e-4, (stage, field, counts)
    # the index, a function of all choices, is uniform over the whole range too
    deciles = [0] * 10
    for architecture in drawn:
        deciles[to_index(architecture) * 10 // ANB.size] += 1
    assert chisquare(deciles).pvalue > 1e-4


@pytest.mark.parametrize("n, seed", [(-1, 0), (ANB.size + 1, 0), (1.5, 0), (3, "x")])
def test_bad_arguments(n, seed):
    with pytest.raises(SpaceError):
        sample(n, seed)
