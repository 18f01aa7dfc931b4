"""The space as a ConfigSpace object and its JSON, with the reference's hyperparameter names and choices."""

from __future__ import annotations

import io

import ConfigSpace

from accelbench.search_space.space import get_space


def to_configspace(space: str = "anb") -> ConfigSpace.ConfigurationSpace:
    definition = get_space(space)
    configspace = ConfigSpace.ConfigurationSpace(name=definition.name)
    for stage in range(definition.num_stages):
        configspace.add(
            [
                ConfigSpace.CategoricalHyperparameter(f"block{stage}_e", list(definition.expansion_choices), default_value=1),
                ConfigSpace.CategoricalHyperparameter(f"block{stage}_k", list(definition.kernel_choices), default_value=3),
                ConfigSpace.CategoricalHyperparameter(f"block{stage}_l", list(definition.layer_choices[stage]), default_value=1),
                ConfigSpace.CategoricalHyperparameter(f"block{stage}_se", list(definition.se_choices), default_value=False),
            ]
        )
    return configspace


def configspace_json(space: str = "anb") -> str:
    buffer = io.StringIO()
    to_configspace(space).to_json(buffer, indent=2)
    return buffer.getvalue()
