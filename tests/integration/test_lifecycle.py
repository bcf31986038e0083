"""Plan, apply and destroy against the real engine: repeat runs, edits, drift, failures and ownership.

Every test applies and destroys its own project. The `engine_run` fixture
makes each blueprint unique to the run. Tests edit that isolated copy, so names,
subnets and host ports stay those of the run. A test removes the objects it
creates without the project label itself, because the fixture's cleanup only
removes labelled objects.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.networks
import pytest
import yaml

from provisioner.engine import connect
from provisioner.locking import ProjectLock
from provisioner.resources import build_desired_state
from provisioner.validation import load_blueprint
from provisioner.workflow import read_snapshot
from tests.integration.conftest import BLUEPRINTS, PROJECT_LABEL, free_port

pytestmark = pytest.mark.engine

RESOURCE_LABEL = "io.provision.resource"
SLEEP = ["sleep", "100000"]
FAST = ("--stop-timeout", "0")
MISSING_IMAGE = "provision-test-missing:1"
# Pulling this image only ever contacts 127.0.0.1:1, where nothing listens.
UNPULLABLE_IMAGE = "127.0.0.1:1/provision-test-missing:1"


# Helpers


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def save(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_isolated(engine_run, data: dict[str, Any], filename: str) -> Path:
    """Isolate a blueprint given as a dict and write it to the run's folder."""
    return save(engine_run.workdir / filename, engine_run.isolate_data(copy.deepcopy(data), engine_run.workdir))


def plan(engine_run, path: Path) -> subprocess.CompletedProcess:
    return engine_run.provision("-f", str(path), "plan")


