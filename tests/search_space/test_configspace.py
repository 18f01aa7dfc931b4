import io
import json

import ConfigSpace

from accelbench.search_space import ANB, Architecture
from accelbench.search_space.configspace import configspace_json, to_configspace

REFERENCE_NAMES = [f"block{i}_{f}" for i in range(7) for f in ("e", "k", "l", "se")]


def test_names_choices_and_size_match_the_reference():
    configspace = to_configspace()
    assert list(configspace.keys()) == REFERENCE_NAMES
    assert configspace.estimate_size() == ANB.size
    assert list(configspace["block5_l"].choices) == [1, 2, 3, 4]
    assert list(configspace["block0_se"].choices) == [True, False]
    assert configspace.get_default_configuration()["block0_e"] == 1


def test_json_round_trips_and_is_deterministic():
    text = configspace_json()
    assert text == configspace_json()
    assert ConfigSpace.ConfigurationSpace.from_json(io.StringIO(text)) == to_configspace()
    assert [h["name"] for h in json.loads(text)["hyperparameters"]] == REFERENCE_NAMES


def test_configspace_samples_are_architectures():
    for configuration in to_configspace().sample_configuration(20):
        architecture = Architecture.from_reference(dict(configuration))
        assert architecture.to_reference() == {k: v.item() for k, v in dict(configuration).items()}
