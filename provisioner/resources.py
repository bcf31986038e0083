"""Desired resources: what the engine should hold, derived from a valid blueprint.

Each resource carries its spec (everything needed to create it, in a canonical
JSON form that is also what gets hashed and compared) and its dependencies.
`requires` edges mean "must exist first, and is recreated when its dependency
is"; `after` edges only order the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.labels import spec_hash
from provisioner.models import Blueprint, ContainerSpec, NetworkSpec, VolumeSpec
from provisioner.validation import LoadedBlueprint, resolve_bind_source


class Kind(StrEnum):
    VOLUME = "volume"
    NETWORK = "network"
    CONTAINER = "container"


@dataclass(frozen=True, order=True)
class ResourceId:
    """A blueprint resource: its kind and its Docker name."""

    kind: Kind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def label(self) -> str:
        """The value of the resource label on the engine object."""
        return f"{self.kind}/{self.name}"

    @classmethod
    def from_label(cls, value: str) -> ResourceId | None:
        kind, _, name = value.partition("/")
        if kind not in Kind.__members__.values() or not name:
            return None
        return cls(Kind(kind), name)


@dataclass(frozen=True)
class DesiredResource:
    """One object the blueprint declares."""

    id: ResourceId
    role: str
    spec: dict[str, Any]
    requires: frozenset[ResourceId] = frozenset()
    after: frozenset[ResourceId] = frozenset()
    state: str | None = None
    pull: str | None = None
    # Inputs that are not part of the spec, such as passwords and local file
    # paths; never hashed, stored or printed.
    inputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec)

    @property
    def engine_spec(self) -> dict[str, Any]:
        """The spec with the real values of secret variables, for the engine call that creates the object."""
        return self.inputs.get("engine_spec", self.spec)


@dataclass
class DesiredState:
    """Every resource of one project, keyed by id."""

    project: str
    resources: dict[ResourceId, DesiredResource] = field(default_factory=dict)

    def dependents(self, resource: ResourceId) -> list[ResourceId]:
        """Resources that require `resource` directly."""
        return sorted(other.id for other in self.resources.values() if resource in other.requires)


def build_desired_state(loaded: LoadedBlueprint) -> DesiredState:
    """Build the resources from the masked blueprint, each carrying its real spec when secrets differ from it."""
    state = _desired_state(loaded, loaded.blueprint)
    if loaded.has_secrets:
        real = _desired_state(loaded, loaded.engine_blueprint)
        for resource_id, resource in state.resources.items():
            if real.resources[resource_id].spec != resource.spec:
                resource.inputs["engine_spec"] = real.resources[resource_id].spec
    return state


def _desired_state(loaded: LoadedBlueprint, blueprint: Blueprint) -> DesiredState:
    state = DesiredState(blueprint.project)

    for name, volume in blueprint.volumes.items():
        _add(state, DesiredResource(ResourceId(Kind.VOLUME, name), "volume", volume_spec(volume)))

    explicit_subnets = [ResourceId(Kind.NETWORK, name) for name, network in blueprint.networks.items() if network.subnet]
    for name, network in blueprint.networks.items():
        # Networks the engine addresses itself come after those with a declared
        # subnet, so the automatic pool cannot take a reserved range first.
        after = frozenset() if network.subnet else frozenset(explicit_subnets)
        _add(state, DesiredResource(ResourceId(Kind.NETWORK, name), "network", network_spec(network), after=after))

    for role, section in (("volume_container", blueprint.volume_containers), ("container", blueprint.containers)):
        for name, container in section.items():
            base_dir = loaded.document.base_dir_at((role + "s", name, "volumes"))
            _add(state, _container_resource(name, role, container, blueprint, base_dir))

    # Imported here because the registry module builds on the types above.
    from provisioner.registry import registry_resources

    for name, registry in blueprint.registries.items():
        for resource in registry_resources(name, registry, loaded.document.base_dir_at(("registries", name, "tls"))):
            _add(state, resource)
    return state


def _add(state: DesiredState, resource: DesiredResource) -> None:
    state.resources[resource.id] = resource


def volume_spec(volume: VolumeSpec) -> dict[str, Any]:
    return {"driver": volume.driver, "driver_opts": dict(volume.driver_opts), "labels": dict(volume.labels)}


def network_spec(network: NetworkSpec) -> dict[str, Any]:
    return {
        "driver": network.driver,
        "subnet": _text(network.subnet),
        "gateway": _text(network.gateway),
        "ip_range": _text(network.ip_range),
        "internal": network.internal,
        "labels": dict(network.labels),
    }


def container_spec(container: ContainerSpec, base_dir: Path) -> dict[str, Any]:
    """Build the container's settings as created on the engine. State, pull and depends_on are not part of them."""
    return {
        "image": container.image,
        "command": container.command,
        "entrypoint": container.entrypoint,
        "environment": dict(container.environment),
        "labels": dict(container.labels),
        "user": container.user,
        "working_dir": container.working_dir,
        "hostname": container.hostname,
        "mounts": [_mount_spec(mount, base_dir) for mount in container.volumes],
        "volumes_from": [{"container": entry.container, "read_only": entry.read_only} for entry in container.volumes_from],
        "network_mode": container.network_mode,
        "networks": {
            name: {"ipv4_address": _text(attachment.ipv4_address), "aliases": list(attachment.aliases)}
            for name, attachment in container.networks.items()
        },
        "ports": [port.model_dump() for port in container.ports],
        "restart": container.restart,
    }


def _container_resource(name: str, role: str, container: ContainerSpec, blueprint: Blueprint, base_dir: Path) -> DesiredResource:
    requires = {ResourceId(Kind.VOLUME, mount.source) for mount in container.volumes if mount.type == "volume"}
    requires |= {ResourceId(Kind.NETWORK, network) for network in container.networks}
    requires |= {ResourceId(Kind.CONTAINER, entry.container) for entry in container.volumes_from}
    if container.network_mode and container.network_mode.startswith("container:"):
        requires.add(ResourceId(Kind.CONTAINER, container.network_mode.removeprefix("container:")))
    after = {ResourceId(Kind.CONTAINER, dependency) for dependency in container.depends_on}

    return DesiredResource(
        id=ResourceId(Kind.CONTAINER, name),
        role=role,
        spec=container_spec(container, base_dir),
        requires=frozenset(requires),
        after=frozenset(after - requires),
        state=container.state,
        pull=container.pull,
    )


def _mount_spec(mount: Any, base_dir: Path) -> dict[str, Any]:
    if mount.type == "anonymous":
        return {"type": "anonymous", "target": mount.target}
    source = mount.source
    if mount.type == "bind":
        source = str(resolve_bind_source(source, base_dir))
    return {"type": mount.type, "source": source, "target": mount.target, "read_only": mount.read_only}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
