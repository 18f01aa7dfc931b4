"""A space as a ConfigSpace object and its JSON: one categorical hyperparameter per key (the reference's
names, choices and defaults for `anb`), with the space's conditions (a layer's keys apply in deep enough stages)."""

from __future__ import annotations

import io

import ConfigSpace

from accelbench.search_space.spaces import get_space


def to_configspace(space: str = "anb") -> ConfigSpace.ConfigurationSpace:
    definition = get_space(space)
    configspace = ConfigSpace.ConfigurationSpace(name=definition.name)
    configspace.add(
        [ConfigSpace.CategoricalHyperparameter(key, list(definition.choices_of(key)), default_value=definition.default_of(key)) for key in definition.keys]
    )
    conditions = [ConfigSpace.InCondition(configspace[key], configspace[parent], list(values)) for key, parent, values in definition.conditions()]
    if conditions:
        configspace.add(conditions)
    return configspace


def configspace_json(space: str = "anb") -> str:
    buffer = io.StringIO()
    to_configspace(space).to_json(buffer, indent=2)
    return buffer.getvalue()
