"""Rules for the registries section that need the rest of the blueprint, the environment or the disk."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.certificates import CertificateProblem, KeyPair, check_server_certificate, is_dns_name, is_ip_address, load_ca
from provisioner.errors import Problem
from provisioner.loader import Document, KeyPath, format_key_path
from provisioner.models import Blueprint, CertificateFiles, Port, RegistrySpec
from provisioner.validation_support import defined_hint, ports_clash

# bcrypt, which the registry's htpasswd file needs, uses at most this many bytes of a password.
MAX_PASSWORD_BYTES = 72


def registry_volume_names(name: str) -> tuple[str, str]:
    """Return the volumes a registry keeps its material in: the CA (never mounted into the registry) and its TLS files."""
    return f"{name}-ca", f"{name}-tls"


def resolve_path(text: str, base_dir: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base_dir / path


class RegistryRules:
    def __init__(self, blueprint: Blueprint, document: Document, declared_volumes: set[str], declared_networks: set[str],
                 declared_containers: set[str], *, check_secrets: bool = True):
        self.blueprint = blueprint
        self.document = document
        self.declared_volumes = declared_volumes
        self.declared_networks = declared_networks
        self.declared_containers = declared_containers
        self.check_secrets = check_secrets
        self.problems: list[Problem] = []

    def check(self) -> list[Problem]:
        for name, registry in self.blueprint.registries.items():
            base = ("registries", name)
            self._check_names(base, name)
            self._check_references(base, registry)
            self._check_hostnames(base, registry)
            if self.check_secrets:
                self._check_users(base, registry)
            self._check_port(base, name, registry)
            self._check_certificate_files(base, registry)
        return self.problems

    def _report(self, path: KeyPath, message: str, hint: str = "", *, at_key: bool = False) -> None:
        location = self.document.source_map.locate(path, at_key=at_key)
        self.problems.append(Problem(location, format_key_path(path), message, hint))

    def _check_names(self, base: KeyPath, name: str) -> None:
        if name in self.declared_containers:
            self._report(base, f"registry name {name!r} is also a container",
                         "the registry runs as a container of its own name, and container names are unique; rename one",
                         at_key=True)
        for volume in registry_volume_names(name):
            if volume in self.declared_volumes:
                self._report(base, f"registry {name!r} keeps its certificates in volume {volume!r}, which the "
                             "blueprint also defines", f"rename the volume {volume!r} or the registry", at_key=True)

    def _check_references(self, base: KeyPath, registry: RegistrySpec) -> None:
        if registry.storage is not None and registry.storage not in self.declared_volumes:
            self._report(base + ("storage",), f"volume {registry.storage!r} is not defined",
                         defined_hint("volumes", registry.storage, self.blueprint.volumes))
        for network in registry.networks:
            if network not in self.declared_networks:
                self._report(base + ("networks", network), f"network {network!r} is not defined",
                             defined_hint("networks", network, self.blueprint.networks), at_key=True)

    def _check_hostnames(self, base: KeyPath, registry: RegistrySpec) -> None:
        for index, hostname in enumerate(registry.hostnames):
            if not (is_ip_address(hostname) or is_dns_name(hostname)):
                self._report(base + ("hostnames", index), f"invalid hostname {hostname!r}",
                             "use a DNS name such as registry.internal or an IP address such as 127.0.0.1")

    def _check_users(self, base: KeyPath, registry: RegistrySpec) -> None:
        if registry.auth is None:
            return
        for user, settings in registry.auth.users.items():
            path = base + ("auth", "users", user, "password_env")
            password = os.environ.get(settings.password_env)
            if not password:
                state = "is empty" if password == "" else "is not set"
                self._report(path, f"environment variable {settings.password_env} {state}, so user {user!r} has no password",
                             f"export {settings.password_env} with the password before running provision")
            elif len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
                self._report(path, f"the password in {settings.password_env} is longer than {MAX_PASSWORD_BYTES} bytes, "
                             "the most the registry's bcrypt hashes use", "choose a shorter password")

    def _check_port(self, base: KeyPath, name: str, registry: RegistrySpec) -> None:
        published = Port(host_ip=str(registry.bind), host_port=registry.port, container_port=443, protocol="tcp")
        owners = [(container, port) for container, spec in self.blueprint.all_containers().items() for port in spec.ports]
        owners += [(other, Port(host_ip=str(spec.bind), host_port=spec.port, container_port=443, protocol="tcp"))
                   for other, spec in self.blueprint.registries.items() if other < name]
        for owner, port in owners:
            if ports_clash(published, port):
                self._report(base + ("port",), f"host port {registry.bind}:{registry.port} is already published by {owner!r}",
                             "publish each host address and port once")
                return

    def _check_certificate_files(self, base: KeyPath, registry: RegistrySpec) -> None:
        tls = registry.tls
        ca = None
        if isinstance(tls.ca, CertificateFiles):
            ca = self._load_pair(base + ("tls", "ca"), tls.ca, lambda pair, source: load_ca(pair.cert_pem, pair.key_pem,
                                                                                             source=source))
        if tls.certificate is None:
            return
        if not isinstance(tls.ca, CertificateFiles):
            self._report(base + ("tls", "certificate"), "a finished certificate needs the CA that signed it",
                         "set tls.ca to the {cert, key} files of that CA, so provision can check the chain and "
                         "give clients the CA", at_key=True)
            return

        def check(pair: KeyPair, source: str) -> KeyPair:
            check_server_certificate(pair, registry.hostnames, source=source, ca=ca)
            return pair

        self._load_pair(base + ("tls", "certificate"), tls.certificate, check)

    def _load_pair(self, path: KeyPath, files: CertificateFiles, check) -> KeyPair | None:
        contents = {}
        for key in ("cert", "key"):
            file = resolve_path(getattr(files, key), self.document.base_dir_at(path + (key,)))
            try:
                contents[key] = file.read_bytes()
            except OSError as error:
                self._report(path + (key,), f"cannot read {getattr(files, key)!r} (resolved to {file}): "
                             f"{error.strerror}", "fix the path; a relative path is relative to the file it is written in")
        if len(contents) < 2:
            return None
        try:
            return check(KeyPair(contents["cert"], contents["key"]), files.cert)
        except CertificateProblem as problem:
            self._report(path + ("cert",), str(problem))
            return None
