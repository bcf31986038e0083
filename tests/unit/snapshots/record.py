"""Record what the engine's list endpoints return for an applied blueprint, for the planner's unit tests.

Usage, from the repository root, with a Docker engine on /var/run/docker.sock:

    python3 tests/unit/snapshots/record.py blueprints/seed-demo.yaml applied
    python3 tests/unit/snapshots/record.py blueprints/seed-demo.yaml stopped --stop busy-box2
    python3 tests/unit/snapshots/record.py blueprints/seed-demo.yaml network-removed --remove-network isolated
    python3 tests/unit/snapshots/record.py blueprints/seed-demo.yaml conflict --unlabelled-volume scratch

The script applies a copy of the blueprint with the real `provision` command, under a project name that
is unique to this run. It can then change the engine behind the tool's back. It saves the raw list JSON
to tests/unit/snapshots/NAME.json and destroys the project again. Object names, subnets and the host port
stay as in the blueprint when the engine has no object with those names, no overlapping subnet and a
free port. Otherwise they are moved for the run. Either way the saved JSON is rewritten to what a
recording of the blueprint itself, kept at /srv/checkout/blueprints, would contain:
- the run's suffix is removed from the project and object names,
- moved subnets and ports get their blueprint values back,
- the blueprint folder is replaced by /srv/checkout/blueprints in bind mount paths,
- the spec-hash label is recomputed from the rewritten spec label.

Only objects labelled with this run's project, and the unlabelled volume this script created, are removed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import docker
import yaml

from provisioner.labels import PROJECT_LABEL, SPEC_HASH_LABEL, SPEC_LABEL, spec_hash

SNAPSHOT_DIR = Path(__file__).resolve().parent
PLACEHOLDER_DIR = "/srv/checkout/blueprints"
RECORDED_TAGS = {"busybox:1.36", "busybox:latest", "registry:2"}
SECTIONS = ("volumes", "networks", "volume_containers", "containers")


class Recording:
    """One run: the engine client, the run's names and the rewrites that make its JSON stable."""

    def __init__(self, api: docker.APIClient, blueprint_path: Path, workdir: Path):
        self.api = api
        self.blueprint_path = blueprint_path.resolve()
        self.workdir = workdir
        self.suffix = "-rec" + secrets.token_hex(3)
        self.data = yaml.safe_load(self.blueprint_path.read_text(encoding="utf-8"))
        self.project = self.data["project"] + self.suffix
        self.rename = False
        self.subnet_map: dict[str, str] = {}
        self.port_map: dict[int, int] = {}
        self.created_volume: str | None = None

    # Preparing the copy

    def blueprint_names(self) -> dict[str, list[str]]:
        """Names the blueprint gives, by engine object kind."""
        containers = list(self.data.get("volume_containers") or {}) + list(self.data.get("containers") or {})
        return {"volume": list(self.data.get("volumes") or {}), "network": list(self.data.get("networks") or {}),
                "container": containers}

    def engine_name(self, name: str) -> str:
        return name + self.suffix if self.rename else name

    def choose_names(self) -> None:
        """Rename every object for this run when any blueprint name is already taken on the engine."""
        names = self.blueprint_names()
        existing = self.existing_names()
        clashes = [name for kind, kind_names in names.items() for name in kind_names if name in existing[kind]]
        if clashes:
            print(f"names already on the engine: {', '.join(sorted(clashes))}; renaming every object for this run")
            self.rename = True

    def existing_names(self) -> dict[str, set[str]]:
        return {
            "volume": {volume["Name"] for volume in self.api.volumes().get("Volumes") or []},
            "network": {network["Name"] for network in self.api.networks()},
            "container": {container["Names"][0].lstrip("/") for container in self.api.containers(all=True)},
        }

    def choose_subnets(self) -> None:
        """Move a declared subnet to a free private /24 when an engine network overlaps it."""
        taken_subnets = [ipaddress.ip_network(config["Subnet"]) for network in self.api.networks()
                 for config in ((network.get("IPAM") or {}).get("Config") or []) if "." in config.get("Subnet", "")]
        for spec in (self.data.get("networks") or {}).values():
            if not (spec or {}).get("subnet"):
                continue
            subnet = ipaddress.ip_network(spec["subnet"])
            if not any(subnet.overlaps(other) for other in taken_subnets):
                continue
            if subnet.prefixlen != 24:
                sys.exit(f"subnet {subnet} overlaps an engine network, and this script moves only /24 subnets")
            for _ in range(1000):
                candidate = ipaddress.ip_network(f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/24")
                if not any(candidate.overlaps(other) for other in taken_subnets):
                    break
            else:
                sys.exit(f"no free /24 found to replace the overlapping subnet {subnet}")
            taken_subnets.append(candidate)
            self.subnet_map[_prefix(subnet)] = _prefix(candidate)
            print(f"subnet {subnet} overlaps an engine network; using {candidate} for this run")

    def choose_ports(self) -> None:
        for section in ("volume_containers", "containers"):
            for spec in (self.data.get(section) or {}).values():
                for port in (spec or {}).get("ports") or []:
                    host_port = int(str(port).split("/")[0].split(":")[-2])
                    if not _port_free(host_port):
                        self.port_map[host_port] = _free_port()
                        print(f"host port {host_port} is in use; using {self.port_map[host_port]} for this run")

    def write_copy(self, *, leave_out_volume: str | None = None) -> Path:
        """Write the blueprint for this run: unique project, chosen names, subnets and ports, absolute bind paths."""
        data = json.loads(json.dumps(self.data))
        data["project"] = self.project
        if leave_out_volume:
            del data["volumes"][leave_out_volume]
        for section in SECTIONS:
            data[section] = {self.engine_name(name): spec for name, spec in (data.get(section) or {}).items()}
        for spec in data["networks"].values():
            for key in ("subnet", "gateway", "ip_range"):
                if spec and spec.get(key):
                    spec[key] = self.to_engine_text(spec[key])
        for section in ("volume_containers", "containers"):
            for spec in data[section].values():
                self.adapt_container(spec or {})
        path = self.workdir / "blueprint.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def adapt_container(self, spec: dict[str, Any]) -> None:
        mounts = []
        for entry in spec.get("volumes") or []:
            parts = str(entry).split(":")
            if len(parts) > 1 and parts[0].startswith((".", "~")):
                parts[0] = str((self.blueprint_path.parent / parts[0]).resolve())
            elif len(parts) > 1 and not parts[0].startswith("/"):
                parts[0] = self.engine_name(parts[0])
            mounts.append(":".join(parts))
        if mounts:
            spec["volumes"] = mounts
        if spec.get("volumes_from"):
            spec["volumes_from"] = [self.engine_name(entry.split(":")[0]) + entry[len(entry.split(":")[0]):]
                                    for entry in spec["volumes_from"]]
        if spec.get("depends_on"):
            spec["depends_on"] = [self.engine_name(entry) for entry in spec["depends_on"]]
        if str(spec.get("network_mode", "")).startswith("container:"):
            spec["network_mode"] = "container:" + self.engine_name(spec["network_mode"].removeprefix("container:"))
        networks = spec.get("networks")
        if isinstance(networks, list):
            spec["networks"] = [self.engine_name(name) for name in networks]
        elif isinstance(networks, dict):
            spec["networks"] = {self.engine_name(name): self.adapt_attachment(attachment)
                                for name, attachment in networks.items()}
        if spec.get("ports"):
            spec["ports"] = [self.adapt_port(str(port)) for port in spec["ports"]]

    def adapt_attachment(self, attachment: Any) -> Any:
        if isinstance(attachment, dict) and attachment.get("ipv4_address"):
            return {**attachment, "ipv4_address": self.to_engine_text(attachment["ipv4_address"])}
        return attachment

    def adapt_port(self, port: str) -> str:
        body, slash, protocol = port.partition("/")
        parts = body.split(":")
        parts[-2] = str(self.port_map.get(int(parts[-2]), int(parts[-2])))
        return ":".join(parts) + slash + protocol

    def to_engine_text(self, text: str) -> str:
        for blueprint_prefix, engine_prefix in self.subnet_map.items():
            text = _replace_prefix(text, blueprint_prefix, engine_prefix)
        return text

    # Talking to the engine

    def provision(self, *args: str) -> None:
        command = [sys.executable, "-m", "provisioner", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        print(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}")

    def capture(self) -> dict[str, Any]:
        """List the run's objects the way `provision` reads them: by project label and by exact blueprint name."""
        label = {"label": f"{PROJECT_LABEL}={self.project}"}
        names = {kind: sorted(self.engine_name(name) for name in kind_names)
                 for kind, kind_names in self.blueprint_names().items()}
        # The engine's name filters match substrings, so only exact names are kept.
        containers = self.api.containers(all=True, filters=label) + [
            item for item in self.api.containers(all=True, filters={"name": names["container"]})
            if item["Names"][0].lstrip("/") in names["container"]]
        networks = self.api.networks(filters=label) + [
            item for item in self.api.networks(names=names["network"]) if item["Name"] in names["network"]]
        volumes = (self.api.volumes(filters=label)["Volumes"] or []) + [
            item for item in self.api.volumes(filters={"name": names["volume"]})["Volumes"] or []
            if item["Name"] in names["volume"]]
        images = [item for item in self.api.images() if RECORDED_TAGS & set(item.get("RepoTags") or [])]
        return {
            "containers": sorted(_unique(containers, "Id"), key=lambda item: item["Names"][0]),
            "networks": sorted(_unique(networks, "Id"), key=lambda item: item["Name"]),
            "volumes": sorted(_unique(volumes, "Name"), key=lambda item: item["Name"]),
            "images": sorted(images, key=lambda item: item["Id"]),
        }

    def stop(self, name: str) -> None:
        self.api.stop(self.engine_name(name), timeout=0)

    def remove_network(self, name: str) -> None:
        network = self.api.inspect_network(self.engine_name(name))
        for container_id in network.get("Containers") or {}:
            self.api.disconnect_container_from_network(container_id, network["Id"])
        self.api.remove_network(network["Id"])

    def create_unlabelled_volume(self, name: str) -> None:
        self.created_volume = self.engine_name(name)
        self.api.create_volume(name=self.created_volume)

    def cleanup(self) -> None:
        """Remove what this run created: objects labelled with its project, and the unlabelled volume."""
        label = {"label": f"{PROJECT_LABEL}={self.project}"}
        for container in self.api.containers(all=True, filters=label):
            self.api.remove_container(container["Id"], force=True, v=True)
        for network in self.api.networks(filters=label):
            self.api.remove_network(network["Id"])
        for volume in self.api.volumes(filters=label).get("Volumes") or []:
            self.api.remove_volume(volume["Name"], force=True)
        if self.created_volume:
            volume = self.api.inspect_volume(self.created_volume)
            if not volume.get("Labels"):
                self.api.remove_volume(self.created_volume)

    # Making the recording stable

    def stabilise(self, value: Any) -> Any:
        """Rewrite run-specific text in every string of `value` to the blueprint's own values."""
        if isinstance(value, dict):
            stable = {self.stabilise(key): self.stabilise(item) for key, item in value.items()}
            if "PublicPort" in stable:
                stable["PublicPort"] = self.blueprint_port(stable["PublicPort"])
            return stable
        if isinstance(value, list):
            return [self.stabilise(item) for item in value]
        if isinstance(value, str):
            return self.stabilise_text(value)
        return value

    def stabilise_text(self, text: str) -> str:
        text = text.replace(self.suffix, "")
        text = text.replace(str(self.blueprint_path.parent), PLACEHOLDER_DIR)
        for blueprint_prefix, engine_prefix in self.subnet_map.items():
            text = _replace_prefix(text, engine_prefix, blueprint_prefix)
        for blueprint_port, engine_port in self.port_map.items():
            text = text.replace(f'"host_port":{engine_port},', f'"host_port":{blueprint_port},')
        return text

    def blueprint_port(self, port: int) -> int:
        return next((blueprint for blueprint, engine in self.port_map.items() if engine == port), port)


def rehash_spec_labels(raw: dict[str, Any]) -> None:
    """Set each spec-hash label to the hash of its (rewritten) spec label, as `provision` would have written it."""
    for kind in ("containers", "networks", "volumes"):
        for item in raw[kind]:
            labels = item.get("Labels") or {}
            if SPEC_LABEL in labels:
                labels[SPEC_HASH_LABEL] = spec_hash(json.loads(labels[SPEC_LABEL]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blueprint", type=Path, help="blueprint file to apply")
    parser.add_argument("name", help="output file name, without .json, in tests/unit/snapshots")
    parser.add_argument("--stop", metavar="CONTAINER", help="docker stop this container after the apply")
    parser.add_argument("--remove-network", metavar="NETWORK", help="disconnect every container from this network "
                        "and remove it after the apply")
    parser.add_argument("--unlabelled-volume", metavar="VOLUME", help="create this blueprint volume with plain "
                        "docker volume create before the apply, and apply the rest of the blueprint")
    options = parser.parse_args()

    api = docker.APIClient(version="auto")
    with tempfile.TemporaryDirectory(prefix="provision-record-") as folder:
        recording = Recording(api, options.blueprint, Path(folder))
        recording.choose_names()
        recording.choose_subnets()
        recording.choose_ports()
        if options.unlabelled_volume:
            _check_unused_volume(recording.data, options.unlabelled_volume)
        blueprint = recording.write_copy(leave_out_volume=options.unlabelled_volume)
        print(f"recording project {recording.project} from {blueprint}")
        try:
            if options.unlabelled_volume:
                recording.create_unlabelled_volume(options.unlabelled_volume)
            recording.provision("-f", str(blueprint), "apply", "--auto-approve", "--stop-timeout", "0")
            if options.stop:
                recording.stop(options.stop)
            if options.remove_network:
                recording.remove_network(options.remove_network)
            raw = recording.stabilise(recording.capture())
        finally:
            try:
                recording.provision("-f", str(blueprint), "destroy", "--auto-approve", "--stop-timeout", "0")
            finally:
                recording.cleanup()

    rehash_spec_labels(raw)
    engine = api.version()
    raw = {"recorded_with": {"blueprint": options.blueprint.name, "name": options.name, "stop": options.stop,
                             "remove_network": options.remove_network, "unlabelled_volume": options.unlabelled_volume,
                             "engine_version": engine.get("Version"), "api_version": engine.get("ApiVersion")},
           **raw}
    target = SNAPSHOT_DIR / f"{options.name}.json"
    target.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target}")


def _check_unused_volume(data: dict[str, Any], name: str) -> None:
    if name not in (data.get("volumes") or {}):
        sys.exit(f"volume {name!r} is not in the blueprint")
    for section in ("volume_containers", "containers"):
        for container, spec in (data.get(section) or {}).items():
            if any(str(entry).split(":")[0] == name for entry in (spec or {}).get("volumes") or []):
                sys.exit(f"volume {name!r} is mounted by {container!r}, so the rest of the blueprint cannot apply without it")


def _labelled(item: dict[str, Any], project: str) -> bool:
    return (item.get("Labels") or {}).get(PROJECT_LABEL) == project


def _unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return list({item[key]: item for item in items}.values())


def _prefix(subnet: ipaddress.IPv4Network) -> str:
    """The first three octets of a /24 with a trailing dot, such as '10.231.10.'."""
    return str(subnet.network_address).rsplit(".", 1)[0] + "."


def _replace_prefix(text: str, old: str, new: str) -> str:
    return re.sub(r"(?<![\d.])" + re.escape(old), new, text)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
