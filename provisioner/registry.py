"""A private registry served over TLS: its resources, its key material and the engine's trust in it.

A registry NAME becomes three resources:
- volume NAME-ca contains the generated certificate authority (the key in a 0700
  folder, mode 0600). It is never mounted into the registry, and it lives on
  the engine, so any checkout of the blueprint finds the same CA again.
- volume NAME-tls contains what the registry reads: the server certificate and
  key, the htpasswd file and a copy of the CA certificate. It is mounted
  read-only at /certs.
- container NAME runs the registry image with the TLS and auth settings in
  its environment. Its labels record the certificate's expiry and fingerprint
  and the htpasswd entries, so plan can propose a renewal or notice a changed
  password without reading any volume.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from provisioner.certificates import KeyPair, describe, generate_ca, issue_server_certificate, load_ca, write_public_file
from provisioner.htpasswd import entry_matches, htpasswd_entry, htpasswd_file
from provisioner.labels import LABEL_PREFIX
from provisioner.models import CertificateFiles, RegistrySpec
from provisioner.registry_validation import registry_volume_names, resolve_path
from provisioner.resources import DesiredResource, Kind, ResourceId

CERTIFICATE_NOT_AFTER_LABEL = LABEL_PREFIX + "certificate-not-after"
CERTIFICATE_FINGERPRINT_LABEL = LABEL_PREFIX + "certificate-sha256"
HTPASSWD_LABEL = LABEL_PREFIX + "htpasswd"
TRUSTED_FILES_LABEL = LABEL_PREFIX + "trusted-files"
# SHA-256 of the CA certificate written to those files; only files with this content are provision's to remove.
TRUSTED_CA_LABEL = LABEL_PREFIX + "trusted-ca-sha256"

# Paths of the files inside the volumes, and the mount point of NAME-tls in the registry.
CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "private/ca.key"
SERVER_CERT_FILE = "server.crt"
SERVER_KEY_FILE = "private/server.key"
HTPASSWD_FILE = "htpasswd"
TLS_MOUNT = "/certs"
STORAGE_MOUNT = "/var/lib/registry"

# The folder where the Docker engine looks for a registry's CA: certs.d/HOST:PORT/ca.crt.
DOCKER_CERTS_FOLDER = Path("/etc/docker/certs.d")


def registry_resources(name: str, registry: RegistrySpec, base_dir: Path) -> list[DesiredResource]:
    ca_volume, tls_volume = registry_volume_names(name)
    empty_volume = {"driver": "local", "driver_opts": {}, "labels": {}}
    resources = []
    requires = {ResourceId(Kind.VOLUME, tls_volume)}

    if registry.tls.ca == "generate":
        resources.append(DesiredResource(ResourceId(Kind.VOLUME, ca_volume), "registry-ca", dict(empty_volume),
                                         inputs={"key_type": registry.tls.key_type, "registry": name,
                                                 "image": registry.image}))
        requires.add(ResourceId(Kind.VOLUME, ca_volume))
    resources.append(DesiredResource(ResourceId(Kind.VOLUME, tls_volume), "registry-tls", dict(empty_volume)))

    if registry.storage is not None:
        requires.add(ResourceId(Kind.VOLUME, registry.storage))
    requires |= {ResourceId(Kind.NETWORK, network) for network in registry.networks}
    resources.append(DesiredResource(
        id=ResourceId(Kind.CONTAINER, name),
        role="registry",
        spec=registry_container_spec(name, registry, base_dir),
        requires=frozenset(requires),
        state="running",
        pull="missing",
        inputs=_registry_inputs(registry, base_dir),
    ))
    return resources


def registry_container_spec(name: str, registry: RegistrySpec, base_dir: Path) -> dict[str, Any]:
    """Build the registry container's spec, which also records what its certificate was made from."""
    _, tls_volume = registry_volume_names(name)
    environment = {
        "REGISTRY_HTTP_ADDR": "0.0.0.0:443",
        "REGISTRY_HTTP_TLS_CERTIFICATE": f"{TLS_MOUNT}/{SERVER_CERT_FILE}",
        "REGISTRY_HTTP_TLS_KEY": f"{TLS_MOUNT}/{SERVER_KEY_FILE}",
    }
    if registry.auth is not None:
        environment |= {
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": f"{name} registry",
            "REGISTRY_AUTH_HTPASSWD_PATH": f"{TLS_MOUNT}/{HTPASSWD_FILE}",
        }
    mounts = [{"type": "volume", "source": tls_volume, "target": TLS_MOUNT, "read_only": True}]
    if registry.storage is not None:
        mounts.append({"type": "volume", "source": registry.storage, "target": STORAGE_MOUNT, "read_only": False})

    return {
        "image": registry.image,
        "command": None,
        "entrypoint": None,
        "environment": environment,
        "labels": {},
        "user": None,
        "working_dir": None,
        "hostname": None,
        "mounts": mounts,
        "volumes_from": [],
        "network_mode": None,
        "networks": {network: {"ipv4_address": None if attachment.ipv4_address is None else str(attachment.ipv4_address),
                               "aliases": list(attachment.aliases)}
                     for network, attachment in registry.networks.items()},
        "ports": [{"host_ip": str(registry.bind), "host_port": registry.port, "container_port": 443, "protocol": "tcp"}],
        "restart": registry.restart,
        "tls": {
            "hostnames": list(registry.hostnames),
            "days": registry.tls.days,
            "key_type": registry.tls.key_type,
            "ca": _source_identity(registry.tls.ca, base_dir),
            "certificate": _source_identity(registry.tls.certificate, base_dir),
        },
        "users": sorted(registry.auth.users) if registry.auth else [],
        "trust_engine": [str(path) for path in trusted_ca_paths(registry)] if registry.trust_engine else [],
    }


