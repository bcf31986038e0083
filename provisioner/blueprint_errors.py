"""Turn pydantic's validation errors into problems a blueprint author can act on.

Pydantic reports a location as a tuple of keys; the source map turns it into a
file position. Messages name the offending value and, for misspelt keys, the
closest allowed key.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner.errors import Problem
from provisioner.loader import KeyPath, SourceMap, format_key_path
from provisioner.models import Blueprint

NAME_RULE = "a name starts with a letter or digit and contains only letters, digits, '_', '.' and '-'"
PROJECT_RULE = "a project name starts with a lower-case letter or digit and contains only a-z, 0-9, '_' and '-'"


def problems_from_validation_error(error: ValidationError, source_map: SourceMap, prefix: KeyPath = ()) -> list[Problem]:
    """Convert each error of `error`; `prefix` is the key path of the validated object in the file."""
    problems = []
    for detail in error.errors(include_url=False):
        detail = {**detail, "loc": prefix + tuple(detail["loc"])}
        problems.append(_problem_from_detail(detail, source_map))
    return _without_duplicates(problems)


def _problem_from_detail(detail: dict[str, Any], source_map: SourceMap) -> Problem:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    value = detail.get("input")

    if loc and loc[-1] == "[key]":
        path = loc[:-1]
        rule = PROJECT_RULE if path == ("project",) else NAME_RULE
        return Problem(source_map.locate(path, at_key=True), format_key_path(path),
                       f"invalid name {path[-1]!r}", f"{rule}; rename it")

    path = _data_path(loc, source_map)
    if kind == "extra_forbidden":
        return _unknown_key_problem(path, source_map)

    if kind == "missing":
        parent = path[:-1]
        return Problem(source_map.locate(parent, at_key=True), format_key_path(parent),
                       f"missing required key {path[-1]!r}", f"add {path[-1]}: to {format_key_path(parent) or 'the top level'}")

    context = detail.get("ctx") or {}
    if kind == "list_entry":
        path = path + (context["index"],)
        return Problem(source_map.locate(path), format_key_path(path), detail["msg"])

    location = source_map.locate(path)
    message = _clean_message(detail["msg"])
    if isinstance(value, bool) and path in source_map.boolean_texts:
        written = source_map.boolean_texts[path]
        word = str(value).lower()
        return Problem(location, format_key_path(path), f"{written!r} is read by YAML as the boolean {word}",
                       f"quote it, as \"{written}\", if you meant the text")
    if path == ("version",):
        return Problem(location, "version", f"unsupported version {value!r}", "write version: 1, as a number without quotes")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Problem(location, format_key_path(path), f"expected a mapping of settings, found {_describe_value(value)}",
                       "write the settings as key: value lines indented under this key, or {} for the defaults")
    if kind == "string_pattern_mismatch":
        rule = PROJECT_RULE if path == ("project",) else NAME_RULE
        return Problem(location, format_key_path(path), f"invalid name {value!r}", f"{rule}; rename it")
    if kind.startswith("value_error") or kind == "value_error":
        return Problem(location, format_key_path(path), message)
    if _is_scalar(value):
        return Problem(location, format_key_path(path), f"invalid value {value!r}: {message}")
    return Problem(location, format_key_path(path), f"{message} (found {_describe(value)})")


def _unknown_key_problem(path: KeyPath, source_map: SourceMap) -> Problem:
    key = str(path[-1])
    allowed = allowed_keys(path[:-1])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if path == ("services",):
        hint = "provision calls them containers; rename services: to containers:"
    elif close:
        hint = f"did you mean {close[0]!r}?"
    elif allowed:
        hint = f"allowed keys here: {', '.join(sorted(allowed))}"
    else:
        hint = "remove it"
    return Problem(source_map.locate(path, at_key=True), format_key_path(path), f"unknown key {key!r}", hint)


def allowed_keys(path: KeyPath) -> list[str]:
    """Keys the model accepts at `path`, found by walking the model's field types."""
    annotation: Any = Blueprint
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_in(annotation)
    return list(model.model_fields) if model else []


def _step(annotation: Any, part: str | int) -> Any:
    model = _model_in(annotation)
    if model is not None and isinstance(part, str) and part in model.model_fields:
        return model.model_fields[part].annotation
    container = _container_in(annotation)
    if container is not None:
        return container
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            model = _model_in(argument)
            if model is not None:
                return model
    return None


def _container_in(annotation: Any) -> Any:
    """Return the item type of a dict or list annotation, looking through Optional."""
    origin = typing.get_origin(annotation)
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin is list:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            item = _container_in(argument)
            if item is not None:
                return item
    return None


def _data_path(loc: tuple, source_map: SourceMap) -> KeyPath:
    """Return the key path of the file that a pydantic location refers to.

    Pydantic adds entries such as 'function-after[...]' or a union member's
    type name to a location; they are not keys of the file. A key the file
    really has is kept even when it looks like one of them.
    """
    path: KeyPath = ()
    for part in loc:
        candidate = path + (part,)
        in_file = candidate in source_map.key_positions or candidate in source_map.value_positions
        if in_file or isinstance(part, int) or ("[" not in part and "(" not in part):
            path = candidate
    return path


def _clean_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message[:1].lower() + message[1:]


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _describe_value(value: Any) -> str:
    return repr(value) if _is_scalar(value) else _describe(value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _without_duplicates(problems: list[Problem]) -> list[Problem]:
    seen = set()
    unique = []
    for problem in problems:
        key = (problem.location, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique
