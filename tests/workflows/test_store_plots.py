"""Pareto fronts and the store's plots."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from accelbench.workflows.store_plots import pareto_mask


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=40, unique=True))
def test_pareto_front_is_exactly_the_undominated_points(points):
    accuracy, cost = (np.array(values, dtype=float) for values in zip(*points))
    mask = pareto_mask(accuracy, cost)
    for index in range(len(points)):
        dominated = np.any((accuracy >= accuracy[index]) & (cost <= cost[index]) & ((accuracy > accuracy[index]) | (cost < cost[index])))
        assert mask[index] == (not dominated)
