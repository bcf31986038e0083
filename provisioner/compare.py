"""Field-by-field comparison of a desired resource with what the engine holds.

Two sources of difference are combined. The stored spec (a label written at
creation) records what the blueprint contained at the last apply, so edits and removed
settings are found even where the engine cannot show them. The live values
show drift made behind provision's back. Only fields the blueprint declares
are compared live; values the engine fills in itself are never a difference.
"""

from __future__ import annotations

from typing import Any

from provisioner.labels import HASH_SCHEME, is_provision_label, stored_form
from provisioner.plan import FieldChange
from provisioner.resources import DesiredResource, Kind
from provisioner.snapshot import Observed, ObservedContainer, ObservedNetwork, ObservedVolume, Snapshot

MISSING = object()


def compare(desired: DesiredResource, observed: Observed, snapshot: Snapshot) -> list[FieldChange]:
    """Return every difference between `desired` and `observed`, one entry per field."""
    changes = _spec_changes(desired, observed)
    if desired.id.kind is Kind.VOLUME:
        drift = _volume_drift(desired, observed)
    elif desired.id.kind is Kind.NETWORK:
        drift = _network_drift(desired.spec, observed)
    else:
        drift = _container_drift(desired.spec, observed, snapshot)

    # An edit shows in both the stored spec and the live values; report it once,
    # as the blueprint edit.
    edited = {_root(change.field) for change in changes}
    changes += [change for change in drift if _root(change.field) not in edited]
    return _first_per_field(changes)


# Placeholder for a live value that should contain a secret: it may contain the old secret, so it is not shown.
HIDDEN_LIVE_VALUE = "(hidden: the value should contain a secret)"


def diff_specs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[FieldChange]:
    """Differences between two specs, descending into mappings so each key is its own field."""
    changes = []
    for key in sorted(set(old) | set(new)):
        old_value = old.get(key, MISSING)
        new_value = new.get(key, MISSING)
        path = f"{prefix}.{key}" if prefix else key
        if not prefix and (old_value is MISSING or new_value is MISSING):
            # A top-level field this release added or dropped: a difference
            # only when the blueprint actually sets it.
            present = new_value if old_value is MISSING else MISSING
            if present is MISSING or present in (None, False, [], {}, ""):
                continue
        if isinstance(old_value, dict) and isinstance(new_value, dict):
            changes += diff_specs(old_value, new_value, path)
        elif _by_target(old_value) is not None and _by_target(new_value) is not None:
            changes += _diff_mounts(_by_target(old_value), _by_target(new_value), path)
        elif old_value != new_value:
            changes.append(FieldChange(path, None if old_value is MISSING else old_value,
                                       None if new_value is MISSING else new_value))
    return changes


def _by_target(value: Any) -> dict[str, dict[str, Any]] | None:
    """Key a list of mounts by target, so an edit shows as one mount's field; None for anything else."""
    if not isinstance(value, list) or not all(isinstance(item, dict) and "target" in item for item in value):
        return None
    keyed = {item["target"]: item for item in value}
    return keyed if len(keyed) == len(value) else None


def _diff_mounts(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], path: str) -> list[FieldChange]:
    changes = []
    for target in sorted(set(old) | set(new)):
        field = f"{path}[{target}]"
        if target in old and target in new:
            changes += diff_specs(old[target], new[target], field)
        elif old.get(target) != new.get(target):
            changes.append(FieldChange(field, old.get(target), new.get(target)))
    return changes


def _spec_changes(desired: DesiredResource, observed: Observed) -> list[FieldChange]:
    if observed.hash_scheme == HASH_SCHEME and observed.spec_hash == desired.spec_hash:
        return []
    old_spec = observed.stored_spec
    if old_spec is None:
        return [FieldChange("spec", "unknown (no readable spec label)", "as in the blueprint")]
    return diff_specs(old_spec, stored_form(desired.spec))


def _volume_drift(desired: DesiredResource, observed: ObservedVolume) -> list[FieldChange]:
    spec = desired.spec
    changes = []
    if observed.driver != spec["driver"]:
        changes.append(FieldChange("driver", observed.driver, spec["driver"]))
    changes += _options_drift(spec["driver_opts"], desired.engine_spec["driver_opts"], observed.options)
    changes += _mapping_drift("labels", spec["labels"], observed.labels)
    return changes


def _options_drift(masked: dict[str, str], real: dict[str, str], live: dict[str, str]) -> list[FieldChange]:
    """Compare driver options by their real values; an option that uses a secret shows neither value."""
    changes = []
    for key, value in sorted(real.items()):
        if live.get(key) != value:
            old = live.get(key) if masked[key] == value else HIDDEN_LIVE_VALUE
            changes.append(FieldChange(f"driver_opts.{key}", old, masked[key]))
    return changes


def _network_drift(spec: dict[str, Any], observed: ObservedNetwork) -> list[FieldChange]:
    changes = []
    if observed.driver != spec["driver"]:
        changes.append(FieldChange("driver", observed.driver, spec["driver"]))
    if observed.internal != spec["internal"]:
        changes.append(FieldChange("internal", observed.internal, spec["internal"]))
    for key in ("subnet", "gateway", "ip_range"):
        declared = spec[key]
        if declared is not None and getattr(observed, key) != declared:
            changes.append(FieldChange(key, getattr(observed, key), declared))
    changes += _mapping_drift("labels", spec["labels"], observed.labels)
    return changes


