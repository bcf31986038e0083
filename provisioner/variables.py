"""Give each declared variable its value, from every source in order.

Later sources win: the blueprint's default, then PROVISION_VAR_<NAME>, then
each --var-file in order, then each --var NAME=VALUE in order. Text from the
environment and the command line takes the type of the variable's default, so
`--var replicas=3` is the number 3 when the default is a number.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.errors import BlueprintInvalid, BlueprintNotFound, Location, Problem
from provisioner.loader import RESET, KeyPath, Override, SourceMap, load_document
from provisioner.models import VARIABLE_NAME_PATTERN, VariableSpec
from provisioner.validation_support import defined_hint

ENVIRONMENT_PREFIX = "PROVISION_VAR_"


@dataclass(frozen=True)
class VariableInputs:
    """Values given outside the blueprint: var files and --var arguments, in command-line order."""

    var_files: tuple[Path, ...] = ()
    var_args: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class VariableValues:
    """The value of every variable that has one, and what is known about each."""

    declared: dict[str, VariableSpec]
    values: dict[str, Any] = field(default_factory=dict)
    # Where each value came from, for messages: "default", "PROVISION_VAR_tag", a file position or "--var".
    origins: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> dict[str, str]:
        """Return the text of every secret variable's value, by name."""
        return {name: str(self.values[name]) for name, spec in self.declared.items()
                if spec.secret and name in self.values and self.values[name] is not None}


def no_value_hint(name: str) -> str:
    """Return the hint for a variable without a value: every way to give it one."""
    return f"give it a default, or set it with --var {name}=VALUE, --var-file FILE or {ENVIRONMENT_PREFIX}{name.upper()}"


def resolve_variables(declared: dict[str, VariableSpec], inputs: VariableInputs) -> tuple[VariableValues, list[Problem]]:
    """Return the values, with a problem for every value that cannot be used."""
    result = VariableValues(declared)
    problems: list[Problem] = []

    for name, spec in declared.items():
        if spec.has_default:
            _set(result, name, spec.default, "its default")

    for name, spec in declared.items():
        for key in _environment_names(name):
            if key in inputs.environ:
                _set_text(result, name, inputs.environ[key], key, None, problems)
                break

    for path in inputs.var_files:
        _read_var_file(path, result, problems)

    for argument in inputs.var_args:
        _read_var_argument(argument, result, problems)
    return result, problems


def _environment_names(name: str) -> list[str]:
    """PROVISION_VAR_<name> as declared, then in capitals, as environment variables are usually written."""
    names = [ENVIRONMENT_PREFIX + name]
    if name.upper() != name:
        names.append(ENVIRONMENT_PREFIX + name.upper())
    return names


def _read_var_file(path: Path, result: VariableValues, problems: list[Problem]) -> None:
    try:
        document = load_document(path)
    except BlueprintNotFound:
        # load_document's own message is about the blueprint and suggests -f.
        problems.append(Problem(None, "", f"var file {path} not found (looked for {path.absolute()})",
                                "create it, or fix the path given to --var-file"))
        return
    except BlueprintInvalid as error:
        problems += error.problems
        return
    source_map = document.source_map

    if document.data in ({}, None):
        return
    if not isinstance(document.data, dict):
        problems.append(Problem(source_map.locate(()), "", "a var file must be a mapping of variable names to values",
                                "write one NAME: VALUE line per variable"))
        return

    for name, value in document.data.items():
        location = source_map.locate((name,))
        if name not in result.declared:
            problems.append(Problem(source_map.locate((name,), at_key=True), name,
                                    f"variable {name!r} is not declared in the blueprint",
                                    defined_hint("variables", name, result.declared)))
        elif value is RESET or isinstance(value, Override):
            problems.append(Problem(location, name, "!reset and !override belong in override files, not var files",
                                    "remove the tag"))
        else:
            value = _like_default(value, result.declared[name])
            _set(result, name, value, str(location))
            _check_type(result, name, value, (name,), source_map, problems)


def _read_var_argument(argument: str, result: VariableValues, problems: list[Problem]) -> None:
    name, equals, text = argument.partition("=")
    if not equals or not name:
        # Quote the argument only when it is a bare name: anything else may be a mistyped secret.
        quoted = repr(argument) if re.match(VARIABLE_NAME_PATTERN, argument) else "a value without a name"
        problems.append(Problem(None, "", f"--var expects NAME=VALUE, got {quoted}",
                                "write it as --var NAME=VALUE, for example --var tag=1.36"))
        return
    if name not in result.declared:
        problems.append(Problem(None, "", f"--var {name}: variable {name!r} is not declared in the blueprint",
                                defined_hint("variables", name, result.declared)))
        return
    _set_text(result, name, text, "--var", None, problems)


def _set(result: VariableValues, name: str, value: Any, origin: str) -> None:
    result.values[name] = value
    result.origins[name] = origin


def _set_text(result: VariableValues, name: str, text: str, origin: str, location: Location | None,
              problems: list[Problem]) -> None:
    """Set a value given as text, converted to the type of the variable's default."""
    spec = result.declared[name]
    try:
        value = _converted(text, spec.default) if spec.has_default else text
    except ValueError as error:
        quoted = "(secret)" if spec.secret else repr(text)
        problems.append(Problem(location, "", f"{origin}: {quoted} is not a valid value for variable {name!r}: {error}",
                                f"give a value like its default, {_shown_default(spec)}"))
        return
    _set(result, name, value, origin)


def _like_default(value: Any, spec: VariableSpec) -> Any:
    """Read a var file's number as text where the default is text, and a decimal kept as text as a number's value.

    YAML reads `tag: 1.37` as a number, and the loader keeps `1.40` as text, so
    both spellings of a version must be accepted whichever kind the default is.
    """
    default = spec.default if spec.has_default else None
    if isinstance(default, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(default, float) and isinstance(value, str):
        try:
            return _converted(value, default)
        except ValueError:
            return value
    return value


def _check_type(result: VariableValues, name: str, value: Any, path: KeyPath, source_map: SourceMap,
                problems: list[Problem]) -> None:
    """A var file value must be of the default's kind: text, number, boolean, list or mapping."""
    spec = result.declared[name]
    if not spec.has_default or spec.default is None or value is None:
        return
    if not _fits(value, spec.default):
        problems.append(Problem(source_map.locate(path), name,
                                f"variable {name!r} is {_kind(spec.default)} by its default, but this value is {_kind(value)}",
                                f"give a value like its default, {_shown_default(spec)}"))


def _fits(value: Any, default: Any) -> bool:
    """Tell whether a var file's value is of the default's kind; a decimal default also takes whole numbers and decimal text."""
    if _kind(value) == _kind(default):
        return True
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return True
    if isinstance(default, float) and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _converted(text: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError("expected true or false")
    if isinstance(default, int):
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
    if isinstance(default, float):
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        # A version such as 1.40 would read as 1.4; keep the text when the number reads differently.
        return text.strip() if "." in text and str(number) != text.strip() else number
    if isinstance(default, (list, dict)):
        raise ValueError(f"{_kind(default)} cannot be given as text; set it in a var file")
    return text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "text"


def _shown_default(spec: VariableSpec) -> str:
    return "(secret)" if spec.secret else json.dumps(spec.default)
