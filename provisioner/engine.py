"""The only module that talks to the Docker engine.

It reads snapshots with a fixed number of list calls and performs single
steps (create, start, stop, remove). Engine failures become EngineError with a
plain message; the caller decides what to skip.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import Mount

from provisioner.errors import EngineUnreachable, ProvisionError
from provisioner.labels import PROJECT_LABEL
from provisioner.resources import Kind
from provisioner.snapshot import Snapshot, snapshot_from_lists

log = logging.getLogger(__name__)

# Mount point of a volume in the short-lived container that reads or writes its files.
VOLUME_ACCESS_PATH = "/provision-volume"

# How long to wait for a removed network to disappear from the engine's list.
NETWORK_REMOVAL_WAIT_SECONDS = 15


class EngineError(ProvisionError):
    """An engine call failed; the message is the engine's explanation in plain words."""


class VolumeNotFound(EngineError):
    """A volume that files were to be read from or written to does not exist."""


def connect(host: str | None = None) -> Engine:
    """Connect as the docker CLI would (DOCKER_HOST and friends), or to `host`, and check that the engine responds."""
    where = host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=host, version="auto") if host else docker.from_env(version="auto")
        client.api.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        raise EngineUnreachable(
            f"cannot reach a Docker engine at {where} ({_connection_problem(error)}); check that dockerd is running "
            "and that you may use its socket, or pass --host URL"
        ) from None
    return Engine(client.api)


class Engine:
    def __init__(self, api: docker.APIClient):
        self.api = api

    @property
    def url(self) -> str:
        """The address the client talks to, which identifies the engine for locking."""
        return str(self.api.base_url)

    # Reading

    def read_snapshot(self, project: str, names: dict[Kind, list[str]], *, need_swarm: bool = False) -> Snapshot:
        """List the project's objects, any object with one of its names and every network's subnet.

        Two calls each for containers and volumes, one for networks, one for
        images and, with `need_swarm`, one for the engine's swarm state.
        """
        label = {"label": f"{PROJECT_LABEL}={project}"}
        raw: dict[str, Any] = {}
        with _translated("read the engine's objects"):
            raw["containers"] = _unique_by_id(
                self.api.containers(all=True, filters=label)
                + (self.api.containers(all=True, filters={"name": [_exact(n) for n in names[Kind.CONTAINER]]})
                   if names[Kind.CONTAINER] else []))
            # All networks in one call: besides the project's own and its names,
            # plan needs every subnet in use to catch an overlap before apply.
            all_networks = self.api.networks()
            raw["volumes"] = _unique_by_key(
                (self.api.volumes(filters=label).get("Volumes") or [])
                + ((self.api.volumes(filters={"name": names[Kind.VOLUME]}).get("Volumes") or [])
                   if names[Kind.VOLUME] else []), "Name")
            raw["images"] = self.api.images()
            if need_swarm:
                swarm = self.api.info().get("Swarm") or {}
                raw["swarm_manager"] = swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))

        # Name filters match substrings; keep exact names and our own objects only.
        raw["containers"] = [c for c in raw["containers"]
                             if _labelled(c, project) or c["Names"][0].lstrip("/") in names[Kind.CONTAINER]]
        raw["networks"] = [n for n in all_networks if _labelled(n, project) or n["Name"] in names[Kind.NETWORK]]
        raw["other_networks"] = [n for n in all_networks if not _labelled(n, project)]
        raw["volumes"] = [v for v in raw["volumes"] if _labelled(v, project) or v["Name"] in names[Kind.VOLUME]]
        return snapshot_from_lists(raw)

    def has_image(self, image: str) -> bool:
        with _translated(f"look up image {image}"):
            try:
                self.api.inspect_image(image)
            except docker.errors.ImageNotFound:
                return False
        return True

    # Writing

    def pull(self, image: str) -> None:
        repository, tag = _split_image(image)
        with _translated(f"pull image {image}"):
            self.api.pull(repository, tag=tag)

    def create_volume(self, name: str, spec: dict[str, Any], labels: dict[str, str]) -> None:
        with _translated(f"create volume {name}"):
            self.api.create_volume(name=name, driver=spec["driver"], driver_opts=spec["driver_opts"] or None,
                                   labels={**spec["labels"], **labels})

    def create_network(self, name: str, spec: dict[str, Any], labels: dict[str, str]) -> None:
        ipam = None
        if spec["subnet"]:
            pool = docker.types.IPAMPool(subnet=spec["subnet"], gateway=spec["gateway"], iprange=spec["ip_range"])
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        with _translated(f"create network {name}"):
            self.api.create_network(name, driver=spec["driver"], ipam=ipam, internal=spec["internal"],
                                    labels={**spec["labels"], **labels}, check_duplicate=True,
                                    attachable=True if spec["driver"] == "overlay" else None)

    def create_container(self, name: str, spec: dict[str, Any], labels: dict[str, str],
                         reused_volumes: dict[str, str] | None = None) -> None:
        """Create the container; `reused_volumes` maps anonymous mount targets to existing volumes to mount there.

        Reusing the anonymous volumes of the container being replaced keeps
        their data, as Compose does when it recreates a service.
        """
        reused_volumes = reused_volumes or {}
        networks = list(spec["networks"].items())
        mounts = [_mount(mount) for mount in spec["mounts"] if mount["type"] != "anonymous"]
        mounts += [Mount(target=target, source=volume, type="volume") for target, volume in reused_volumes.items()]
        anonymous = [mount["target"] for mount in spec["mounts"]
                     if mount["type"] == "anonymous" and mount["target"] not in reused_volumes]
        host_config = self.api.create_host_config(
            mounts=mounts,
            volumes_from=[entry["container"] + (":ro" if entry["read_only"] else "") for entry in spec["volumes_from"]] or None,
            network_mode=spec["network_mode"] or (networks[0][0] if networks else None),
            port_bindings=_port_bindings(spec["ports"]) or None,
            restart_policy=_restart_policy(spec["restart"]),
        )
        networking_config = None
        if networks and not spec["network_mode"]:
            first_name, first = networks[0]
            networking_config = self.api.create_networking_config({first_name: self._endpoint_config(first)})

        with _translated(f"create container {name}"):
            self.api.create_container(
                image=spec["image"],
                name=name,
                command=spec["command"],
                entrypoint=spec["entrypoint"],
                environment=[f"{key}={value}" for key, value in spec["environment"].items()] or None,
                labels={**spec["labels"], **labels},
                user=spec["user"],
                working_dir=spec["working_dir"],
                hostname=spec["hostname"],
                volumes=anonymous or None,
                ports=[(port["container_port"], port["protocol"]) for port in spec["ports"]] or None,
                host_config=host_config,
                networking_config=networking_config,
                use_config_proxy=False,
            )
            # API 1.41 takes one network at creation; join the others before the first start.
            for network_name, attachment in networks[1:]:
                self.api.connect_container_to_network(name, network_name, ipv4_address=attachment["ipv4_address"],
                                                      aliases=attachment["aliases"] or None)

    def start_container(self, container_id: str, name: str, *, paused: bool = False) -> None:
        with _translated(f"start container {name}"):
            if paused:
                self.api.unpause(container_id)
            else:
                self.api.start(container_id)

    def stop_container(self, container_id: str, name: str, timeout: int) -> None:
        with _translated(f"stop container {name}"):
            self.api.stop(container_id, timeout=timeout)

    def remove_container(self, container_id: str, name: str, timeout: int) -> None:
        """Stop the container (giving its process `timeout` seconds) and remove it, keeping its volumes."""
        with _translated(f"remove container {name}"):
            try:
                self.api.stop(container_id, timeout=timeout)
                self.api.remove_container(container_id, v=False)
            except docker.errors.NotFound:
                log.debug("container %s was already gone", name)

    def remove_anonymous_volume(self, volume: str, container: str) -> None:
        """Remove a volume that belonged to a removed container; one still in use is kept and logged."""
        with _translated(f"remove anonymous volume {volume[:12]} of container {container}"):
            try:
                self.api.remove_volume(volume)
            except docker.errors.NotFound:
                log.debug("volume %s of %s was already gone", volume, container)
            except docker.errors.APIError as error:
                if error.status_code != 409:
                    raise
                log.warning("kept volume %s of container %s: %s", volume, container, explain_api_error(error))

    def remove_network(self, network_id: str, name: str) -> None:
        """Remove the network and wait until the engine no longer lists it.

        A swarm removes an overlay network in the background; waiting keeps a
        replacement with the same name from clashing with the old one.
        """
        with _translated(f"remove network {name}"):
            try:
                self.api.remove_network(network_id)
            except docker.errors.NotFound:
                log.debug("network %s was already gone", name)
                return
            deadline = time.monotonic() + NETWORK_REMOVAL_WAIT_SECONDS
            while self.api.networks(ids=[network_id]):
                if time.monotonic() > deadline:
                    log.warning("network %s is still listed %s s after its removal", name, NETWORK_REMOVAL_WAIT_SECONDS)
                    return
                time.sleep(0.1)

    def remove_volume(self, name: str) -> None:
        with _translated(f"remove volume {name}"):
            try:
                self.api.remove_volume(name)
            except docker.errors.NotFound:
                log.debug("volume %s was already gone", name)

    def write_volume_files(self, volume: str, files: dict[str, tuple[bytes, int]], *, image: str,
                           labels: dict[str, str]) -> None:
        """Write `files` (relative path -> content and mode) into `volume`.

        The engine may be remote, so the files travel as a tar archive into a
        container that mounts the volume; the container is only created, never
        started, so the image needs no shell. A folder in a path is created
        with mode 0700, because it holds private keys.
        """
        archive = io.BytesIO()
        folders = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for folder in folders:
                member = tarfile.TarInfo(folder)
                member.type = tarfile.DIRTYPE
                member.mode = 0o700
                member.mtime = int(time.time())
                tar.addfile(member)
            for name, (content, mode) in sorted(files.items()):
                member = tarfile.TarInfo(name)
                member.size = len(content)
                member.mode = mode
                member.mtime = int(time.time())
                tar.addfile(member, io.BytesIO(content))
        with self._volume_access(volume, image, labels, "write files to") as container:
            self.api.put_archive(container, VOLUME_ACCESS_PATH, archive.getvalue())

    def read_volume_files(self, volume: str, *, image: str, labels: dict[str, str]) -> dict[str, bytes]:
        """Return the regular files in `volume`, by path relative to its top folder."""
        with self._volume_access(volume, image, labels, "read files from") as container:
            stream, _ = self.api.get_archive(container, VOLUME_ACCESS_PATH + "/.")
            archive = io.BytesIO(b"".join(stream))
        found = {}
        with tarfile.open(fileobj=archive, mode="r") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if member.isfile():
                    found[name] = tar.extractfile(member).read()
        return found

    @contextmanager
    def _volume_access(self, volume: str, image: str, labels: dict[str, str], doing: str) -> Iterator[str]:
        name = f"provision-volume-access-{uuid.uuid4().hex[:12]}"
        with _translated(f"{doing} volume {volume}"):
            # Mounting a missing volume would create it, without labels; refuse instead.
            try:
                self.api.inspect_volume(volume)
            except docker.errors.NotFound:
                raise VolumeNotFound(f"could not {doing} volume {volume}: the volume does not exist") from None
            container = self.api.create_container(
                image=image, name=name, labels=labels, network_disabled=True,
                host_config=self.api.create_host_config(binds={volume: {"bind": VOLUME_ACCESS_PATH, "mode": "rw"}},
                                                        network_mode="none"),
            )["Id"]
            try:
                yield container
            finally:
                # v=True also removes anonymous volumes the image declares.
                self.api.remove_container(container, v=True, force=True)

    def _endpoint_config(self, attachment: dict[str, Any]) -> Any:
        return self.api.create_endpoint_config(ipv4_address=attachment["ipv4_address"], aliases=attachment["aliases"] or None)


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    """Turn docker SDK and connection errors raised inside the block into EngineError."""
    try:
        yield
    except docker.errors.APIError as error:
        raise EngineError(f"could not {doing}: {explain_api_error(error)}") from error
    except (requests.exceptions.RequestException, docker.errors.DockerException) as error:
        raise EngineError(f"could not {doing}: the engine did not respond ({_first_line(error)})") from error


