"""The live engine as typed, read-only values.

A snapshot is built from the raw JSON of a few list calls (containers,
networks, volumes, images), so the planner never talks to the engine and tests
can feed it recorded output. Only the fields the planner needs are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.labels import (
    DEPENDS_ON_LABEL,
    HASH_SCHEME_LABEL,
    PROJECT_LABEL,
    RESOURCE_LABEL,
    ROLE_LABEL,
    SPEC_HASH_LABEL,
    stored_spec,
)
from provisioner.resources import Kind, ResourceId


@dataclass(frozen=True)
class Observed:
    """Fields common to every engine object: a name, an id and labels."""

    kind: Kind
    name: str
    id: str
    labels: dict[str, str]

    @property
    def project(self) -> str | None:
        return self.labels.get(PROJECT_LABEL)

    @property
    def resource(self) -> ResourceId | None:
        return ResourceId.from_label(self.labels.get(RESOURCE_LABEL, ""))

    @property
    def role(self) -> str | None:
        return self.labels.get(ROLE_LABEL)

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(SPEC_HASH_LABEL)

    @property
    def hash_scheme(self) -> str | None:
        return self.labels.get(HASH_SCHEME_LABEL)

    @property
    def stored_spec(self) -> dict[str, Any] | None:
        return stored_spec(self.labels)

    def owned_by(self, project: str) -> bool:
        """Return whether this object is the project's resource of its name, and not one renamed by hand."""
        return self.project == project and self.resource == ResourceId(self.kind, self.name)

    def in_project(self, project: str) -> bool:
        """Return whether provision created this object for `project`, whatever it is called now."""
        return self.project == project


@dataclass(frozen=True)
class ObservedVolume(Observed):
    driver: str = "local"
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedNetwork(Observed):
    driver: str = "bridge"
    internal: bool = False
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None


@dataclass(frozen=True)
class ObservedEndpoint:
    """A container's attachment to a network; the network id is empty until the container starts."""

    network_id: str
    ipv4_address: str | None


@dataclass(frozen=True)
class ObservedMount:
    type: str
    name: str | None
    source: str | None
    destination: str
    read_only: bool


@dataclass(frozen=True)
class ObservedContainer(Observed):
    image: str = ""
    image_id: str = ""
    state: str = "created"
    network_mode: str = "default"
    networks: dict[str, ObservedEndpoint] = field(default_factory=dict)
    mounts: tuple[ObservedMount, ...] = ()

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting")

    def mount_at(self, destination: str) -> ObservedMount | None:
        return next((mount for mount in self.mounts if mount.destination == destination), None)

    def anonymous_volumes(self) -> dict[str, str]:
        """Volumes at the targets its stored spec declares anonymous, by target.

        These were created for this container, so they go with it. Without a
        readable spec label nothing is claimed, so nothing is removed.
        """
        spec = self.stored_spec or {}
        found = {}
        for mount in spec.get("mounts", []):
            if isinstance(mount, dict) and mount.get("type") == "anonymous":
                observed = self.mount_at(mount.get("target", ""))
                if observed is not None and observed.type == "volume" and observed.name:
                    found[observed.destination] = observed.name
        return found


@dataclass
class Snapshot:
    """Objects relevant to one project: those it labelled and those that have its names."""

    volumes: dict[str, ObservedVolume] = field(default_factory=dict)
    networks: dict[str, ObservedNetwork] = field(default_factory=dict)
    containers: dict[str, ObservedContainer] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    swarm_manager: bool = False
    # The engine allows several networks with one name; all but the first listed go here.
    duplicate_networks: list[ObservedNetwork] = field(default_factory=list)
    # Whether the engine runs on this machine, and whether its certs.d folder may be written.
    engine_is_local: bool = True
    certs_folder_writable: bool = True
    # The certs.d files the blueprint's registries trust: SHA-256 of each, or None when missing.
    trust_files: dict[str, str | None] = field(default_factory=dict)
    # Networks not labelled with the project, by name, with their IPv4 subnet when they have one.
    other_subnets: dict[str, str] = field(default_factory=dict)

    def find(self, resource: ResourceId) -> Observed | None:
        return self._table(resource.kind).get(resource.name)

    def in_project(self, project: str) -> list[Observed]:
        """List every object labelled with `project`, including ones renamed since they were created."""
        found: list[Observed] = []
        for table in (self.containers, self.networks, self.volumes):
            found += [item for item in table.values() if item.in_project(project)]
        return sorted(found, key=lambda item: (item.kind, item.name))

    def dependencies_of(self, observed: Observed) -> set[ResourceId]:
        """Objects an existing object uses, read from its stored spec and live attachments.

        Removal order follows these: a container goes before the volume,
        network or container it uses.
        """
        if not isinstance(observed, ObservedContainer):
            return set()
        found = {ResourceId(Kind.VOLUME, mount.name) for mount in observed.mounts
                 if mount.type == "volume" and mount.name in self.volumes}
        found |= {ResourceId(Kind.NETWORK, name) for name in observed.networks if name in self.networks}
        if observed.network_mode.startswith("container:"):
            target = self.container_by_id(observed.network_mode.removeprefix("container:"))
            if target is not None:
                found.add(ResourceId(Kind.CONTAINER, target.name))
        spec = observed.stored_spec or {}
        for entry in spec.get("volumes_from", []):
            if isinstance(entry, dict) and entry.get("container") in self.containers:
                found.add(ResourceId(Kind.CONTAINER, entry["container"]))
        return found

    def started_after(self, observed: Observed) -> set[ResourceId]:
        """Containers that `observed` was created after (its depends_on), which it should be removed before."""
        names = observed.labels.get(DEPENDS_ON_LABEL, "")
        return {ResourceId(Kind.CONTAINER, name) for name in names.split(",") if name in self.containers}

    def image_id(self, image: str) -> str | None:
        """Return the id of the local image that `image` refers to, where a reference without a tag means :latest."""
        last = image.rsplit("/", 1)[-1]
        reference = image if ":" in last or "@" in last else f"{image}:latest"
        return self.images.get(reference)

    def container_by_id(self, container_id: str) -> ObservedContainer | None:
        return next((item for item in self.containers.values() if item.id == container_id), None)

    def _table(self, kind: Kind) -> dict[str, Observed]:
        return {Kind.VOLUME: self.volumes, Kind.NETWORK: self.networks, Kind.CONTAINER: self.containers}[kind]


