"""Helpers for the planner, ordering and render tests: recorded engine states and desired states built from blueprints.

The recordings in tests/unit/snapshots were made by snapshots/record.py from blueprints/seed-demo.yaml
under the project name seed-demo. In them the bind mount ./site points to PLACEHOLDER_SITE, which does not
exist on a test machine. `desired_state` therefore loads the blueprint from a temporary folder that has a
real site/ folder, so validation passes, and then puts PLACEHOLDER_SITE into the bind mount specs, as if
the blueprint had been loaded from /srv/checkout/blueprints.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import yaml

from provisioner.labels import SPEC_LABEL
from provisioner.resources import DesiredState, Kind, ResourceId, build_desired_state
from provisioner.validation import load_blueprint

REPO = Path(__file__).resolve().parents[2]
SEED_BLUEPRINT = REPO / "blueprints" / "seed-demo.yaml"
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
PLACEHOLDER_SITE = "/srv/checkout/blueprints/site"
PROJECT = "seed-demo"

APP_DATA = ResourceId(Kind.VOLUME, "app-data")
SCRATCH = ResourceId(Kind.VOLUME, "scratch")
BACKEND = ResourceId(Kind.NETWORK, "backend")
ISOLATED = ResourceId(Kind.NETWORK, "isolated")
DATA_VOLUME = ResourceId(Kind.CONTAINER, "data-volume")
BUSY_BOX2 = ResourceId(Kind.CONTAINER, "busy-box2")
SIDECAR = ResourceId(Kind.CONTAINER, "sidecar")
BATCH = ResourceId(Kind.CONTAINER, "batch")
HOSTNET = ResourceId(Kind.CONTAINER, "hostnet")
ALL_SEED_RESOURCES = sorted([APP_DATA, SCRATCH, BACKEND, ISOLATED, DATA_VOLUME, BUSY_BOX2, SIDECAR, BATCH, HOSTNET])

LIST_KEYS = {Kind.CONTAINER: "containers", Kind.NETWORK: "networks", Kind.VOLUME: "volumes"}


def seed_data() -> dict[str, Any]:
    """The seed-demo blueprint as plain data, a fresh copy that a test may edit."""
    return copy.deepcopy(_seed_data())


@functools.cache
def _seed_data() -> dict[str, Any]:
    return yaml.safe_load(SEED_BLUEPRINT.read_text(encoding="utf-8"))


def desired_state(data: dict[str, Any], folder: Path) -> DesiredState:
    """Write `data` as a blueprint under `folder`, load it and build the desired state with PLACEHOLDER_SITE binds."""
    blueprint_dir = folder / "blueprints"
    (blueprint_dir / "site").mkdir(parents=True, exist_ok=True)
    path = blueprint_dir / "seed-demo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    desired = build_desired_state(load_blueprint(path))

    real_site = str((blueprint_dir / "site").resolve())
    for resource_id, resource in list(desired.resources.items()):
        mounts = resource.spec.get("mounts")
        if not mounts:
            continue
        spec = copy.deepcopy(resource.spec)
        for mount in spec["mounts"]:
            if mount.get("type") == "bind" and mount["source"] == real_site:
                mount["source"] = PLACEHOLDER_SITE
        desired.resources[resource_id] = dataclasses.replace(resource, spec=spec)
    return desired


def recording(name: str) -> dict[str, Any]:
    """A fresh copy of tests/unit/snapshots/NAME.json, the raw list output that a test may edit."""
    return copy.deepcopy(_recording(name))


@functools.cache
def _recording(name: str) -> dict[str, Any]:
    return json.loads((SNAPSHOT_DIR / f"{name}.json").read_text(encoding="utf-8"))


def raw_item(raw: dict[str, Any], resource: ResourceId) -> dict[str, Any]:
    """The list entry of `resource` in a recording; raises KeyError when it is not there."""
    for item in raw[LIST_KEYS[resource.kind]]:
        name = item["Names"][0].lstrip("/") if resource.kind is Kind.CONTAINER else item["Name"]
        if name == resource.name:
            return item
    raise KeyError(f"{resource} is not in the recording")


def labels_of(raw: dict[str, Any], resource: ResourceId) -> dict[str, str]:
    item = raw_item(raw, resource)
    if item.get("Labels") is None:
        item["Labels"] = {}
    return item["Labels"]


def remove_item(raw: dict[str, Any], resource: ResourceId) -> None:
    raw[LIST_KEYS[resource.kind]].remove(raw_item(raw, resource))


def empty_engine(raw: dict[str, Any]) -> dict[str, Any]:
    """The recording with no containers, networks or volumes, keeping its images."""
    return {**raw, "containers": [], "networks": [], "volumes": []}


def stored_spec_of(raw: dict[str, Any], resource: ResourceId) -> dict[str, Any]:
    return json.loads(labels_of(raw, resource)[SPEC_LABEL])


def set_stored_spec(raw: dict[str, Any], resource: ResourceId, spec: dict[str, Any]) -> None:
    """Replace the spec label; the spec-hash label is left as it was."""
    labels_of(raw, resource)[SPEC_LABEL] = json.dumps(spec, sort_keys=True, separators=(",", ":"))


def actions_summary(plan: Any) -> list[tuple[str, ResourceId]]:
    """(action kind, resource) for every action of `plan`, in plan order."""
    return [(str(action.kind), action.resource) for action in plan.actions]

