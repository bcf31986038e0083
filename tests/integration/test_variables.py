"""One blueprint, two var files, two projects side by side; secrets reach the engine call and nothing else."""

from __future__ import annotations

import json
import textwrap
import urllib.request

from tests.integration.conftest import BLUEPRINTS, PROJECT_LABEL, free_port

FAST = ("--stop-timeout", "0")

BLUEPRINT = """\
version: 1
project: "shop-{{ vars.stage }}-RUN"
variables:
  stage: {description: "environment name"}
  greeting: {default: hello}
  port: {default: 0}
  db_password: {secret: true}
volumes:
  "{{ project }}-data": {}
containers:
  "{{ project }}-web":
    image: busybox:1.36
    command: ["sleep", "100000"]
    environment:
      GREETING: "{{ vars.greeting | upper }}"
      DB_URL: "postgres://app:{{ vars.db_password }}@db/{{ project }}"
    volumes: ["{{ project }}-data:/data"]
    ports: ["127.0.0.1:{{ vars.port }}:8080"]
"""

PASSWORDS = {"dev": "dev-pass-7Hq2x", "ci": "ci-pass-Lm4Zt"}


def write_files(engine_run) -> dict[str, int]:
    """Write the blueprint and one var file per stage; return each stage's host port."""
    (engine_run.workdir / "blueprint.yaml").write_text(BLUEPRINT.replace("RUN", engine_run.run_id))
    ports = {}
    for stage in ("dev", "ci"):
        ports[stage] = free_port()
        engine_run.projects.add(f"shop-{stage}-{engine_run.run_id}")
        (engine_run.workdir / f"{stage}.yaml").write_text(textwrap.dedent(f"""\
            stage: {stage}
            greeting: hi {stage}
            port: {ports[stage]}
            """))
    return ports


def provision_stage(engine_run, stage: str, *args: str, password: str | None = None):
    environment = {"PROVISION_VAR_DB_PASSWORD": password or PASSWORDS[stage]}
    return engine_run.provision("--var-file", f"{stage}.yaml", *args, env=environment)


def project_labels(docker_client, project: str) -> list[str]:
    """Every label value of the project's containers and volumes, as one list of texts."""
    label = {"label": f"{PROJECT_LABEL}={project}"}
    containers = docker_client.containers.list(all=True, filters=label)
    volumes = docker_client.volumes.list(filters=label)
    labels = [container.labels for container in containers] + [volume.attrs["Labels"] for volume in volumes]
    return [json.dumps(item) for item in labels]


