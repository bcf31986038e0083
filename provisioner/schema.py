"""The blueprint's JSON Schema, generated from the models, for editors and CI checks."""

from __future__ import annotations

import json
from typing import Any

from provisioner.models import Blueprint

SCHEMA_ID = "https://provision.dev/schemas/blueprint.schema.json"


def blueprint_schema() -> dict[str, Any]:
    """Generate the JSON Schema (draft 2020-12) of what a user may write in a blueprint file."""
    schema = Blueprint.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def blueprint_schema_text() -> str:
    return json.dumps(blueprint_schema(), indent=2, sort_keys=True) + "\n"
