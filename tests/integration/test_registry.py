"""A TLS registry on the real engine: HTTPS with the generated CA, auth, push and pull, replacement and destroy."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from tests.integration.conftest import BLUEPRINTS

FAST = ("--stop-timeout", "0")
PASSWORD = "registry-s3cret"


@pytest.fixture
def registry_run(engine_run, monkeypatch):
    """The shipped TLS registry example, isolated for this run, with its password in the environment."""
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", PASSWORD)
    path = engine_run.isolate(BLUEPRINTS / "tls-registry.yaml")
    data = yaml.safe_load(path.read_text())
    name = engine_run.name("registry")
    port = data["registries"][name]["port"]
    yield engine_run, path, name, port
    destroyed = engine_run.provision("-f", str(path), "destroy", "--auto-approve", *FAST)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


def provision(run, path: Path, *args: str) -> subprocess.CompletedProcess:
    return run.provision("-f", str(path), *args)


def https_status(port: int, cafile: Path | None, user: str | None = None) -> int:
    """The status of GET /v2/ over HTTPS on 127.0.0.1; raises ssl.SSLError when verification fails."""
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
    request = urllib.request.Request(f"https://localhost:{port}/v2/")
    if user is not None:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def docker_cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, input=input, timeout=120)


def test_registry_serves_tls_with_generated_ca(registry_run, tmp_path):
    run, path, name, port = registry_run

    applied = provision(run, path, "apply", "--auto-approve", *FAST)
    exported = provision(run, path, "ca", name)
    cafile = tmp_path / "ca.crt"
    cafile.write_text(exported.stdout)
    ca = x509.load_pem_x509_certificate(exported.stdout.encode())

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.startswith(f"CA provision CA for registry {name}: SHA-256 fingerprint ")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert https_status(port, cafile) == 401
    assert https_status(port, cafile, user="admin") == 200
    with pytest.raises(urllib.error.URLError) as failed:
        https_status(port, None)
    assert isinstance(failed.value.reason, ssl.SSLCertVerificationError)


def test_server_certificate_and_container_settings(registry_run, docker_client):
    run, path, name, port = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0

    pem = ssl.get_server_certificate(("127.0.0.1", port))
    certificate = x509.load_pem_x509_certificate(pem.encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    inspected = docker_client.api.inspect_container(name)
    env = dict(entry.split("=", 1) for entry in inspected["Config"]["Env"])
    mounts = {mount["Destination"]: mount for mount in inspected["Mounts"]}

    assert names.get_values_for_type(x509.DNSName) == ["localhost", "registry.internal"]
    assert [str(address) for address in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert env["REGISTRY_HTTP_ADDR"] == "0.0.0.0:443"
    assert env["REGISTRY_HTTP_TLS_CERTIFICATE"] == "/certs/server.crt"
    assert env["REGISTRY_HTTP_TLS_KEY"] == "/certs/private/server.key"
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert PASSWORD not in json.dumps(inspected)
    assert mounts["/certs"]["Name"] == f"{name}-tls"
    assert mounts["/certs"]["RW"] is False
    assert mounts["/var/lib/registry"]["Name"] == run.name("registry-data")
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert inspected["HostConfig"]["PortBindings"] == {"443/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert inspected["Config"]["Labels"]["io.provision.project"] == run.name("registry-demo")
    assert f"{name}-ca" not in {mount.get("Name") for mount in inspected["Mounts"]}


def test_push_pull_survive_replacement(registry_run, docker_client):
    run, path, name, port = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0
    trusted = Path(f"/etc/docker/certs.d/localhost:{port}/ca.crt")
    image = f"localhost:{port}/provision-test/busybox:1.36"
    first_fingerprint = docker_client.api.inspect_container(name)["Config"]["Labels"]["io.provision.certificate-sha256"]

    login = docker_cli("login", "-u", "admin", "--password-stdin", f"localhost:{port}", input=PASSWORD)
    try:
        docker_cli("tag", "busybox:1.36", image)
        pushed = docker_cli("push", image)
        docker_cli("rmi", image)
        replanned = provision(run, path, "plan")
        replaced = provision(run, path, "apply", "--auto-approve", "--replace", name, *FAST)
        pulled = docker_cli("pull", image)
        docker_cli("rmi", image)
    finally:
        docker_cli("logout", f"localhost:{port}")
    second_fingerprint = docker_client.api.inspect_container(name)["Config"]["Labels"]["io.provision.certificate-sha256"]

    assert trusted.exists()
    assert login.returncode == 0, login.stderr
    assert pushed.returncode == 0, pushed.stderr
    assert replanned.stdout.startswith("No changes."), replanned.stdout
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert pulled.returncode == 0, pulled.stderr
    assert second_fingerprint != first_fingerprint


def test_hostname_change_reissues_with_same_ca(registry_run, docker_client):
    run, path, name, port = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0
    ca_before = provision(run, path, "ca", name).stdout
    data = yaml.safe_load(path.read_text())
    data["registries"][name]["hostnames"] = ["localhost", "127.0.0.1", "registry.example"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    planned = provision(run, path, "plan")
    applied = provision(run, path, "apply", "--auto-approve", *FAST)
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    names = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(x509.SubjectAlternativeName)

    assert f"  -/+ container {name}  (replace)" in planned.stdout.splitlines(), planned.stdout
    assert "      a new server certificate is issued, signed by the same CA" in planned.stdout.splitlines()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost", "registry.example"]
    assert provision(run, path, "ca", name).stdout == ca_before
    assert not Path(f"/etc/docker/certs.d/registry.internal:{port}").exists()
    assert Path(f"/etc/docker/certs.d/registry.example:{port}/ca.crt").exists()


def test_password_change_plans_replace(registry_run, monkeypatch):
    run, path, name, _ = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", "another-s3cret")

    planned = provision(run, path, "plan")

    assert f"  -/+ container {name}  (replace)" in planned.stdout.splitlines(), planned.stdout
    assert "      the password of registry user 'admin' changed" in planned.stdout.splitlines()
    assert "s3cret" not in planned.stdout + planned.stderr


def test_destroy_leaves_nothing_behind(registry_run, docker_client):
    run, path, name, port = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0

    destroyed = provision(run, path, "destroy", "--auto-approve", *FAST)
    label = {"label": f"io.provision.project={run.name('registry-demo')}"}

    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    for hostname in ("localhost", "127.0.0.1", "registry.internal"):
        assert not Path(f"/etc/docker/certs.d/{hostname}:{port}").exists()


def test_foreign_trust_file_blocks_apply(registry_run, docker_client):
    run, path, name, port = registry_run
    folder = Path(f"/etc/docker/certs.d/registry.internal:{port}")
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_text("a CA that someone installed by hand\n")
    try:
        planned = provision(run, path, "plan")
        rejected = provision(run, path, "apply", "--auto-approve", *FAST)
        content = (folder / "ca.crt").read_text()
    finally:
        (folder / "ca.crt").unlink()
        folder.rmdir()

    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert (f"  ! container {name}: {folder}/ca.crt already exists and was not written by provision for this "
            "registry; provision will not overwrite it") in planned.stdout.splitlines()
    assert rejected.returncode == 1
    assert content == "a CA that someone installed by hand\n"
    assert docker_client.containers.list(all=True, filters={"label": f"io.provision.project={run.name('registry-demo')}"}) == []


def test_damaged_trust_file_is_repaired(registry_run):
    run, path, name, port = registry_run
    assert provision(run, path, "apply", "--auto-approve", *FAST).returncode == 0
    trusted = Path(f"/etc/docker/certs.d/localhost:{port}/ca.crt")
    original = trusted.read_bytes()
    trusted.unlink()

    planned = provision(run, path, "plan")
    applied = provision(run, path, "apply", "--auto-approve", *FAST)

    assert f"      the trusted CA file {trusted} is missing, so it is written again" in planned.stdout.splitlines()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert trusted.read_bytes() == original
