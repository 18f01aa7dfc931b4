"""Config files are checked one way: a pydantic model per table (`Table`), and a failure as one line
naming the file, the key, the value and what is allowed (`validate`)."""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from accelbench.common.errors import InputError


class Table(BaseModel):
    """A config table: unknown keys are errors, values are taken as written (no "1" for 1, no true for 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def validate(model: type[Table], values: Any, where: str, source: str, error: type[InputError]) -> Any:
    """`values` as `model`; else `error` with "<source>: <what is wrong>" (no prefix without a source)."""
    prefix = f"{source}: " if source else ""
    if values is not None and not isinstance(values, dict):
        raise error(f"{prefix}[{where}] must be a table, got {type(values).__name__}")
    try:
        return model.model_validate(values or {})
    except ValidationError as failure:
        raise error(prefix + describe(model, failure.errors()[0], where)) from None


@functools.cache
def table_of(dataclass: type) -> type[Table]:
    """The table of a dataclass's fields (their annotations, `Annotated` constraints included, and defaults):
    how a dataclass that is also a config (a recipe, a backend's options) is checked."""
    hints = typing.get_type_hints(dataclass, include_extras=True)
    fields = {field.name: (hints[field.name], ... if field.default is dataclasses.MISSING else field.default) for field in dataclasses.fields(dataclass)}
    return create_model(f"{dataclass.__name__}Table", __base__=Table, **fields)


def key_of(where: str, location: tuple) -> str:
    """("targets", 0, "backend") under "profiling" -> profiling.targets[0].backend"""
    text = where
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


def describe(model: type[Table], detail: dict, where: str) -> str:
    location = tuple(part for part in detail["loc"] if not (isinstance(part, str) and part.startswith(("function-", "literal["))))
    key, kind, context = key_of(where, location), detail["type"], detail.get("ctx", {})
    if kind == "extra_forbidden":
        owner = _model_at(model, location[:-1])
        return f"unknown key {key}; allowed are {', '.join(owner.model_fields) if owner else '(none)'}"
    if kind == "missing":
        return f"{key} is missing"
    if kind == "value_error":
        reason = str(context.get("error", detail["msg"]))
        return f"{key}={detail['input']!r} is not allowed; {reason}" if location else reason
    annotation = _annotation_at(model, location)
    noun = "an integer" if _is(annotation, int) and not _is(annotation, float) else "a number"
    bound = {name: f"{value:g}" for name, value in context.items() if isinstance(value, (int, float))}
    allowed = {
        "greater_than_equal": lambda: f"it must be {noun} >= {bound['ge']}",
        "greater_than": lambda: f"it must be {noun} > {bound['gt']}",
        "less_than_equal": lambda: f"it must be {noun} <= {bound['le']}",
        "less_than": lambda: f"it must be {noun} < {bound['lt']}",
        "literal_error": lambda: "choices are " + ", ".join(re.findall(r"'([^']*)'", str(context.get("expected", "")))),
        "int_type": lambda: "it must be an integer",
        "int_from_float": lambda: "it must be an integer",
        "float_type": lambda: "it must be a number",
        "bool_type": lambda: "it must be true or false",
        "string_type": lambda: "it must be a string",
        "string_too_short": lambda: "it must be a non-empty string" if context.get("min_length") == 1 else f"it must have at least {context.get('min_length')} characters",
        "list_type": lambda: "it must be a list",
        "dict_type": lambda: "it must be a table",
        "model_type": lambda: "it must be a table",
        "too_short": lambda: f"it must list at least {context.get('min_length')} item{'' if context.get('min_length') == 1 else 's'}",
    }.get(kind, lambda: detail["msg"])()
    owner = _model_at(model, location[:-1]) if location else None
    field = owner.model_fields.get(location[-1]) if owner and isinstance(location[-1], str) else None
    meaning = field.description if field else None
    return f"{key}={detail['input']!r} is not allowed; {allowed}" + (f" ({meaning})" if meaning else "")


def _is(annotation: Any, kind: type) -> bool:
    """Whether `annotation` is `kind`, or a union or an `Annotated` of it."""
    if annotation is kind:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is(typing.get_args(annotation)[0], kind)
    return origin in (typing.Union, types.UnionType) and any(_is(option, kind) for option in typing.get_args(annotation))


def _inner(annotation: Any) -> Any:
    """A model or element type inside `X | None`, `list[X]`, `tuple[X, ...]`, `dict[str, X]`."""
    while True:
        arguments = [a for a in typing.get_args(annotation) if a is not type(None) and a is not Ellipsis]
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType, list, tuple, dict) and arguments:
            annotation = arguments[-1]
        else:
            return annotation


def _annotation_at(model: Any, location: tuple) -> Any:
    annotation: Any = model
    for part in location:
        current = _inner(annotation)
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            annotation = current
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
    return annotation


def _model_at(model: Any, location: tuple) -> type[BaseModel] | None:
    found = _inner(_annotation_at(model, location)) if location else model
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None