def apply(engine_run, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return engine_run.provision("-f", str(path), "apply", "--auto-approve", *FAST, *extra)


def destroy(engine_run, path: Path) -> subprocess.CompletedProcess:
    return engine_run.provision("-f", str(path), "destroy", "--auto-approve", *FAST)


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def tear_down(engine_run, client: docker.DockerClient, *paths: Path) -> list[str]:
    """Destroy each blueprint's project as a user would, and return what went wrong (an empty list when nothing did)."""
    problems = []
    for path in paths:
        result = destroy(engine_run, path)
        if result.returncode != 0:
            problems.append(output(result))
        problems += sorted(labelled(client, load(path)["project"]))
    return problems


def lines(result: subprocess.CompletedProcess) -> list[str]:
    return result.stdout.splitlines()


def docker_cli(*args: str) -> None:
    """Change the engine behind provision's back, as a user at a shell would."""
    done = subprocess.run(["docker", *args], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"docker {' '.join(args)} failed: {done.stderr}"


def labelled(client: docker.DockerClient, project: str) -> set[str]:
    """List every object on the engine labelled with `project`, as 'kind name' strings."""
    label = {"label": f"{PROJECT_LABEL}={project}"}
    found = {f"container {c.name}" for c in client.containers.list(all=True, filters=label)}
    found |= {f"network {n.name}" for n in client.networks.list(filters=label)}
    found |= {f"volume {v.name}" for v in client.volumes.list(filters=label)}
    return found


def container_ids(client: docker.DockerClient, project: str) -> dict[str, str]:
    label = {"label": f"{PROJECT_LABEL}={project}"}
    return {c.name: c.id for c in client.containers.list(all=True, filters=label)}


def inspect(client: docker.DockerClient, name: str) -> dict[str, Any]:
    return client.api.inspect_container(name)


def exists(getter, name: str) -> bool:
    try:
        getter(name)
    except docker.errors.NotFound:
        return False
    return True


@contextlib.contextmanager
def own_unlabelled_objects() -> Iterator[list[Any]]:
    """Yield a list for objects created without the project label, and remove them, newest first, at the end."""
    unlabelled: list[Any] = []
    try:
        yield unlabelled
    finally:
        for item in reversed(unlabelled):
            if isinstance(item, docker.models.networks.Network):
                item.remove()
            else:
                item.remove(force=True)


def net_namespace(client: docker.DockerClient, name: str) -> str:
    result = client.containers.get(name).exec_run(["readlink", "/proc/self/ns/net"])
    return result.output.decode().strip()


def sleeper(**extra: Any) -> dict[str, Any]:
    return {"image": "busybox:1.36", "command": SLEEP, **extra}


def seed_demo(engine_run) -> tuple[Path, dict[str, Any]]:
    path = engine_run.isolate(BLUEPRINTS / "seed-demo.yaml")
    return path, load(path)


def applied_seed_demo(engine_run) -> tuple[Path, dict[str, Any]]:
    path, data = seed_demo(engine_run)
    result = apply(engine_run, path)
    assert result.returncode == 0, output(result)
    return path, data


class CountingAPI:
    """A proxy for the real docker.APIClient that counts calls by method name."""

    def __init__(self, real: docker.APIClient):
        self._real = real
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def snapshot_calls(path: Path) -> collections.Counter[str]:
    """Count the engine calls made on the real client while reading the snapshot for `path`."""
    engine = connect(None)
    counting = CountingAPI(engine.api)
    engine.api = counting
    read_snapshot(engine, build_desired_state(load_blueprint(path)))
    return counting.calls


READ_CALLS = ("containers", "networks", "volumes", "images", "info")


def read_call_total(calls: collections.Counter[str]) -> int:
    """Add up the list calls and every inspect_* call."""
    return sum(calls[name] for name in READ_CALLS) + sum(count for name, count in calls.items() if name.startswith("inspect_"))


# Repeat runs and edits


def test_second_apply_changes_nothing(engine_run, docker_client):
    path, data = applied_seed_demo(engine_run)
    before = container_ids(docker_client, data["project"])

    again = apply(engine_run, path)

    assert again.returncode == 0, output(again)
    assert again.stdout.startswith("No changes."), output(again)
    assert container_ids(docker_client, data["project"]) == before
    assert len(before) == 5
    assert tear_down(engine_run, docker_client, path) == []


def test_env_edit_replaces_with_sidecar(engine_run, docker_client):
    path, data = applied_seed_demo(engine_run)
    box, sidecar = engine_run.name("busy-box2"), engine_run.name("sidecar")
    old_box = docker_client.containers.get(box).id
    data["containers"][box]["environment"]["MODE"] = "prod"
    save(path, data)

    planned = plan(engine_run, path)
    applied = apply(engine_run, path)
    new = inspect(docker_client, box)
    replanned = plan(engine_run, path)

    assert planned.returncode == 0, output(planned)
    assert f"  -/+ container {box}  (replace)" in lines(planned), output(planned)
    assert '      environment.MODE: "demo" -> "prod"' in lines(planned), output(planned)
    assert f"  -/+ container {sidecar}  (replace)" in lines(planned), output(planned)
    assert (f"      container {box} is replaced, so {sidecar} must be recreated to use the new one"
            in lines(planned)), output(planned)
    assert applied.returncode == 0, output(applied)
    assert new["Id"] != old_box
    assert "MODE=prod" in new["Config"]["Env"]
    assert new["State"]["Status"] == "running"
    assert new["Config"]["Labels"][PROJECT_LABEL] == data["project"]
    assert inspect(docker_client, sidecar)["HostConfig"]["NetworkMode"] == f"container:{new['Id']}"
    assert inspect(docker_client, sidecar)["State"]["Status"] == "running"
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


def test_removed_env_variable_is_applied(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "envdrop",
        "containers": {"worker": sleeper(network_mode="none", environment={"MODE": "demo", "EXTRA": "1"})},
    }, "envdrop.yaml")
    assert apply(engine_run, path).returncode == 0
    worker = engine_run.name("worker")
    data = load(path)
    del data["containers"][worker]["environment"]["EXTRA"]
    save(path, data)

    planned = plan(engine_run, path)
    applied = apply(engine_run, path)
    env = inspect(docker_client, worker)["Config"]["Env"]
    replanned = plan(engine_run, path)

    assert f"  -/+ container {worker}  (replace)" in lines(planned), output(planned)
    assert '      environment.EXTRA: "1" -> (none)' in lines(planned), output(planned)
    assert applied.returncode == 0, output(applied)
    assert not any(entry.startswith("EXTRA=") for entry in env)
    assert "MODE=demo" in env
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


def test_secret_kept_out_of_labels_and_plan(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "secret",
        "containers": {"db": sleeper(network_mode="none", environment={"DB_PASSWORD": "first-s3cret", "MODE": "demo"})},
    }, "secret.yaml")
    applied = apply(engine_run, path)
    db = engine_run.name("db")
    labels = inspect(docker_client, db)["Config"]["Labels"]
    data = load(path)
    data["containers"][db]["environment"]["DB_PASSWORD"] = "second-s3cret"
    save(path, data)

    planned = plan(engine_run, path)
    reapplied = apply(engine_run, path)
    env = inspect(docker_client, db)["Config"]["Env"]

    assert applied.returncode == 0, output(applied)
    assert all("first-s3cret" not in value for value in labels.values())
    assert ('      environment.DB_PASSWORD: "(sensitive value)" -> "(sensitive value)" (secret value changed)'
            in lines(planned)), output(planned)
    assert "s3cret" not in planned.stdout + planned.stderr
    assert "s3cret" not in reapplied.stdout + reapplied.stderr
    assert "DB_PASSWORD=second-s3cret" in env
    assert tear_down(engine_run, docker_client, path) == []


# Drift made behind the tool's back