def trusted_ca_paths(registry: RegistrySpec) -> list[Path]:
    """Return where the engine looks for the CA of each hostname: certs.d/HOST:PORT/ca.crt, or certs.d/HOST on port 443."""
    paths = []
    for hostname in registry.hostnames:
        if hostname.startswith("*."):
            continue  # the engine looks up a registry by its exact name, never by a wildcard
        host = f"[{hostname}]" if ":" in hostname else hostname
        folder = host if registry.port == 443 else f"{host}:{registry.port}"
        paths.append(DOCKER_CERTS_FOLDER / folder / "ca.crt")
    return paths


def _source_identity(files: CertificateFiles | str | None, base_dir: Path) -> str | None:
    """Return the source of a certificate for the spec: "generate", the SHA-256 of a given file, or None."""
    if files is None or isinstance(files, str):
        return files
    content = resolve_path(files.cert, base_dir).read_bytes()
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _registry_inputs(registry: RegistrySpec, base_dir: Path) -> dict[str, Any]:
    passwords = {}
    if registry.auth is not None:
        passwords = {user: os.environ.get(settings.password_env, "") for user, settings in registry.auth.users.items()}
    inputs: dict[str, Any] = {"passwords": passwords, "renew_before": registry.tls.renew_before}
    for key, files in (("ca_files", registry.tls.ca), ("certificate_files", registry.tls.certificate)):
        if isinstance(files, CertificateFiles):
            inputs[key] = (resolve_path(files.cert, base_dir), resolve_path(files.key, base_dir))
    return inputs


# Planning