def _container_drift(spec: dict[str, Any], observed: ObservedContainer, snapshot: Snapshot) -> list[FieldChange]:
    changes = []
    changes += _image_drift(spec, observed, snapshot)
    changes += _network_mode_drift(spec, observed, snapshot)
    changes += _attachment_drift(spec, observed, snapshot)
    changes += _mount_drift(spec, observed)
    changes += _volumes_from_drift(spec, observed, snapshot)
    changes += _mapping_drift("labels", spec["labels"], {k: v for k, v in observed.labels.items() if not is_provision_label(k)})
    return changes


def _image_drift(spec: dict[str, Any], observed: ObservedContainer, snapshot: Snapshot) -> list[FieldChange]:
    image = spec["image"]
    current_id = snapshot.image_id(image)
    # Once the tag moves to another image, the engine lists the container's
    # image by its id instead of the tag it was created from.
    same_reference = observed.image == image or observed.image.startswith("sha256:")
    if same_reference and current_id and observed.image_id and current_id != observed.image_id:
        return [FieldChange("image", f"{image} ({_short_id(observed.image_id)})", f"{image} ({_short_id(current_id)}, updated locally)")]
    if not same_reference:
        return [FieldChange("image", observed.image, image)]
    return []


def _network_mode_drift(spec: dict[str, Any], observed: ObservedContainer, snapshot: Snapshot) -> list[FieldChange]:
    mode = spec["network_mode"]
    if mode in ("host", "none") and observed.network_mode != mode:
        return [FieldChange("network_mode", observed.network_mode, mode)]
    if mode and mode.startswith("container:"):
        target = snapshot.containers.get(mode.removeprefix("container:"))
        expected = f"container:{target.id}" if target else None
        if expected and observed.network_mode != expected:
            old = _container_mode_text(observed.network_mode, snapshot)
            return [FieldChange("network_mode", old, f"{mode} (id {_short_id(target.id)})")]
    return []


def _attachment_drift(spec: dict[str, Any], observed: ObservedContainer, snapshot: Snapshot) -> list[FieldChange]:
    changes = []
    for name, attachment in spec["networks"].items():
        endpoint = observed.networks.get(name)
        if endpoint is None:
            changes.append(FieldChange(f"networks.{name}", "not connected", "connected"))
            continue
        network = snapshot.networks.get(name)
        if endpoint.network_id and network is not None and endpoint.network_id != network.id:
            changes.append(FieldChange(f"networks.{name}", f"network id {_short_id(endpoint.network_id)} (removed)",
                                       f"network id {_short_id(network.id)}"))
        declared_address = attachment["ipv4_address"]
        if declared_address and endpoint.ipv4_address and endpoint.ipv4_address != declared_address:
            changes.append(FieldChange(f"networks.{name}.ipv4_address", endpoint.ipv4_address, declared_address))
    return changes


def _mount_drift(spec: dict[str, Any], observed: ObservedContainer) -> list[FieldChange]:
    changes = []
    for mount in spec["mounts"]:
        target = mount["target"]
        found = observed.mount_at(target)
        field = f"mounts[{target}]"
        if found is None:
            changes.append(FieldChange(field, "not mounted", _mount_text(mount)))
        elif mount["type"] == "volume" and (found.name != mount["source"] or found.read_only != mount["read_only"]):
            changes.append(FieldChange(field, _observed_mount_text(found), _mount_text(mount)))
        elif mount["type"] == "bind" and (found.source != mount["source"] or found.read_only != mount["read_only"]):
            changes.append(FieldChange(field, _observed_mount_text(found), _mount_text(mount)))
    return changes


def _volumes_from_drift(spec: dict[str, Any], observed: ObservedContainer, snapshot: Snapshot) -> list[FieldChange]:
    """A consumer keeps the volumes of the container it was created from; when that container was recreated, it must be too."""
    changes = []
    for entry in spec["volumes_from"]:
        source = snapshot.containers.get(entry["container"])
        if source is None:
            continue
        mounted = {mount.name for mount in observed.mounts if mount.name}
        missing = [mount.destination for mount in source.mounts if mount.type == "volume" and mount.name not in mounted]
        if missing:
            changes.append(FieldChange(f"volumes_from.{entry['container']}", "volumes of an earlier container",
                                       f"volumes of the current {entry['container']} ({', '.join(missing)})"))
    return changes


def _mapping_drift(field: str, declared: dict[str, str], live: dict[str, str]) -> list[FieldChange]:
    return [
        FieldChange(f"{field}.{key}", live.get(key), value)
        for key, value in sorted(declared.items())
        if live.get(key) != value
    ]


def _first_per_field(changes: list[FieldChange]) -> list[FieldChange]:
    seen: set[str] = set()
    unique = []
    for change in changes:
        if change.field not in seen:
            seen.add(change.field)
            unique.append(change)
    return unique


def _root(field: str) -> str:
    return field.split(".", 1)[0].split("[", 1)[0]


def _short_id(identifier: str) -> str:
    return identifier.removeprefix("sha256:")[:12]


def _container_mode_text(mode: str, snapshot: Snapshot) -> str:
    if mode.startswith("container:"):
        container = snapshot.container_by_id(mode.removeprefix("container:"))
        if container is None:
            return f"container id {_short_id(mode.removeprefix('container:'))} (removed)"
        return f"container:{container.name} (id {_short_id(container.id)})"
    return mode


def _mount_text(mount: dict[str, Any]) -> str:
    if mount["type"] == "anonymous":
        return "anonymous volume"
    mode = ":ro" if mount["read_only"] else ""
    return f"{mount['source']}{mode}"


def _observed_mount_text(mount: Any) -> str:
    source = mount.name if mount.type == "volume" else mount.source
    mode = ":ro" if mount.read_only else ""
    return f"{source}{mode}"