def test_stopped_container_is_started(engine_run, docker_client):
    path, _ = applied_seed_demo(engine_run)
    box, sidecar = engine_run.name("busy-box2"), engine_run.name("sidecar")
    old_id = docker_client.containers.get(box).id
    docker_cli("stop", "-t", "0", box)

    planned = plan(engine_run, path)
    applied = apply(engine_run, path)
    state = inspect(docker_client, box)
    replanned = plan(engine_run, path)

    assert f"  ~ container {box}  (start)" in lines(planned), output(planned)
    assert "      should be running but is exited" in lines(planned), output(planned)
    assert f"  -/+ container {sidecar}  (replace)" in lines(planned), output(planned)
    assert (f"      container {box} is started again, so {sidecar} must be recreated to rejoin its network namespace"
            in lines(planned)), output(planned)
    assert "Plan: 0 to create, 1 to replace, 1 to start, 0 to stop, 0 to delete." in lines(planned), output(planned)
    assert applied.returncode == 0, output(applied)
    assert state["State"]["Status"] == "running"
    assert state["Id"] == old_id
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


def test_restarted_owner_rejoins_sidecar(engine_run, docker_client):
    path, _ = applied_seed_demo(engine_run)
    box, sidecar = engine_run.name("busy-box2"), engine_run.name("sidecar")
    docker_cli("stop", "-t", "0", box)

    applied = apply(engine_run, path)

    assert applied.returncode == 0, output(applied)
    assert net_namespace(docker_client, sidecar) == net_namespace(docker_client, box)
    assert inspect(docker_client, sidecar)["HostConfig"]["NetworkMode"] == f"container:{inspect(docker_client, box)['Id']}"
    assert tear_down(engine_run, docker_client, path) == []


def test_removed_network_is_repaired(engine_run, docker_client):
    path, data = applied_seed_demo(engine_run)
    box, sidecar, backend = engine_run.name("busy-box2"), engine_run.name("sidecar"), engine_run.name("backend")
    address = data["containers"][box]["networks"][backend]["ipv4_address"]
    old_box = docker_client.containers.get(box).id
    docker_cli("network", "disconnect", "-f", backend, box)
    docker_cli("network", "rm", backend)

    planned = plan(engine_run, path)
    applied = apply(engine_run, path)
    network = docker_client.api.inspect_network(backend)
    endpoint = inspect(docker_client, box)["NetworkSettings"]["Networks"].get(backend) or {}
    replanned = plan(engine_run, path)

    assert planned.returncode == 0, output(planned)
    assert f"  + network {backend}" in lines(planned), output(planned)
    assert f"  -/+ container {box}  (replace)" in lines(planned), output(planned)
    assert f'      networks.{backend}: "not connected" -> "connected"' in lines(planned), output(planned)
    assert f"  -/+ container {sidecar}  (replace)" in lines(planned), output(planned)
    assert applied.returncode == 0, output(applied)
    assert network["Labels"][PROJECT_LABEL] == data["project"]
    assert docker_client.containers.get(box).id != old_box
    assert endpoint.get("NetworkID") == network["Id"]
    assert (endpoint.get("IPAMConfig") or {}).get("IPv4Address") == address
    assert endpoint.get("IPAddress") == address
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


def test_removed_container_is_recreated(engine_run, docker_client):
    path, _ = applied_seed_demo(engine_run)
    batch = engine_run.name("batch")
    old_id = docker_client.containers.get(batch).id
    docker_cli("rm", "-f", batch)

    planned = plan(engine_run, path)
    applied = apply(engine_run, path)
    new = inspect(docker_client, batch)
    replanned = plan(engine_run, path)

    assert f"  + container {batch}" in lines(planned), output(planned)
    assert "Plan: 1 to create, 0 to replace, 0 to start, 0 to stop, 0 to delete." in lines(planned), output(planned)
    assert applied.returncode == 0, output(applied)
    assert new["Id"] != old_id
    assert new["State"]["Status"] == "running"
    assert new["Config"]["Labels"][RESOURCE_LABEL] == f"container/{batch}"
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


# Failures during apply


def test_failed_start_skips_dependents(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "partial",
        "containers": {
            "alpha": sleeper(network_mode="none"),
            "beta": sleeper(network_mode="none"),
            "blocked": sleeper(ports=["127.0.0.1:18081:80"]),
            "follower": sleeper(network_mode="container:blocked"),
        },
    }, "partial.yaml")
    alpha, beta, blocked, follower = (engine_run.name(n) for n in ("alpha", "beta", "blocked", "follower"))
    data = load(path)
    port = int(data["containers"][blocked]["ports"][0].split(":")[1])
    with own_unlabelled_objects() as unlabelled:
        unlabelled.append(docker_client.containers.run("busybox:1.36", SLEEP, detach=True, name=engine_run.name("holder"),
                                                 ports={"80/tcp": ("127.0.0.1", port)}))
        failed = apply(engine_run, path)
        created = container_ids(docker_client, data["project"])
    data["containers"][blocked]["ports"] = [f"127.0.0.1:{free_port()}:80"]
    save(path, data)
    fixed = apply(engine_run, path)
    replanned = plan(engine_run, path)
    failed_lines = [line for line in lines(failed) if line.startswith(f"+ container {blocked}: FAILED")]

    assert failed.returncode == 1, output(failed)
    assert len(failed_lines) == 1, output(failed)
    assert "port is already allocated" in failed_lines[0], output(failed)
    assert "Traceback" not in failed.stdout + failed.stderr
    assert (f"+ container {follower}: skipped, because it needs container {blocked}, which failed"
            in lines(failed)), output(failed)
    assert alpha in created
    assert beta in created
    assert follower not in created
    assert docker_client.containers.get(alpha).status == "running"
    assert fixed.returncode == 0, output(fixed)
    assert docker_client.containers.get(follower).status == "running"
    assert inspect(docker_client, follower)["HostConfig"]["NetworkMode"] == f"container:{docker_client.containers.get(blocked).id}"
    assert replanned.stdout.startswith("No changes."), output(replanned)
    assert tear_down(engine_run, docker_client, path) == []


