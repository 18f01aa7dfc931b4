import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.search_space import ANB, Architecture, SpaceError, Stage, from_index, to_index
from tests.search_space.strategies import architectures

B0 = "e1k3l1se-e6k3l2se-e6k5l2se-e6k3l3se-e6k5l3se-e6k5l4se-e6k3l1se"


@given(architectures)
def test_reference_keys_round_trip(architecture):
    keys = architecture.to_reference()
    assert list(keys) == [f"block{i}_{f}" for i in range(7) for f in ("e", "k", "l", "se")]
    assert Architecture.from_reference(json.loads(json.dumps(keys))) == architecture


@given(architectures)
def test_compact_and_json_round_trip(architecture):
    assert Architecture.from_compact(architecture.compact()) == architecture
    assert Architecture.from_json(architecture.to_json()) == architecture


@given(architectures)
def test_index_round_trip(architecture):
    index = to_index(architecture)
    assert 0 <= index < ANB.size
    assert from_index(index) == architecture


@given(st.integers(0, ANB.size - 1))
def test_every_index_is_an_architecture(index):
    assert to_index(from_index(index)) == index


@given(architectures, architectures)
def test_arch_id_equal_exactly_when_architectures_equal(first, second):
    assert (first.arch_id == second.arch_id) == (first == second)
    assert (hash(first) == hash(second)) or first != second


def test_arch_id_is_documented_hash_and_stable_across_processes():
    architecture = Architecture.from_compact(B0)
    code = f"from accelbench.search_space import Architecture; print(Architecture.from_compact({B0!r}).arch_id)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == architecture.arch_id
    import hashlib

    assert architecture.arch_id == hashlib.sha256(f"anb/{B0}".encode()).hexdigest()[:16]


def test_space_size():
    assert ANB.size == 36**6 * 48 == 104_485_552_128


def test_architecture_is_immutable_and_hashable():
    architecture = Architecture.from_compact(B0)
    with pytest.raises(AttributeError):
        architecture.space = "x"  # type: ignore[misc]
    assert len({architecture, Architecture.from_compact(B0)}) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"block5_l": 5}, "block5_l=5 is not allowed; choices are 1, 2, 3, 4"),
        ({"block0_l": 4}, "block0_l=4 is not allowed; choices are 1, 2, 3"),
        ({"block2_e": 2}, "block2_e=2 is not allowed; choices are 1, 4, 6"),
        ({"block3_k": 7}, "block3_k=7 is not allowed; choices are 3, 5"),
        ({"block1_se": 1}, "block1_se=1 is not allowed; choices are true, false"),
        ({"block1_e": True}, "block1_e=True is not an integer"),
        ({"block1_k": "3"}, "block1_k='3' is not an integer"),
        ({"block7_e": 1}, "unknown keys: block7_e"),
    ],
)
def test_bad_reference_keys_name_field_value_and_choices(change, message):
    keys = Architecture.from_compact(B0).to_reference() | change
    with pytest.raises(SpaceError) as error:
        Architecture.from_reference(keys)
    assert message in str(error.value)


def test_missing_keys_are_named():
    keys = Architecture.from_compact(B0).to_reference()
    del keys["block4_k"]
    with pytest.raises(SpaceError, match="missing keys: block4_k"):
        Architecture.from_reference(keys)


@pytest.mark.parametrize("text", ["", "e1k3l1", B0 + "-e1k3l1", "e1k3l1sx-" + B0[9:], B0.replace("e6k3l1se", "e6k3l9se")])
def test_bad_compact_strings(text):
    with pytest.raises(SpaceError):
        Architecture.from_compact(text)


def test_direct_construction_validates():
    with pytest.raises(SpaceError, match="has 28 choices"):
        Architecture(ANB.values_of((Stage(1, 3, 1, True),)))
    with pytest.raises(SpaceError, match="has 7 stages, got 1"):
        Architecture.from_compact("e1k3l1se")
    with pytest.raises(SpaceError, match="space='nope' is unknown"):
        Architecture.from_compact(B0, space="nope")


def test_reference_records_parse(anb_records):
    for record in anb_records:
        architecture = Architecture.from_reference(record.data["architecture"])
        assert architecture.to_reference() == record.data["architecture"]
