from scipy.stats import spearmanr

from accelbench.search_space import Architecture, count_macs, count_params
from accelbench.search_space.mbconv import make_divisible

B0 = Architecture.from_compact("e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se")


def test_b0():
    assert count_params(B0) == 5_288_548
    assert count_macs(B0, convention="conv_linear") == 385_814_752


def test_params_equal_every_reference_record(anb_records):
    mismatches = []
    for record in anb_records:
        architecture = Architecture.from_reference(record.data["architecture"])
        if round(count_params(architecture) / 1e6, 6) != record.data["model_info"]["params"]:
            mismatches.append(record.name)
    assert len(anb_records) == 3584
    assert mismatches == []


def test_macs_reference_convention_equals_every_record(anb_records):
    ours, theirs, conv_linear = [], [], []
    for record in anb_records:
        architecture = Architecture.from_reference(record.data["architecture"])
        ours.append(count_macs(architecture))
        conv_linear.append(count_macs(architecture, convention="conv_linear"))
        theirs.append(round(record.data["model_info"]["macs"] * 1e6))
    assert ours == theirs
    assert spearmanr(conv_linear, theirs).statistic > 0.99


def test_macs_scale_with_resolution():
    assert count_macs(B0, 160, convention="conv_linear") < count_macs(B0, 192, convention="conv_linear") < count_macs(B0, convention="conv_linear")


def test_make_divisible():
    assert [make_divisible(v) for v in (16, 96, 144, 240, 3, 37)] == [16, 96, 144, 240, 8, 40]