def test_failed_pull_fails_in_words(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "ghostimage",
        "containers": {
            "lonely": sleeper(network_mode="none"),
            "ghost": {"image": UNPULLABLE_IMAGE, "command": SLEEP, "network_mode": "none"},
            "waiter": sleeper(network_mode="none", depends_on=["ghost"]),
        },
    }, "ghost.yaml")
    lonely, ghost, waiter = (engine_run.name(n) for n in ("lonely", "ghost", "waiter"))

    planned = plan(engine_run, path)
    failed = apply(engine_run, path)
    created = container_ids(docker_client, engine_run.name("ghostimage"))
    failures = [line.partition(": FAILED after ")[2].partition("s: ")[2] for line in lines(failed)
                if line.startswith(f"+ container {ghost}: FAILED after ")]

    assert f"      image {UNPULLABLE_IMAGE} will be pulled" in lines(planned), output(planned)
    assert failed.returncode == 1, output(failed)
    assert len(failures) == 1, output(failed)
    assert failures[0].startswith(f"could not pull image {UNPULLABLE_IMAGE}: "), output(failed)
    assert "connection refused" in failures[0], output(failed)
    assert (f"+ container {waiter}: skipped, because it needs container {ghost}, which failed"
            in lines(failed)), output(failed)
    assert "Traceback" not in failed.stdout + failed.stderr
    assert set(created) == {lonely}
    assert tear_down(engine_run, docker_client, path) == []


def test_missing_image_never_pulled_blocks(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "neverpull",
        "containers": {
            "lonely": sleeper(network_mode="none"),
            "ghost": {"image": MISSING_IMAGE, "pull": "never", "command": SLEEP, "network_mode": "none"},
        },
    }, "never.yaml")
    ghost = engine_run.name("ghost")

    planned = plan(engine_run, path)
    rejected = apply(engine_run, path)

    assert planned.returncode == 1, output(planned)
    assert f"  ! container {ghost}: image {MISSING_IMAGE} is not on the engine, and pull is never" in lines(planned)
    assert rejected.returncode == 1, output(rejected)
    assert "apply did not start: resolve the problems above first; nothing was changed" in rejected.stderr
    assert container_ids(docker_client, engine_run.name("neverpull")) == {}


def test_replace_keeps_container_without_image(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "badimage",
        "containers": {"steady": sleeper(network_mode="none")},
    }, "badimage.yaml")
    assert apply(engine_run, path).returncode == 0
    steady = engine_run.name("steady")
    old_id = docker_client.containers.get(steady).id
    data = load(path)
    data["containers"][steady]["image"] = UNPULLABLE_IMAGE
    save(path, data)

    failed = apply(engine_run, path)

    assert failed.returncode == 1, output(failed)
    assert container_ids(docker_client, data["project"]) == {steady: old_id}
    assert tear_down(engine_run, docker_client, path) == []


def on_terminal(engine_run, path: Path, answer: str) -> subprocess.CompletedProcess:
    """Run apply under a pseudo-terminal (util-linux `script`), typing `answer` at the prompt."""
    command = shlex.join([sys.executable, "-m", "provisioner", "-f", str(path), "apply", *FAST])
    return subprocess.run(["script", "-qec", command, "/dev/null"], input=answer + "\n", capture_output=True,
                          text=True, cwd=engine_run.workdir, timeout=300)


def test_terminal_confirmation_applies(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "confirm",
        "containers": {"solo": sleeper(network_mode="none")},
    }, "confirm.yaml")
    project = engine_run.name("confirm")

    declined = on_terminal(engine_run, path, "no")
    after_decline = container_ids(docker_client, project)
    accepted = on_terminal(engine_run, path, "yes")
    after_accept = container_ids(docker_client, project)

    assert declined.returncode == 1, output(declined)
    assert "Do you want to apply? Only 'yes' will be accepted" in declined.stdout
    assert "apply cancelled; nothing was changed" in declined.stdout
    assert after_decline == {}
    assert accepted.returncode == 0, output(accepted)
    assert "Apply complete: 1 action done." in accepted.stdout
    assert set(after_accept) == {engine_run.name("solo")}
    assert tear_down(engine_run, docker_client, path) == []


