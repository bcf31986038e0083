"""The blueprint's data model (version 1), as pydantic models.

Each model checks one object on its own: types, allowed values and the syntax
of strings such as ports and mounts. Rules that look across objects (references,
overlapping subnets, cycles) live in `validation`.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shlex
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from provisioner.names import DOCKER_NAME_PATTERN, IMAGE_REFERENCE_PATTERN, PROJECT_PATTERN, RESERVED_LABEL_PREFIX
from provisioner.short_syntax import parse_mount, parse_port, parse_volumes_from

ENV_NAME_PATTERN = re.compile(r"^[^=\s]+$")
RESTART_PATTERN = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")

DockerName = Annotated[str, StringConstraints(pattern=DOCKER_NAME_PATTERN, max_length=128)]
ProjectName = Annotated[str, StringConstraints(pattern=PROJECT_PATTERN, max_length=63)]


def _parse_text(parser: Callable[[str], dict[str, Any]], *, accept_int: bool = False) -> Callable[[Any], Any]:
    """Wrap a short-syntax parser so strings are parsed and anything else is validated as given."""

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            return parser(value)
        if accept_int and isinstance(value, int) and not isinstance(value, bool):
            return parser(str(value))
        return value

    return parse


def _scalar_text(value: Any) -> Any:
    """Accept a number or a date where text is expected, as the user meant it; reject booleans."""
    if isinstance(value, bool):
        word = str(value).lower()
        raise ValueError(f"the value is the boolean {word}, because YAML reads unquoted yes/no/on/off/true/false "
                         f"as booleans; quote it, for example \"{word}\"")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


# Text in a mapping value (labels, options, environment); numbers and dates become their text.
Text = Annotated[str, BeforeValidator(_scalar_text, json_schema_input_type=str | int | float)]


def _user_labels(labels: dict[str, str]) -> dict[str, str]:
    for key in labels:
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise ValueError(f"label {key!r} is reserved: provision sets {RESERVED_LABEL_PREFIX}* labels itself "
                             "to track what it owns; use another label name")
    return labels


def _address_text(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, ipaddress.IPv4Address)):
        # pydantic would read a number (or a YAML boolean) as an address.
        raise ValueError(f"{value!r} is not an IPv4 address; write it as text, such as 10.1.0.5")
    return value


# An IPv4 address that must be written as text in the file.
AddressText = Annotated[ipaddress.IPv4Address, BeforeValidator(_address_text, json_schema_input_type=str)]


# Labels a user may set: any, except provision's own.
UserLabels = Annotated[dict[str, Text], AfterValidator(_user_labels)]


class StrictModel(BaseModel):
    """Base for every blueprint object: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeSpec(StrictModel):
    """A named volume."""

    driver: str = Field("local", description="Volume driver.")
    driver_opts: dict[str, Text] = Field(default_factory=dict, description="Options passed to the driver.")
    labels: UserLabels = Field(default_factory=dict, description="Labels added to the volume.")


