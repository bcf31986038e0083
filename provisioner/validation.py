"""Load a blueprint file and check it as a whole.

`load_blueprint` is the first step of every command: it parses the files,
merges them, renders their templates, validates each object with the models,
then applies the rules that look across objects. Every problem found is
reported at once, with its file position.
"""

from __future__ import annotations

import graphlib
import ipaddress
import json
import os.path
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner.blueprint_errors import NAME_RULE, problems_from_validation_error
from provisioner.errors import BlueprintInvalid, Problem
from provisioner.loader import Document, KeyPath, SourceMap, format_key_path, load_document
from provisioner.merging import merge_documents
from provisioner.models import (
    VARIABLE_NAME_PATTERN,
    Blueprint,
    CertificateFiles,
    ContainerSpec,
    NetworkSpec,
    Port,
    RegistrySpec,
    VariableSpec,
    VolumeContainerSpec,
    VolumeSpec,
)
from provisioner.names import DOCKER_NAME_PATTERN, PREDEFINED_NETWORKS
from provisioner.labels import SENSITIVE_PLACEHOLDER
from provisioner.registry_validation import RegistryRules, resolve_path
from provisioner.secrets import PLACEHOLDER as SECRET_PLACEHOLDER
from provisioner.secrets import Redactor, shown
from provisioner.templating import Rendered, render_document
from provisioner.validation_support import defined_hint, ports_clash
from provisioner.variables import VariableInputs, VariableValues, no_value_hint, resolve_variables


@dataclass(frozen=True)
class BlueprintSource:
    """The input of a blueprint: its files in merge order and the variable values given outside them."""

    files: tuple[Path, ...]
    inputs: VariableInputs = field(default_factory=VariableInputs)

    @classmethod
    def of(cls, source: BlueprintSource | Path) -> BlueprintSource:
        return source if isinstance(source, BlueprintSource) else cls((source,))


@dataclass(frozen=True)
class LoadedBlueprint:
    """A valid blueprint with the files it came from.

    `blueprint` is the masked form, in which every value that used a secret
    variable is a marker; plans, labels and output use it. `engine_blueprint`
    contains the real values, for the engine calls only.
    """

    blueprint: Blueprint
    document: Document
    engine_blueprint: Blueprint
    redact: Redactor = field(default_factory=Redactor)
    # Values that read a variable without a value, and so were not checked (validate only).
    unrendered: frozenset[str] = frozenset()
    # Variables without a value that templates use (validate only).
    missing_variables: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        """Folder of the first file, against which relative paths of that file are resolved."""
        return self.document.path.resolve().parent

    @property
    def has_secrets(self) -> bool:
        return self.engine_blueprint is not self.blueprint


SECTION_MODELS: dict[str, type[BaseModel]] = {
    "volumes": VolumeSpec,
    "networks": NetworkSpec,
    "volume_containers": VolumeContainerSpec,
    "containers": ContainerSpec,
    "registries": RegistrySpec,
}