def test_interrupted_destroy_finishes_current_step(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "interrupt",
        "containers": {
            "first": sleeper(network_mode="none"),
            "second": sleeper(network_mode="none", depends_on=["first"]),
            "third": sleeper(network_mode="none", depends_on=["second"]),
        },
    }, "interrupt.yaml")
    assert apply(engine_run, path).returncode == 0
    project = engine_run.name("interrupt")
    # sleep ignores SIGTERM, so each removal takes the whole stop timeout; one at a time, last first.
    command = [sys.executable, "-m", "provisioner", "-f", str(path), "destroy", "--auto-approve",
               "--stop-timeout", "3", "--parallelism", "1"]
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=engine_run.workdir, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.5)
    running.send_signal(signal.SIGINT)
    stdout, stderr = running.communicate(timeout=60)
    left = set(container_ids(docker_client, project))

    assert running.returncode == 130, stdout + stderr
    assert f"- container {engine_run.name('third')}: deleted in " in stdout
    assert "destroy interrupted: 1 of 3 actions done. Steps under way were allowed to finish" in stderr
    assert "Traceback" not in stderr
    assert left == {engine_run.name("first"), engine_run.name("second")}
    assert tear_down(engine_run, docker_client, path) == []


def test_destroy_despite_broken_blueprint(engine_run, docker_client):
    site = engine_run.workdir / "site"
    site.mkdir()
    path = write_isolated(engine_run, {
        "version": 1, "project": "broken",
        "containers": {"binder": sleeper(network_mode="none", volumes=["./site:/srv/site:ro"])},
    }, "broken.yaml")
    assert apply(engine_run, path).returncode == 0
    site.rmdir()

    destroyed = destroy(engine_run, path)

    assert destroyed.returncode == 0, output(destroyed)
    assert "warning: containers." in destroyed.stderr
    assert f"bind mount source '{site}' does not exist" in destroyed.stderr
    assert f"destroy needs only the project name, so it goes on with project {engine_run.name('broken')}" in destroyed.stderr
    assert container_ids(docker_client, engine_run.name("broken")) == {}


def test_destroy_by_project_name(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "byname",
        "containers": {"solo": sleeper(network_mode="none")},
    }, "byname.yaml")
    assert apply(engine_run, path).returncode == 0
    project = engine_run.name("byname")
    path.unlink()

    destroyed = engine_run.provision("destroy", "--project", project, "--auto-approve", *FAST)

    assert destroyed.returncode == 0, output(destroyed)
    assert container_ids(docker_client, project) == {}


def test_replace_option_recreates_container(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "forced",
        "containers": {"solo": sleeper(network_mode="none"), "other": sleeper(network_mode="none")},
    }, "forced.yaml")
    assert apply(engine_run, path).returncode == 0
    project = engine_run.name("forced")
    solo, other = engine_run.name("solo"), engine_run.name("other")
    before = container_ids(docker_client, project)

    applied = apply(engine_run, path, "--replace", solo)
    after = container_ids(docker_client, project)

    assert applied.returncode == 0, output(applied)
    assert "      replacement requested with --replace" in lines(applied)
    assert after[solo] != before[solo]
    assert after[other] == before[other]
    assert plan(engine_run, path).stdout.startswith("No changes.")
    assert tear_down(engine_run, docker_client, path) == []


def test_foreign_subnet_overlap_blocks(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "overlap",
        "networks": {"lan": {"subnet": "10.231.10.0/24"}},
        "containers": {"solo": sleeper(networks=["lan"])},
    }, "overlap.yaml")
    subnet = load(path)["networks"][engine_run.name("lan")]["subnet"]
    # An unlabelled network of this test's own that takes half of the blueprint's range.
    half = subnet.replace(".0/24", ".128/25")
    foreign = docker_client.networks.create(f"foreign-{engine_run.run_id}", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet=half)]))
    try:
        planned = plan(engine_run, path)
        rejected = apply(engine_run, path)
    finally:
        foreign.remove()

    assert planned.returncode == 1, output(planned)
    assert (f"  ! network {engine_run.name('lan')}: subnet {subnet} overlaps subnet {half} of network "
            f"foreign-{engine_run.run_id} ({foreign.id[:12]}) on the engine") in lines(planned), output(planned)
    assert rejected.returncode == 1, output(rejected)
    assert labelled(docker_client, engine_run.name("overlap")) == set()


# Runs that race each other


