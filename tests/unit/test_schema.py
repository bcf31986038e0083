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
# Whole blueprints; override and var files are parts of one and are not checked on their own.
EXAMPLES = sorted((REPO / "blueprints").glob("*.yaml")) + [REPO / "blueprints" / "environments" / "shop.yaml"]


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
    prefix, _, location = first_line.partition("$schema=")

    assert prefix == "# yaml-language-server: "
    assert (example.parent / location).resolve() == COMMITTED


def test_schema_accepts_template_for_number():
    validator = jsonschema.Draft202012Validator(blueprint_schema())
    document = {"version": 1, "project": "demo",
                "registries": {"hub": {"port": "{{ vars.port }}", "hostnames": ["localhost"]}}}

    assert list(validator.iter_errors(document)) == []


def test_schema_rejects_plain_text_for_number():
    validator = jsonschema.Draft202012Validator(blueprint_schema())
    document = {"version": 1, "project": "demo", "registries": {"hub": {"port": "five", "hostnames": ["localhost"]}}}

    errors = list(validator.iter_errors(document))

    assert len(errors) == 1
    assert list(errors[0].path) == ["registries", "hub", "port"]