def load_blueprint(source: BlueprintSource | Path, *, check_secrets: bool = True,
                   allow_missing: bool = False) -> LoadedBlueprint:
    """Read, merge, render and validate a blueprint; raise BlueprintInvalid listing every problem.

    Without `check_secrets`, passwords need not be in the environment, for
    commands that only read public material, such as printing a CA. With
    `allow_missing`, a variable without a value reads as a placeholder and
    the values that read one are not checked, so a blueprint can be validated
    without its secrets.
    """
    source = BlueprintSource.of(source)
    document = read_document(source.files)
    placeholders = _placeholder_problems(document.data, document.source_map, ())
    if placeholders:
        raise BlueprintInvalid(placeholders)
    rendered, variables = _render(document, source.inputs, allow_missing)
    redact = rendered.redact
    if rendered.problems:
        raise BlueprintInvalid(_redacted(rendered.problems, redact))

    masked = Document(document.path, rendered.masked, rendered.rendered_source_map(document.source_map), document.files)
    problems, blueprint = _validate_models(masked)
    problems += BlueprintRules(blueprint, masked, check_secrets=check_secrets).check()
    unrendered = frozenset(format_key_path(rendered.rendered_path(path)) for path in rendered.unrendered_paths)
    problems = [problem for problem in problems if not _under_any(problem.key_path, unrendered)]
    if problems:
        reads = {format_key_path(rendered.rendered_path(path)): names for path, names in rendered.reads.items()}
        problems = [_with_variable_sources(problem, reads, variables) for problem in problems]
        raise BlueprintInvalid(_redacted(problems, redact))
    # The entries are already validated models; pydantic takes them as they are.
    sections = {section: getattr(blueprint, section) for section in SECTION_MODELS}
    if unrendered:
        # Only validate gets here, and it reads no more than the valid entries and the project as written.
        blueprint = Blueprint.model_construct(**{**masked.data, **sections, "variables": {}})
        if "project" in unrendered:
            # Show the project as written, not with the placeholder it was checked with.
            blueprint = blueprint.model_copy(update={"project": document.data.get("project")})
    else:
        blueprint = _with_absolute_tls_paths(Blueprint.model_validate({**masked.data, **sections}), masked)

    engine_blueprint = blueprint
    if rendered.secret_paths and not unrendered:
        engine_blueprint = _with_absolute_tls_paths(_engine_blueprint(rendered.data, masked, redact), masked)
    missing = tuple(sorted(rendered.read & variables.declared.keys() - variables.values.keys()))
    return LoadedBlueprint(blueprint, masked, engine_blueprint, redact, unrendered, missing)


