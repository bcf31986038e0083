"""The shipped example blueprints, applied to the real engine and inspected.

Every test applies its own isolated copy of one example (names, project,
subnets and host ports unique to the run), checks what the engine really
holds, and destroys the project again. Inspection goes through the docker SDK
and through commands run inside the containers. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import BLUEPRINTS, PROJECT_LABEL, Run

pytestmark = pytest.mark.engine

APPLY = ("apply", "--auto-approve", "--stop-timeout", "0")
DESTROY = ("destroy", "--auto-approve", "--stop-timeout", "0")
SITE = (BLUEPRINTS / "site").resolve()

# A progress line, printed once per finished action, e.g. "+ volume cache-1a2b: created in 0.0s".
# Plan lines are indented, so they never match.
PROGRESS_LINE = re.compile(r"^(?:\+|-/\+|~|-) (volume|network|container) (\S+): ", re.MULTILINE)
PLAN_SUMMARY = re.compile(r"^Plan: (\d+) to create, (\d+) to replace, (\d+) to start, (\d+) to stop, (\d+) to delete\.$",
                          re.MULTILINE)
LINK_NAME = re.compile(r"^\d+: ([^:@\s]+)", re.MULTILINE)
ADDRESS = re.compile(r"^\d+: (\S+)\s+(inet6?) (\S+)", re.MULTILINE)
ANONYMOUS_VOLUME_NAME = re.compile(r"^[0-9a-f]{64}$")

EXAMPLES = [
    pytest.param("seed-demo.yaml", id="seed-demo"),
    pytest.param("storage.yaml", id="storage"),
    pytest.param("networks.yaml", id="networks"),
    # The engine is a single-node swarm manager in these tests (the CI starts it with --swarm).
    pytest.param("overlay.yaml", id="overlay"),
]

# Which object of an example plays which part in the network checks.
NETWORK_ROLES = {
    "seed-demo.yaml": {"bridge": "backend", "internal": "isolated", "attached": "busy-box2", "alias": "app",
                       "sidecar": "sidecar", "offline": "batch", "on_host": "hostnet"},
    "networks.yaml": {"bridge": "front", "internal": "private", "attached": "web", "alias": "www",
                      "sidecar": "web-sidecar", "offline": "offline", "on_host": "on-host"},
}
NETWORK_EXAMPLES = [pytest.param("seed-demo.yaml", id="seed-demo"), pytest.param("networks.yaml", id="networks")]

# Which object of an example plays which part in the storage checks. `consumers` maps each
# volumes_from consumer to whether it mounts the holder's volumes read-only.
STORAGE_ROLES = {
    "seed-demo.yaml": {"holder": "data-volume", "anonymous": "/tmp/myfolder", "named": "app-data",
                       "named_target": "/srv/data", "bind_target": "/srv/site", "tmpfs": "scratch",
                       "tmpfs_size": "size=64m", "consumers": {"busy-box2": False}},
    "storage.yaml": {"holder": "store", "anonymous": "/var/store", "named": "shared-data",
                     "named_target": "/srv/data", "bind_target": "/srv/site", "tmpfs": "cache",
                     "tmpfs_size": "size=16m", "consumers": {"writer": False, "reader": True}},
}
STORAGE_EXAMPLES = [pytest.param("seed-demo.yaml", id="seed-demo"), pytest.param("storage.yaml", id="storage")]


@dataclass
class Deployment:
    """One applied example: its isolated blueprint, what apply printed, and ways to look at the result."""

    run: Run
    example: str
    blueprint: Path
    data: dict[str, Any]
    applied: subprocess.CompletedProcess

    @property
    def project(self) -> str:
        return self.data["project"]

    @property
    def api(self) -> Any:
        return self.run.client.api

    def provision(self, *args: str) -> subprocess.CompletedProcess:
        return self.run.provision("-f", str(self.blueprint), *args)

    def name(self, short: str) -> str:
        return self.run.name(short)

    def container(self, short: str) -> dict[str, Any]:
        return self.api.inspect_container(self.name(short))

    def network(self, short: str) -> dict[str, Any]:
        return self.api.inspect_network(self.name(short))

    def volume(self, short: str) -> dict[str, Any]:
        return self.api.inspect_volume(self.name(short))

    def spec(self, short: str) -> dict[str, Any]:
        """Return the isolated blueprint's entry for a container or volume container."""
        name = self.name(short)
        return (self.data.get("containers") or {}).get(name) or self.data["volume_containers"][name]

    def exec(self, short: str, *command: str) -> tuple[int, str]:
        result = self.run.client.containers.get(self.name(short)).exec_run(list(command))
        return result.exit_code, result.output.decode("utf-8", "replace")

    def expected_resources(self) -> list[str]:
        return declared_resources(self.data)

    def labelled(self) -> dict[str, list[dict[str, Any]]]:
        """List the engine's objects that carry this project's label, by kind, as the list endpoints return them."""
        label = {"label": f"{PROJECT_LABEL}={self.project}"}
        return {
            "container": self.api.containers(all=True, filters=label),
            "network": self.api.networks(filters=label),
            "volume": self.api.volumes(filters=label).get("Volumes") or [],
        }

    def labelled_labels(self) -> dict[str, dict[str, str]]:
        """Collect the labels of every labelled object, keyed by 'kind name', from a full inspect of each."""
        objects = self.labelled()
        result = {}
        for item in objects["container"]:
            inspected = self.api.inspect_container(item["Id"])
            result[f"container {inspected['Name'].lstrip('/')}"] = inspected["Config"]["Labels"] or {}
        for item in objects["network"]:
            inspected = self.api.inspect_network(item["Id"])
            result[f"network {inspected['Name']}"] = inspected["Labels"] or {}
        for item in objects["volume"]:
            result[f"volume {item['Name']}"] = self.api.inspect_volume(item["Name"])["Labels"] or {}
        return result

    def container_ids(self) -> dict[str, str]:
        return {item["Names"][0].lstrip("/"): item["Id"] for item in self.labelled()["container"]}