class NetworkSpec(StrictModel):
    """A network; a bridge by default, or an overlay on a swarm."""

    driver: Literal["bridge", "overlay"] = Field("bridge", description="Network driver.")
    subnet: ipaddress.IPv4Network | None = Field(None, description="IPv4 subnet in CIDR form; the engine picks one when omitted.")
    gateway: AddressText | None = Field(None, description="Gateway address inside the subnet.")
    ip_range: ipaddress.IPv4Network | None = Field(None, description="Range inside the subnet from which the engine assigns addresses.")
    internal: bool = Field(False, description="Cut the network off from outside traffic.")
    labels: UserLabels = Field(default_factory=dict, description="Labels added to the network.")

    @field_validator("subnet", "ip_range", mode="before")
    @classmethod
    def _network_without_host_bits(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            # pydantic would read a number (or a YAML boolean) as an address.
            raise ValueError(f"{value!r} is not an IPv4 network in CIDR form; write it as text, such as 10.1.0.0/24")
        if isinstance(value, str):
            try:
                ipaddress.IPv4Network(value)
            except ValueError as error:
                if "host bits set" in str(error):
                    fixed = ipaddress.IPv4Network(value, strict=False)
                    raise ValueError(f"{value} has host bits set; did you mean {fixed}?") from None
                raise ValueError(f"{value!r} is not an IPv4 network in CIDR form, such as 10.1.0.0/24") from None
        return value

    @field_validator("gateway", "ip_range")
    @classmethod
    def _addresses_need_subnet(cls, value: Any, info: ValidationInfo) -> Any:
        # A subnet that failed its own check is absent from info.data; it has its own error already.
        if value is not None and "subnet" in info.data and info.data["subnet"] is None:
            raise ValueError(f"{info.field_name} needs a subnet; add subnet: CIDR to this network")
        return value


class ContainerNetwork(StrictModel):
    """A container's attachment to one blueprint network."""

    ipv4_address: AddressText | None = Field(None, description="Static address inside the network's subnet.")
    aliases: list[str] = Field(default_factory=list, description="Extra DNS names of the container on this network.")


class Mount(StrictModel):
    """One entry of `volumes`, parsed from SOURCE:TARGET[:ro|rw] or TARGET."""

    type: Literal["anonymous", "volume", "bind"]
    source: str | None = None
    target: str
    read_only: bool = False


class Port(StrictModel):
    """One published port, parsed from [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]."""

    host_ip: str
    host_port: int
    container_port: int
    protocol: Literal["tcp", "udp"]


class VolumesFrom(StrictModel):
    """One entry of `volumes_from`, parsed from NAME or NAME:ro|rw."""

    container: str
    read_only: bool = False


class ContainerSpec(StrictModel):
    """A container; started by default."""

    image: str = Field(min_length=1, description="Image reference, for example busybox:1.36.")
    command: list[Text] | None = Field(None, description="Command, as a list or a shell-like string.")
    entrypoint: list[Text] | None = Field(None, description="Entrypoint, as a list or a shell-like string.")
    environment: dict[str, Text] = Field(default_factory=dict, description="Environment variables, as a mapping or a list of NAME=VALUE.")
    labels: UserLabels = Field(default_factory=dict, description="Labels added to the container.")
    user: Text | None = Field(None, description="User (name or UID[:GID]) the process runs as.")
    working_dir: Text | None = Field(None, description="Working folder of the process.")
    hostname: Text | None = Field(None, description="Host name inside the container.")
    volumes: list[Annotated[Mount, BeforeValidator(_parse_text(parse_mount), json_schema_input_type=str)]] = Field(default_factory=list, description="Mounts: TARGET (anonymous volume), VOLUME:TARGET[:ro] or PATH:TARGET[:ro] (bind).")
    volumes_from: list[Annotated[VolumesFrom, BeforeValidator(_parse_text(parse_volumes_from), json_schema_input_type=str)]] = Field(default_factory=list, description="Containers whose volumes to mount, as NAME or NAME:ro.")
    networks: dict[DockerName, ContainerNetwork] = Field(default_factory=dict, description="Blueprint networks to join, with optional static address and aliases.")
    network_mode: str | None = Field(None, description="bridge (the engine's default network), host, none or "
                                     "container:NAME; cannot be combined with networks, and only bridge allows ports.")
    ports: list[Annotated[Port, BeforeValidator(_parse_text(parse_port, accept_int=True), json_schema_input_type=str)]] = Field(default_factory=list, description="Published ports: [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp].")
    restart: str = Field("no", description="Restart policy: no, always, unless-stopped or on-failure[:N].")
    depends_on: list[DockerName] = Field(default_factory=list, description="Containers to create (and start) before this one.")
    state: Literal["running", "created"] = Field("running", description="Whether the container is started or only created.")
    pull: Literal["missing", "always", "never"] = Field("missing", description="When to pull the image.")

    @field_validator("command", "entrypoint", mode="before", json_schema_input_type=list[str] | str | None)
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as error:
                raise ValueError(f"cannot split {value!r} into words ({error}); write it as a list") from None
        if value is not None and not isinstance(value, list):
            raise ValueError(f"invalid value {value!r}; write a list such as [sleep, \"10\"] or a string such as \"sleep 10\"")
        return value

    @field_validator("image")
    @classmethod
    def _image_reference(cls, value: str) -> str:
        if not re.match(IMAGE_REFERENCE_PATTERN, value):
            raise ValueError(f"invalid image reference {value!r}; write NAME[:TAG] with a lower-case name, "
                             "for example busybox:1.36 or registry.example.com:5000/team/app:2.1")
        return value

    @field_validator("environment", mode="before", json_schema_input_type=dict[str, str | int | float | None] | list[str])
    @classmethod
    def _environment_mapping(cls, value: Any) -> Any:
        if isinstance(value, list):
            return _environment_from_list(value)
        if isinstance(value, dict):
            return {key: "" if item is None else item for key, item in value.items()}
        return value

    @field_validator("environment")
    @classmethod
    def _environment_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME_PATTERN.match(name):
                raise ValueError(f"invalid environment variable name {name!r}; names cannot contain '=' or spaces")
        return value

    @field_validator("networks", mode="before", json_schema_input_type=dict[str, ContainerNetwork | None] | list[str])
    @classmethod
    def _networks_mapping(cls, value: Any) -> Any:
        if isinstance(value, list):
            for name in value:
                if not isinstance(name, str):
                    raise ValueError(f"invalid network {name!r} in the list; write network names, such as [backend]")
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {name: {} if item is None else item for name, item in value.items()}
        raise ValueError(f"invalid value {value!r}; write a list of network names, such as [backend], "
                         "or a mapping of name: settings")

    @field_validator("network_mode")
    @classmethod
    def _check_network_mode(cls, value: str | None) -> str | None:
        if value is None or value in ("host", "none", "bridge"):
            return value
        if value.startswith("container:") and re.match(DOCKER_NAME_PATTERN, value.removeprefix("container:")):
            return value
        raise ValueError(f"invalid network_mode {value!r}; use bridge, host, none or container:NAME")

    @field_validator("restart", mode="before")
    @classmethod
    def _restart_policy(cls, value: Any) -> Any:
        if value is False:
            # YAML 1.1 reads an unquoted `no` as false; the only sensible meaning here is "no".
            return "no"
        if value is True:
            raise ValueError("restart is the boolean true, because YAML reads an unquoted yes/on/true as a boolean; "
                             "write a policy: no, always, unless-stopped or on-failure[:N]")
        if isinstance(value, str) and not RESTART_PATTERN.match(value):
            raise ValueError(f"invalid restart policy {value!r}; use no, always, unless-stopped or on-failure[:N]")
        return value


class VolumeContainerSpec(ContainerSpec):
    """A data-only container that other containers mount with volumes_from; created, not started, by default."""

    state: Literal["running", "created"] = Field("created", description="Whether the container is started or only created.")


class CertificateFiles(StrictModel):
    """A certificate and its private key in PEM files; relative paths are relative to the blueprint file."""

    cert: str = Field(min_length=1, description="Certificate file (PEM).")
    key: str = Field(min_length=1, description="Private key file (PEM, unencrypted).")


class RegistryTls(StrictModel):
    """Settings of the registry's TLS certificate and its CA."""

    ca: Literal["generate"] | CertificateFiles = Field(
        "generate", description="generate (a CA that provision creates and keeps on the engine), or {cert, key} of an existing CA.")
    certificate: CertificateFiles | None = Field(
        None, description="A finished server certificate to use instead of one signed by the CA.")
    days: int = Field(365, ge=1, le=3650, description="Lifetime of the server certificate, in days.")
    renew_before: int = Field(30, ge=0, description="Days before expiry at which plan proposes a new server certificate.")
    key_type: Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"] = Field(
        "ecdsa-p256", description="Key algorithm of generated keys.")

    @model_validator(mode="after")
    def _renew_within_lifetime(self) -> RegistryTls:
        # Checked on the whole model, so the default renew_before is compared with a short days too.
        if self.renew_before >= self.days:
            raise ValueError(f"renew_before ({self.renew_before}) must be less than days ({self.days}), or every plan "
                             "would renew the certificate; lower renew_before or raise days")
        return self


