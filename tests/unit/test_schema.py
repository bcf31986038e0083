"""The committed JSON Schema matches the models, and every example satisfies it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from provisioner.schema import blueprint_schema, blueprint_schema_text

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "schemas" / "blueprint.schema.json"
EXAMPLES = sorted((REPO / "blueprints").glob("*.yaml"))


def test_committed_schema_is_current():
    assert COMMITTED.read_text() == blueprint_schema_text(), (
        "schemas/blueprint.schema.json is stale; regenerate it with: provision schema > schemas/blueprint.schema.json"
    )


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(json.loads(COMMITTED.read_text()))


def test_examples_exist():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_satisfies_schema(example):
    validator = jsonschema.Draft202012Validator(blueprint_schema())
    errors = list(validator.iter_errors(yaml.safe_load(example.read_text())))
    assert errors == []


def test_schema_rejects_unknown_key():
    validator = jsonschema.Draft202012Validator(blueprint_schema())
    document = {"version": 1, "project": "demo", "containers": {"web": {"image": "busybox", "imagee": "x"}}}
    errors = list(validator.iter_errors(document))
    assert len(errors) == 1
    assert "imagee" in errors[0].message


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_points_editors_at_schema(example):
    first_line = example.read_text().splitlines()[0]

    assert first_line == "# yaml-language-server: $schema=../schemas/blueprint.schema.json"
    assert (example.parent / "../schemas/blueprint.schema.json").resolve() == COMMITTED
