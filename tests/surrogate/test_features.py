"""Features: the closed-form params/MACs per stage add up exactly; every input form agrees; bad input is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.search_space import ANB, SpaceError, count_macs, count_params, sample
from accelbench.surrogate.features import encode, feature_names, features


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31))
def test_params_and_macs_features_equal_the_closed_form(seed):
    architectures = sample(25, seed)
    matrix = features(architectures)
    names = feature_names()
    assert matrix[:, names.index("params")].tolist() == [count_params(a) for a in architectures]
    assert matrix[:, names.index("macs")].tolist() == [count_macs(a) for a in architectures]
    assert matrix[:, names.index("depth")].tolist() == [sum(s.layers for s in ANB.stages_of(a.choices)) for a in architectures]


def test_every_input_form_gives_the_same_features():
    architectures = sample(40, 9)
    frame = pd.DataFrame([a.to_reference() for a in architectures])
    assert np.array_equal(features(architectures), features(frame))
    assert np.array_equal(features(frame), features([a.to_reference() for a in architectures]))


@pytest.mark.parametrize("change, message", [
    ({"block3_e": 5}, "architecture 0: block3_e=5 is not allowed; choices are 1, 4, 6"),
    ({"block5_l": 5}, "block5_l=5 is not allowed; choices are 1, 2, 3, 4"),
    ({"block0_se": 1}, "block0_se=1 is not allowed; choices are true, false"),
    ({"block1_k": True}, "block1_k=True is not allowed"),
])
def test_bad_choices_are_named(change, message):
    keys = {**sample(1, 0)[0].to_reference(), **change}
    with pytest.raises(SpaceError, match=message.replace("(", r"\(")):
        features([keys])


def test_missing_columns_are_named():
    frame = pd.DataFrame([sample(1, 0)[0].to_reference()]).drop(columns=["block2_k"])
    with pytest.raises(SpaceError, match="missing columns: block2_k"):
        features(frame)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(0, 10_000))
def test_architecture_objects_encode_as_their_reference_keys_do(count, seed):
    """Architecture objects skip the per-value checks (they were checked when made) but not correctness."""
    architectures = sample(count, seed)
    frame = pd.DataFrame([a.to_reference() for a in architectures])
    assert np.array_equal(encode(architectures), encode(frame))
    assert np.array_equal(encode(architectures), encode([a.to_reference() for a in architectures]))
