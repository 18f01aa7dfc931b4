import pytest
import torch
import torchvision
from hypothesis import given, settings
from torch.utils.flop_counter import FlopCounterMode

from accelbench.search_space import Architecture, SpaceError, count_macs, count_params, sample
from accelbench.search_space.builder import build
from tests.search_space.strategies import architectures

B0 = Architecture.from_compact("e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se")


def test_b0_with_silu_is_torchvision_efficientnet_b0():
    ours = build(B0, activation="silu").eval()
    reference = torchvision.models.efficientnet_b0().eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    ours.load_state_dict(reference.state_dict())
    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images))


@settings(max_examples=15, deadline=None)
@given(architectures)
def test_built_params_and_macs_equal_closed_form(architecture):
    model = build(architecture).eval()
    assert sum(p.numel() for p in model.parameters()) == count_params(architecture)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert counter.get_total_flops() // 2 == count_macs(architecture, 64, convention="conv_linear")


@pytest.mark.parametrize("activation, act, gate", [("relu", torch.nn.ReLU, torch.nn.Hardsigmoid), ("silu", torch.nn.SiLU, torch.nn.Sigmoid)])
def test_activation_and_gate(activation, act, gate):
    model = build(B0, activation=activation)
    kinds = {type(m) for m in model.modules()}
    assert act in kinds and gate in kinds
    other = {torch.nn.ReLU, torch.nn.SiLU, torch.nn.Hardsigmoid, torch.nn.Sigmoid} - {act, gate}
    assert not kinds & other


def test_structure_follows_the_space():
    architecture = Architecture.from_compact("e1k5l2-e4k3l1se-e6k5l3-e1k3l1se-e4k3l2-e6k5l4se-e1k3l3")
    model = build(architecture)
    stages = list(model.features)[1:8]
    assert [len(stage) for stage in stages] == [2, 1, 3, 1, 2, 4, 3]
    first = stages[0][0]
    assert len(first.block) == 2  # e=1: no expansion conv, depthwise + projection
    assert stages[1][0].block[0][0].out_channels == 64  # 16 * 4
    se = stages[1][0].block[2]
    assert se.fc1.out_channels == 4  # max(1, 16 // 4)
    depth = [block.stochastic_depth.p for stage in stages for block in stage]
    assert depth[0] == 0 and depth == sorted(depth) and depth[-1] == pytest.approx(0.2 * 15 / 16)
    assert [block.use_res_connect for block in stages[2]] == [False, True, True]


def test_forward_random_architectures_small_resolution():
    for architecture in sample(4, seed=11):
        model = build(architecture, num_classes=10).train()
        logits = model(torch.randn(2, 3, 64, 64))
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()
        logits.sum().backward()


def test_bad_activation():
    with pytest.raises(SpaceError, match="activation='gelu' is not allowed; choices are relu, silu"):
        build(B0, activation="gelu")
