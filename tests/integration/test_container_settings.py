"""Container settings beyond the examples reach the engine as declared, and plan clean afterwards."""

from __future__ import annotations

import yaml

FAST = ("--stop-timeout", "0")


def test_declared_settings_reach_engine(engine_run, docker_client):
    blueprint = engine_run.workdir / "settings.yaml"
    data = engine_run.isolate_data({
        "version": 1, "project": "settings",
        "volumes": {"work": {}},
        "containers": {
            "tool": {
                "image": "busybox:1.36",
                "entrypoint": "sh -c",
                "command": ["echo started > /work/log && exec sleep 100000"],
                "user": "65534:65534",
                "working_dir": "/work",
                "hostname": "toolbox",
                "labels": {"team": "platform", "cost-centre": 42},
                "environment": ["MODE=batch", "RETRIES=3"],
                "volumes": ["work:/work"],
                "ports": ["127.0.0.1:28080:8080/udp"],
                "restart": "on-failure:3",
            },
            "idle": {"image": "busybox:1.36", "state": "created", "depends_on": ["tool"], "network_mode": "none"},
        },
    }, engine_run.workdir)
    blueprint.write_text(yaml.safe_dump(data, sort_keys=False))
    tool, idle = engine_run.name("tool"), engine_run.name("idle")
    # isolate_data gave the port a free host port of its own.
    port = int(data["containers"][tool]["ports"][0].split(":")[1])

    applied = engine_run.provision("-f", str(blueprint), "apply", "--auto-approve", *FAST)
    config = docker_client.api.inspect_container(tool)
    replanned = engine_run.provision("-f", str(blueprint), "plan")

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert config["Config"]["Entrypoint"] == ["sh", "-c"]
    assert config["Config"]["Cmd"] == ["echo started > /work/log && exec sleep 100000"]
    assert config["Config"]["User"] == "65534:65534"
    assert config["Config"]["WorkingDir"] == "/work"
    assert config["Config"]["Hostname"] == "toolbox"
    assert config["Config"]["Labels"]["team"] == "platform"
    assert config["Config"]["Labels"]["cost-centre"] == "42"
    assert "MODE=batch" in config["Config"]["Env"]
    assert "RETRIES=3" in config["Config"]["Env"]
    assert config["HostConfig"]["PortBindings"] == {"8080/udp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert config["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert docker_client.api.inspect_container(idle)["State"]["Status"] == "created"
    assert applied.stdout.index(f"container {tool}: created") < applied.stdout.index(f"container {idle}: created")
    assert replanned.stdout.startswith("No changes."), replanned.stdout

    destroyed = engine_run.provision("-f", str(blueprint), "destroy", "--auto-approve", *FAST)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


def test_state_change_stops_container(engine_run, docker_client):
    blueprint = engine_run.workdir / "state.yaml"
    data = engine_run.isolate_data({
        "version": 1, "project": "state",
        "containers": {"napper": {"image": "busybox:1.36", "command": ["sleep", "100000"], "network_mode": "none"}},
    }, engine_run.workdir)
    blueprint.write_text(yaml.safe_dump(data, sort_keys=False))
    napper = engine_run.name("napper")
    assert engine_run.provision("-f", str(blueprint), "apply", "--auto-approve", *FAST).returncode == 0
    first_id = docker_client.api.inspect_container(napper)["Id"]

    data["containers"][napper]["state"] = "created"
    blueprint.write_text(yaml.safe_dump(data, sort_keys=False))
    planned = engine_run.provision("-f", str(blueprint), "plan")
    applied = engine_run.provision("-f", str(blueprint), "apply", "--auto-approve", *FAST)
    inspected = docker_client.api.inspect_container(napper)

    assert f"  ~ container {napper}  (stop)" in planned.stdout.splitlines(), planned.stdout
    assert "      should be created only but is running" in planned.stdout.splitlines()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert inspected["Id"] == first_id
    assert inspected["State"]["Running"] is False
    assert engine_run.provision("-f", str(blueprint), "plan").stdout.startswith("No changes.")

    destroyed = engine_run.provision("-f", str(blueprint), "destroy", "--auto-approve", *FAST)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


def test_init_starter_applies(engine_run, docker_client):
    engine_run.projects.add(engine_run.name("starter"))
    initialised = engine_run.provision("init", "--project", engine_run.name("starter"))
    blueprint = engine_run.workdir / "blueprint.yaml"

    applied = engine_run.provision("-f", str(blueprint), "apply", "--auto-approve", *FAST)
    replanned = engine_run.provision("-f", str(blueprint), "plan")
    destroyed = engine_run.provision("-f", str(blueprint), "destroy", "--auto-approve", *FAST)

    assert initialised.returncode == 0, initialised.stderr
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert replanned.stdout.startswith("No changes."), replanned.stdout
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
