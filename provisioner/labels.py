"""Ownership labels and the spec hash that every created object carries.

State lives on the engine. The labels record which project and blueprint
resource an object belongs to, and the hash (with its scheme version) records
which spec it was created from. The spec itself is stored too, so a plan can show old values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from provisioner.secrets import has_marker

LABEL_PREFIX = "io.provision."
PROJECT_LABEL = LABEL_PREFIX + "project"
RESOURCE_LABEL = LABEL_PREFIX + "resource"
ROLE_LABEL = LABEL_PREFIX + "role"
SPEC_HASH_LABEL = LABEL_PREFIX + "spec-hash"
HASH_SCHEME_LABEL = LABEL_PREFIX + "hash-scheme"
SPEC_LABEL = LABEL_PREFIX + "spec"
# Containers this one was created after (depends_on), so destroy can remove in reverse order.
DEPENDS_ON_LABEL = LABEL_PREFIX + "depends-on"

# Bump when canonical_json or the spec layout changes. Objects stamped with
# another scheme are compared by their stored spec, not by the hash.
HASH_SCHEME = "1"


# Environment variables whose values are treated as secrets: labels keep a
# digest of the value and plans print a placeholder instead of it.
SENSITIVE_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY", re.IGNORECASE)
SENSITIVE_PLACEHOLDER = "(sensitive value)"


def is_sensitive_name(name: str) -> bool:
    return bool(SENSITIVE_NAME.search(name))


# NOTE: the digest is unsalted, so a weak password can be found from it by
# guessing. The engine shows the plain value to anyone who may inspect anyway.
def stored_form(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the spec as labels record it, with sensitive environment values replaced by their digest.

    A value that used a secret variable is already a marker, which names the variable, so it is kept.
    """
    environment = spec.get("environment")
    if not isinstance(environment, dict) or not any(is_sensitive_name(name) for name in environment):
        return spec
    redacted = {name: _digest(value) if is_sensitive_name(name) and not has_marker(value) else value
                for name, value in environment.items()}
    return {**spec, "environment": redacted}


def canonical_json(spec: dict[str, Any]) -> str:
    """JSON with sorted keys and no spaces, so equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: dict[str, Any]) -> str:
    return _digest(canonical_json(stored_form(spec)))


def ownership_labels(project: str, resource: str, role: str, spec: dict[str, Any],
                     depends_on: list[str] | None = None) -> dict[str, str]:
    """Labels that mark an object as created by provision for `project`."""
    labels = {
        PROJECT_LABEL: project,
        RESOURCE_LABEL: resource,
        ROLE_LABEL: role,
        SPEC_HASH_LABEL: spec_hash(spec),
        HASH_SCHEME_LABEL: HASH_SCHEME,
        SPEC_LABEL: canonical_json(stored_form(spec)),
    }
    if depends_on:
        labels[DEPENDS_ON_LABEL] = ",".join(sorted(depends_on))
    return labels


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_provision_label(key: str) -> bool:
    return key.startswith(LABEL_PREFIX)


def stored_spec(labels: dict[str, str]) -> dict[str, Any] | None:
    """Return the spec an object was created from, or None when the label is missing or unreadable."""
    text = labels.get(SPEC_LABEL)
    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        return None
    return spec if isinstance(spec, dict) else None