class RegistryUser(StrictModel):
    """A user of the registry; the password comes from the environment, never from the file."""

    password_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                              description="Environment variable that contains the password.")


class RegistryAuth(StrictModel):
    """Basic authentication with an htpasswd file of bcrypt hashes."""

    users: dict[Annotated[str, StringConstraints(pattern=r"^[^:\s]+$")], RegistryUser] = Field(
        min_length=1, description="Users by name.")


class RegistrySpec(StrictModel):
    """A private image registry served over TLS, run as a container of the same name."""

    image: str = Field("registry:2", description="Registry image; it must read the REGISTRY_* settings of distribution 2.")
    bind: AddressText = Field(ipaddress.IPv4Address("0.0.0.0"), description="Host address to publish on.")
    port: int = Field(ge=1, le=65535, description="Host port; the registry listens on 443 inside its container.")
    hostnames: list[str] = Field(min_length=1, description="DNS names and IP addresses the certificate covers.")

    @field_validator("hostnames")
    @classmethod
    def _unique_hostnames(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for hostname in value:
            if hostname.lower() in seen:
                raise ValueError(f"hostname {hostname!r} is listed twice; list each name once")
            seen.add(hostname.lower())
        return value
    tls: RegistryTls = Field(default_factory=RegistryTls, description="Certificate settings.")
    auth: RegistryAuth | None = Field(None, description="Users; without it the registry needs no login.")
    storage: DockerName | None = Field(None, description="Volume of this blueprint mounted at /var/lib/registry.")
    restart: str = Field("always", description="Restart policy: no, always, unless-stopped or on-failure[:N].")
    networks: dict[DockerName, ContainerNetwork] = Field(default_factory=dict, description="Blueprint networks to join.")
    trust_engine: bool = Field(False, description="Install the CA where the local engine looks for it (certs.d).")

    _image_reference = field_validator("image")(ContainerSpec._image_reference.__func__)
    _networks_mapping = field_validator(
        "networks", mode="before", json_schema_input_type=dict[str, ContainerNetwork | None] | list[str],
    )(ContainerSpec._networks_mapping.__func__)
    _restart_policy = field_validator("restart", mode="before")(ContainerSpec._restart_policy.__func__)


VARIABLE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN, max_length=128)]