def test_two_var_files_make_two_projects(engine_run, docker_client):
    ports = write_files(engine_run)
    run = engine_run.run_id

    applied = {stage: provision_stage(engine_run, stage, "apply", "--auto-approve", *FAST) for stage in ("dev", "ci")}
    replanned = {stage: provision_stage(engine_run, stage, "plan") for stage in ("dev", "ci")}
    web = {stage: docker_client.api.inspect_container(f"shop-{stage}-{run}-web") for stage in ("dev", "ci")}

    for stage in ("dev", "ci"):
        project = f"shop-{stage}-{run}"
        assert applied[stage].returncode == 0, applied[stage].stderr
        assert replanned[stage].returncode == 0, replanned[stage].stderr
        assert replanned[stage].stdout == f"No changes. The engine matches the blueprint of project {project} (2 resources).\n"
        config = web[stage]
        assert config["Config"]["Labels"][PROJECT_LABEL] == project
        assert f"GREETING=HI {stage.upper()}" in config["Config"]["Env"]
        assert f"DB_URL=postgres://app:{PASSWORDS[stage]}@db/{project}" in config["Config"]["Env"]
        assert config["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(ports[stage])}]}
        assert [mount["Name"] for mount in config["Mounts"]] == [f"{project}-data"]


def test_secret_stays_out_of_labels_and_output(engine_run, docker_client):
    write_files(engine_run)
    project = f"shop-dev-{engine_run.run_id}"
    changed = "dev-pass-changed-9Wv"

    applied = provision_stage(engine_run, "dev", "apply", "--auto-approve", *FAST)
    labels = project_labels(docker_client, project)
    config = provision_stage(engine_run, "dev", "config")
    replanned = provision_stage(engine_run, "dev", "plan", password=changed)
    debug = provision_stage(engine_run, "dev", "--debug", "plan", password=changed)

    assert applied.returncode == 0, applied.stderr
    assert len(labels) == 2
    for text in labels:
        assert PASSWORDS["dev"] not in text
    for result in (applied, config, replanned, debug):
        assert PASSWORDS["dev"] not in result.stdout + result.stderr
        assert changed not in result.stdout + result.stderr
    assert f"      DB_URL: postgres://app:(secret db_password)@db/{project}\n" in config.stdout
    assert replanned.stdout.splitlines()[2:5] == [
        f"  -/+ container {project}-web  (replace)",
        "      configuration differs from the blueprint",
        f'      environment.DB_URL: "postgres://app:(secret db_password)@db/{project}" -> '
        f'"postgres://app:(secret db_password)@db/{project}" (secret value changed)',
    ]


def test_missing_variable_changes_nothing(engine_run, docker_client):
    write_files(engine_run)
    project = f"shop-dev-{engine_run.run_id}"

    result = engine_run.provision("--var-file", "dev.yaml", "apply", "--auto-approve")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == ("blueprint.yaml:16:15: error: containers.{{ project }}-web.environment.DB_URL: "
                                             "variable 'db_password' has no value")
    assert docker_client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}) == []


def test_environments_example_with_override(engine_run, docker_client):
    """The shipped example: staging from shop.yaml, CI from shop.yaml merged with ci.yaml, side by side."""
    folder = BLUEPRINTS / "environments"
    run = engine_run.run_id
    ports = {"staging": free_port(), "ci": free_port()}
    files = {"staging": ("-f", str(folder / "shop.yaml")),
             "ci": ("-f", str(folder / "shop.yaml"), "-f", str(folder / "ci.yaml"))}
    engine_run.projects |= {f"shop-staging-{run}", f"shop-ci-{run}"}

    def provision(stage: str, *args: str):
        # The stage gets the run id, so the project and every name are this run's own.
        return engine_run.provision(*files[stage], "--var-file", str(folder / f"{stage}.vars.yaml"),
                                    "--var", f"stage={stage}-{run}", "--var", f"port={ports[stage]}", *args,
                                    env={"PROVISION_VAR_DB_PASSWORD": PASSWORDS["dev"]})

    applied = {stage: provision(stage, "apply", "--auto-approve", *FAST) for stage in ports}
    pages = {stage: urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10).read().decode()
             for stage, port in ports.items()}
    database = {stage: docker_client.api.inspect_container(f"shop-{stage}-{run}-db") for stage in ports}
    web = {stage: docker_client.api.inspect_container(f"shop-{stage}-{run}-web") for stage in ports}
    volumes = {stage: [volume.name for volume in docker_client.volumes.list(
        filters={"label": f"{PROJECT_LABEL}=shop-{stage}-{run}"})] for stage in ports}
    replanned = {stage: provision(stage, "plan") for stage in ports}

    for stage in ports:
        assert applied[stage].returncode == 0, applied[stage].stderr
        assert pages[stage] == f"shop {stage}-{run}\n"
        assert replanned[stage].stdout.startswith("No changes.")
    assert volumes == {"staging": [f"shop-staging-{run}-db-data"], "ci": []}
    assert [mount["Destination"] for mount in database["ci"]["Mounts"]] == ["/data"]
    assert database["ci"]["Mounts"][0]["Name"] != f"shop-ci-{run}-db-data"
    assert database["staging"]["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert database["ci"]["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")
    assert "LOG_LEVEL=debug" in web["ci"]["Config"]["Env"]
    assert not any(entry.startswith("LOG_LEVEL=") for entry in web["staging"]["Config"]["Env"])
