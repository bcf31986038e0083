"""The blueprint as provision reads it, for `provision config`.

Files are merged, templates rendered and defaults filled in. Relative paths
become absolute, resolved against the file each was written in, and secrets
show as (secret NAME), as environment values with secret-looking names show
as (sensitive value) in plans. The output is laid out as a blueprint, but it
is for reading only: applying it would set each hidden value to its
placeholder, so loading a blueprint that contains one is an error.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from provisioner.labels import SENSITIVE_PLACEHOLDER, is_sensitive_name
from provisioner.secrets import has_marker, shown
from provisioner.validation import LoadedBlueprint, resolve_bind_source


# Applying the output would set each hidden value to its placeholder text, so the YAML warns against it.
HEADER = ("# Resolved by provision config. Secrets show as (secret NAME) and sensitive values as\n"
          f"# {SENSITIVE_PLACEHOLDER}: do not apply this output.\n")


def resolved_blueprint(loaded: LoadedBlueprint) -> dict[str, Any]:
    """Return the masked blueprint as plain data, without the variables that were substituted.

    Certificate paths are already absolute; bind mount sources are made so here.
    """
    data = loaded.blueprint.model_dump(mode="json", exclude_none=True, exclude={"variables"})
    for section in ("volume_containers", "containers"):
        for name, container in data.get(section, {}).items():
            base_dir = loaded.document.base_dir_at((section, name, "volumes"))
            for mount in container.get("volumes", []):
                if mount["type"] == "bind":
                    mount["source"] = str(resolve_bind_source(mount["source"], base_dir))
    return data


def resolved_text(loaded: LoadedBlueprint, output_format: str) -> tuple[str, bool]:
    """Render the resolved blueprint as YAML or JSON; also tell whether any value is hidden."""
    data = resolved_blueprint(loaded)
    hidden = _hide_sensitive(data) or loaded.has_secrets
    data = _without_empty(_without_digests(data))
    if output_format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n", hidden
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return (HEADER if hidden else "") + text, hidden


def _hide_sensitive(data: dict[str, Any]) -> bool:
    """Replace environment values whose names look secret, as plans do; return whether any was."""
    hidden = False
    for section in ("volume_containers", "containers"):
        for container in data.get(section, {}).values():
            environment = container.get("environment", {})
            for name, value in environment.items():
                if is_sensitive_name(name) and not has_marker(value):
                    environment[name] = SENSITIVE_PLACEHOLDER
                    hidden = True
    return hidden


def _without_digests(value: Any) -> Any:
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {key: _without_digests(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_digests(item) for item in value]
    return value


def _without_empty(value: Any) -> Any:
    """Leave out empty mappings and lists, which are the defaults, so the output shows what is set."""
    if isinstance(value, dict):
        return {key: _without_empty(item) for key, item in value.items() if item not in ({}, [])}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value