@pytest.fixture
def deploy(engine_run: Run):
    """Apply an example for this test; destroy it again afterwards (the engine_run cleanup removes any rest)."""
    deployments: list[Deployment] = []

    def apply(example: str) -> Deployment:
        blueprint = engine_run.isolate(BLUEPRINTS / example)
        applied = engine_run.provision("-f", str(blueprint), *APPLY)
        deployment = Deployment(engine_run, example, blueprint, yaml.safe_load(blueprint.read_text()), applied)
        deployments.append(deployment)
        assert applied.returncode == 0, f"apply of {example} failed:\n{applied.stdout}{applied.stderr}"
        return deployment

    yield apply
    for deployment in deployments:
        deployment.provision(*DESTROY)


def declared_resources(data: dict[str, Any]) -> list[str]:
    """List every object a blueprint declares, as 'kind name', sorted."""
    found = [f"volume {name}" for name in data.get("volumes") or {}]
    found += [f"network {name}" for name in data.get("networks") or {}]
    for section in ("volume_containers", "containers"):
        found += [f"container {name}" for name in data.get(section) or {}]
    return sorted(found)


def progress_resources(output: str) -> list[str]:
    return sorted(f"{kind} {name}" for kind, name in PROGRESS_LINE.findall(output))


def progress_order(output: str) -> list[str]:
    return [f"{kind} {name}" for kind, name in PROGRESS_LINE.findall(output)]


def dependencies(data: dict[str, Any], *, ordering: bool) -> list[tuple[str, str]]:
    """List the pairs (object, object it needs) that a blueprint declares.

    With `ordering`, the order-only pairs are included too: depends_on, and
    networks without a subnet after those with one.
    """
    pairs = []
    for section in ("volume_containers", "containers"):
        for name, spec in (data.get(section) or {}).items():
            item = f"container {name}"
            pairs += [(item, f"network {network}") for network in spec.get("networks") or {}]
            pairs += [(item, f"volume {entry.split(':')[0]}") for entry in spec.get("volumes") or []
                      if ":" in entry and not entry.startswith(("/", ".", "~"))]
            pairs += [(item, f"container {entry.split(':')[0]}") for entry in spec.get("volumes_from") or []]
            if str(spec.get("network_mode", "")).startswith("container:"):
                pairs.append((item, f"container {spec['network_mode'].removeprefix('container:')}"))
            if ordering:
                pairs += [(item, f"container {other}") for other in spec.get("depends_on") or []]
    if ordering:
        networks = data.get("networks") or {}
        with_subnet = [name for name, spec in networks.items() if spec and spec.get("subnet")]
        pairs += [(f"network {name}", f"network {other}") for name, spec in networks.items()
                  if not (spec and spec.get("subnet")) for other in with_subnet]
    return pairs


