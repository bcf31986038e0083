"""Registry resources and the planning reasons that need no engine: expiry, passwords and trusted paths."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

from provisioner.htpasswd import htpasswd_entry
from provisioner.models import RegistrySpec
from provisioner.plan import ActionKind
from provisioner.planner import plan_apply, plan_destroy
from provisioner.registry import (
    CERTIFICATE_NOT_AFTER_LABEL,
    HTPASSWD_LABEL,
    TRUSTED_CA_LABEL,
    TRUSTED_FILES_LABEL,
    file_digest,
    foreign_trust_files,
    registry_reasons,
    registry_resources,
    remove_trusted_files,
    trusted_ca_paths,
)
from provisioner.resources import Kind, ResourceId, build_desired_state
from provisioner.snapshot import snapshot_from_lists
from provisioner.validation import load_blueprint

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def registry(**settings) -> RegistrySpec:
    return RegistrySpec(**{"port": 5443, "hostnames": ["localhost", "127.0.0.1"], **settings})


def container_of(resources):
    return next(resource for resource in resources if resource.role == "registry")


def test_generated_ca_gives_three_resources(tmp_path):
    resources = registry_resources("hub", registry(storage="hub-data"), tmp_path)

    assert [(resource.id, resource.role) for resource in resources] == [
        (ResourceId(Kind.VOLUME, "hub-ca"), "registry-ca"),
        (ResourceId(Kind.VOLUME, "hub-tls"), "registry-tls"),
        (ResourceId(Kind.CONTAINER, "hub"), "registry"),
    ]
    assert container_of(resources).requires == frozenset({
        ResourceId(Kind.VOLUME, "hub-ca"), ResourceId(Kind.VOLUME, "hub-tls"), ResourceId(Kind.VOLUME, "hub-data")})


def test_container_spec_mounts_and_environment(tmp_path):
    spec = container_of(registry_resources("hub", registry(storage="hub-data", bind="127.0.0.1"), tmp_path)).spec

    assert spec["mounts"] == [
        {"type": "volume", "source": "hub-tls", "target": "/certs", "read_only": True},
        {"type": "volume", "source": "hub-data", "target": "/var/lib/registry", "read_only": False},
    ]
    assert spec["environment"] == {
        "REGISTRY_HTTP_ADDR": "0.0.0.0:443",
        "REGISTRY_HTTP_TLS_CERTIFICATE": "/certs/server.crt",
        "REGISTRY_HTTP_TLS_KEY": "/certs/private/server.key",
    }
    assert spec["ports"] == [{"host_ip": "127.0.0.1", "host_port": 5443, "container_port": 443, "protocol": "tcp"}]
    assert spec["tls"] == {"hostnames": ["localhost", "127.0.0.1"], "days": 365, "key_type": "ecdsa-p256",
                           "ca": "generate", "certificate": None}


def test_auth_adds_htpasswd_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_PASSWORD", "pw")
    resource = container_of(registry_resources(
        "hub", registry(auth={"users": {"admin": {"password_env": "HUB_PASSWORD"}}}), tmp_path))

    assert resource.spec["environment"]["REGISTRY_AUTH"] == "htpasswd"
    assert resource.spec["environment"]["REGISTRY_AUTH_HTPASSWD_PATH"] == "/certs/htpasswd"
    assert resource.spec["users"] == ["admin"]
    assert "pw" not in str(resource.spec)
    assert resource.inputs["passwords"] == {"admin": "pw"}


def test_trusted_paths_include_port_except_443():
    assert [str(path) for path in trusted_ca_paths(registry(hostnames=["localhost", "::1"]))] == [
        "/etc/docker/certs.d/localhost:5443/ca.crt", "/etc/docker/certs.d/[::1]:5443/ca.crt"]
    assert [str(path) for path in trusted_ca_paths(registry(port=443, hostnames=["registry.internal"]))] == [
        "/etc/docker/certs.d/registry.internal/ca.crt"]


def reasons_for(labels: dict[str, str], tmp_path: Path, monkeypatch, password: str = "pw") -> list[str]:
    monkeypatch.setenv("HUB_PASSWORD", password)
    resource = container_of(registry_resources(
        "hub", registry(tls={"renew_before": 30}, auth={"users": {"admin": {"password_env": "HUB_PASSWORD"}}}), tmp_path))
    return registry_reasons(resource, labels, NOW)


def test_fresh_certificate_and_same_password_no_reasons(tmp_path, monkeypatch):
    labels = {CERTIFICATE_NOT_AFTER_LABEL: (NOW + timedelta(days=31)).isoformat(),
              HTPASSWD_LABEL: htpasswd_entry("admin", "pw")}

    assert reasons_for(labels, tmp_path, monkeypatch) == []


def test_certificate_within_renew_before(tmp_path, monkeypatch):
    labels = {CERTIFICATE_NOT_AFTER_LABEL: (NOW + timedelta(days=29)).isoformat(),
              HTPASSWD_LABEL: htpasswd_entry("admin", "pw")}

    assert reasons_for(labels, tmp_path, monkeypatch) == [
        "the server certificate expires on 2027-01-02, within renew_before (30 days), so a new one is issued"]


def test_unknown_expiry_reissues(tmp_path, monkeypatch):
    labels = {HTPASSWD_LABEL: htpasswd_entry("admin", "pw")}

    assert reasons_for(labels, tmp_path, monkeypatch) == [
        "the server certificate's expiry is not recorded, so a new certificate is issued"]


def test_changed_password_reason_hides_it(tmp_path, monkeypatch):
    labels = {CERTIFICATE_NOT_AFTER_LABEL: (NOW + timedelta(days=300)).isoformat(),
              HTPASSWD_LABEL: htpasswd_entry("admin", "old-pw")}

    reasons = reasons_for(labels, tmp_path, monkeypatch, password="new-pw")

    assert reasons == ["the password of registry user 'admin' changed"]


def test_plan_creates_ca_before_registry(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        project: hub
        registries:
          hub: {port: 5443, hostnames: [localhost]}
        """))

    plan = plan_apply(build_desired_state(load_blueprint(path)), snapshot_from_lists({}))

    assert [(action.kind, str(action.resource)) for action in plan.actions] == [
        (ActionKind.CREATE, "volume hub-ca"), (ActionKind.CREATE, "volume hub-tls"), (ActionKind.CREATE, "container hub")]