def registry_reasons(resource: DesiredResource, labels: dict[str, str], now: datetime | None = None,
                     trust_files: dict[str, str | None] | None = None) -> list[str]:
    """Why an unchanged registry container must still be replaced.

    An expiring certificate, a changed password, or a trusted CA file that
    was removed or changed behind provision's back. `trust_files` maps each
    certs.d path to the SHA-256 of its content, or None when it is missing.
    """
    reasons = []
    trusted_ca = labels.get(TRUSTED_CA_LABEL)
    for path in resource.spec.get("trust_engine", []):
        current = (trust_files or {}).get(path, trusted_ca)
        if trusted_ca and current != trusted_ca:
            state = "is missing" if current is None else "was changed"
            reasons.append(f"the trusted CA file {path} {state}, so it is written again")
    now = now or datetime.now(timezone.utc)
    renew_before = resource.inputs.get("renew_before", 0)
    not_after = _parse_time(labels.get(CERTIFICATE_NOT_AFTER_LABEL, ""))
    if "certificate_files" in resource.inputs:
        # A finished certificate cannot be renewed here; validate rejects it once it has expired.
        pass
    elif not_after is None:
        reasons.append("the server certificate's expiry is not recorded, so a new certificate is issued")
    elif not_after - now < timedelta(days=renew_before):
        reasons.append(f"the server certificate expires on {not_after:%Y-%m-%d}, within renew_before "
                       f"({renew_before} days), so a new one is issued")

    entries = _entries_by_user(labels.get(HTPASSWD_LABEL, ""))
    for user, password in sorted(resource.inputs.get("passwords", {}).items()):
        entry = entries.get(user)
        if entry is None or not entry_matches(entry, user, password):
            reasons.append(f"the password of registry user {user!r} changed")
    return reasons


def registry_create_notes(resource: DesiredResource) -> list[str]:
    """List what creating a registry does beyond the container, for the plan to show."""
    tls = resource.spec["tls"]
    notes = []
    if tls["certificate"] is None:
        notes.append(f"a server certificate for {', '.join(tls['hostnames'])} is issued, valid {tls['days']} days")
    if resource.spec["users"]:
        notes.append(f"an htpasswd file is written for {', '.join(resource.spec['users'])}")
    notes += [f"the CA is written to {path}" for path in resource.spec["trust_engine"]]
    return notes


def registry_removal_notes(labels: dict[str, str]) -> list[str]:
    """List the certs.d files that removing a registry container also removes, for the plan to show."""
    return [f"removes {path}" for path in _trusted_paths(labels)]


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _entries_by_user(text: str) -> dict[str, str]:
    return {line.partition(":")[0]: line for line in text.splitlines() if ":" in line}


# Applying


def create_certificate_authority(engine: Any, resource: DesiredResource, labels: dict[str, str]) -> None:
    """Generate the CA of a registry and keep it in its volume, unless the volume already contains one."""
    name = resource.inputs["registry"]
    image = resource.inputs["image"]
    existing = engine.read_volume_files(resource.id.name, image=image, labels=labels)
    if CA_CERT_FILE in existing and CA_KEY_FILE in existing:
        return
    ca = generate_ca(f"provision CA for registry {name}", key_type=resource.inputs["key_type"])
    engine.write_volume_files(resource.id.name, {CA_CERT_FILE: (ca.cert_pem, 0o644), CA_KEY_FILE: (ca.key_pem, 0o600)},
                              image=image, labels=labels)


@dataclass(frozen=True)
class PreparedRegistry:
    """Result of preparing a registry: the container's extra labels and the CA certificate to trust."""

    labels: dict[str, str]
    ca_pem: bytes


