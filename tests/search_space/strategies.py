"""Hypothesis strategies for architectures."""

from hypothesis import strategies as st

from accelbench.search_space import ANB, Architecture, Stage


def stages(number: int) -> st.SearchStrategy[Stage]:
    return st.builds(
        Stage,
        st.sampled_from(ANB.expansion_choices),
        st.sampled_from(ANB.kernel_choices),
        st.sampled_from(ANB.layer_choices[number]),
        st.sampled_from(ANB.se_choices),
    )


architectures = st.tuples(*(stages(n) for n in range(ANB.num_stages))).map(lambda stages: Architecture(ANB.values_of(stages)))