def test_concurrent_apply_is_locked_out(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "locked",
        "containers": {"solo": sleeper(network_mode="none")},
    }, "locked.yaml")
    project = engine_run.name("locked")
    held = ProjectLock(str(docker_client.api.base_url), project)
    held.acquire()
    try:
        rejected = apply(engine_run, path)
    finally:
        held.release()
    applied = apply(engine_run, path)

    assert rejected.returncode == 1, output(rejected)
    assert rejected.stderr.startswith(f"another provision run on this machine is applying or destroying project {project} ")
    assert applied.returncode == 0, output(applied)
    assert tear_down(engine_run, docker_client, path) == []


def test_duplicate_network_blocks_then_destroys(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "twins",
        "networks": {"twin": {}},
        "containers": {"solo": sleeper(networks=["twin"])},
    }, "twins.yaml")
    assert apply(engine_run, path).returncode == 0
    twin = engine_run.name("twin")
    original = docker_client.api.inspect_network(twin)
    # The engine accepts a second network with the same name, as two racing applies would create.
    extra = docker_client.api.create_network(twin, labels=original["Labels"], check_duplicate=False)["Id"]

    planned = plan(engine_run, path)
    destroyed = destroy(engine_run, path)
    remaining = docker_client.networks.list(filters={"label": f"io.provision.project={engine_run.name('twins')}"})

    assert planned.returncode == 1, output(planned)
    assert f"  ! network {twin}: there are several networks named '{twin}' (ids " in planned.stdout, output(planned)
    assert destroyed.returncode == 0, output(destroyed)
    assert remaining == []
    assert not docker_client.api.networks(ids=[extra])


# Data loss


def test_volume_removal_needs_data_loss_flag(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "dataloss",
        "volumes": {"store": {}},
        "containers": {"user": sleeper(network_mode="none", volumes=["store:/data"])},
    }, "dataloss.yaml")
    assert apply(engine_run, path).returncode == 0
    store, user = engine_run.name("store"), engine_run.name("user")
    data = load(path)
    del data["volumes"][store]
    del data["containers"][user]["volumes"]
    save(path, data)
    user_id = docker_client.containers.get(user).id

    planned = plan(engine_run, path)
    rejected = apply(engine_run, path)
    volume_kept = exists(docker_client.volumes.get, store)
    unchanged_id = docker_client.containers.get(user).id
    allowed = apply(engine_run, path, "--allow-data-loss")
    mounts = inspect(docker_client, user)["Mounts"]

    assert f"  - volume {store}  (delete)  DATA LOSS" in lines(planned), output(planned)
    assert f"      removes named volume {store} and all data in it" in lines(planned), output(planned)
    assert rejected.returncode == 1, output(rejected)
    assert "apply did not start: the plan removes stored data" in rejected.stderr, output(rejected)
    assert volume_kept
    assert unchanged_id == user_id
    assert allowed.returncode == 0, output(allowed)
    assert not exists(docker_client.volumes.get, store)
    assert mounts == []
    assert tear_down(engine_run, docker_client, path) == []


# Conflicts and ownership


def test_unlabelled_names_are_conflicts(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "squatted",
        "volumes": {"vol": {}},
        "networks": {"net": {}},
        "containers": {"box": sleeper(network_mode="none"), "free": sleeper(network_mode="none")},
    }, "squatted.yaml")
    vol, net, box = engine_run.name("vol"), engine_run.name("net"), engine_run.name("box")
    project = engine_run.name("squatted")
    with own_unlabelled_objects() as unlabelled:
        unlabelled.append(docker_client.volumes.create(vol))
        unlabelled.append(docker_client.networks.create(net))
        unlabelled.append(docker_client.containers.create("busybox:1.36", SLEEP, name=box))
        planned = plan(engine_run, path)
        applied = apply(engine_run, path)
        after = labelled(docker_client, project)
        still_there = [exists(docker_client.volumes.get, vol), exists(docker_client.networks.get, net),
                       exists(docker_client.containers.get, box)]

    assert planned.returncode == 1, output(planned)
    for kind, name in (("volume", vol), ("network", net), ("container", box)):
        assert (f"  ! {kind} {name}: a {kind} named '{name}' already exists and was not created by provision; "
                "provision will not touch it") in lines(planned), output(planned)
    assert applied.returncode == 1, output(applied)
    assert "apply did not start: resolve the problems above first; nothing was changed" in applied.stderr, output(applied)
    assert after == set()
    assert still_there == [True, True, True]


def test_other_project_object_conflicts(engine_run, docker_client):
    neighbour = write_isolated(engine_run, {
        "version": 1, "project": "neighbour", "volumes": {"shared": {}},
    }, "neighbour.yaml")
    mine = write_isolated(engine_run, {
        "version": 1, "project": "mine",
        "volumes": {"shared": {}},
        "containers": {"box": sleeper(network_mode="none")},
    }, "mine.yaml")
    assert apply(engine_run, neighbour).returncode == 0
    shared = engine_run.name("shared")

    planned = plan(engine_run, mine)
    applied = apply(engine_run, mine)

    assert planned.returncode == 1, output(planned)
    assert (f"  ! volume {shared}: a volume named '{shared}' already exists and belongs to project "
            f"'{engine_run.name('neighbour')}'; provision will not touch it") in lines(planned), output(planned)
    assert applied.returncode == 1, output(applied)
    assert labelled(docker_client, engine_run.name("mine")) == set()
    assert docker_client.volumes.get(shared).attrs["Labels"][PROJECT_LABEL] == engine_run.name("neighbour")
    assert tear_down(engine_run, docker_client, neighbour) == []