def link_names(output: str) -> list[str]:
    return sorted(LINK_NAME.findall(output))


def addresses(output: str) -> set[tuple[str, str, str]]:
    return set(ADDRESS.findall(output))


def host_link_names() -> list[str]:
    completed = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True, timeout=30)
    return link_names(completed.stdout)


def mounts_by_target(inspected: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mount["Destination"]: mount for mount in inspected["Mounts"]}


def mount_identity(mount: dict[str, Any]) -> tuple[str, str]:
    """Identify a mount: a volume by its name, a bind mount by its host path."""
    return mount["Type"], mount["Name"] if mount["Type"] == "volume" else mount["Source"]


def host_port(spec: dict[str, Any]) -> int:
    """Read the host port of the first published port (after the move) from its HOST_IP:HOST_PORT:CONTAINER_PORT form."""
    return int(spec["ports"][0].split("/")[0].split(":")[-2])


def http_get(url: str, *, wait: float = 15.0) -> str:
    """GET `url` without any proxy, retrying while the server inside the container starts."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + wait
    while True:
        try:
            with opener.open(url, timeout=3) as response:
                return response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# Life cycle: validate, apply, plan again, apply again, destroy.


@pytest.mark.parametrize("example", EXAMPLES)
def test_shipped_example_validates(engine_run, example):
    validated = engine_run.provision("-f", str(BLUEPRINTS / example), "validate")
    project = yaml.safe_load((BLUEPRINTS / example).read_text())["project"]

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"valid (project {project})" in validated.stdout


@pytest.mark.parametrize("example", EXAMPLES)
def test_plan_alone_creates_nothing(engine_run, example):
    blueprint = engine_run.isolate(BLUEPRINTS / example)
    data = yaml.safe_load(blueprint.read_text())
    label = {"label": f"{PROJECT_LABEL}={data['project']}"}

    planned = engine_run.provision("-f", str(blueprint), "plan")
    summary = PLAN_SUMMARY.search(planned.stdout)

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert summary is not None, planned.stdout
    assert int(summary.group(1)) == len(declared_resources(data))
    assert summary.groups()[1:] == ("0", "0", "0", "0")
    assert progress_resources(planned.stdout) == []
    assert engine_run.client.api.containers(all=True, filters=label) == []
    assert engine_run.client.api.networks(filters=label) == []
    assert (engine_run.client.api.volumes(filters=label).get("Volumes") or []) == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_apply_reports_each_action(deploy, example):
    deployment = deploy(example)
    output = deployment.applied.stdout
    summary = PLAN_SUMMARY.search(output)
    expected = deployment.expected_resources()

    assert progress_resources(output) == expected
    assert summary is not None, output
    assert sum(int(count) for count in summary.groups()) == len(expected)
    assert int(summary.group(1)) == len(expected)
    assert f"Apply complete: {len(expected)} actions done." in output


@pytest.mark.parametrize("example", EXAMPLES)
def test_apply_creates_dependencies_first(deploy, example):
    deployment = deploy(example)
    order = progress_order(deployment.applied.stdout)

    late = [(item, needed) for item, needed in dependencies(deployment.data, ordering=True)
            if order.index(needed) > order.index(item)]

    assert late == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_second_plan_shows_no_changes(deploy, example):
    deployment = deploy(example)

    planned = deployment.provision("plan")

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "No changes." in planned.stdout
    assert f"({len(deployment.expected_resources())} resources)" in planned.stdout


@pytest.mark.parametrize("example", EXAMPLES)
def test_second_apply_keeps_containers(deploy, example):
    deployment = deploy(example)
    before = deployment.container_ids()

    reapplied = deployment.provision(*APPLY)

    assert reapplied.returncode == 0, reapplied.stdout + reapplied.stderr
    assert "No changes." in reapplied.stdout
    assert progress_resources(reapplied.stdout) == []
    assert deployment.container_ids() == before


@pytest.mark.parametrize("example", EXAMPLES)
def test_destroy_removes_project_objects(deploy, example):
    deployment = deploy(example)

    destroyed = deployment.provision(*DESTROY)
    left = deployment.labelled()
    again = deployment.provision(*DESTROY)

    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert progress_resources(destroyed.stdout) == deployment.expected_resources()
    assert left["container"] == []
    assert left["network"] == []
    assert left["volume"] == []
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Nothing to destroy: no object on the engine is labelled with project {deployment.project}." in again.stdout


@pytest.mark.parametrize("example", EXAMPLES)
def test_destroy_removes_dependents_first(deploy, example):
    deployment = deploy(example)

    destroyed = deployment.provision(*DESTROY)
    order = progress_order(destroyed.stdout)
    early = [(item, needed) for item, needed in dependencies(deployment.data, ordering=False)
             if order.index(needed) < order.index(item)]

    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert early == []


@pytest.mark.parametrize("example", STORAGE_EXAMPLES)
def test_destroy_removes_anonymous_volumes(deploy, example):
    deployment = deploy(example)
    anonymous = mounts_by_target(deployment.container(STORAGE_ROLES[example]["holder"]))[STORAGE_ROLES[example]["anonymous"]]

    deployment.provision(*DESTROY)
    remaining = {volume["Name"] for volume in deployment.api.volumes().get("Volumes") or []}

    assert anonymous["Name"] not in remaining


# Labels


@pytest.mark.parametrize("example", EXAMPLES)
def test_objects_carry_ownership_labels(deploy, example):
    deployment = deploy(example)
    data = deployment.data
    roles = {f"volume {name}": "volume" for name in data.get("volumes") or {}}
    roles |= {f"network {name}": "network" for name in data.get("networks") or {}}
    roles |= {f"container {name}": "volume_container" for name in data.get("volume_containers") or {}}
    roles |= {f"container {name}": "container" for name in data.get("containers") or {}}

    labels = deployment.labelled_labels()
    resource_labels = {key: value.get("io.provision.resource") for key, value in labels.items()}

    assert sorted(labels) == deployment.expected_resources()
    assert resource_labels == {key: key.replace(" ", "/", 1) for key in labels}
    assert {key for key, value in labels.items() if value.get("io.provision.project") != deployment.project} == set()
    assert {key for key, value in labels.items()
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", value.get("io.provision.spec-hash", ""))} == set()
    assert {key for key, value in labels.items() if value.get("io.provision.hash-scheme") != "1"} == set()
    assert {key for key, value in labels.items()
            if value.get("io.provision.spec-hash") != "sha256:" + hashlib.sha256(
                value.get("io.provision.spec", "").encode("utf-8")).hexdigest()} == set()
    assert {key: value.get("io.provision.role") for key, value in labels.items()} == roles


@pytest.mark.parametrize("example", EXAMPLES)
def test_objects_carry_user_labels(deploy, example):
    deployment = deploy(example)
    declared = {f"{kind} {name}": spec["labels"]
                for kind, section in (("volume", "volumes"), ("network", "networks"))
                for name, spec in (deployment.data.get(section) or {}).items() if spec and spec.get("labels")}
    labels = deployment.labelled_labels()

    assert declared, "every example declares at least one user label"
    assert {key: {name: labels[key].get(name) for name in wanted} for key, wanted in declared.items()} == declared


# Containers: state, restart policy, hostname, environment


@pytest.mark.parametrize("example", EXAMPLES)
def test_containers_reach_declared_state(deploy, example):
    deployment = deploy(example)
    expected = {name: "created" for name in deployment.data.get("volume_containers") or {}}
    expected |= {name: "running" for name in deployment.data.get("containers") or {}}

    states = {name: deployment.api.inspect_container(name)["State"]["Status"] for name in expected}

    assert states == expected


@pytest.mark.parametrize("example", EXAMPLES)
def test_restart_policy_as_declared(deploy, example):
    deployment = deploy(example)
    expected = {name: {"Name": "" if spec.get("restart", "no") == "no" else spec["restart"], "MaximumRetryCount": 0}
                for section in ("volume_containers", "containers")
                for name, spec in (deployment.data.get(section) or {}).items()}

    policies = {name: deployment.api.inspect_container(name)["HostConfig"]["RestartPolicy"] for name in expected}

    assert policies == expected


def test_web_hostname_as_declared(deploy):
    deployment = deploy("networks.yaml")

    exit_code, output = deployment.exec("web", "hostname")

    assert deployment.container("web")["Config"]["Hostname"] == "web"
    assert exit_code == 0, output
    assert output.strip() == "web"


def test_environment_reaches_container(deploy):
    deployment = deploy("seed-demo.yaml")

    exit_code, output = deployment.exec("busy-box2", "env")

    assert "MODE=demo" in deployment.container("busy-box2")["Config"]["Env"]
    assert exit_code == 0, output
    assert "MODE=demo" in output.splitlines()


# Networks


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_bridge_network_has_declared_ipam(deploy, example):
    deployment = deploy(example)
    short = NETWORK_ROLES[example]["bridge"]
    declared = deployment.data["networks"][deployment.name(short)]

    network = deployment.network(short)
    config = network["IPAM"]["Config"]

    assert network["Driver"] == "bridge"
    assert network["Internal"] is False
    assert len(config) == 1, config
    assert config[0]["Subnet"] == declared["subnet"]
    assert config[0]["Gateway"] == declared["gateway"]
    assert config[0]["IPRange"] == declared["ip_range"]


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_internal_network_is_internal(deploy, example):
    deployment = deploy(example)

    network = deployment.network(NETWORK_ROLES[example]["internal"])

    assert network["Internal"] is True
    assert network["Driver"] == "bridge"


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_static_address_and_aliases(deploy, example):
    roles = NETWORK_ROLES[example]
    deployment = deploy(example)
    bridge, internal = deployment.name(roles["bridge"]), deployment.name(roles["internal"])
    declared = deployment.spec(roles["attached"])["networks"][bridge]

    endpoints = deployment.container(roles["attached"])["NetworkSettings"]["Networks"]

    assert sorted(endpoints) == sorted([bridge, internal])
    assert endpoints[bridge]["IPAMConfig"]["IPv4Address"] == declared["ipv4_address"]
    assert endpoints[bridge]["IPAddress"] == declared["ipv4_address"]
    assert roles["alias"] in endpoints[bridge]["Aliases"]
    assert roles["alias"] not in (endpoints[internal]["Aliases"] or [])


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_alias_resolves_to_static_address(deploy, example):
    roles = NETWORK_ROLES[example]
    deployment = deploy(example)
    declared = deployment.spec(roles["attached"])["networks"][deployment.name(roles["bridge"])]

    exit_code, output = deployment.exec(roles["attached"], "nslookup", roles["alias"])

    assert exit_code == 0, output
    assert f"Address: {declared['ipv4_address']}" in output


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_sidecar_shares_target_namespace(deploy, example):
    roles = NETWORK_ROLES[example]
    deployment = deploy(example)
    target_id = deployment.container(roles["attached"])["Id"]

    sidecar_code, sidecar_addresses = deployment.exec(roles["sidecar"], "ip", "-o", "addr")
    target_code, target_addresses = deployment.exec(roles["attached"], "ip", "-o", "addr")
    declared = deployment.spec(roles["attached"])["networks"][deployment.name(roles["bridge"])]["ipv4_address"]

    assert deployment.container(roles["sidecar"])["HostConfig"]["NetworkMode"] == f"container:{target_id}"
    assert sidecar_code == 0, sidecar_addresses
    assert target_code == 0, target_addresses
    assert addresses(sidecar_addresses) == addresses(target_addresses)
    assert any(address.startswith(declared + "/") for _, _, address in addresses(sidecar_addresses))


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_offline_container_has_loopback_only(deploy, example):
    short = NETWORK_ROLES[example]["offline"]
    deployment = deploy(example)

    exit_code, output = deployment.exec(short, "ip", "-o", "link")

    assert deployment.container(short)["HostConfig"]["NetworkMode"] == "none"
    assert exit_code == 0, output
    assert link_names(output) == ["lo"]


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_host_mode_sees_host_interfaces(deploy, example):
    short = NETWORK_ROLES[example]["on_host"]
    deployment = deploy(example)

    # Other tests may add or remove interfaces meanwhile, so keep a sample in which the host's list did not change.
    for _ in range(20):
        before = host_link_names()
        exit_code, output = deployment.exec(short, "ip", "-o", "link")
        after = host_link_names()
        if before == after:
            break
        time.sleep(0.2)

    assert deployment.container(short)["HostConfig"]["NetworkMode"] == "host"
    assert exit_code == 0, output
    assert link_names(output) == before
    assert "docker0" in link_names(output)


@pytest.mark.parametrize("example", NETWORK_EXAMPLES)
def test_published_port_binding_as_declared(deploy, example):
    short = NETWORK_ROLES[example]["attached"]
    deployment = deploy(example)
    port = host_port(deployment.spec(short))

    bindings = deployment.container(short)["HostConfig"]["PortBindings"]

    assert bindings == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}


def test_web_answers_on_published_port(deploy):
    deployment = deploy("networks.yaml")
    port = host_port(deployment.spec("web"))

    body = http_get(f"http://127.0.0.1:{port}/")

    assert body.strip() == "hello from web"


# Storage


@pytest.mark.parametrize("example", STORAGE_EXAMPLES)
def test_volume_container_mounts_as_declared(deploy, example):
    roles = STORAGE_ROLES[example]
    deployment = deploy(example)

    mounts = mounts_by_target(deployment.container(roles["holder"]))
    anonymous, named, bind = mounts[roles["anonymous"]], mounts[roles["named_target"]], mounts[roles["bind_target"]]

    assert sorted(mounts) == sorted([roles["anonymous"], roles["named_target"], roles["bind_target"]])
    assert anonymous["Type"] == "volume"
    assert ANONYMOUS_VOLUME_NAME.match(anonymous["Name"]), anonymous
    assert anonymous["RW"] is True
    assert named["Type"] == "volume"
    assert named["Name"] == deployment.name(roles["named"])
    assert named["RW"] is True
    assert bind["Type"] == "bind"
    assert bind["Source"] == str(SITE)
    assert bind["RW"] is False


@pytest.mark.parametrize("example", STORAGE_EXAMPLES)
def test_volumes_from_shares_same_volumes(deploy, example):
    roles = STORAGE_ROLES[example]
    deployment = deploy(example)
    holder = mounts_by_target(deployment.container(roles["holder"]))

    for consumer, read_only in roles["consumers"].items():
        inspected = deployment.container(consumer)
        mounts = mounts_by_target(inspected)
        shared = {target: (*mount_identity(mounts[target]), mounts[target]["RW"]) for target in holder if target in mounts}
        expected = {target: (*mount_identity(mount), mount["RW"] and not read_only) for target, mount in holder.items()}
        entry = deployment.name(roles["holder"]) + (":ro" if read_only else "")

        assert inspected["HostConfig"]["VolumesFrom"] == [entry], consumer
        assert shared == expected, consumer


@pytest.mark.parametrize("example", STORAGE_EXAMPLES)
def test_tmpfs_volume_has_driver_options(deploy, example):
    roles = STORAGE_ROLES[example]
    deployment = deploy(example)

    volume = deployment.volume(roles["tmpfs"])

    assert volume["Driver"] == "local"
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": roles["tmpfs_size"]}
    assert volume["Labels"].get("tier") == "cache"


def test_tmpfs_volume_mounted_as_tmpfs(deploy):
    deployment = deploy("storage.yaml")

    exit_code, output = deployment.exec("writer", "cat", "/proc/mounts")
    cache_lines = [line.split() for line in output.splitlines() if line.split()[1:2] == ["/cache"]]

    assert exit_code == 0, output
    assert len(cache_lines) == 1, output
    assert cache_lines[0][2] == "tmpfs"
    assert "size=16384k" in cache_lines[0][3].split(",")


@pytest.mark.parametrize("target", ["/srv/data", "/var/store"])
def test_reader_sees_writer_file(deploy, target):
    deployment = deploy("storage.yaml")
    payload = f"written by writer in run {deployment.run.run_id}"

    write_code, write_output = deployment.exec("writer", "sh", "-c", f"echo '{payload}' > {target}/note.txt")
    read_code, read_output = deployment.exec("reader", "cat", f"{target}/note.txt")

    assert write_code == 0, write_output
    assert read_code == 0, read_output
    assert read_output.strip() == payload


@pytest.mark.parametrize("target", ["/srv/data", "/var/store"])
def test_reader_cannot_write_store(deploy, target):
    deployment = deploy("storage.yaml")

    exit_code, output = deployment.exec("reader", "touch", f"{target}/from-reader.txt")

    assert exit_code != 0, output
    assert "Read-only file system" in output


@pytest.mark.parametrize("consumer", ["writer", "reader"])
def test_site_bind_mount_read_only(deploy, consumer):
    # Read from the mount table rather than by writing, so a failure cannot leave files in blueprints/site.
    # (busybox `test -w` is no help here: as root it reported the read-only mount as writable.)
    deployment = deploy("storage.yaml")

    mounts_code, mounts = deployment.exec(consumer, "cat", "/proc/mounts")
    site = [line.split() for line in mounts.splitlines() if line.split()[1:2] == ["/srv/site"]]

    assert mounts_code == 0, mounts
    assert len(site) == 1, mounts
    assert "ro" in site[0][3].split(",")


@pytest.mark.parametrize("example", STORAGE_EXAMPLES)
def test_bind_mount_serves_site_file(deploy, example):
    consumer = next(iter(STORAGE_ROLES[example]["consumers"]))
    deployment = deploy(example)

    exit_code, output = deployment.exec(consumer, "cat", "/srv/site/index.html")

    assert exit_code == 0, output
    assert output == (SITE / "index.html").read_text()


def test_relative_bind_source_resolved(engine_run):
    # The isolated copy is in a temporary folder, so ./site is rewritten relative to that folder.
    # Running provision from / shows that the path is resolved from the file, not the working folder.
    blueprint = engine_run.isolate(BLUEPRINTS / "storage.yaml")
    data = yaml.safe_load(blueprint.read_text())
    store = data["volume_containers"][engine_run.name("store")]
    relative = os.path.relpath(SITE, blueprint.parent)
    store["volumes"] = [f"{relative}:/srv/site:ro" if entry.endswith(":/srv/site:ro") else entry for entry in store["volumes"]]
    blueprint.write_text(yaml.safe_dump(data, sort_keys=False))

    applied = engine_run.provision("-f", str(blueprint), *APPLY, cwd=Path("/"))
    assert relative.startswith(".."), relative
    assert applied.returncode == 0, applied.stdout + applied.stderr

    mounts = mounts_by_target(engine_run.client.api.inspect_container(engine_run.name("store")))
    destroyed = engine_run.provision("-f", str(blueprint), *DESTROY, cwd=Path("/"))

    assert mounts["/srv/site"]["Source"] == str(SITE)
    assert mounts["/srv/site"]["RW"] is False
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


# Overlay network on a swarm


def test_overlay_network_is_attachable(deploy):
    deployment = deploy("overlay.yaml")
    mesh = deployment.run.name("mesh")
    node = deployment.run.name("mesh-node")
    declared = deployment.data["networks"][mesh]
    declared_address = deployment.data["containers"][node]["networks"][mesh]["ipv4_address"]

    network = deployment.api.inspect_network(mesh)
    attachment = deployment.api.inspect_container(node)["NetworkSettings"]["Networks"][mesh]

    assert network["Driver"] == "overlay"
    assert network["Scope"] == "swarm"
    assert network["Attachable"] is True
    assert network["IPAM"]["Config"][0]["Subnet"] == declared["subnet"]
    assert attachment["IPAddress"] == declared_address
    assert "node" in attachment["Aliases"]
