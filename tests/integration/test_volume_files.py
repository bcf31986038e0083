"""Files reach a volume and come back through the engine, with their modes, even from an image with no shell."""

from __future__ import annotations

from provisioner.engine import connect


def test_volume_files_round_trip(engine_run, docker_client):
    project = engine_run.name("volfiles")
    engine_run.projects.add(project)
    labels = {"io.provision.project": project}
    volume = engine_run.name("certs")
    docker_client.api.create_volume(volume, labels=labels)
    engine = connect()

    engine.write_volume_files(volume, {"server.crt": (b"certificate", 0o644), "server.key": (b"private", 0o600)},
                              image="registry:2", labels=labels)
    found = engine.read_volume_files(volume, image="registry:2", labels=labels)
    listing = docker_client.containers.run("busybox:1.36", ["stat", "-c", "%n %a", "/v/server.crt", "/v/server.key"],
                                           volumes={volume: {"bind": "/v", "mode": "ro"}}, network_mode="none",
                                           labels=labels, remove=True).decode()

    assert found == {"server.crt": b"certificate", "server.key": b"private"}
    assert listing.splitlines() == ["/v/server.crt 644", "/v/server.key 600"]
    assert docker_client.containers.list(all=True, filters={"label": f"io.provision.project={project}"}) == []


def test_volume_files_replace_existing(engine_run, docker_client):
    project = engine_run.name("volfiles")
    engine_run.projects.add(project)
    labels = {"io.provision.project": project}
    volume = engine_run.name("auth")
    docker_client.api.create_volume(volume, labels=labels)
    engine = connect()

    engine.write_volume_files(volume, {"htpasswd": (b"old\n", 0o644)}, image="registry:2", labels=labels)
    engine.write_volume_files(volume, {"htpasswd": (b"new\n", 0o644)}, image="registry:2", labels=labels)

    assert engine.read_volume_files(volume, image="registry:2", labels=labels) == {"htpasswd": b"new\n"}