def test_destroy_spares_unlabelled_lookalikes(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "lookalike",
        "volumes": {"vol": {}},
        "networks": {"net": {}},
        "containers": {"box": sleeper(networks=["net"], volumes=["vol:/data"])},
    }, "lookalike.yaml")
    vol, net, box = engine_run.name("vol"), engine_run.name("net"), engine_run.name("box")
    assert apply(engine_run, path).returncode == 0
    assert destroy(engine_run, path).returncode == 0
    with own_unlabelled_objects() as unlabelled:
        unlabelled.append(docker_client.volumes.create(vol))
        unlabelled.append(docker_client.networks.create(net))
        unlabelled.append(docker_client.containers.run("busybox:1.36", SLEEP, detach=True, name=box, network=net,
                                                 volumes={vol: {"bind": "/data", "mode": "rw"}}))
        again = destroy(engine_run, path)
        still_there = [exists(docker_client.volumes.get, vol), exists(docker_client.networks.get, net),
                       docker_client.containers.get(box).status]

    assert again.returncode == 0, output(again)
    assert again.stdout.startswith("Nothing to destroy"), output(again)
    assert still_there == [True, True, "running"]


def test_destroy_removes_only_project(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "wipe",
        "volumes": {"vol": {}, "old-vol": {}},
        "networks": {"net": {}},
        "containers": {"box": sleeper(networks=["net"], volumes=["vol:/data"]),
                       "old-box": sleeper(network_mode="none", volumes=["old-vol:/data"])},
    }, "wipe.yaml")
    other = write_isolated(engine_run, {
        "version": 1, "project": "bystander",
        "volumes": {"keep": {}},
        "containers": {"keeper": sleeper(network_mode="none")},
    }, "bystander.yaml")
    assert apply(engine_run, path).returncode == 0
    assert apply(engine_run, other).returncode == 0
    project = engine_run.name("wipe")
    bystander = labelled(docker_client, engine_run.name("bystander"))
    data = load(path)
    del data["volumes"][engine_run.name("old-vol")]
    del data["containers"][engine_run.name("old-box")]
    save(path, data)

    destroyed = destroy(engine_run, path)
    second = destroy(engine_run, path)

    assert destroyed.returncode == 0, output(destroyed)
    assert f"  - container {engine_run.name('old-box')}  (delete)" in lines(destroyed), output(destroyed)
    assert "Plan: 0 to create, 0 to replace, 0 to start, 0 to stop, 5 to delete." in lines(destroyed), output(destroyed)
    assert labelled(docker_client, project) == set()
    assert labelled(docker_client, engine_run.name("bystander")) == bystander
    assert len(bystander) == 2
    assert second.returncode == 0, output(second)
    assert second.stdout.strip() == f"Nothing to destroy: no object on the engine is labelled with project {project}."
    assert tear_down(engine_run, docker_client, other) == []


def test_destroy_removes_anonymous_volumes(engine_run, docker_client):
    path, data = applied_seed_demo(engine_run)
    holder = engine_run.name("data-volume")
    anonymous = next(mount["Name"] for mount in inspect(docker_client, holder)["Mounts"]
                     if mount["Destination"] == "/tmp/myfolder")
    data["volume_containers"][holder]["environment"] = {"EDITED": "1"}
    save(path, data)

    replaced = apply(engine_run, path)
    reused = next(mount["Name"] for mount in inspect(docker_client, holder)["Mounts"]
                  if mount["Destination"] == "/tmp/myfolder")
    destroyed = destroy(engine_run, path)

    assert replaced.returncode == 0, output(replaced)
    assert f"  -/+ container {holder}  (replace)" in lines(replaced), output(replaced)
    assert reused == anonymous
    assert destroyed.returncode == 0, output(destroyed)
    assert not exists(docker_client.volumes.get, anonymous)
    assert labelled(docker_client, data["project"]) == set()


def test_destroy_keeps_foreign_attached_container(engine_run, docker_client):
    path = write_isolated(engine_run, {
        "version": 1, "project": "shared-net",
        "networks": {"net": {}},
        "containers": {"box": sleeper(networks=["net"])},
    }, "sharednet.yaml")
    net = engine_run.name("net")
    assert apply(engine_run, path).returncode == 0
    with own_unlabelled_objects() as unlabelled:
        unlabelled.append(docker_client.containers.run("busybox:1.36", SLEEP, detach=True, name=engine_run.name("guest"),
                                                 network=net))
        destroyed = destroy(engine_run, path)
        guest_status = docker_client.containers.get(unlabelled[0].id).status
    left = labelled(docker_client, engine_run.name("shared-net"))
    network_failures = [line for line in lines(destroyed) if line.startswith(f"- network {net}: FAILED")]

    assert destroyed.returncode == 1, output(destroyed)
    assert len(network_failures) == 1, output(destroyed)
    assert "has active endpoints" in network_failures[0], output(destroyed)
    assert guest_status == "running"
    assert left == {f"network {net}"}
    assert tear_down(engine_run, docker_client, path) == []


