"""Fixtures for tests against the real Docker engine.

Every test gets its own run id. Blueprints are copied with every object name,
the project, subnets and host ports made unique for the run, so tests pass
beside leftovers of earlier (killed) runs and beside each other. Whatever a
test's project labelled is removed afterwards, and nothing else.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BLUEPRINTS = REPO / "blueprints"
PROJECT_LABEL = "io.provision.project"


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    """A client for the engine; fails (never skips) when none responds, so a broken set-up cannot pass."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure here means no usable engine
        pytest.fail(f"no Docker engine answers ({error}); start one before running the integration tests", pytrace=False)
    return client


@pytest.fixture
def run_id() -> str:
    return secrets.token_hex(4)


class Run:
    """One test's view of the engine: its blueprints, its CLI calls and its cleanup."""

    def __init__(self, client: docker.DockerClient, run_id: str, workdir: Path):
        self.client = client
        self.run_id = run_id
        self.workdir = workdir
        self.projects: set[str] = set()

    def name(self, name: str) -> str:
        return f"{name}-{self.run_id}"

    def isolate(self, source: Path | str, *, filename: str = "blueprint.yaml") -> Path:
        """Copy a blueprint into the work folder with names, project, subnets and ports unique to this run."""
        source = Path(source)
        data = yaml.safe_load(source.read_text())
        data = self.isolate_data(data, source.parent)
        target = self.workdir / filename
        target.write_text(yaml.safe_dump(data, sort_keys=False))
        return target

    def isolate_data(self, data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
        data = dict(data)
        data["project"] = self.name(data["project"])
        self.projects.add(data["project"])
        renamed = {section: {self.name(k): v for k, v in (data.get(section) or {}).items()}
                   for section in ("volumes", "networks", "volume_containers", "containers", "registries")}
        subnet_map = self._new_subnets([spec.get("subnet") for spec in (data.get("networks") or {}).values()
                                        if spec and spec.get("subnet")])
        for network in renamed["networks"].values():
            if network:
                for key in ("subnet", "gateway", "ip_range"):
                    if network.get(key):
                        network[key] = _move_address(network[key], subnet_map)
        for section in ("volume_containers", "containers"):
            for spec in renamed[section].values():
                self._isolate_container(spec, subnet_map, base_dir)
        for spec in renamed["registries"].values():
            self._isolate_registry(spec, subnet_map)
        data.update({section: entries for section, entries in renamed.items() if entries or section in data})
        return data

    def _isolate_container(self, spec: dict[str, Any], subnet_map: dict, base_dir: Path) -> None:
        volumes = []
        for entry in spec.get("volumes", []):
            parts = entry.split(":")
            if len(parts) > 1 and parts[0].startswith("."):
                parts[0] = str((base_dir / parts[0]).resolve())
            elif len(parts) > 1 and not parts[0].startswith(("/", "~")):
                parts[0] = self.name(parts[0])
            volumes.append(":".join(parts))
        if volumes:
            spec["volumes"] = volumes
        if "volumes_from" in spec:
            spec["volumes_from"] = [self.name(entry.split(":")[0]) + (":" + entry.split(":")[1] if ":" in entry else "")
                                    for entry in spec["volumes_from"]]
        if "depends_on" in spec:
            spec["depends_on"] = [self.name(entry) for entry in spec["depends_on"]]
        if str(spec.get("network_mode", "")).startswith("container:"):
            spec["network_mode"] = "container:" + self.name(spec["network_mode"].removeprefix("container:"))
        networks = spec.get("networks")
        if isinstance(networks, dict):
            spec["networks"] = {self.name(k): _move_attachment(v, subnet_map) for k, v in networks.items()}
        elif isinstance(networks, list):
            spec["networks"] = [self.name(k) for k in networks]
        if "ports" in spec:
            spec["ports"] = [_with_free_port(str(port)) for port in spec["ports"]]

    def _isolate_registry(self, spec: dict[str, Any], subnet_map: dict) -> None:
        spec["port"] = free_port()
        if spec.get("storage"):
            spec["storage"] = self.name(spec["storage"])
        networks = spec.get("networks")
        if isinstance(networks, dict):
            spec["networks"] = {self.name(k): _move_attachment(v, subnet_map) for k, v in networks.items()}
        elif isinstance(networks, list):
            spec["networks"] = [self.name(k) for k in networks]

    def _new_subnets(self, subnets: list[str]) -> dict[ipaddress.IPv4Network, ipaddress.IPv4Network]:
        taken = [ipaddress.ip_network(config["Subnet"]) for network in self.client.api.networks()
                 for config in ((network.get("IPAM") or {}).get("Config") or []) if "." in config.get("Subnet", "")]
        mapping = {}
        for text in subnets:
            old = ipaddress.ip_network(text)
            for _ in range(1000):
                candidate = ipaddress.ip_network(f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/{max(old.prefixlen, 24)}")
                if not any(candidate.overlaps(other) for other in taken + list(mapping.values())):
                    mapping[old] = candidate
                    break
            else:
                pytest.fail("no free private /24 found for an isolated test network")
        return mapping

    def provision(self, *args: str, input: str | None = None, cwd: Path | None = None,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run the real command line, as a user would; `env` adds to the environment."""
        return subprocess.run([sys.executable, "-m", "provisioner", *args], capture_output=True, text=True,
                              input=input, cwd=cwd or self.workdir, timeout=600, env={**os.environ, **(env or {})})

    def cleanup(self) -> None:
        """Remove every object labelled with one of this run's projects, and only those."""
        for project in self.projects:
            label = {"label": f"{PROJECT_LABEL}={project}"}
            anonymous = set()
            for container in self.client.containers.list(all=True, filters=label):
                # A replaced container reuses its predecessor's anonymous volumes by
                # name, and `rm -v` leaves volumes mounted by name; remove them here.
                anonymous |= {mount["Name"] for mount in container.attrs.get("Mounts", [])
                              if mount.get("Type") == "volume" and re.fullmatch(r"[0-9a-f]{64}", mount.get("Name", ""))}
                container.remove(force=True, v=True)
            for name in anonymous:
                try:
                    self.client.volumes.get(name).remove()
                except docker.errors.APIError:
                    pass  # already removed with its container, or still used by another run's container
            for network in self.client.networks.list(filters=label):
                try:
                    network.remove()
                except docker.errors.APIError as error:
                    # A swarm removes overlay networks in the background; one may vanish between list and remove.
                    if "not found" not in str(error):
                        raise
            for volume in self.client.volumes.list(filters=label):
                volume.remove(force=True)


@pytest.fixture
def engine_run(docker_client: docker.DockerClient, run_id: str, tmp_path: Path) -> Iterator[Run]:
    run = Run(docker_client, run_id, tmp_path)
    yield run
    run.cleanup()


def _move_address(text: str, subnet_map: dict) -> str:
    if "/" in text:
        network = ipaddress.ip_network(text)
        for old, new in subnet_map.items():
            if network.subnet_of(old):
                offset = int(network.network_address) - int(old.network_address)
                return f"{ipaddress.ip_address(int(new.network_address) + offset)}/{network.prefixlen}"
        return text
    address = ipaddress.ip_address(text)
    for old, new in subnet_map.items():
        if address in old:
            return str(ipaddress.ip_address(int(new.network_address) + int(address) - int(old.network_address)))
    return text


def _move_attachment(attachment: Any, subnet_map: dict) -> Any:
    if isinstance(attachment, dict) and attachment.get("ipv4_address"):
        return {**attachment, "ipv4_address": _move_address(attachment["ipv4_address"], subnet_map)}
    return attachment


def _with_free_port(port: str) -> str:
    body, slash, protocol = port.partition("/")
    parts = body.split(":")
    parts[-2] = str(free_port())
    return ":".join(parts) + slash + protocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