def snapshot_from_lists(raw: dict[str, Any]) -> Snapshot:
    """Build a snapshot from the JSON of the engine's list endpoints.

    `raw` contains "containers", "networks", "volumes" and "images" lists as the
    Docker Engine API returns them, and optionally "other_networks" (networks
    not labelled with the project) and "swarm_manager".
    """
    snapshot = Snapshot(swarm_manager=bool(raw.get("swarm_manager", False)))
    for item in raw.get("volumes", []):
        volume = _volume(item)
        snapshot.volumes[volume.name] = volume
    for item in raw.get("networks", []):
        network = _network(item)
        if network.name in snapshot.networks:
            snapshot.duplicate_networks.append(network)
        else:
            snapshot.networks[network.name] = network
    for item in raw.get("other_networks", []):
        network = _network(item)
        if network.subnet:
            snapshot.other_subnets[f"{network.name} ({network.id[:12]})"] = network.subnet
    for item in raw.get("containers", []):
        container = _container(item)
        snapshot.containers[container.name] = container
    for item in raw.get("images", []):
        for reference in (item.get("RepoTags") or []) + (item.get("RepoDigests") or []):
            snapshot.images[reference] = item["Id"]
    return snapshot


def _volume(item: dict[str, Any]) -> ObservedVolume:
    return ObservedVolume(
        kind=Kind.VOLUME,
        name=item["Name"],
        id=item["Name"],
        labels=item.get("Labels") or {},
        driver=item.get("Driver") or "local",
        options=item.get("Options") or {},
    )


def _network(item: dict[str, Any]) -> ObservedNetwork:
    configs = (item.get("IPAM") or {}).get("Config") or []
    ipv4 = next((config for config in configs if ":" not in config.get("Subnet", "")), {})
    return ObservedNetwork(
        kind=Kind.NETWORK,
        name=item["Name"],
        id=item["Id"],
        labels=item.get("Labels") or {},
        driver=item.get("Driver") or "bridge",
        internal=bool(item.get("Internal")),
        subnet=ipv4.get("Subnet") or None,
        gateway=ipv4.get("Gateway") or None,
        ip_range=ipv4.get("IPRange") or None,
    )


def _container(item: dict[str, Any]) -> ObservedContainer:
    networks = {}
    for name, endpoint in ((item.get("NetworkSettings") or {}).get("Networks") or {}).items():
        ipam = endpoint.get("IPAMConfig") or {}
        networks[name] = ObservedEndpoint(
            network_id=endpoint.get("NetworkID") or "",
            ipv4_address=ipam.get("IPv4Address") or None,
        )
    mounts = tuple(
        ObservedMount(
            type=mount.get("Type", ""),
            name=mount.get("Name") or None,
            source=mount.get("Source") or None,
            destination=mount["Destination"],
            read_only=not mount.get("RW", True),
        )
        for mount in item.get("Mounts") or []
    )
    return ObservedContainer(
        kind=Kind.CONTAINER,
        name=(item.get("Names") or ["/"])[0].lstrip("/"),
        id=item["Id"],
        labels=item.get("Labels") or {},
        image=item.get("Image", ""),
        image_id=item.get("ImageID", ""),
        state=item.get("State", ""),
        network_mode=(item.get("HostConfig") or {}).get("NetworkMode", "default"),
        networks=networks,
        mounts=mounts,
    )
