"""Validation of the registries section: references, hostnames, users, ports and certificate files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provisioner.certificates import generate_ca, issue_server_certificate
from provisioner.errors import BlueprintInvalid
from provisioner.validation import load_blueprint

BASE = """\
    version: 1
    project: demo
    volumes:
      registry-data: {}
    networks:
      backend: {}
    registries:
      registry:
"""


def registry_problems(tmp_path: Path, body: str) -> list:
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent(body), "    "))
    with pytest.raises(BlueprintInvalid) as raised:
        load_blueprint(path)
    return raised.value.problems


def only(problems: list):
    assert len(problems) == 1, [problem.render() for problem in problems]
    return problems[0]


def test_valid_registry_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", "s3cret")
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent("""\
        bind: 127.0.0.1
        port: 5443
        hostnames: [localhost, 127.0.0.1, registry.internal]
        tls: {days: 90, renew_before: 10, key_type: rsa-2048}
        auth: {users: {admin: {password_env: REGISTRY_ADMIN_PASSWORD}}}
        storage: registry-data
        networks: [backend]
        trust_engine: true
        """), "    "))

    registry = load_blueprint(path).blueprint.registries["registry"]

    assert registry.image == "registry:2"
    assert str(registry.bind) == "127.0.0.1"
    assert registry.port == 5443
    assert registry.hostnames == ["localhost", "127.0.0.1", "registry.internal"]
    assert registry.tls.ca == "generate"
    assert (registry.tls.days, registry.tls.renew_before, registry.tls.key_type) == (90, 10, "rsa-2048")
    assert registry.restart == "always"
    assert list(registry.networks) == ["backend"]
    assert registry.trust_engine is True


def test_invalid_hostname(tmp_path):
    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost, 'bad_host!']\n"))

    assert (problem.location.line, problem.location.column) == (10, 28)
    assert problem.key_path == "registries.registry.hostnames[1]"
    assert problem.message == "invalid hostname 'bad_host!'"


@pytest.mark.parametrize("port", [0, 65536])
def test_port_out_of_range(tmp_path, port):
    problem = only(registry_problems(tmp_path, f"port: {port}\nhostnames: [localhost]\n"))

    assert problem.key_path == "registries.registry.port"
    assert problem.location.line == 9


def test_undefined_storage_and_network(tmp_path):
    problems = registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\nstorage: registry-dta\n"
                                           "networks: {front: {}}\n")

    assert [(problem.key_path, problem.message, problem.hint) for problem in problems] == [
        ("registries.registry.storage", "volume 'registry-dta' is not defined", "did you mean 'registry-data'?"),
        ("registries.registry.networks.front", "network 'front' is not defined",
         "define it under networks, or use one of: backend"),
    ]


def test_unset_password_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("PROVISION_TEST_UNSET", raising=False)
    problem = only(registry_problems(
        tmp_path, "port: 5443\nhostnames: [localhost]\nauth: {users: {admin: {password_env: PROVISION_TEST_UNSET}}}\n"))

    assert problem.key_path == "registries.registry.auth.users.admin.password_env"
    assert problem.location.line == 11
    assert problem.message == "environment variable PROVISION_TEST_UNSET is not set, so user 'admin' has no password"
    assert problem.hint == "export PROVISION_TEST_UNSET with the password before running provision"


def test_registry_port_clashes_with_container(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        project: demo
        containers:
          web: {image: busybox, ports: ["127.0.0.1:5443:80"]}
        registries:
          registry: {port: 5443, bind: 0.0.0.0, hostnames: [localhost]}
        """))

    with pytest.raises(BlueprintInvalid) as raised:
        load_blueprint(path)

    problem = only(raised.value.problems)
    assert problem.key_path == "registries.registry.port"
    assert problem.message == "host port 0.0.0.0:5443 is already published by 'web'"


