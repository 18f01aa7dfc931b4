"""Every config table is checked one way (accelbench.common.config): whatever a file holds, the result is
the table's values or one line naming the file, the key, the value and what is allowed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from accelbench.common.config import Table, validate
from accelbench.common.errors import InputError


class Inner(Table):
    name: str = Field(min_length=1)
    batch: int = Field(1, ge=1)
    share: float = Field(0.5, gt=0, le=1)


class Outer(Table):
    mode: Literal["fast", "slow"] = "fast"
    items: list[Inner] = []
    limits: dict[str, Annotated[float, Field(ge=0)]] = {}
    seed: int | None = None


@pytest.mark.parametrize("values, message", [
    ({"mode": "warp"}, "f.toml: outer.mode='warp' is not allowed; choices are fast, slow"),
    ({"colour": 1}, "f.toml: unknown key outer.colour; allowed are mode, items, limits, seed"),
    ({"items": [{"name": "a", "batch": 0}]}, "f.toml: outer.items[0].batch=0 is not allowed; it must be an integer >= 1"),
    ({"items": [{"name": "a", "share": 2}]}, "f.toml: outer.items[0].share=2 is not allowed; it must be a number <= 1"),
    ({"items": [{"batch": 2}]}, "f.toml: outer.items[0].name is missing"),
    ({"items": [{"name": "a", "size": 2}]}, "f.toml: unknown key outer.items[0].size; allowed are name, batch, share"),
    ({"limits": {"GPU": -1}}, "f.toml: outer.limits.GPU=-1 is not allowed; it must be a number >= 0"),
    ({"seed": True}, "f.toml: outer.seed=True is not allowed; it must be an integer"),
    ({"seed": "3"}, "f.toml: outer.seed='3' is not allowed; it must be an integer"),
    ({"items": {"name": "a"}}, "f.toml: outer.items={'name': 'a'} is not allowed; it must be a list"),
])
def test_an_error_names_the_file_key_value_and_what_is_allowed(values, message):
    with pytest.raises(InputError) as error:
        validate(Outer, values, "outer", "f.toml", InputError)
    assert str(error.value) == message


def test_a_table_that_is_not_a_table():
    with pytest.raises(InputError, match=r"^f.toml: \[outer\] must be a table, got list$"):
        validate(Outer, [1], "outer", "f.toml", InputError)


toml_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["name", "batch", "share", "x"]), inner, max_size=3),
                           max_leaves=8)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(["mode", "items", "limits", "seed", "other"]), toml_values, max_size=4))
def test_anything_gives_the_values_or_one_line(values: dict[str, Any]):
    try:
        table = validate(Outer, values, "outer", "f.toml", InputError)
    except InputError as error:
        text = str(error)
        assert text.startswith("f.toml: ") and "\n" not in text and ("outer" in text or "[outer]" in text)
    else:
        assert isinstance(table, Outer)
