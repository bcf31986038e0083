"""The blueprint's JSON Schema, generated from the models, for editors and CI checks."""

from __future__ import annotations

import json
from typing import Any

from provisioner.models import Blueprint

SCHEMA_ID = "https://provision.dev/schemas/blueprint.schema.json"

# Any value may be a template, which is text until it is rendered.
TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%", "description": "A Jinja2 template, rendered before validation."}

# Keys that describe a value as a whole; they stay outside the template alternative, where editors show them.
OUTER_KEYS = ("title", "description", "default")

# Keywords whose value maps names (of properties, patterns or definitions) to schemas.
NAMED_SCHEMAS = ("properties", "patternProperties", "$defs")


def blueprint_schema() -> dict[str, Any]:
    """Generate the JSON Schema (draft 2020-12) of what a user may write in a blueprint file."""
    schema = _allow_templates(Blueprint.model_json_schema(mode="validation"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _allow_templates(node: Any) -> Any:
    """Let a template stand wherever the schema expects a number, a boolean, a fixed word or a patterned string."""
    if isinstance(node, list):
        return [_allow_templates(item) for item in node]
    if not isinstance(node, dict):
        return node

    node = {key: _named_schemas(value) if key in NAMED_SCHEMAS else _allow_templates(value) for key, value in node.items()}
    restricted = node.get("type") in ("integer", "number", "boolean") or any(key in node for key in ("enum", "const", "pattern"))
    if not restricted:
        return node
    outer = {key: node.pop(key) for key in OUTER_KEYS if key in node}
    return {**outer, "anyOf": [node, TEMPLATE]}


def _named_schemas(mapping: dict[str, Any]) -> dict[str, Any]:
    """Process the schemas of a mapping whose keys are names, such as properties, not schema keywords."""
    return {name: _allow_templates(schema) for name, schema in mapping.items()}


def blueprint_schema_text() -> str:
    return json.dumps(blueprint_schema(), indent=2, sort_keys=True) + "\n"