def prepare_registry(engine: Any, resource: DesiredResource, previous_labels: dict[str, str],
                     helper_labels: dict[str, str]) -> PreparedRegistry:
    """Issue the certificate and htpasswd file, and write them to NAME-tls for the container to mount."""
    spec = resource.spec
    ca_volume, tls_volume = registry_volume_names(resource.id.name)
    image = spec["image"]
    ca = _certificate_authority(engine, resource, ca_volume, image, helper_labels)
    server = _server_certificate(resource, ca)

    previous = _entries_by_user(previous_labels.get(HTPASSWD_LABEL, ""))
    entries = [htpasswd_entry(user, password, previous=previous.get(user))
               for user, password in sorted(resource.inputs.get("passwords", {}).items())]

    files = {SERVER_CERT_FILE: (server.cert_pem, 0o644), SERVER_KEY_FILE: (server.key_pem, 0o600),
             CA_CERT_FILE: (ca.cert_pem, 0o644)}
    if entries:
        files[HTPASSWD_FILE] = (htpasswd_file(entries), 0o644)
    engine.write_volume_files(tls_volume, files, image=image, labels=helper_labels)

    info = describe(server.cert_pem)
    labels = {
        CERTIFICATE_NOT_AFTER_LABEL: info.not_after.isoformat(),
        CERTIFICATE_FINGERPRINT_LABEL: info.sha256_fingerprint,
    }
    if entries:
        labels[HTPASSWD_LABEL] = "\n".join(entries)
    if spec["trust_engine"]:
        labels[TRUSTED_FILES_LABEL] = json.dumps(spec["trust_engine"])
        labels[TRUSTED_CA_LABEL] = file_digest(ca.cert_pem)
    return PreparedRegistry(labels, ca.cert_pem)


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def foreign_trust_files(resource: DesiredResource, labels: dict[str, str], trust_files: dict[str, str | None]) -> list[str]:
    """certs.d files the registry would write that exist but were not written by provision for it.

    Paths the registry wrote before stay its own even when their content
    changed since; those are written again rather than reported.
    """
    ours = labels.get(TRUSTED_CA_LABEL)
    written = set(_trusted_paths(labels))
    return [path for path in resource.spec.get("trust_engine", [])
            if path not in written and trust_files.get(path) is not None and trust_files[path] != ours]


def _trusted_paths(labels: dict[str, str]) -> list[str]:
    try:
        paths = json.loads(labels.get(TRUSTED_FILES_LABEL, "[]"))
    except json.JSONDecodeError:
        return []
    return [path for path in paths if isinstance(path, str)]


def trust_registry(resource: DesiredResource, ca_pem: bytes) -> None:
    """Install the registry's CA where the local engine looks for it, so docker push works without a restart."""
    for path in resource.spec["trust_engine"]:
        write_public_file(Path(path), ca_pem)


def remove_trusted_files(labels: dict[str, str]) -> None:
    """Remove exactly the certs.d files a registry container's labels list as written by provision, and their folders if empty."""
    written = labels.get(TRUSTED_CA_LABEL)
    for text in _trusted_paths(labels):
        path = Path(text)
        if path.parent.parent != DOCKER_CERTS_FOLDER or path.name != "ca.crt":
            continue
        try:
            if written is not None and file_digest(path.read_bytes()) != written:
                continue  # someone replaced it since; it is theirs now
        except FileNotFoundError:
            pass
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty: it contains files provision did not write


def certificate_authority_pem(engine: Any, resource: DesiredResource, helper_labels: dict[str, str]) -> bytes:
    ca_volume, _ = registry_volume_names(resource.id.name)
    return _certificate_authority(engine, resource, ca_volume, resource.spec["image"], helper_labels).cert_pem


def _certificate_authority(engine: Any, resource: DesiredResource, ca_volume: str, image: str,
                           helper_labels: dict[str, str]) -> KeyPair:
    ca_files = resource.inputs.get("ca_files")
    if ca_files is not None:
        cert_path, key_path = ca_files
        return load_ca(cert_path.read_bytes(), key_path.read_bytes(), source=str(cert_path))
    stored = engine.read_volume_files(ca_volume, image=image, labels=helper_labels)
    return KeyPair(stored[CA_CERT_FILE], stored[CA_KEY_FILE])


def _server_certificate(resource: DesiredResource, ca: KeyPair) -> KeyPair:
    certificate_files = resource.inputs.get("certificate_files")
    if certificate_files is not None:
        cert_path, key_path = certificate_files
        return KeyPair(cert_path.read_bytes(), key_path.read_bytes())
    tls = resource.spec["tls"]
    return issue_server_certificate(ca, tls["hostnames"], key_type=tls["key_type"], days=tls["days"])