# Refusals before any change


def test_apply_without_terminal_refuses(engine_run, docker_client):
    path, data = seed_demo(engine_run)

    rejected = engine_run.provision("-f", str(path), "apply", *FAST, input="yes\n")

    assert rejected.returncode == 1, output(rejected)
    assert rejected.stderr.startswith("apply did not start: there is no terminal to confirm on"), output(rejected)
    assert labelled(docker_client, data["project"]) == set()


def test_destroy_without_terminal_refuses(engine_run, docker_client):
    path, data = applied_seed_demo(engine_run)
    before = labelled(docker_client, data["project"])

    rejected = engine_run.provision("-f", str(path), "destroy", *FAST, input="yes\n")

    assert rejected.returncode == 1, output(rejected)
    assert rejected.stderr.startswith("destroy did not start: there is no terminal to confirm on"), output(rejected)
    assert labelled(docker_client, data["project"]) == before
    assert tear_down(engine_run, docker_client, path) == []


def test_invalid_blueprint_changes_nothing(engine_run, docker_client):
    path, data = seed_demo(engine_run)
    box = engine_run.name("busy-box2")
    data["containers"][box]["restrat"] = "always"
    save(path, data)
    text = path.read_text().splitlines()
    line = next(number for number, content in enumerate(text, 1) if content.strip().startswith("restrat:"))
    column = text[line - 1].index("restrat") + 1

    for command in (("plan",), ("apply", "--auto-approve", *FAST)):
        result = engine_run.provision("-f", str(path), *command)
        assert result.returncode == 1, output(result)
        assert (f"{path}:{line}:{column}: error: containers.{box}.restrat: unknown key 'restrat'"
                in result.stderr.splitlines()), output(result)
        assert "Traceback" not in result.stdout + result.stderr
    assert labelled(docker_client, data["project"]) == set()


def test_unreachable_engine_one_sentence(engine_run):
    path, _ = seed_demo(engine_run)

    result = engine_run.provision("--host", "unix:///nonexistent/docker.sock", "-f", str(path), "plan")

    assert result.returncode == 1, output(result)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, output(result)
    assert result.stderr.startswith("cannot reach a Docker engine at unix:///nonexistent/docker.sock"), output(result)
    assert "Traceback" not in result.stderr


def test_unreachable_engine_plain_words(engine_run):
    path, _ = seed_demo(engine_run)

    result = engine_run.provision("--host", "unix:///nonexistent/docker.sock", "-f", str(path), "plan")

    assert "Error(" not in result.stderr, output(result)
    assert "('" not in result.stderr, output(result)


def test_docker_host_variable_is_used(engine_run):
    path, _ = seed_demo(engine_run)

    reachable = engine_run.provision("-f", str(path), "plan", env={"DOCKER_HOST": "unix:///var/run/docker.sock"})
    unreachable = engine_run.provision("-f", str(path), "plan", env={"DOCKER_HOST": "tcp://127.0.0.1:1"})

    assert reachable.returncode == 0, output(reachable)
    assert "Plan: 9 to create" in reachable.stdout
    assert unreachable.returncode == 1, output(unreachable)
    assert unreachable.stderr.strip() == (
        "cannot reach a Docker engine at tcp://127.0.0.1:1 (connection refused); check that dockerd is running "
        "and that you may use its socket, or pass --host URL")


# Cost of reading the engine


def test_plan_list_calls_are_fixed(engine_run, docker_client):
    path, _ = applied_seed_demo(engine_run)
    big = write_isolated(engine_run, {
        "version": 1, "project": "many",
        "volumes": {"pool": {}},
        "networks": {"mesh": {}},
        "containers": {f"box{index:02d}": sleeper(networks=["mesh"], volumes=["pool:/pool"]) for index in range(20)},
    }, "many.yaml")
    assert apply(engine_run, big).returncode == 0

    small_calls = snapshot_calls(path)
    big_calls = snapshot_calls(big)

    assert read_call_total(small_calls) <= 8, dict(small_calls)
    assert not [name for name in small_calls if name.startswith("inspect_")], dict(small_calls)
    assert not [name for name in big_calls if name.startswith("inspect_")], dict(big_calls)
    assert read_call_total(big_calls) == read_call_total(small_calls), (dict(small_calls), dict(big_calls))
    assert tear_down(engine_run, docker_client, path, big) == []