def explain_api_error(error: docker.errors.APIError) -> str:
    """Return the engine's own explanation without the HTTP wrapping, plus a remedy for common cases."""
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    text = str(explanation or error).strip()
    if "port is already allocated" in text or "address already in use" in text:
        text += " (another process or container already uses this host port; pick another one)"
    elif "Pool overlaps with other one" in text:
        text += " (another network already uses this address range; pick another subnet)"
    elif "pull access denied" in text or "manifest unknown" in text or "not found" in text and "image" in text.lower():
        text += " (the image is neither on this engine nor reachable in a registry)"
    return text


def _mount(mount: dict[str, Any]) -> Mount:
    return Mount(target=mount["target"], source=mount["source"], type=mount["type"], read_only=mount["read_only"])


def _port_bindings(ports: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    bindings: dict[str, list[tuple[str, int]]] = {}
    for port in ports:
        key = f"{port['container_port']}/{port['protocol']}"
        bindings.setdefault(key, []).append((port["host_ip"], port["host_port"]))
    return bindings


def _restart_policy(policy: str) -> dict[str, Any]:
    name, _, count = policy.partition(":")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = image.rpartition(":")
        return repository, tag
    return image, "latest"


def _exact(name: str) -> str:
    return f"^/{re.escape(name)}$"


def _labelled(item: dict[str, Any], project: str) -> bool:
    return (item.get("Labels") or {}).get(PROJECT_LABEL) == project


def _unique_by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _unique_by_key(items, "Id")


def _unique_by_key(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item[key], item)
    return list(seen.values())


CONNECTION_PROBLEMS = (
    ("No such file or directory", "the socket does not exist"),
    ("Connection refused", "connection refused"),
    ("Permission denied", "permission denied"),
    ("timed out", "the connection timed out"),
    ("Name or service not known", "the host name is unknown"),
    ("Invalid bind address", "the address is not a valid Docker host URL"),
)


def _connection_problem(error: BaseException) -> str:
    """Describe in a few plain words why a connection failed, instead of the nested exception text."""
    text = str(error)
    for needle, words in CONNECTION_PROBLEMS:
        if needle in text:
            return words
    return _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