def test_registry_name_taken_by_container(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        project: demo
        containers:
          registry: {image: busybox}
        volumes:
          registry-tls: {}
        registries:
          registry: {port: 5443, hostnames: [localhost]}
        """))

    with pytest.raises(BlueprintInvalid) as raised:
        load_blueprint(path)

    assert [problem.message for problem in raised.value.problems] == [
        "registry name 'registry' is also a container",
        "registry 'registry' keeps its certificates in volume 'registry-tls', which the blueprint also defines",
    ]


def test_renew_before_not_below_days(tmp_path):
    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\ntls: {days: 30, renew_before: 30}\n"))

    assert problem.key_path == "registries.registry.tls"
    assert problem.message == ("renew_before (30) must be less than days (30), or every plan would renew the "
                               "certificate; lower renew_before or raise days")


def test_short_days_against_default_renew_before(tmp_path):
    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\ntls: {days: 10}\n"))

    assert problem.key_path == "registries.registry.tls"
    assert problem.message.startswith("renew_before (30) must be less than days (10)")


def test_duplicate_hostname(tmp_path):
    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost, LOCALHOST]\n"))

    assert problem.key_path == "registries.registry.hostnames"
    assert problem.message == "hostname 'LOCALHOST' is listed twice; list each name once"


def write_pair(folder: Path, stem: str, pair) -> None:
    (folder / f"{stem}.crt").write_bytes(pair.cert_pem)
    (folder / f"{stem}.key").write_bytes(pair.key_pem)


def test_ca_file_that_is_not_a_ca(tmp_path):
    ca = generate_ca("test CA")
    write_pair(tmp_path, "server", issue_server_certificate(ca, ["localhost"]))

    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\n"
                                               "tls: {ca: {cert: server.crt, key: server.key}}\n"))

    assert problem.key_path == "registries.registry.tls.ca.cert"
    assert problem.location.line == 11
    assert problem.message == ("server.crt: the certificate is not a CA certificate (basic constraints CA is not true); "
                               "supply the CA certificate, not a server certificate")


def test_ca_key_that_does_not_match(tmp_path):
    write_pair(tmp_path, "ca", generate_ca("test CA"))
    (tmp_path / "ca.key").write_bytes(generate_ca("other CA").key_pem)

    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\n"
                                               "tls: {ca: {cert: ca.crt, key: ca.key}}\n"))

    assert problem.key_path == "registries.registry.tls.ca.cert"
    assert problem.message == ("ca.crt: the private key does not belong to the certificate; supply the key that was "
                               "created with this certificate")


def test_missing_ca_file(tmp_path):
    problems = registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\n"
                                           "tls: {ca: {cert: nothere.crt, key: nothere.key}}\n")

    assert [problem.key_path for problem in problems] == ["registries.registry.tls.ca.cert", "registries.registry.tls.ca.key"]
    assert problems[0].message.startswith("cannot read 'nothere.crt' (resolved to ")


def test_certificate_not_covering_hostname(tmp_path):
    ca = generate_ca("test CA")
    write_pair(tmp_path, "ca", ca)
    write_pair(tmp_path, "server", issue_server_certificate(ca, ["localhost"]))

    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost, registry.internal]\n"
                                               "tls: {ca: {cert: ca.crt, key: ca.key}, "
                                               "certificate: {cert: server.crt, key: server.key}}\n"))

    assert problem.key_path == "registries.registry.tls.certificate.cert"
    assert problem.message == ("server.crt: the certificate does not cover hostname 'registry.internal' (its subject "
                               "alternative names: localhost); issue one that lists registry.internal")


def test_certificate_with_generated_ca(tmp_path):
    ca = generate_ca("test CA")
    write_pair(tmp_path, "server", issue_server_certificate(ca, ["localhost"]))

    problem = only(registry_problems(tmp_path, "port: 5443\nhostnames: [localhost]\n"
                                               "tls: {certificate: {cert: server.crt, key: server.key}}\n"))

    assert problem.key_path == "registries.registry.tls.certificate"
    assert problem.message == "a finished certificate needs the CA that signed it"


def test_matching_certificate_files_load(tmp_path):
    ca = generate_ca("test CA")
    write_pair(tmp_path, "ca", ca)
    write_pair(tmp_path, "server", issue_server_certificate(ca, ["localhost", "127.0.0.1"]))
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent("""\
        port: 5443
        hostnames: [localhost, 127.0.0.1]
        tls: {ca: {cert: ca.crt, key: ca.key}, certificate: {cert: server.crt, key: server.key}}
        """), "    "))

    registry = load_blueprint(path).blueprint.registries["registry"]

    # Relative paths are resolved against the file's folder once the blueprint is valid.
    assert registry.tls.certificate.cert == str(tmp_path.resolve() / "server.crt")
    assert registry.tls.ca.key == str(tmp_path.resolve() / "ca.key")


def test_passwords_not_needed_without_secret_checks(tmp_path, monkeypatch):
    monkeypatch.delenv("PROVISION_TEST_UNSET", raising=False)
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent("""\
        port: 5443
        hostnames: [localhost]
        auth: {users: {admin: {password_env: PROVISION_TEST_UNSET}}}
        """), "    "))

    loaded = load_blueprint(path, check_secrets=False)

    assert list(loaded.blueprint.registries) == ["registry"]
    with pytest.raises(BlueprintInvalid):
        load_blueprint(path)