class VariableSpec(StrictModel):
    """A value the blueprint takes from outside, used in templates as {{ vars.NAME }}."""

    default: Any = Field(None, description="Value used when no other source sets one. Without a default, "
                                           "a value must come from --var, --var-file or PROVISION_VAR_NAME.")
    description: str = Field("", description="What the value is for; shown in errors about it.")
    secret: bool = Field(False, description="Hide the value in plans, output, logs, errors and labels.")

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class Blueprint(StrictModel):
    """A whole blueprint file (version 1)."""

    version: Literal[1] = Field(description="Blueprint format version; must be 1.")
    project: ProjectName = Field(description="Project that owns every object below; lower-case letters, digits, '_' and '-'.")
    variables: dict[VariableName, VariableSpec] = Field(
        default_factory=dict, description="Values given per environment: from defaults, PROVISION_VAR_NAME, "
                                          "--var-file and --var, later winning.")
    volumes: dict[DockerName, VolumeSpec] = Field(default_factory=dict, description="Named volumes.")
    networks: dict[DockerName, NetworkSpec] = Field(default_factory=dict, description="Networks.")
    volume_containers: dict[DockerName, VolumeContainerSpec] = Field(default_factory=dict, description="Data-only containers.")
    containers: dict[DockerName, ContainerSpec] = Field(default_factory=dict, description="Containers.")
    registries: dict[DockerName, RegistrySpec] = Field(default_factory=dict, description="Private registries served over TLS.")

    @field_validator("variables", "volumes", "networks", "volume_containers", "containers", "registries", mode="before")
    @classmethod
    def _empty_entries(cls, value: Any) -> Any:
        # `name:` with nothing after it means "all defaults", as in Compose.
        if value is None:
            return {}
        if isinstance(value, dict):
            return {name: {} if item is None else item for name, item in value.items()}
        return value

    def all_containers(self) -> dict[str, ContainerSpec]:
        """Volume containers and containers together; they share Docker's container names."""
        return {**self.volume_containers, **self.containers}


def _environment_from_list(items: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for index, item in enumerate(items):
        if not isinstance(item, str) or "=" not in item:
            # The index in the context lets the error point at the entry, not at the list.
            raise PydanticCustomError("list_entry", "invalid environment entry {entry}; write NAME=VALUE",
                                      {"index": index, "entry": repr(item)})
        name, _, text = item.partition("=")
        if name in result:
            raise PydanticCustomError("list_entry", "environment variable {name} is set twice; keep one entry",
                                      {"index": index, "name": name})
        result[name] = text
    return result
