"""Ownership labels, the spec hash and how secrets are kept out of labels and plans."""

from __future__ import annotations

import hashlib
import json

from provisioner.labels import (
    HASH_SCHEME,
    SENSITIVE_PLACEHOLDER,
    is_sensitive_name,
    ownership_labels,
    spec_hash,
    stored_form,
    stored_spec,
)
from provisioner.plan import Action, ActionKind, FieldChange, Plan
from provisioner.render import render_plan
from provisioner.resources import Kind, ResourceId

SPEC = {"image": "busybox:1.36", "environment": {"MODE": "demo", "DB_PASSWORD": "hunter2"}}
HUNTER2_DIGEST = "sha256:" + hashlib.sha256(b"hunter2").hexdigest()


def test_ownership_labels_name_everything():
    labels = ownership_labels("demo", "container/web", "container", SPEC)

    assert labels["io.provision.project"] == "demo"
    assert labels["io.provision.resource"] == "container/web"
    assert labels["io.provision.role"] == "container"
    assert labels["io.provision.hash-scheme"] == HASH_SCHEME
    assert labels["io.provision.spec-hash"] == spec_hash(SPEC)


def test_spec_hash_is_hash_of_spec_label():
    labels = ownership_labels("demo", "container/web", "container", SPEC)
    expected = "sha256:" + hashlib.sha256(labels["io.provision.spec"].encode()).hexdigest()

    assert labels["io.provision.spec-hash"] == expected


def test_spec_hash_ignores_key_order():
    reordered = {"environment": {"DB_PASSWORD": "hunter2", "MODE": "demo"}, "image": "busybox:1.36"}

    assert spec_hash(reordered) == spec_hash(SPEC)


def test_spec_hash_changes_with_secret():
    changed = {**SPEC, "environment": {**SPEC["environment"], "DB_PASSWORD": "hunter3"}}

    assert spec_hash(changed) != spec_hash(SPEC)


def test_labels_never_hold_secret_value():
    labels = ownership_labels("demo", "container/web", "container", SPEC)

    assert all("hunter2" not in value for value in labels.values())
    assert stored_spec(labels)["environment"] == {"MODE": "demo", "DB_PASSWORD": HUNTER2_DIGEST}


def test_stored_form_keeps_plain_values():
    assert stored_form({"environment": {"MODE": "demo"}}) == {"environment": {"MODE": "demo"}}


def test_sensitive_names():
    for name in ("DB_PASSWORD", "api_key", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "PRIVATE_KEY_PEM", "REGISTRY_CREDENTIALS"):
        assert is_sensitive_name(name), name
    for name in ("MODE", "PORT", "KEYBOARD_LAYOUT", "HOSTNAME"):
        assert not is_sensitive_name(name), name


def test_stored_spec_unreadable_is_none():
    assert stored_spec({"io.provision.spec": "{not json"}) is None
    assert stored_spec({"io.provision.spec": json.dumps([1, 2])}) is None
    assert stored_spec({}) is None


def test_plan_masks_sensitive_environment():
    action = Action(ActionKind.REPLACE, ResourceId(Kind.CONTAINER, "web"), ["configuration differs from the blueprint"],
                    changes=[FieldChange("environment.DB_PASSWORD", HUNTER2_DIGEST, "hunter3"),
                             FieldChange("environment.MODE", "demo", "prod")])
    text = render_plan(Plan("demo", actions=[action]))

    assert f'environment.DB_PASSWORD: "{SENSITIVE_PLACEHOLDER}" -> "{SENSITIVE_PLACEHOLDER}"' in text
    assert 'environment.MODE: "demo" -> "prod"' in text
    assert "hunter3" not in text
    assert HUNTER2_DIGEST not in text


def test_plan_masks_whole_environment_mapping():
    action = Action(ActionKind.REPLACE, ResourceId(Kind.CONTAINER, "web"), ["configuration differs from the blueprint"],
                    changes=[FieldChange("environment", None, {"MODE": "demo", "API_TOKEN": "abc123"})])
    text = render_plan(Plan("demo", actions=[action]))

    assert "abc123" not in text
    assert '"API_TOKEN": "(sensitive value)"' in text
