"""Ownership labels and the spec hash that every created object carries.

State lives on the engine: the labels say which project and blueprint resource
an object belongs to, and the hash (with its scheme version) says which spec it
was created from. The spec itself is stored too, so a plan can show old values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

LABEL_PREFIX = "io.provision."
PROJECT_LABEL = LABEL_PREFIX + "project"
RESOURCE_LABEL = LABEL_PREFIX + "resource"
ROLE_LABEL = LABEL_PREFIX + "role"
SPEC_HASH_LABEL = LABEL_PREFIX + "spec-hash"
HASH_SCHEME_LABEL = LABEL_PREFIX + "hash-scheme"
SPEC_LABEL = LABEL_PREFIX + "spec"

# Bump when canonical_json or the spec layout changes. Objects stamped with
# another scheme are compared by their stored spec, not by the hash.
HASH_SCHEME = "1"


def canonical_json(spec: dict[str, Any]) -> str:
    """JSON with sorted keys and no spaces, so equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def ownership_labels(project: str, resource: str, role: str, spec: dict[str, Any]) -> dict[str, str]:
    """Labels that mark an object as created by provision for `project`."""
    return {
        PROJECT_LABEL: project,
        RESOURCE_LABEL: resource,
        ROLE_LABEL: role,
        SPEC_HASH_LABEL: spec_hash(spec),
        HASH_SCHEME_LABEL: HASH_SCHEME,
        SPEC_LABEL: canonical_json(spec),
    }


def is_provision_label(key: str) -> bool:
    return key.startswith(LABEL_PREFIX)


def stored_spec(labels: dict[str, str]) -> dict[str, Any] | None:
    """The spec an object was created from, or None when the label is missing or unreadable."""
    text = labels.get(SPEC_LABEL)
    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        return None
    return spec if isinstance(spec, dict) else None