def read_document(files: tuple[Path, ...]) -> Document:
    """Parse every file, then merge them in order; report the syntax problems of all files at once."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in files:
        try:
            documents.append(load_document(path))
        except BlueprintInvalid as error:
            problems += error.problems
    if problems:
        raise BlueprintInvalid(problems)

    for document in documents[1:]:
        if not isinstance(document.data, dict):
            problems.append(Problem(document.source_map.locate(()), "",
                                    "an override file must be a mapping of the keys it changes",
                                    "write the keys to change at the top level, as in the first file, "
                                    "for example containers: {web: {restart: always}}"))
    if problems:
        raise BlueprintInvalid(problems)

    document = merge_documents(documents)
    if not isinstance(document.data, dict):
        raise BlueprintInvalid([
            Problem(document.source_map.locate(()), "", "a blueprint must be a mapping with version, project and sections",
                    "start the file with version: 1 and project: NAME"),
        ])
    return document


def _render(document: Document, inputs: VariableInputs, allow_missing: bool) -> tuple[Rendered, VariableValues]:
    """Give the variables their values and render every template of the document."""
    problems, declared = declared_variables(document)
    if problems:
        # Templates would report every use of a variable declared wrongly as undeclared.
        raise BlueprintInvalid(problems)
    variables, value_problems = resolve_variables(declared, inputs)
    rendered = render_document(document.data, document.source_map, variables, inputs.environ,
                               allow_missing=allow_missing)
    rendered.problems = value_problems + rendered.problems
    if not allow_missing:
        for name in declared.keys() - variables.values.keys() - rendered.read:
            path = ("variables", name)
            rendered.problems.append(Problem(
                document.source_map.locate(path, at_key=True), format_key_path(path), f"variable {name!r} has no value",
                no_value_hint(name)))
    return rendered, variables


def declared_variables(document: Document) -> tuple[list[Problem], dict[str, VariableSpec]]:
    entries = document.data.get("variables")
    if entries is None:
        return [], {}
    source_map = document.source_map
    if not isinstance(entries, dict):
        return [Problem(source_map.locate(("variables",)), "variables", "expected a mapping of variable names",
                        "write each variable as NAME: {default: VALUE} indented under variables:")], {}

    problems: list[Problem] = []
    declared: dict[str, VariableSpec] = {}
    for name, entry in entries.items():
        path = ("variables", name)
        if not re.match(VARIABLE_NAME_PATTERN, name):
            problems.append(Problem(source_map.locate(path, at_key=True), format_key_path(path),
                                    f"invalid variable name {name!r}",
                                    "a variable name starts with a letter and contains only letters, digits and '_'"))
            continue
        try:
            declared[name] = VariableSpec.model_validate({} if entry is None else entry)
        except ValidationError as error:
            problems += problems_from_validation_error(error, source_map, prefix=path)
    return problems, declared


def _engine_blueprint(data: dict, document: Document, redact: Redactor) -> Blueprint:
    """Validate the real values; a secret can still make a value invalid, such as an unclosed quote in a command."""
    try:
        return Blueprint.model_validate(data)
    except ValidationError as error:
        raise BlueprintInvalid(_redacted(problems_from_validation_error(error, document.source_map), redact)) from None


def _with_absolute_tls_paths(blueprint: Blueprint, document: Document) -> Blueprint:
    """Resolve each registry's certificate and key paths against the file each was written in.

    Merged files may write the paths of one registry in different folders, so
    later steps cannot resolve them against a single folder.
    """
    registries = {}
    for name, registry in blueprint.registries.items():
        updates = {}
        for key in ("ca", "certificate"):
            files = getattr(registry.tls, key)
            if isinstance(files, CertificateFiles):
                path = ("registries", name, "tls", key)
                updates[key] = files.model_copy(update={
                    part: str(resolve_path(getattr(files, part), document.base_dir_at(path + (part,))))
                    for part in ("cert", "key")})
        registries[name] = registry.model_copy(update={"tls": registry.tls.model_copy(update=updates)}) if updates else registry
    return blueprint.model_copy(update={"registries": registries})


def _placeholder_problems(value: Any, source_map: SourceMap, path: KeyPath) -> list[Problem]:
    """Find the placeholders that provision config prints for hidden values: such a file is not a blueprint to apply."""
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in _placeholder_problems(item, source_map, path + (key,))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value)
                for problem in _placeholder_problems(item, source_map, path + (index,))]
    if isinstance(value, str) and (SENSITIVE_PLACEHOLDER in value or SECRET_PLACEHOLDER.search(value)):
        return [Problem(source_map.locate(path), format_key_path(path),
                        f"{value!r} contains a placeholder that provision config prints for a hidden value",
                        "apply the blueprint files that config read, with their variables, not config's output")]
    return []


def _with_variable_sources(problem: Problem, reads: dict[str, frozenset[str]], variables: VariableValues) -> Problem:
    """Add to a problem in a templated value which variables the value read, and where their values came from."""
    names = {name for path, read in reads.items() if _under(problem.key_path, path) for name in read}
    if not names:
        return problem
    sources = []
    for name in sorted(names):
        if name not in variables.values:
            continue
        value = "(secret)" if variables.declared[name].secret else _short(json.dumps(variables.values[name]))
        sources.append(f"vars.{name} = {value} from {variables.origins[name]}")
    if not sources:
        return problem
    note = "the value is rendered from " + "; ".join(sources)
    return Problem(problem.location, problem.key_path, problem.message,
                   f"{problem.hint}; {note}" if problem.hint else note)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _redacted(problems: list[Problem], redact: Redactor) -> list[Problem]:
    """Hide secret values, and the digests of secret markers, in problems."""
    return [Problem(problem.location, problem.key_path, shown(redact(problem.message)), shown(redact(problem.hint)))
            for problem in problems]


def _under_any(key_path: str, prefixes: frozenset[str]) -> bool:
    return any(_under(key_path, prefix) for prefix in prefixes)


def _under(key_path: str, prefix: str) -> bool:
    """Tell whether `key_path` is `prefix` or lies inside it."""
    return key_path == prefix or key_path.startswith((prefix + ".", prefix + "["))


def _validate_models(document: Document) -> tuple[list[Problem], Blueprint]:
    """Validate the top level and each section entry on its own.

    Validating entries one by one lets the cross-object rules still run on the
    valid entries, so a single run reports every problem in the file.
    """
    data: dict = document.data
    source_map = document.source_map
    problems: list[Problem] = []

    shell = {key: ({} if key in SECTION_MODELS and isinstance(value, dict) else value) for key, value in data.items()}
    try:
        Blueprint.model_validate(shell)
    except ValidationError as error:
        problems += problems_from_validation_error(error, source_map)

    valid_sections: dict[str, dict[str, BaseModel]] = {}
    for section, model in SECTION_MODELS.items():
        entries = data.get(section)
        valid_sections[section] = {}
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            path = (section, name)
            if not re.match(DOCKER_NAME_PATTERN, name):
                problems.append(Problem(source_map.locate(path, at_key=True), format_key_path(path),
                                        f"invalid name {name!r}", f"{NAME_RULE}; rename it"))
            try:
                valid_sections[section][name] = model.model_validate({} if entry is None else entry)
            except ValidationError as error:
                problems += problems_from_validation_error(error, source_map, prefix=path)

    blueprint = Blueprint.model_construct(version=1, project=str(data.get("project", "")), **valid_sections)
    return problems, blueprint


class BlueprintRules:
    """Rules that need more than one object of the blueprint to check."""

    def __init__(self, blueprint: Blueprint, document: Document, *, check_secrets: bool = True):
        self.blueprint = blueprint
        self.document = document
        self.problems: list[Problem] = []
        self.check_secrets = check_secrets
        # Names of entries that failed model validation still count as defined,
        # so a broken entry does not also produce "not defined" errors elsewhere.
        self.declared_volumes = _declared_names(document, "volumes")
        self.declared_networks = _declared_names(document, "networks")
        self.declared_containers = _declared_names(document, "volume_containers") | _declared_names(document, "containers")

    def check(self) -> list[Problem]:
        self._check_container_names_unique()
        self._check_network_mode_exclusive()
        self._check_references()
        self._check_bind_sources()
        self._check_networks()
        self._check_static_addresses()
        self._check_published_ports()
        self._check_dependency_cycles()
        self.problems += RegistryRules(self.blueprint, self.document, self.declared_volumes, self.declared_networks,
                                       self.declared_containers, check_secrets=self.check_secrets).check()
        return self.problems

    def _report(self, path: KeyPath, message: str, hint: str = "", *, at_key: bool = False) -> None:
        location = self.document.source_map.locate(path, at_key=at_key)
        self.problems.append(Problem(location, format_key_path(path), message, hint))

    def _containers(self) -> list[tuple[str, str, ContainerSpec]]:
        """(section, name, spec) for every container and volume container."""
        items = [("volume_containers", name, spec) for name, spec in self.blueprint.volume_containers.items()]
        items += [("containers", name, spec) for name, spec in self.blueprint.containers.items()]
        return items

    def _check_container_names_unique(self) -> None:
        for name in self.blueprint.containers:
            if name in self.blueprint.volume_containers:
                self._report(("containers", name), f"container name {name!r} is also a volume container",
                             "Docker container names are unique; rename one of them", at_key=True)

    def _check_network_mode_exclusive(self) -> None:
        for section, name, spec in self._containers():
            if spec.network_mode is None:
                continue
            # The default bridge publishes ports; the other modes have no network of their own.
            keys = ("networks",) if spec.network_mode == "bridge" else ("networks", "ports")
            for key in keys:
                if getattr(spec, key):
                    self._report((section, name, key),
                                 f"{key} cannot be combined with network_mode {spec.network_mode!r}",
                                 f"remove {key} or network_mode; with network_mode {spec.network_mode} the container "
                                 "has no networks or ports of its own", at_key=True)

    def _check_references(self) -> None:
        containers = self.blueprint.all_containers()
        for section, name, spec in self._containers():
            base = (section, name)
            for index, mount in enumerate(spec.volumes):
                if mount.type == "volume" and mount.source not in self.declared_volumes:
                    self._report(base + ("volumes", index), f"volume {mount.source!r} is not defined",
                                 defined_hint("volumes", mount.source, self.blueprint.volumes))
            for index, entry in enumerate(spec.volumes_from):
                if entry.container == name:
                    self._report(base + ("volumes_from", index), f"{name!r} cannot take volumes from itself")
                elif entry.container not in self.declared_containers:
                    self._report(base + ("volumes_from", index), f"container {entry.container!r} is not defined",
                                 defined_hint("volume_containers or containers", entry.container, containers))
            for network in spec.networks:
                if network not in self.declared_networks:
                    self._report(self._network_entry_path(base, network), f"network {network!r} is not defined",
                                 defined_hint("networks", network, self.blueprint.networks), at_key=True)
            for index, dependency in enumerate(spec.depends_on):
                if dependency == name:
                    self._report(base + ("depends_on", index), f"{name!r} cannot depend on itself")
                elif dependency not in self.declared_containers:
                    self._report(base + ("depends_on", index), f"container {dependency!r} is not defined",
                                 defined_hint("volume_containers or containers", dependency, containers))
            self._check_shared_namespace(base, name, spec)

    def _network_entry_path(self, base: KeyPath, network: str) -> KeyPath:
        """Key path of one of a container's networks, which may be written as a list or a mapping."""
        written = self.document.data
        for part in base + ("networks",):
            written = written.get(part) if isinstance(written, dict) else None
        if isinstance(written, list) and network in written:
            return base + ("networks", written.index(network))
        return base + ("networks", network)

    def _check_shared_namespace(self, base: KeyPath, name: str, spec: ContainerSpec) -> None:
        if not (spec.network_mode or "").startswith("container:"):
            return
        target = spec.network_mode.removeprefix("container:")
        containers = self.blueprint.all_containers()
        if spec.hostname is not None:
            self._report(base + ("hostname",), f"hostname cannot be set with network_mode {spec.network_mode!r}",
                         f"remove hostname; the container takes the host name of {target!r}, whose namespace it shares",
                         at_key=True)
        if target == name:
            self._report(base + ("network_mode",), f"{name!r} cannot share its own network namespace")
        elif target not in self.declared_containers:
            self._report(base + ("network_mode",), f"container {target!r} is not defined",
                         defined_hint("volume_containers or containers", target, containers))
        elif target in containers and containers[target].state != "running" and spec.state == "running":
            self._report(base + ("network_mode",), f"container {target!r} is not started (state: created), "
                         "so there is no network namespace to share",
                         f"set state: running on {target!r}, or point network_mode at a running container")

    def _check_bind_sources(self) -> None:
        for section, name, spec in self._containers():
            base_dir = self.document.base_dir_at((section, name, "volumes"))
            for index, mount in enumerate(spec.volumes):
                if mount.type != "bind":
                    continue
                source = resolve_bind_source(mount.source, base_dir)
                if not source.exists():
                    self._report((section, name, "volumes", index),
                                 f"bind mount source {mount.source!r} does not exist (resolved to {source})",
                                 "create it, or fix the path; a relative path is relative to the file it is written in")

    def _check_networks(self) -> None:
        for name in self.declared_networks & PREDEFINED_NETWORKS:
            self._report(("networks", name), f"network name {name!r} is taken by the engine's own network",
                         f"rename it; to use the engine's {name} network, set network_mode: {name} on the container"
                         if name in ("bridge", "host", "none") else "rename it", at_key=True)

        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for name, spec in self.blueprint.networks.items():
            path = ("networks", name)
            if spec.subnet is None:
                continue
            if spec.gateway is not None and spec.gateway not in spec.subnet:
                self._report(path + ("gateway",), f"gateway {spec.gateway} is outside subnet {spec.subnet}",
                             f"pick a gateway inside {spec.subnet}, such as {first_host(spec.subnet)}")
            if spec.gateway is not None and spec.gateway in (spec.subnet.network_address, spec.subnet.broadcast_address):
                self._report(path + ("gateway",), f"gateway {spec.gateway} is the network or broadcast address of {spec.subnet}",
                             f"use a host address such as {first_host(spec.subnet)}")
            if spec.ip_range is not None and not spec.ip_range.subnet_of(spec.subnet):
                self._report(path + ("ip_range",), f"ip_range {spec.ip_range} is not inside subnet {spec.subnet}",
                             f"pick a range inside {spec.subnet}")
            for other_name, other in seen:
                if spec.subnet.overlaps(other):
                    self._report(path + ("subnet",), f"subnet {spec.subnet} overlaps subnet {other} of network {other_name!r}",
                                 "give each network its own address range")
            seen.append((name, spec.subnet))

    def _check_static_addresses(self) -> None:
        claimed: dict[ipaddress.IPv4Address, str] = {}
        attached = self._containers() + [("registries", name, spec) for name, spec in self.blueprint.registries.items()]
        for section, name, spec in attached:
            for network_name, attachment in spec.networks.items():
                address = attachment.ipv4_address
                network = self.blueprint.networks.get(network_name)
                if address is None or network is None:
                    continue
                path = (section, name, "networks", network_name, "ipv4_address")
                if network.subnet is None:
                    self._report(path, f"static address {address} needs a subnet on network {network_name!r}",
                                 f"add subnet: to network {network_name!r}, or remove ipv4_address")
                    continue
                if address not in network.subnet:
                    self._report(path, f"address {address} is outside subnet {network.subnet} of network {network_name!r}",
                                 f"pick an address inside {network.subnet}")
                elif address == effective_gateway(network):
                    self._report(path, f"address {address} is the gateway of network {network_name!r}",
                                 "pick another address; the gateway belongs to the host")
                elif address in (network.subnet.network_address, network.subnet.broadcast_address):
                    self._report(path, f"address {address} is the network or broadcast address of {network.subnet}",
                                 "pick a host address inside the subnet")
                elif address in claimed:
                    self._report(path, f"address {address} is already given to {claimed[address]!r}",
                                 "give each container its own address")
                else:
                    claimed[address] = name

    def _check_published_ports(self) -> None:
        claimed: dict[tuple[int, str], list[tuple[Port, str]]] = {}
        for section, name, spec in self._containers():
            for index, port in enumerate(spec.ports):
                same_port = claimed.setdefault((port.host_port, port.protocol), [])
                owner = next((owner for other, owner in same_port if ports_clash(port, other)), None)
                if owner is not None:
                    self._report((section, name, "ports", index),
                                 f"host port {port.host_ip}:{port.host_port}/{port.protocol} is already published by {owner!r}",
                                 "publish each host address and port once")
                else:
                    same_port.append((port, name))

    def _check_dependency_cycles(self) -> None:
        graph: dict[str, set[str]] = {}
        for _, name, spec in self._containers():
            # A reference to itself is reported on its own; keep it out of the cycle search.
            graph[name] = set(container_dependencies(spec)) - {name}
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
        except graphlib.CycleError as error:
            cycle = error.args[1]
            first = cycle[0]
            section = "containers" if first in self.blueprint.containers else "volume_containers"
            path_text = " -> ".join(reversed(cycle))
            self._report((section, first), f"dependency cycle: {path_text} (each one needs the next)",
                         "break the cycle by removing one of these depends_on, volumes_from or network_mode references",
                         at_key=True)


def first_host(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The first usable address; hosts() returns a list, not an iterator, for /31 and /32."""
    return next(iter(subnet.hosts()), subnet.network_address)


def effective_gateway(network: NetworkSpec) -> ipaddress.IPv4Address | None:
    """Return the declared gateway, or else the first host address, which the engine takes when none is declared."""
    if network.gateway is not None or network.subnet is None:
        return network.gateway
    return first_host(network.subnet)


def container_dependencies(spec: ContainerSpec) -> list[str]:
    """Names of the containers that must exist before this one."""
    names = [entry.container for entry in spec.volumes_from]
    if spec.network_mode and spec.network_mode.startswith("container:"):
        names.append(spec.network_mode.removeprefix("container:"))
    names += spec.depends_on
    return names


def resolve_bind_source(source: str, base_dir: Path) -> Path:
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.normpath(path))


def _declared_names(document: Document, section: str) -> set[str]:
    entries = document.data.get(section)
    return set(entries) if isinstance(entries, dict) else set()
