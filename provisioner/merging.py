"""Merge a base blueprint with override files, given as `-f base.yaml -f ci.yaml`.

The rules are Compose's: mappings merge key by key, a later scalar or list
replaces the earlier one, an empty (null) value keeps it, `!reset` removes an
inherited key and `!override` replaces a mapping instead of merging into it.
Every merged value keeps the position of the file it came from, so errors
point into the right file.
"""

from __future__ import annotations

from typing import Any

from provisioner.loader import RESET, Document, KeyPath, Override, Position, Reset, SourceMap


def merge_documents(documents: list[Document]) -> Document:
    """Merge `documents` in order, later files winning; the result is named after the first file."""
    first = documents[0]
    merged = Document(path=first.path, data=None, source_map=SourceMap(first.source_map.file), files={})
    if len(documents) > 1:
        for document in documents:
            _environment_lists_as_mappings(document)
    for document in documents:
        merged.files.update(document.files)
        if not isinstance(document.data, dict) or not isinstance(merged.data, dict):
            # Only mappings merge; anything else (a list, a scalar or null) replaces the whole document.
            merged.data = _plain(document.data)
            _take_positions(merged.source_map, document.source_map, ())
            continue
        merged.data = _merge_value(merged.data, document.data, (), merged.source_map, document.source_map)
    return merged


def _merge_value(base: Any, override: Any, path: KeyPath, target: SourceMap, source: SourceMap) -> Any:
    """Return `override` merged over `base`, moving the positions of what it takes into `target`."""
    if isinstance(override, Override) or not (isinstance(base, dict) and isinstance(override, dict)):
        _forget_positions(target, path)
        _take_positions(target, source, path)
        return _plain(override)

    # A mapping written in several files keeps the position of its first
    # definition, which errors about the mapping as a whole point at.
    result = dict(base)
    for key, value in override.items():
        child = path + (key,)
        if isinstance(value, Reset):
            result.pop(key, None)
            _forget_positions(target, child)
            continue
        if value is None and key in result:
            # An empty value keeps the earlier one, as compose-go's MergeYaml does, so an
            # override file whose `containers:` entries are all commented out removes nothing.
            continue
        if not (isinstance(result.get(key), dict) and isinstance(value, dict)):
            # The key's value comes from this file, so its position does too.
            _take_position(target.key_positions, source, source.key_positions, child)
        result[key] = _merge_value(result.get(key), value, child, target, source)
    return result


def _plain(value: Any) -> Any:
    """Drop the merge tags from a value that is taken as it is."""
    if isinstance(value, Override):
        return _plain(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not RESET}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _take_positions(target: SourceMap, source: SourceMap, path: KeyPath) -> None:
    """Copy the positions of `path` and everything under it."""
    for target_positions, source_positions in ((target.key_positions, source.key_positions),
                                               (target.value_positions, source.value_positions)):
        for key_path in source_positions:
            if key_path[:len(path)] == path:
                _take_position(target_positions, source, source_positions, key_path)
    for key_path, text in source.boolean_texts.items():
        if key_path[:len(path)] == path:
            target.boolean_texts[key_path] = text


def _take_position(target_positions: dict[KeyPath, Position], source: SourceMap,
                   source_positions: dict[KeyPath, Position], key_path: KeyPath) -> None:
    position = source_positions.get(key_path)
    if position is not None:
        target_positions[key_path] = (position[0], position[1], position[2] if len(position) > 2 else source.file)


def _forget_positions(target: SourceMap, path: KeyPath) -> None:
    for positions in (target.key_positions, target.value_positions, target.boolean_texts):
        for key_path in [key_path for key_path in positions if key_path[:len(path)] == path and key_path != path]:
            del positions[key_path]
    target.boolean_texts.pop(path, None)


def _environment_lists_as_mappings(document: Document) -> None:
    """Turn `environment: [NAME=VALUE, ...]` into a mapping, so that files merge it by name as Compose does.

    A list with an entry that is not NAME=VALUE, or with a name twice, is left
    as it is for validation to report.
    """
    if not isinstance(document.data, dict):
        return
    for section in ("volume_containers", "containers"):
        entries = document.data.get(section)
        for name, entry in (entries.items() if isinstance(entries, dict) else ()):
            environment = entry.get("environment") if isinstance(entry, dict) else None
            if not isinstance(environment, list):
                continue
            pairs = [item.partition("=") for item in environment if isinstance(item, str)]
            names = [pair[0] for pair in pairs]
            if len(pairs) != len(environment) or not all(pair[1] for pair in pairs) or len(set(names)) != len(names):
                continue
            path = (section, name, "environment")
            _move_list_positions(document.source_map, path, names)
            entry["environment"] = {pair[0]: pair[2] for pair in pairs}


def _move_list_positions(source_map: SourceMap, path: KeyPath, names: list[str]) -> None:
    """Give each entry of the list at `path` the key path of its name, pointing key and value at the entry."""
    for index, name in enumerate(names):
        position = source_map.value_positions.pop(path + (index,), None)
        if position is not None:
            source_map.key_positions[path + (name,)] = position
            source_map.value_positions[path + (name,)] = position
