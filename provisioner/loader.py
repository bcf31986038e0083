"""Read a blueprint file into plain data, remembering where every key and value sits.

PyYAML's composer gives nodes with positions, and this module builds the
Python values itself. That way it records the position of each key path and
rejects duplicate keys (PyYAML silently keeps the last one), while anchors,
aliases and the `<<` merge key still work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import BlueprintInvalid, BlueprintNotFound, Location, Problem

KeyPath = tuple[str | int, ...]

MERGE_TAG = "tag:yaml.org,2002:merge"

# libyaml's parser is several times faster than the pure-Python one and reports
# the same positions; fall back when PyYAML was built without it.
LOADER_CLASS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Numbers whose value reads the same as their text; any other number keeps its text.
NUMBER_AS_WRITTEN = re.compile(r"^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")

# Refuse documents that would take long to parse or nest deeper than any real blueprint.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 64


# Override files may tag a value: `!reset` removes the key it would override,
# `!override` replaces a mapping instead of merging into it.
RESET_TAG = "!reset"
OVERRIDE_TAG = "!override"


class Reset:
    """The value of a `!reset` key: the key is removed when files are merged."""

    def __repr__(self) -> str:
        return "!reset"


RESET = Reset()


@dataclass(frozen=True)
class Override:
    """A `!override` value: replaces what the earlier files hold instead of merging into it."""

    value: Any


# A position is (line, column) in the map's own file, or (line, column, file)
# for a value that merging took from another file.
Position = tuple[int, int] | tuple[int, int, str]


@dataclass
class SourceMap:
    """Positions of keys and values, by key path."""

    file: str
    key_positions: dict[KeyPath, Position] = field(default_factory=dict)
    value_positions: dict[KeyPath, Position] = field(default_factory=dict)
    # The text of scalars YAML read as booleans (yes, off, ...), for messages that quote what the user wrote.
    boolean_texts: dict[KeyPath, str] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, at_key: bool = False) -> Location:
        """Return the position of `path`, or of its nearest recorded parent.

        With `at_key`, point at the key itself (for an unknown or misspelt key)
        rather than at its value.
        """
        for length in range(len(path), -1, -1):
            prefix = tuple(path[:length])
            positions = self.key_positions if at_key else self.value_positions
            if prefix in positions:
                return self._location(positions[prefix])
            if prefix in self.value_positions:
                return self._location(self.value_positions[prefix])
        return Location(self.file, 1, 1)

    def _location(self, position: Position) -> Location:
        file = position[2] if len(position) > 2 else self.file
        return Location(file, position[0], position[1])


@dataclass
class Document:
    """A parsed blueprint: its data and where each part of it came from.

    A document merged from several files keeps the first file's path; `files`
    maps every file's display name to its path.
    """

    path: Path
    data: Any
    source_map: SourceMap
    files: dict[str, Path] = field(default_factory=dict)

    def base_dir_at(self, key_path: KeyPath) -> Path:
        """Folder that a relative path written at `key_path` is relative to: that of the file it was written in."""
        name = self.source_map.locate(key_path).file
        return self.files.get(name, self.path).resolve().parent


def load_document(path: Path, display_name: str | None = None) -> Document:
    """Parse `path` as YAML; raise BlueprintInvalid with positions on any syntax problem."""
    name = display_name or str(path)
    text = _read_text(path, name)
    source_map = SourceMap(name)
    problems: list[Problem] = []

    loader = LOADER_CLASS(text)
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, source_map, problems)
        data = {} if node is None else builder.build(node, ())
    except yaml.MarkedYAMLError as error:
        raise BlueprintInvalid([_syntax_problem(name, _detailed_error(text, error))]) from None
    except yaml.YAMLError as error:
        raise BlueprintInvalid([Problem(Location(name, 1, 1), "", f"invalid YAML: {error}")]) from None
    finally:
        loader.dispose()

    if problems:
        # A mapping merged in several places repeats its problems; report each position once.
        unique = {(problem.location, problem.message): problem for problem in reversed(problems)}
        raise BlueprintInvalid(list(unique.values()))
    return Document(path=path, data=data, source_map=source_map, files={name: path})


def _read_text(path: Path, name: str) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BlueprintNotFound(f"blueprint file {name} not found (looked for {path.absolute()}); "
                                "create it, or pass -f PATH to read another file") from None
    except OSError as error:
        raise BlueprintInvalid([Problem(None, "", f"cannot read {name}: {error.strerror}")]) from None

    if size > MAX_FILE_BYTES:
        raise BlueprintInvalid([
            Problem(Location(name, 1, 1), "",
                    f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES} bytes",
                    "split the environment into several blueprints"),
        ])

    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BlueprintInvalid([
            Problem(Location(name, 1, 1), "", f"file is not valid UTF-8 ({error.reason} at byte {error.start})",
                    "save the file as UTF-8"),
        ]) from None
    except OSError as error:
        raise BlueprintInvalid([Problem(None, "", f"cannot read {name}: {error.strerror}")]) from None


def _detailed_error(text: str, error: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """Return the pure-Python parser's error for the same text, because its messages name the bad character and libyaml's do not."""
    if LOADER_CLASS is yaml.SafeLoader:
        return error
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as detailed:
        return detailed
    return error


def _syntax_problem(name: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    location = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name, 1, 1)
    message = f"invalid YAML: {error.problem or error.context}"
    return Problem(location, "", message, _syntax_hint(str(error.problem)))


def _syntax_hint(problem: str) -> str:
    """Return a likely fix for the parser messages people meet most."""
    if "\\t" in problem or "tab" in problem:
        return "indent with spaces; YAML does not allow tabs for indentation"
    if "mapping values are not allowed" in problem:
        return "check this line's indentation, and quote a value that contains ': '"
    if "expected <block end>" in problem or "could not find expected ':'" in problem:
        return "check the indentation: keys of one mapping must start in the same column"
    if "could not determine a constructor for the tag" in problem:
        return f"a blueprint may use only the tags {RESET_TAG} and {OVERRIDE_TAG}; remove the tag or quote the value"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before the alias (*name) that uses it"
    return ""


class _Builder:
    """Turns a YAML node tree into dicts, lists and scalars, recording positions."""

    def __init__(self, loader: Any, source_map: SourceMap, problems: list[Problem]):
        self.loader = loader
        self.source_map = source_map
        self.problems = problems

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if len(path) > MAX_NESTING:
            self._report(node, path, f"nesting is deeper than the limit of {MAX_NESTING} levels")
            return None

        self._record_value(node, path)
        if node.tag == RESET_TAG:
            return self._reset(node, path)
        if node.tag == OVERRIDE_TAG:
            return Override(self._build_untagged(node, path))
        return self._build_untagged(node, path)

    def _reset(self, node: yaml.Node, path: KeyPath) -> Any:
        """Return RESET for `KEY: !reset`, also written `!reset null`, `!reset []` or `!reset {}`."""
        if not path or isinstance(path[-1], int):
            self._report(node, path, f"{RESET_TAG} removes a key, so it must be the value of a mapping key",
                         "to empty a list, write KEY: [] instead; to remove the list, write KEY: !reset")
            return None
        empty = node.value in ("", "null", "~") if isinstance(node, yaml.ScalarNode) else not node.value
        if not empty:
            self._report(node, path, f"{RESET_TAG} takes no value: it removes the key, and what follows it "
                         "would be ignored", f"write KEY: {RESET_TAG} alone, or drop the tag to set the value")
            return None
        return RESET

    def _build_untagged(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        if node.tag == OVERRIDE_TAG:
            # The tag replaced the one YAML would have resolved from the text.
            node = yaml.ScalarNode(self.loader.resolve(yaml.ScalarNode, node.value, (node.style is None, False)),
                                   node.value, node.start_mark, node.end_mark, node.style)
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, bool):
            self.source_map.boolean_texts[path] = node.value
        elif isinstance(value, float) and str(value) != node.value.lstrip("+"):
            # A version such as 1.10 reads as the number 1.1; keep what was written.
            return node.value
        elif isinstance(value, (int, float)) and not NUMBER_AS_WRITTEN.match(node.value):
            # YAML 1.1 reads 22:22 as the base-60 number 1342, 0644 as the octal
            # 420 and 1_000 as 1000. A blueprint means the text: a port mapping
            # or a mode. Numeric fields still accept the text of a number.
            return node.value
        return value

    def _build_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        # Merged keys first, so that explicit keys override them and their positions win.
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                for source in self._merge_sources(value_node, path):
                    for key, value in self._build_mapping(source, path).items():
                        merged.setdefault(key, value)

        result: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self._key_text(key_node, path)
            if key is None:
                continue
            if key in first_seen:
                earlier = first_seen[key].start_mark.line + 1
                self._report(key_node, path + (key,), f"duplicate key {key!r} (first defined on line {earlier})",
                             "remove one of the two; YAML would otherwise silently keep only the last")
                continue
            first_seen[key] = key_node
            self.source_map.key_positions[path + (key,)] = _position(key_node)
            result[key] = self.build(value_node, path + (key,))

        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_sources(self, value_node: yaml.Node, path: KeyPath) -> list[yaml.MappingNode]:
        if isinstance(value_node, yaml.MappingNode):
            return [value_node]
        if isinstance(value_node, yaml.SequenceNode) and all(isinstance(item, yaml.MappingNode) for item in value_node.value):
            return list(value_node.value)
        self._report(value_node, path, "the << merge key takes a mapping or a list of mappings",
                     "point << at an anchored mapping, for example <<: *defaults")
        return []

    def _key_text(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        # Keys are names: keep them as written, so `80:` or `on:` stays a string.
        if isinstance(key_node, yaml.ScalarNode):
            return key_node.value
        self._report(key_node, path, "a mapping key must be a plain value, not a list or mapping")
        return None

    def _record_value(self, node: yaml.Node, path: KeyPath) -> None:
        self.source_map.value_positions[path] = _position(node)

    def _report(self, node: yaml.Node, path: KeyPath, message: str, hint: str = "") -> None:
        line, column = _position(node)
        location = Location(self.source_map.file, line, column)
        self.problems.append(Problem(location, format_key_path(path), message, hint))


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def format_key_path(path: KeyPath) -> str:
    """Render a key path the way a user reads it: containers.web.ports[0]."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
