"""The ofa space's surrogate features and genotypes: tables against the closed forms, every input form
giving the same matrix, one genotype per architecture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.optimizers.encoding import canonical, from_architectures, mutate, random_genotypes, to_architecture, to_values
from accelbench.search_space import Architecture, SpaceError, count_macs, count_params, sample
from accelbench.search_space.ofa import OFA
from accelbench.surrogate.features import encode, feature_names, features


@settings(max_examples=60, deadline=None)
@given(st.integers(0, OFA.size - 1))
def test_params_and_macs_features_equal_the_closed_forms(index):
    architecture = Architecture(OFA.from_index(index), "ofa")
    row = dict(zip(feature_names("ofa"), features([architecture], "ofa")[0]))
    assert row["params"] == count_params(architecture)
    assert row["macs"] == count_macs(architecture)  # at the architecture's own resolution
    assert sum(row[f"params_stage{i}"] for i in range(OFA.num_stages)) < row["params"]
    assert row["depth"] == sum(layers != [] and len(layers) for layers in OFA.stages_of(architecture.choices))
    assert row["resolution"] == architecture.choices[0]


def test_a_frame_of_keys_with_missing_values_encodes_as_the_architectures_do():
    architectures = sample(50, 4, "ofa")
    frame = pd.DataFrame([a.to_reference() for a in architectures], columns=list(OFA.keys))  # None -> NaN, ints -> floats
    assert frame.isna().any().any() and frame.dtypes.map(lambda d: d.kind).eq("f").any()
    assert np.array_equal(encode(frame, "ofa"), encode(architectures, "ofa"))
    assert np.array_equal(encode([a.to_reference() for a in architectures], "ofa"), encode(architectures, "ofa"))


def test_a_bad_value_or_an_architecture_of_the_other_space_is_refused_naming_it():
    rows = [a.to_reference() for a in sample(3, 1, "ofa")]
    rows[2]["stage3_d"] = 5
    with pytest.raises(SpaceError, match=r"architecture 2: .*stage3_d=5"):
        encode(rows, "ofa")
    with pytest.raises(SpaceError, match="of the space 'anb'; these surrogates answer for 'ofa'"):
        features(sample(2, 0, "anb"), "ofa")


def test_genotypes_make_valid_architectures_and_one_genotype_each():
    rng = np.random.default_rng(0)
    genotypes = random_genotypes(rng, 300, "ofa")
    architectures = [to_architecture(g, "ofa") for g in genotypes]
    assert np.array_equal(from_architectures(architectures, "ofa"), genotypes)  # already canonical
    assert np.array_equal(to_values(genotypes, "ofa"), encode(architectures, "ofa"))
    depths = np.array([[len(layers) for layers in OFA.stages_of(a.choices)] for a in architectures])
    assert set(np.unique(depths)) == {2, 3, 4}
    for genotype in genotypes[:50]:
        child = mutate(rng, genotype, changes=2, space="ofa")
        assert np.array_equal(canonical(child[None, :], "ofa")[0], child)
        to_architecture(child, "ofa")  # valid
