"""The blueprint as provision reads it, for `provision config`.

Files are merged, templates rendered and defaults filled in. Relative paths
become absolute, resolved against the file each was written in, and secrets
show as (secret NAME). The output is itself a valid blueprint, but one that
would set each secret to its placeholder, so it is for reading, not applying.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from provisioner.registry_validation import resolve_path
from provisioner.secrets import shown
from provisioner.validation import LoadedBlueprint, resolve_bind_source


# Applying the output would set each secret to its placeholder text, so the YAML warns against it.
HEADER = "# Resolved by provision config. Secrets show as (secret NAME): do not apply this output.\n"


def resolved_blueprint(loaded: LoadedBlueprint) -> dict[str, Any]:
    """Return the masked blueprint as plain data, without the variables that were substituted."""
    data = loaded.blueprint.model_dump(mode="json", exclude_none=True, exclude={"variables"})
    for section in ("volume_containers", "containers"):
        for name, container in data.get(section, {}).items():
            base_dir = loaded.document.base_dir_at((section, name, "volumes"))
            for mount in container.get("volumes", []):
                if mount["type"] == "bind":
                    mount["source"] = str(resolve_bind_source(mount["source"], base_dir))
    for name, registry in data.get("registries", {}).items():
        base_dir = loaded.document.base_dir_at(("registries", name, "tls"))
        for key in ("ca", "certificate"):
            files = registry.get("tls", {}).get(key)
            if isinstance(files, dict):
                registry["tls"][key] = {part: str(resolve_path(path, base_dir)) for part, path in files.items()}
    return data


def resolved_text(loaded: LoadedBlueprint, output_format: str) -> str:
    """Render the resolved blueprint as YAML or JSON."""
    data = _without_empty(_without_digests(resolved_blueprint(loaded)))
    if output_format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return (HEADER if loaded.has_secrets else "") + text


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