def trusted_registry_plan(tmp_path: Path, *, local: bool, writable: bool):
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        project: hub
        registries:
          hub: {port: 5443, hostnames: [localhost], trust_engine: true}
        """))
    snapshot = snapshot_from_lists({})
    snapshot.engine_is_local = local
    snapshot.certs_folder_writable = writable
    return plan_apply(build_desired_state(load_blueprint(path)), snapshot)


def test_trust_engine_on_remote_engine_blocks(tmp_path):
    plan = trusted_registry_plan(tmp_path, local=False, writable=True)

    assert [(str(blocker.resource), blocker.message) for blocker in plan.blockers] == [
        ("container hub", "trust_engine installs the CA in this machine's /etc/docker/certs.d, but the engine runs elsewhere")]


def test_trust_engine_without_write_access_blocks(tmp_path):
    plan = trusted_registry_plan(tmp_path, local=True, writable=False)

    assert [blocker.message for blocker in plan.blockers] == [
        "trust_engine needs to write to /etc/docker/certs.d, which this user may not"]


def test_trust_engine_local_and_writable_plans(tmp_path):
    assert trusted_registry_plan(tmp_path, local=True, writable=True).blockers == []


def trusted_labels(paths: list[str], content: bytes) -> dict[str, str]:
    return {TRUSTED_FILES_LABEL: json.dumps(paths), TRUSTED_CA_LABEL: file_digest(content),
            CERTIFICATE_NOT_AFTER_LABEL: (NOW + timedelta(days=300)).isoformat()}


def trusting_resource(tmp_path: Path):
    return container_of(registry_resources("hub", registry(trust_engine=True), tmp_path))


def test_damaged_trust_files_are_written_again(tmp_path):
    resource = trusting_resource(tmp_path)
    first, second = resource.spec["trust_engine"]
    labels = trusted_labels([first, second], b"CA")

    reasons = registry_reasons(resource, labels, NOW, trust_files={first: None, second: file_digest(b"other")})

    assert reasons == [f"the trusted CA file {first} is missing, so it is written again",
                       f"the trusted CA file {second} was changed, so it is written again"]


def test_intact_trust_files_give_no_reason(tmp_path):
    resource = trusting_resource(tmp_path)
    paths = resource.spec["trust_engine"]

    assert registry_reasons(resource, trusted_labels(paths, b"CA"), NOW,
                            trust_files={path: file_digest(b"CA") for path in paths}) == []


def test_foreign_trust_file_is_reported(tmp_path):
    resource = trusting_resource(tmp_path)
    first, second = resource.spec["trust_engine"]

    assert foreign_trust_files(resource, {}, {first: file_digest(b"someone's CA"), second: None}) == [first]
    assert foreign_trust_files(resource, trusted_labels([first], b"CA"), {first: file_digest(b"changed")}) == []


def test_remove_trusted_files_spares_changed_ones(tmp_path, monkeypatch):
    monkeypatch.setattr("provisioner.registry.DOCKER_CERTS_FOLDER", tmp_path)
    ours = tmp_path / "localhost:5443" / "ca.crt"
    theirs = tmp_path / "127.0.0.1:5443" / "ca.crt"
    for path, content in ((ours, b"CA"), (theirs, b"replaced by hand")):
        path.parent.mkdir()
        path.write_bytes(content)
    (theirs.parent / "client.cert").write_bytes(b"client")

    remove_trusted_files(trusted_labels([str(ours), str(theirs)], b"CA"))

    assert not ours.parent.exists()
    assert theirs.read_bytes() == b"replaced by hand"
    assert (theirs.parent / "client.cert").exists()


def test_create_plan_shows_tls_side_effects(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_PASSWORD", "pw")
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        project: hub
        registries:
          hub:
            port: 5443
            hostnames: [localhost, "*.hub.internal"]
            trust_engine: true
            auth: {users: {admin: {password_env: HUB_PASSWORD}}}
        """))

    plan = plan_apply(build_desired_state(load_blueprint(path)), snapshot_from_lists({}))

    assert plan.action_for(ResourceId(Kind.VOLUME, "hub-ca")).reasons == [
        "missing", "a new certificate authority (ecdsa-p256) is generated and kept in it"]
    assert plan.action_for(ResourceId(Kind.CONTAINER, "hub")).reasons == [
        "missing",
        "image registry:2 will be pulled",
        "a server certificate for localhost, *.hub.internal is issued, valid 365 days",
        "an htpasswd file is written for admin",
        "the CA is written to /etc/docker/certs.d/localhost:5443/ca.crt",
    ]


def test_destroy_plan_lists_trusted_files():
    labels = {"io.provision.project": "hub", "io.provision.resource": "container/hub",
              TRUSTED_FILES_LABEL: json.dumps(["/etc/docker/certs.d/localhost:5443/ca.crt"])}
    snapshot = snapshot_from_lists({"containers": [{"Id": "id-hub", "Names": ["/hub"], "Labels": labels, "State": "running",
                                                    "HostConfig": {"NetworkMode": "default"}, "Mounts": []}]})

    plan = plan_destroy("hub", snapshot)

    assert plan.actions[0].reasons == ["destroy: labelled with project hub",
                                       "removes /etc/docker/certs.d/localhost:5443/ca.crt"]
