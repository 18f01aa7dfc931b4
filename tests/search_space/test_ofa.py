"""The `ofa` space (Once-for-All's MobileNetV3) against the `ofa` package's own network: parameters,
MACs, and the same outputs for the same weights; its encodings, numbering, sampling and errors."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from accelbench.search_space import Architecture, SpaceError, count_macs, count_params, from_index, get_space, sample, to_index
from accelbench.search_space.blocks import all_blocks, blocks_of, input_shape
from accelbench.search_space.builder import build, build_block
from accelbench.search_space.configspace import to_configspace
from accelbench.search_space.ofa import OFA

indices = st.integers(0, OFA.size - 1).map(lambda index: from_index(index, "ofa"))


@pytest.fixture(scope="module")
def supernet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3

        return OFAMobileNetV3(ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])


def subnet_of(supernet, architecture: Architecture, preserve_weight: bool = False):
    encoding = OFA.to_ofa(architecture.choices)
    supernet.set_active_subnet(ks=encoding["ks"], e=encoding["e"], d=encoding["d"])
    return supernet.get_active_subnet(preserve_weight=preserve_weight).eval()


def test_params_equal_the_ofa_package_network_for_200_subnets(supernet):
    architectures = sample(200, 11, "ofa")
    theirs = [sum(p.numel() for p in subnet_of(supernet, a).parameters()) for a in architectures]
    assert [count_params(a) for a in architectures] == theirs
    assert len(set(theirs)) > 150  # the subnets differ


def test_macs_equal_a_counted_torch_module_at_the_architectures_own_resolution():
    for architecture in sample(4, 12, "ofa"):
        resolution = OFA.resolution_of(architecture.choices)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            build(architecture).eval()(torch.zeros(1, 3, resolution, resolution))
        assert count_macs(architecture) == count_macs(architecture, convention="conv_linear") == counter.get_total_flops() // 2


def test_the_builder_computes_what_ofa_computes_with_the_same_weights(supernet):
    torch.manual_seed(0)
    for architecture in sample(3, 13, "ofa"):
        theirs = subnet_of(supernet, architecture, preserve_weight=True)
        ours = build(architecture).eval()
        ours.load_state_dict(theirs.state_dict())  # by name: every name must match
        resolution = OFA.resolution_of(architecture.choices)
        x = torch.randn(2, 3, resolution, resolution)
        with torch.no_grad():
            assert torch.equal(ours(x), theirs(x))


@given(indices)
def test_index_compact_json_and_ofa_encoding_round_trip(architecture):
    assert from_index(to_index(architecture), "ofa") == architecture
    assert Architecture.from_compact(architecture.compact(), "ofa") == architecture
    assert Architecture.from_json(architecture.to_json()) == architecture
    assert Architecture(OFA.from_ofa(OFA.to_ofa(architecture.choices)), "ofa") == architecture
    assert Architecture.from_reference(architecture.to_reference(), "ofa") == architecture


def test_the_space_size_and_the_resolution_choices():
    assert OFA.stage_size == 9**2 + 9**3 + 9**4
    assert OFA.resolution_choices == tuple(range(128, 225, 4)) and len(OFA.resolution_choices) == 25
    assert OFA.size == 25 * 7371**5


def test_sampling_draws_each_depth_alike_and_is_seeded():
    drawn = sample(300, 5, "ofa")
    depths = [len(layers) for a in drawn for layers in OFA.stages_of(a.choices)]
    assert {d: depths.count(d) for d in (2, 3, 4)} == pytest.approx({2: 500, 3: 500, 4: 500}, abs=80)
    assert sample(300, 5, "ofa") == drawn and sample(20, 5, "ofa") == drawn[:20]
    assert len(set(drawn)) == 300 and {a.space for a in drawn} == {"ofa"}


def test_configspace_samples_are_architectures():
    configspace = to_configspace("ofa")
    configspace.seed(3)
    for configuration in configspace.sample_configuration(50):
        keys = {key: (int(value) if not isinstance(value, str) else value) for key, value in dict(configuration).items()}
        assert Architecture.from_reference(keys, "ofa").to_reference() == keys


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stage2_d": 5}, "stage2_d=5 is not allowed; choices are 2, 3, 4"),
        ({"stage0_layer1_k": 9}, "stage0_layer1_k=9 is not allowed; choices are 3, 5, 7"),
        ({"stage4_layer0_e": 2}, "stage4_layer0_e=2 is not allowed; choices are 3, 4, 6"),
        ({"resolution": 226}, "resolution=226 is not allowed; choices are 128, 132,"),
        ({"resolution": True}, "resolution=True is not an integer"),
        ({"stage1_d": 2, "stage1_layer3_k": 3}, "stage1_layer3_k=3 does not apply: stage1_d=2 has layers 0..1"),
        ({"block0_e": 1}, "unknown keys: block0_e"),
    ],
)
def test_bad_architectures_name_the_field(change, message):
    keys = {"resolution": 224, **{f"stage{i}_d": 2 for i in range(5)}}
    keys.update({f"stage{i}_layer{j}_{f}": 3 for i in range(5) for j in range(2) for f in ("k", "e")})
    keys.update(change)
    with pytest.raises(SpaceError, match=message) as error:
        Architecture.from_reference(keys, "ofa")
    assert "\n" not in str(error.value)


def test_an_architecture_of_one_space_is_refused_by_the_other():
    anb = sample(1, 0)[0]
    with pytest.raises(SpaceError, match="these are keys of the anb space .block0_e, ...., not of the ofa space; give space='anb'"):
        Architecture.from_reference(anb.to_reference(), "ofa")
    with pytest.raises(SpaceError, match="these are keys of the ofa space .resolution, ...., not of the anb space"):
        Architecture.from_reference(sample(1, 0, "ofa")[0].to_reference(), "anb")
    with pytest.raises(SpaceError, match="is not an ofa architecture"):
        Architecture.from_compact(anb.compact(), "ofa")


def test_blocks_cover_every_architecture_and_chain_into_the_network():
    assert len(all_blocks("ofa")) == 2 + 5 * 3 * 3 * 2
    assert len({b.block_id for b in all_blocks("ofa")} | {b.block_id for b in all_blocks("anb")}) == 92 + 170
    for architecture in sample(3, 14, "ofa"):
        blocks = blocks_of(architecture)
        assert set(blocks) <= set(all_blocks("ofa"))
        resolution = OFA.resolution_of(architecture.choices)
        x = torch.zeros(1, 3, resolution, resolution)
        with torch.no_grad():
            for block in blocks:
                assert tuple(x.shape[1:]) == input_shape(block, resolution), block.key
                x = build_block(block)(x)
        assert tuple(x.shape) == (1, 1000)


def test_the_space_fixes_its_activations():
    from accelbench.search_space import ofa_network

    architecture = sample(1, 0, "ofa")[0]
    with pytest.raises(SpaceError, match="activation='relu' does not apply to the ofa space"):
        ofa_network.build(architecture, activation="relu")
    torch.manual_seed(0)
    built = build(architecture, activation="relu")  # a recipe's activation: not the ofa network's to take
    assert isinstance(built, ofa_network.Network) and not any(isinstance(m, torch.nn.SiLU) for m in built.modules())
    with pytest.raises(SpaceError, match="network options colour are unknown"):
        build(architecture, colour="red")
    assert get_space("ofa") is OFA
