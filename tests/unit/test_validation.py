"""Tests for provisioner.validation.load_blueprint: model rules, cross-object rules and problem positions."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest

from provisioner.errors import BlueprintInvalid, BlueprintNotFound, Problem
from provisioner.loader import MAX_FILE_BYTES, MAX_NESTING
from provisioner.models import Mount, Port, VolumesFrom
from provisioner.validation import load_blueprint

NAME_RULE_START = "a name starts with a letter or digit"


def position(problem: Problem) -> tuple[int, int]:
    assert problem.location is not None
    return problem.location.line, problem.location.column


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [problem.render() for problem in problems]
    return problems[0]


def problem_at(problems: list[Problem], key_path: str) -> Problem:
    matches = [problem for problem in problems if problem.key_path == key_path]
    assert len(matches) == 1, [problem.render() for problem in problems]
    return matches[0]


# Parsing, as load_blueprint reports it


def test_yaml_syntax_error(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web: {image: busybox
        """)

    problem = only(problems)
    assert position(problem) == (5, 1)
    assert problem.key_path == ""
    assert problem.message.startswith("invalid YAML: ")


def test_tab_indentation_rejected(blueprint_problems):
    problems = blueprint_problems("version: 1\nproject: demo\ncontainers:\n  web:\n\timage: busybox\n")

    problem = only(problems)
    assert position(problem) == (5, 1)
    assert "tab" in problem.hint
    assert "spaces" in problem.hint


def test_duplicate_container_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
          db:
            image: postgres
          web:
            image: alpine
        """)

    problem = only(problems)
    assert position(problem) == (8, 3)
    assert problem.key_path == "containers.web"
    assert problem.message == "duplicate key 'web' (first defined on line 4)"


def test_merge_key_in_blueprint(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web: &base
            image: busybox:1.36
            restart: always
            environment: {MODE: web}
          worker:
            <<: *base
            environment: {MODE: worker}
        """)

    worker = load_blueprint(path).blueprint.containers["worker"]

    assert worker.image == "busybox:1.36"
    assert worker.restart == "always"
    assert worker.environment == {"MODE": "worker"}


def test_merged_value_error_points_at_anchor(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        defaults: &defaults
          restart: sometimes
        containers:
          web:
            <<: *defaults
            image: busybox
        """)

    restart = problem_at(problems, "containers.web.restart")
    assert position(restart) == (4, 12)
    assert problem_at(problems, "defaults").message == "unknown key 'defaults'"


def test_unquoted_port_pair_is_text(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          ssh:
            image: busybox
            ports: [22:22]
        """)

    ports = load_blueprint(path).blueprint.containers["ssh"].ports

    assert ports == [Port(host_ip="0.0.0.0", host_port=22, container_port=22, protocol="tcp")]


def test_unquoted_restart_no(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            restart: no
        """)

    assert load_blueprint(path).blueprint.containers["web"].restart == "no"


def test_unquoted_restart_yes_rejected(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            restart: yes
        """)

    problem = only(problems)
    assert position(problem) == (6, 14)
    assert problem.key_path == "containers.web.restart"


def test_missing_blueprint_file(tmp_path):
    with pytest.raises(BlueprintNotFound) as caught:
        load_blueprint(tmp_path / "blueprint.yaml")

    assert "not found" in str(caught.value)
    assert "pass -f PATH" in str(caught.value)


def test_top_level_list_rejected(blueprint_problems):
    problems = blueprint_problems("""\
        # a list, not a mapping
        - version: 1
        - project: demo
        """)

    problem = only(problems)
    assert position(problem) == (2, 1)
    assert problem.key_path == ""
    assert problem.message == "a blueprint must be a mapping with version, project and sections"
    assert problem.hint == "start the file with version: 1 and project: NAME"


def test_top_level_scalar_rejected(blueprint_problems):
    problems = blueprint_problems("just some text\n")

    problem = only(problems)
    assert position(problem) == (1, 1)
    assert problem.message == "a blueprint must be a mapping with version, project and sections"


def test_empty_file_missing_keys(blueprint_problems):
    problems = blueprint_problems("")

    assert [problem.message for problem in problems] == [
        "missing required key 'version'",
        "missing required key 'project'",
    ]
    assert [position(problem) for problem in problems] == [(1, 1), (1, 1)]


def test_blueprint_over_size_limit(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_bytes(b"version: 1\n" + b"#" * MAX_FILE_BYTES + b"\n")

    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(path)

    problem = only(caught.value.problems)
    assert position(problem) == (1, 1)
    assert f"more than the limit of {MAX_FILE_BYTES} bytes" in problem.message


def test_blueprint_nesting_over_limit(blueprint_problems):
    depth = MAX_NESTING + 1
    lines = ["version: 1", "project: demo"]
    lines += ["  " * level + "labels:" for level in range(depth)]
    lines.append("  " * depth + "deep")

    problems = blueprint_problems("\n".join(lines) + "\n")

    problem = only(problems)
    assert position(problem) == (depth + 3, 2 * depth + 1)
    assert problem.message == f"nesting is deeper than the limit of {MAX_NESTING} levels"


# Unknown keys


def test_unknown_top_level_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        container:
          web:
            image: busybox
        """)

    problem = only(problems)
    assert position(problem) == (3, 1)
    assert problem.key_path == "container"
    assert problem.message == "unknown key 'container'"
    assert problem.hint == "did you mean 'containers'?"


def test_unknown_key_lists_allowed(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        extras: {}
        """)

    problem = only(problems)
    assert position(problem) == (3, 1)
    assert problem.hint == ("allowed keys here: containers, networks, project, registries, variables, version, "
                            "volume_containers, volumes")


def test_unknown_container_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            imagee: alpine
        """)

    problem = only(problems)
    assert position(problem) == (6, 5)
    assert problem.key_path == "containers.web.imagee"
    assert problem.message == "unknown key 'imagee'"
    assert problem.hint == "did you mean 'image'?"


def test_unknown_volume_container_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data:
            image: busybox
            volume: [/data]
        """)

    problem = only(problems)
    assert position(problem) == (6, 5)
    assert problem.key_path == "volume_containers.data.volume"
    assert problem.hint == "did you mean 'volumes'?"


def test_unknown_network_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            drivr: bridge
        """)

    problem = only(problems)
    assert position(problem) == (5, 5)
    assert problem.key_path == "networks.backend.drivr"
    assert problem.message == "unknown key 'drivr'"
    assert problem.hint == "did you mean 'driver'?"


def test_unknown_volume_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volumes:
          data:
            label: {tier: db}
        """)

    problem = only(problems)
    assert position(problem) == (5, 5)
    assert problem.key_path == "volumes.data.label"
    assert problem.hint == "did you mean 'labels'?"


def test_unknown_container_network_key(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
        containers:
          web:
            image: busybox
            networks:
              backend:
                ipv4_adress: 10.1.0.5
        """)

    problem = only(problems)
    assert position(problem) == (11, 9)
    assert problem.key_path == "containers.web.networks.backend.ipv4_adress"
    assert problem.message == "unknown key 'ipv4_adress'"
    assert problem.hint == "did you mean 'ipv4_address'?"


def test_known_keys_accepted(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volumes:
          data: {driver: local, labels: {tier: db}}
        networks:
          backend: {driver: bridge, subnet: 10.1.0.0/24}
        containers:
          web:
            image: busybox
            networks:
              backend: {ipv4_address: 10.1.0.5}
        """)

    loaded = load_blueprint(path)

    assert loaded.blueprint.containers["web"].networks["backend"].ipv4_address == ipaddress.IPv4Address("10.1.0.5")


# Required keys, version and names


def test_missing_image(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            command: [sleep, "1"]
        """)

    problem = only(problems)
    assert position(problem) == (4, 3)
    assert problem.key_path == "containers.web"
    assert problem.message == "missing required key 'image'"
    assert problem.hint == "add image: to containers.web"


def test_empty_container_missing_image(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data:
        """)

    problem = only(problems)
    assert position(problem) == (4, 3)
    assert problem.key_path == "volume_containers.data"
    assert problem.message == "missing required key 'image'"


def test_missing_project(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        containers: {}
        """)

    problem = only(problems)
    assert position(problem) == (1, 1)
    assert problem.key_path == ""
    assert problem.message == "missing required key 'project'"
    assert problem.hint == "add project: to the top level"


def test_missing_version(blueprint_problems):
    problems = blueprint_problems("""\
        # demo blueprint
        project: demo
        """)

    problem = only(problems)
    assert position(problem) == (2, 1)
    assert problem.message == "missing required key 'version'"
    assert problem.hint == "add version: to the top level"


def test_wrong_version(blueprint_problems):
    problems = blueprint_problems("""\
        version: 2
        project: demo
        """)

    problem = only(problems)
    assert position(problem) == (1, 10)
    assert problem.key_path == "version"
    assert problem.message == "unsupported version 2"
    assert problem.hint == "write version: 1, as a number without quotes"


def test_minimal_blueprint_loads(write_blueprint):
    loaded = load_blueprint(write_blueprint("version: 1\nproject: demo\n"))

    assert loaded.blueprint.version == 1
    assert loaded.blueprint.project == "demo"
    assert loaded.blueprint.containers == {}


def test_invalid_project_name(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: Seed_Demo
        """)

    problem = only(problems)
    assert position(problem) == (2, 10)
    assert problem.key_path == "project"
    assert problem.message == "invalid name 'Seed_Demo'"
    assert "lower-case" in problem.hint


def test_project_name_too_long(blueprint_problems):
    problems = blueprint_problems(f"version: 1\nproject: {'p' * 64}\n")

    problem = only(problems)
    assert position(problem) == (2, 10)
    assert "at most 63 characters" in problem.message


def test_valid_project_name(write_blueprint):
    loaded = load_blueprint(write_blueprint(f"version: 1\nproject: 0seed_demo-{'p' * 52}\n"))

    assert loaded.blueprint.project == "0seed_demo-" + "p" * 52


@pytest.mark.parametrize("section, extra", [
    ("volumes", ""),
    ("networks", ""),
    ("containers", "image: busybox"),
    ("volume_containers", "image: busybox"),
])
def test_invalid_object_name(blueprint_problems, section, extra):
    problems = blueprint_problems(textwrap.dedent(f"""\
        version: 1
        project: demo
        {section}:
          good.name_1:
            {extra}
          -bad:
            {extra}
        """))

    problem = only(problems)
    assert position(problem) == (6, 3)
    assert problem.key_path == f"{section}.-bad"
    assert problem.message == "invalid name '-bad'"
    assert problem.hint.startswith(NAME_RULE_START)
    assert problem.hint.endswith("; rename it")


def test_invalid_attached_network_name(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            networks:
              bad/net: {}
        """)

    problem = only(problems)
    assert position(problem) == (7, 7)
    assert problem.key_path == "containers.web.networks.bad/net"
    assert problem.message == "invalid name 'bad/net'"


def test_invalid_depends_on_name(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            depends_on: [db, "bad name"]
          db:
            image: postgres
        """)

    problem = only(problems)
    assert position(problem) == (6, 22)
    assert problem.key_path == "containers.web.depends_on[1]"
    assert problem.message == "invalid name 'bad name'"


# Ports


@pytest.mark.parametrize("text, expected", [
    ("8080:80", Port(host_ip="0.0.0.0", host_port=8080, container_port=80, protocol="tcp")),
    ("127.0.0.1:53:53/udp", Port(host_ip="127.0.0.1", host_port=53, container_port=53, protocol="udp")),
    ("65535:1/tcp", Port(host_ip="0.0.0.0", host_port=65535, container_port=1, protocol="tcp")),
])
def test_port_forms_parsed(write_blueprint, text, expected):
    path = write_blueprint(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            ports: ["{text}"]
        """)

    assert load_blueprint(path).blueprint.containers["web"].ports == [expected]


@pytest.mark.parametrize("text, message", [
    ("8080", "invalid port '8080'; expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]"),
    ("1.2.3:80:80", "invalid host address '1.2.3' in port '1.2.3:80:80'"),
    ("80:80/sctp", "invalid protocol 'sctp' in port '80:80/sctp'; use tcp or udp"),
    ("0:80", "invalid port number '0' in '0:80'; use a number from 1 to 65535"),
    ("80:65536", "invalid port number '65536' in '80:65536'"),
    ("http:80", "invalid port number 'http' in 'http:80'"),
])
def test_malformed_port(blueprint_problems, text, message):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            ports:
              - "9000:90"
              - "{text}"
        """)

    problem = only(problems)
    assert position(problem) == (8, 9)
    assert problem.key_path == "containers.web.ports[1]"
    assert problem.message.startswith(message)


def test_port_as_bare_number(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            ports: [8080]
        """)

    problem = only(problems)
    assert position(problem) == (6, 13)
    assert problem.message.startswith("invalid port '8080'")


# Mounts and volumes_from


def test_mount_forms_parsed(write_blueprint, tmp_path):
    (tmp_path / "site").mkdir()
    path = write_blueprint("""\
        version: 1
        project: demo
        volumes:
          data: {}
        containers:
          web:
            image: busybox
            volumes:
              - /cache
              - data:/srv/data:rw
              - ./site:/srv/site:ro
        """)

    volumes = load_blueprint(path).blueprint.containers["web"].volumes

    assert volumes[0] == Mount(type="anonymous", source=None, target="/cache", read_only=False)
    assert volumes[1] == Mount(type="volume", source="data", target="/srv/data", read_only=False)
    assert volumes[2] == Mount(type="bind", source="./site", target="/srv/site", read_only=True)


@pytest.mark.parametrize("text, message", [
    ("data:srv", "invalid mount 'data:srv'; the target 'srv' must be an absolute path inside the container"),
    ("relative", "invalid mount 'relative'; the target 'relative' must be an absolute path"),
    ("data:/srv:rx", "invalid access mode 'rx' in 'data:/srv:rx'; use ro or rw"),
    ("data:/srv:ro:z", "invalid mount 'data:/srv:ro:z'; expected TARGET, SOURCE:TARGET or SOURCE:TARGET:ro"),
    (":/srv", "invalid mount ':/srv'; the source before ':' is empty"),
    ("bad name:/srv", "invalid mount source 'bad name'"),
])
def test_malformed_mount(blueprint_problems, text, message):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        volumes:
          data: {{}}
        containers:
          web:
            image: busybox
            volumes:
              - "{text}"
        """)

    problem = only(problems)
    assert position(problem) == (9, 9)
    assert problem.key_path == "containers.web.volumes[0]"
    assert problem.message.startswith(message)


def test_volumes_from_modes_parsed(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
          logs: {image: busybox}
        containers:
          web:
            image: busybox
            volumes_from: [data, "logs:ro"]
        """)

    volumes_from = load_blueprint(path).blueprint.containers["web"].volumes_from

    assert volumes_from == [VolumesFrom(container="data", read_only=False), VolumesFrom(container="logs", read_only=True)]


def test_volumes_from_bad_mode(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
        containers:
          web:
            image: busybox
            volumes_from: ["data:rx"]
        """)

    problem = only(problems)
    assert position(problem) == (8, 20)
    assert problem.key_path == "containers.web.volumes_from[0]"
    assert problem.message == "invalid access mode 'rx' in 'data:rx'; use ro or rw"


# Restart policy, network_mode, state and command


@pytest.mark.parametrize("policy", ["always", "unless-stopped", "on-failure", "on-failure:3", '"no"'])
def test_restart_policy_valid(write_blueprint, policy):
    path = write_blueprint(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            restart: {policy}
        """)

    assert load_blueprint(path).blueprint.containers["web"].restart == policy.strip('"')


@pytest.mark.parametrize("policy", ["sometimes", "on-failure:x", "always:3"])
def test_restart_policy_invalid(blueprint_problems, policy):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            restart: {policy}
        """)

    problem = only(problems)
    assert position(problem) == (6, 14)
    assert problem.key_path == "containers.web.restart"
    assert problem.message == (f"invalid restart policy {policy!r}; "
                               "use no, always, unless-stopped or on-failure[:N]")


@pytest.mark.parametrize("mode", ["default", "container:", "container:-bad", "Host"])
def test_network_mode_invalid(blueprint_problems, mode):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            network_mode: "{mode}"
        """)

    problem = only(problems)
    assert position(problem) == (6, 19)
    assert problem.key_path == "containers.web.network_mode"
    assert problem.message == f"invalid network_mode {mode!r}; use bridge, host, none or container:NAME"


def test_invalid_state_and_pull(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            state: paused
            pull: sometimes
        """)

    assert position(problem_at(problems, "containers.web.state")) == (6, 12)
    assert position(problem_at(problems, "containers.web.pull")) == (7, 11)
    assert "'running' or 'created'" in problem_at(problems, "containers.web.state").message


def test_command_string_split(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            command: echo 'hello world'
        """)

    assert load_blueprint(path).blueprint.containers["web"].command == ["echo", "hello world"]


def test_command_unclosed_quote(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            command: "echo 'oops"
        """)

    problem = only(problems)
    assert position(problem) == (6, 14)
    assert "write it as a list" in problem.message


# Network addresses on their own


def test_subnet_host_bits_set(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.1/24
        """)

    problem = only(problems)
    assert position(problem) == (5, 13)
    assert problem.key_path == "networks.backend.subnet"
    assert problem.message == "10.1.0.1/24 has host bits set; did you mean 10.1.0.0/24?"


@pytest.mark.parametrize("key, value", [("gateway", "10.1.0.1"), ("ip_range", "10.1.0.128/25")])
def test_address_without_subnet(blueprint_problems, key, value):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        networks:
          backend:
            {key}: {value}
        """)

    problem = only(problems)
    assert position(problem) == (5, 5 + len(key) + 2)
    assert problem.key_path == f"networks.backend.{key}"
    assert problem.message == f"{key} needs a subnet; add subnet: CIDR to this network"


def test_gateway_without_subnet_position(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            driver: bridge
            gateway: 10.1.0.1
        """)

    assert position(only(problems))[0] == 6


def test_network_with_subnet_addresses(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
            gateway: 10.1.0.1
            ip_range: 10.1.0.128/25
        """)

    backend = load_blueprint(path).blueprint.networks["backend"]

    assert backend.subnet == ipaddress.IPv4Network("10.1.0.0/24")
    assert backend.gateway == ipaddress.IPv4Address("10.1.0.1")
    assert backend.ip_range == ipaddress.IPv4Network("10.1.0.128/25")


# Environment


def test_environment_list_form(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment: [MODE=demo, "QUERY=a=b", EMPTY=]
        """)

    environment = load_blueprint(path).blueprint.containers["web"].environment

    assert environment == {"MODE": "demo", "QUERY": "a=b", "EMPTY": ""}


def test_environment_list_entry_without_equals(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              - MODE
        """)

    problem = only(problems)
    assert position(problem) == (7, 9)
    assert problem.key_path == "containers.web.environment[0]"
    assert problem.message == "invalid environment entry 'MODE'; write NAME=VALUE"


def test_environment_list_error_position(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              - MODE=demo
              - DEBUG
        """)

    problem = only(problems)
    assert position(problem) == (8, 9)
    assert problem.key_path == "containers.web.environment[1]"
    assert problem.message == "invalid environment entry 'DEBUG'; write NAME=VALUE"


def test_environment_numbers_become_text(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              PORT: 8080
              RATIO: 1.5
              EMPTY:
              NAME: web
        """)

    environment = load_blueprint(path).blueprint.containers["web"].environment

    assert environment["PORT"] == "8080"
    assert environment["RATIO"] == "1.5"
    assert environment["EMPTY"] == ""
    assert environment["NAME"] == "web"


def test_environment_boolean_rejected(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              DEBUG: true
        """)

    problem = only(problems)
    assert position(problem) == (7, 14)
    assert problem.key_path == "containers.web.environment.DEBUG"
    assert problem.message == "'true' is read by YAML as the boolean true"
    assert problem.hint == 'quote it, as "true", if you meant the text'


def test_environment_quoted_boolean_loads(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              DEBUG: "true"
        """)

    assert load_blueprint(path).blueprint.containers["web"].environment == {"DEBUG": "true"}


def test_environment_boolean_position(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment:
              MODE: demo
              DEBUG: false
        """)

    assert position(only(problems))[0] == 8


# References between objects


def test_undefined_volume_near_miss(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volumes:
          app-data: {}
        containers:
          web:
            image: busybox
            volumes: ["app-dat:/data"]
        """)

    problem = only(problems)
    assert position(problem) == (8, 15)
    assert problem.key_path == "containers.web.volumes[0]"
    assert problem.message == "volume 'app-dat' is not defined"
    assert problem.hint == "did you mean 'app-data'?"


def test_undefined_volume_lists_defined(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volumes:
          app-data: {}
          logs: {}
        containers:
          web:
            image: busybox
            volumes: ["cache:/cache"]
        """)

    problem = only(problems)
    assert position(problem) == (9, 15)
    assert problem.hint == "define it under volumes, or use one of: app-data, logs"


def test_undefined_volume_none_defined(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["cache:/cache"]
        """)

    assert only(problems).hint == "define it under volumes"


def test_broken_volume_still_defined(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volumes:
          cache: {size: 5}
        containers:
          web:
            image: busybox
            volumes: ["cache:/cache"]
        """)

    problem = only(problems)
    assert problem.key_path == "volumes.cache.size"


def test_undefined_volumes_from(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
        containers:
          web:
            image: busybox
            volumes_from: [dta]
        """)

    problem = only(problems)
    assert position(problem) == (8, 20)
    assert problem.key_path == "containers.web.volumes_from[0]"
    assert problem.message == "container 'dta' is not defined"
    assert problem.hint == "did you mean 'data'?"


def test_volumes_from_self(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes_from: [web]
        """)

    problem = problem_at(problems, "containers.web.volumes_from[0]")
    assert position(problem) == (6, 20)
    assert problem.message == "'web' cannot take volumes from itself"


def test_undefined_attached_network(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend: {}
        containers:
          web:
            image: busybox
            networks:
              backnd: {}
        """)

    problem = only(problems)
    assert position(problem) == (9, 7)
    assert problem.key_path == "containers.web.networks.backnd"
    assert problem.message == "network 'backnd' is not defined"
    assert problem.hint == "did you mean 'backend'?"


def test_undefined_network_in_list(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend: {}
        containers:
          web:
            image: busybox
            networks: [backend, frontend]
        """)

    problem = only(problems)
    assert position(problem) == (8, 25)
    assert problem.key_path == "containers.web.networks[1]"
    assert problem.hint == "define it under networks, or use one of: backend"


def test_undefined_network_mode_container(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
          sidecar:
            image: busybox
            network_mode: container:wbe
        """)

    problem = only(problems)
    assert position(problem) == (8, 19)
    assert problem.key_path == "containers.sidecar.network_mode"
    assert problem.message == "container 'wbe' is not defined"
    assert problem.hint == "did you mean 'web'?"


def test_network_mode_self(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            network_mode: container:web
        """)

    problem = problem_at(problems, "containers.web.network_mode")
    assert position(problem) == (6, 19)
    assert problem.message == "'web' cannot share its own network namespace"


def test_undefined_depends_on(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
        containers:
          web:
            image: busybox
            depends_on: [data, qqq]
        """)

    problem = only(problems)
    assert position(problem) == (8, 24)
    assert problem.key_path == "containers.web.depends_on[1]"
    assert problem.message == "container 'qqq' is not defined"
    assert problem.hint == "define it under volume_containers or containers, or use one of: data, web"


def test_depends_on_near_miss(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          database:
            image: postgres
          web:
            image: busybox
            depends_on: [databse]
        """)

    assert only(problems).hint == "did you mean 'database'?"


def test_depends_on_self(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            depends_on: [web]
        """)

    problem = problem_at(problems, "containers.web.depends_on[0]")
    assert position(problem) == (6, 18)
    assert problem.message == "'web' cannot depend on itself"


def test_depends_on_self_reported_once(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            depends_on: [web]
        """)

    assert len(problems) == 1


def test_references_resolve(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volumes:
          data: {}
        networks:
          backend: {}
        volume_containers:
          store: {image: busybox, volumes: ["data:/data"]}
        containers:
          db:
            image: postgres
            volumes_from: [store]
            networks: [backend]
          web:
            image: busybox
            depends_on: [db]
          sidecar:
            image: busybox
            network_mode: container:web
        """)

    containers = load_blueprint(path).blueprint.containers

    assert list(containers["db"].networks) == ["backend"]
    assert containers["db"].volumes_from == [VolumesFrom(container="store", read_only=False)]
    assert containers["web"].depends_on == ["db"]
    assert containers["sidecar"].network_mode == "container:web"


# network_mode is exclusive with networks and ports


@pytest.mark.parametrize("mode", ["host", "none", "container:db"])
def test_network_mode_with_networks(blueprint_problems, mode):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        networks:
          backend: {{}}
        containers:
          db:
            image: postgres
          web:
            image: busybox
            network_mode: "{mode}"
            networks: [backend]
        """)

    problem = only(problems)
    assert position(problem) == (11, 5)
    assert problem.key_path == "containers.web.networks"
    assert problem.message == f"networks cannot be combined with network_mode {mode!r}"
    assert problem.hint.startswith("remove networks or network_mode")


@pytest.mark.parametrize("mode", ["host", "none", "container:db"])
def test_network_mode_with_ports(blueprint_problems, mode):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          db:
            image: postgres
          web:
            image: busybox
            network_mode: "{mode}"
            ports: ["8080:80"]
        """)

    problem = only(problems)
    assert position(problem) == (9, 5)
    assert problem.key_path == "containers.web.ports"
    assert problem.message == f"ports cannot be combined with network_mode {mode!r}"
    assert problem.hint.startswith("remove ports or network_mode")


def test_network_mode_created_target(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
        containers:
          web:
            image: busybox
            network_mode: container:data
        """)

    problem = only(problems)
    assert position(problem) == (8, 19)
    assert problem.key_path == "containers.web.network_mode"
    assert problem.message == "container 'data' is not started (state: created), so there is no network namespace to share"
    assert "set state: running on 'data'" in problem.hint


def test_shared_namespace_with_hostname(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
          sidecar:
            image: busybox
            network_mode: container:web
            hostname: side
        """)

    problem = only(problems)
    assert position(problem) == (9, 5)
    assert problem.key_path == "containers.sidecar.hostname"
    assert problem.message == "hostname cannot be set with network_mode 'container:web'"
    assert "takes the host name of 'web'" in problem.hint


def test_network_mode_running_volume_container(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox, state: running}
        containers:
          web:
            image: busybox
            network_mode: container:data
        """)

    assert load_blueprint(path).blueprint.containers["web"].network_mode == "container:data"


def test_network_mode_both_created(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volume_containers:
          data: {image: busybox}
        containers:
          web:
            image: busybox
            state: created
            network_mode: container:data
        """)

    assert load_blueprint(path).blueprint.containers["web"].state == "created"


# Subnets and gateways across a network and between networks


def test_gateway_outside_subnet(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
            gateway: 10.1.1.1
        """)

    problem = only(problems)
    assert position(problem) == (6, 14)
    assert problem.key_path == "networks.backend.gateway"
    assert problem.message == "gateway 10.1.1.1 is outside subnet 10.1.0.0/24"
    assert problem.hint == "pick a gateway inside 10.1.0.0/24, such as 10.1.0.1"


@pytest.mark.parametrize("gateway", ["10.1.0.0", "10.1.0.255"])
def test_gateway_network_or_broadcast(blueprint_problems, gateway):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
            gateway: {gateway}
        """)

    problem = only(problems)
    assert position(problem) == (6, 14)
    assert problem.message == f"gateway {gateway} is the network or broadcast address of 10.1.0.0/24"


def test_ip_range_outside_subnet(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
            ip_range: 10.1.0.0/23
        """)

    problem = only(problems)
    assert position(problem) == (6, 15)
    assert problem.key_path == "networks.backend.ip_range"
    assert problem.message == "ip_range 10.1.0.0/23 is not inside subnet 10.1.0.0/24"


def test_overlapping_subnets(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
          frontend:
            subnet: 10.1.0.0/16
        """)

    problem = only(problems)
    assert position(problem) == (7, 13)
    assert problem.key_path == "networks.frontend.subnet"
    assert problem.message == "subnet 10.1.0.0/16 overlaps subnet 10.1.0.0/24 of network 'backend'"
    assert problem.hint == "give each network its own address range"


def test_adjacent_subnets_allowed(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        networks:
          backend:
            subnet: 10.1.0.0/24
          frontend:
            subnet: 10.1.1.0/24
          other: {}
        """)

    assert set(load_blueprint(path).blueprint.networks) == {"backend", "frontend", "other"}


# Static addresses


STATIC_TEMPLATE = """\
version: 1
project: demo
networks:
  backend:
    subnet: 10.1.0.0/24
    {gateway}
  plain: {{}}
containers:
  web:
    image: busybox
    networks:
      {network}: {{ipv4_address: {address}}}
"""


def static_address_problems(blueprint_problems, address, gateway="gateway: 10.1.0.254", network="backend"):
    return blueprint_problems(STATIC_TEMPLATE.format(address=address, gateway=gateway, network=network))


def test_static_address_valid(write_blueprint):
    path = write_blueprint(STATIC_TEMPLATE.format(address="10.1.0.1", gateway="gateway: 10.1.0.254", network="backend"))

    web = load_blueprint(path).blueprint.containers["web"]

    assert web.networks["backend"].ipv4_address == ipaddress.IPv4Address("10.1.0.1")


def test_static_address_outside_subnet(blueprint_problems):
    problem = only(static_address_problems(blueprint_problems, "10.2.0.5"))

    assert position(problem) == (12, 31)
    assert problem.key_path == "containers.web.networks.backend.ipv4_address"
    assert problem.message == "address 10.2.0.5 is outside subnet 10.1.0.0/24 of network 'backend'"
    assert problem.hint == "pick an address inside 10.1.0.0/24"


def test_static_address_is_gateway(blueprint_problems):
    problem = only(static_address_problems(blueprint_problems, "10.1.0.254"))

    assert position(problem) == (12, 31)
    assert problem.message == "address 10.1.0.254 is the gateway of network 'backend'"
    assert "gateway belongs to the host" in problem.hint


def test_static_address_implicit_gateway(blueprint_problems):
    problem = only(static_address_problems(blueprint_problems, "10.1.0.1", gateway=""))

    assert position(problem) == (12, 31)
    assert problem.message == "address 10.1.0.1 is the gateway of network 'backend'"


@pytest.mark.parametrize("address", ["10.1.0.0", "10.1.0.255"])
def test_static_address_network_or_broadcast(blueprint_problems, address):
    problem = only(static_address_problems(blueprint_problems, address))

    assert position(problem) == (12, 31)
    assert problem.message == f"address {address} is the network or broadcast address of 10.1.0.0/24"
    assert problem.hint == "pick a host address inside the subnet"


def test_static_address_without_subnet(blueprint_problems):
    problem = only(static_address_problems(blueprint_problems, "10.1.0.9", network="plain"))

    assert position(problem) == (12, 29)
    assert problem.key_path == "containers.web.networks.plain.ipv4_address"
    assert problem.message == "static address 10.1.0.9 needs a subnet on network 'plain'"
    assert problem.hint == "add subnet: to network 'plain', or remove ipv4_address"


def test_static_address_duplicated(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend: {subnet: 10.1.0.0/24}
        volume_containers:
          data:
            image: busybox
            networks:
              backend: {ipv4_address: 10.1.0.7}
        containers:
          web:
            image: busybox
            networks:
              backend: {ipv4_address: 10.1.0.7}
        """)

    problem = only(problems)
    assert position(problem) == (14, 31)
    assert problem.key_path == "containers.web.networks.backend.ipv4_address"
    assert problem.message == "address 10.1.0.7 is already given to 'data'"
    assert problem.hint == "give each container its own address"


def test_static_addresses_distinct(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        networks:
          backend: {subnet: 10.1.0.0/24}
        containers:
          web:
            image: busybox
            networks:
              backend: {ipv4_address: 10.1.0.7}
          db:
            image: busybox
            networks:
              backend: {ipv4_address: 10.1.0.8}
        """)

    assert set(load_blueprint(path).blueprint.containers) == {"web", "db"}


# Published ports across containers


PORTS_TEMPLATE = """\
version: 1
project: demo
containers:
  web:
    image: busybox
    ports: ["{first}"]
  api:
    image: busybox
    ports: ["{second}"]
"""


@pytest.mark.parametrize("first, second, shown", [
    ("8080:80", "8080:81", "0.0.0.0:8080/tcp"),
    ("0.0.0.0:8080:80", "127.0.0.1:8080:80", "127.0.0.1:8080/tcp"),
    ("127.0.0.1:8080:80", "8080:80", "0.0.0.0:8080/tcp"),
    ("53:53/udp", "127.0.0.1:53:53/udp", "127.0.0.1:53/udp"),
])
def test_host_port_clash(blueprint_problems, first, second, shown):
    problems = blueprint_problems(PORTS_TEMPLATE.format(first=first, second=second))

    problem = only(problems)
    assert position(problem) == (9, 13)
    assert problem.key_path == "containers.api.ports[0]"
    assert problem.message == f"host port {shown} is already published by 'web'"
    assert problem.hint == "publish each host address and port once"


@pytest.mark.parametrize("first, second", [
    ("53:53/udp", "53:53/tcp"),
    ("127.0.0.1:8080:80", "127.0.0.2:8080:80"),
    ("8080:80", "8081:80"),
])
def test_host_ports_no_clash(write_blueprint, first, second):
    path = write_blueprint(PORTS_TEMPLATE.format(first=first, second=second))

    assert set(load_blueprint(path).blueprint.containers) == {"web", "api"}


# Dependency cycles


def test_dependency_cycle_path(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          vc:
            image: busybox
            volumes_from: [a]
        containers:
          a:
            image: busybox
            depends_on: [b]
          b:
            image: busybox
            network_mode: container:c
          c:
            image: busybox
            volumes_from: [vc]
        """)

    problem = only(problems)
    assert position(problem) == (4, 3)
    assert problem.key_path == "volume_containers.vc"
    assert problem.message == "dependency cycle: vc -> a -> b -> c -> vc (each one needs the next)"
    assert "depends_on, volumes_from or network_mode" in problem.hint


def test_two_container_cycle(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          a:
            image: busybox
            depends_on: [b]
          b:
            image: busybox
            depends_on: [a]
        """)

    problem = only(problems)
    assert position(problem) == (4, 3)
    assert problem.message == "dependency cycle: a -> b -> a (each one needs the next)"


def test_dependency_chain_allowed(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volume_containers:
          vc: {image: busybox}
        containers:
          a:
            image: busybox
            depends_on: [b, c]
          b:
            image: busybox
            network_mode: container:c
          c:
            image: busybox
            volumes_from: [vc]
        """)

    assert set(load_blueprint(path).blueprint.containers) == {"a", "b", "c"}


# Bind mount sources


def test_bind_source_missing(blueprint_problems, tmp_path):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["./missing:/srv"]
        """)

    problem = only(problems)
    assert position(problem) == (6, 15)
    assert problem.key_path == "containers.web.volumes[0]"
    assert problem.message == f"bind mount source './missing' does not exist (resolved to {tmp_path.resolve() / 'missing'})"
    assert "relative to the file it is written in" in problem.hint


def test_bind_source_absolute_missing(blueprint_problems, tmp_path):
    missing = tmp_path / "absent"

    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["{missing}:/srv:ro"]
        """)

    problem = only(problems)
    assert position(problem) == (6, 15)
    assert problem.message.startswith(f"bind mount source '{missing}' does not exist")


def test_bind_source_relative_to_blueprint(write_blueprint, tmp_path, monkeypatch):
    (tmp_path / "project" / "site").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["./site:/srv/site:ro", "../project/site:/srv/again"]
        """, name="project/blueprint.yaml")

    loaded = load_blueprint(path)

    assert loaded.base_dir == (tmp_path / "project").resolve()
    assert loaded.blueprint.containers["web"].volumes[0].source == "./site"


def test_bind_source_not_from_cwd(write_blueprint, tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere" / "site").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "elsewhere")
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["./site:/srv/site"]
        """, name="project/blueprint.yaml")

    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(path)

    problem = only(caught.value.problems)
    assert position(problem) == (6, 15)
    assert problem.message.endswith(f"(resolved to {tmp_path.resolve() / 'project' / 'site'})")


def test_bind_source_home_expanded(write_blueprint, tmp_path, monkeypatch):
    (tmp_path / "home" / "data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            volumes: ["~/data:/data"]
        """)

    assert load_blueprint(path).blueprint.containers["web"].volumes[0].type == "bind"


# Container names shared between sections


def test_name_in_both_sections(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volume_containers:
          data:
            image: busybox
        containers:
          web:
            image: busybox
          data:
            image: postgres
        """)

    problem = only(problems)
    assert position(problem) == (9, 3)
    assert problem.key_path == "containers.data"
    assert problem.message == "container name 'data' is also a volume container"
    assert "rename one of them" in problem.hint


# Every problem in one run


def test_all_problems_reported_sorted(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: Demo
        volumes:
          data: {}
        networks:
          net:
            drivr: bridge
        containers:
          web:
            image: busybox
            ports: ["8080:80"]
            volumes: ["dta:/data"]
          api:
            image: busybox
            ports: ["8080:81"]
            depends_on: [wbe]
          worker:
            imagee: busybox
            restart: sometimes
        """)

    found = [(*position(problem), problem.key_path) for problem in problems]
    assert found == [
        (2, 10, "project"),
        (7, 5, "networks.net.drivr"),
        (12, 15, "containers.web.volumes[0]"),
        (15, 13, "containers.api.ports[0]"),
        (16, 18, "containers.api.depends_on[0]"),
        (17, 3, "containers.worker"),
        (18, 5, "containers.worker.imagee"),
        (19, 14, "containers.worker.restart"),
    ]


def test_rendered_error_counts_problems(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: Demo
        container: {}
        """)

    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(path)

    text = str(caught.value)
    assert f"{path}:2:10: error: project: invalid name 'Demo'" in text
    assert "    hint: did you mean 'containers'?" in text
    assert text.endswith("blueprint is invalid: 2 problems found; nothing was changed on the engine")


# The full example


FULL_EXAMPLE = """\
version: 1
project: seed-demo
volumes:
  app-data: {}
  scratch:
    driver: local
    driver_opts: {type: tmpfs, device: tmpfs, o: "size=64m"}
    labels: {tier: cache}
networks:
  backend:
    driver: bridge
    subnet: 10.231.10.0/24
    gateway: 10.231.10.1
    ip_range: 10.231.10.128/25
    labels: {tier: app}
  isolated:
    internal: true
volume_containers:
  data-volume:
    image: busybox:1.36
    volumes:
      - /tmp/myfolder
      - app-data:/srv/data
      - ./site:/srv/site:ro
containers:
  busy-box2:
    image: busybox:1.36
    command: [sleep, "100000"]
    volumes_from: [data-volume]
    networks:
      backend: {ipv4_address: 10.231.10.20, aliases: [app]}
      isolated: {}
    ports: ["127.0.0.1:18080:80/tcp"]
    environment: {MODE: demo}
    restart: unless-stopped
  sidecar:
    image: busybox:1.36
    command: [sleep, "100000"]
    network_mode: container:busy-box2
  batch:
    image: busybox:1.36
    command: [sleep, "100000"]
    network_mode: none
  hostnet:
    image: busybox:1.36
    command: [sleep, "100000"]
    network_mode: host
"""


@pytest.fixture
def full_example(write_blueprint, tmp_path):
    (tmp_path / "site").mkdir()
    return load_blueprint(write_blueprint(FULL_EXAMPLE))


def test_full_example_top_level(full_example, tmp_path):
    blueprint = full_example.blueprint

    assert blueprint.version == 1
    assert blueprint.project == "seed-demo"
    assert full_example.base_dir == tmp_path.resolve()
    assert list(blueprint.containers) == ["busy-box2", "sidecar", "batch", "hostnet"]


def test_full_example_volumes(full_example):
    volumes = full_example.blueprint.volumes

    assert volumes["app-data"].driver == "local"
    assert volumes["app-data"].driver_opts == {}
    assert volumes["scratch"].driver_opts == {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}
    assert volumes["scratch"].labels == {"tier": "cache"}


def test_full_example_networks(full_example):
    networks = full_example.blueprint.networks

    assert networks["backend"].subnet == ipaddress.IPv4Network("10.231.10.0/24")
    assert networks["backend"].gateway == ipaddress.IPv4Address("10.231.10.1")
    assert networks["backend"].ip_range == ipaddress.IPv4Network("10.231.10.128/25")
    assert networks["backend"].labels == {"tier": "app"}
    assert networks["isolated"].driver == "bridge"
    assert networks["isolated"].internal is True
    assert networks["isolated"].subnet is None


def test_full_example_volume_container(full_example):
    data = full_example.blueprint.volume_containers["data-volume"]

    assert data.state == "created"
    assert data.pull == "missing"
    assert data.volumes == [
        Mount(type="anonymous", source=None, target="/tmp/myfolder", read_only=False),
        Mount(type="volume", source="app-data", target="/srv/data", read_only=False),
        Mount(type="bind", source="./site", target="/srv/site", read_only=True),
    ]


def test_full_example_main_container(full_example):
    web = full_example.blueprint.containers["busy-box2"]

    assert web.image == "busybox:1.36"
    assert web.command == ["sleep", "100000"]
    assert web.volumes_from == [VolumesFrom(container="data-volume", read_only=False)]
    assert web.networks["backend"].ipv4_address == ipaddress.IPv4Address("10.231.10.20")
    assert web.networks["backend"].aliases == ["app"]
    assert web.networks["isolated"].ipv4_address is None
    assert web.ports == [Port(host_ip="127.0.0.1", host_port=18080, container_port=80, protocol="tcp")]
    assert web.environment == {"MODE": "demo"}
    assert web.restart == "unless-stopped"
    assert web.state == "running"
    assert web.pull == "missing"


def test_full_example_network_modes(full_example):
    containers = full_example.blueprint.containers

    assert containers["sidecar"].network_mode == "container:busy-box2"
    assert containers["batch"].network_mode == "none"
    assert containers["hostnet"].network_mode == "host"
    assert containers["sidecar"].restart == "no"
    assert containers["sidecar"].networks == {}


def test_full_example_missing_site(write_blueprint):
    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(write_blueprint(FULL_EXAMPLE))

    problem = only(caught.value.problems)
    assert position(problem) == (24, 9)
    assert problem.key_path == "volume_containers.data-volume.volumes[2]"


# Values the engine or provision itself owns


@pytest.mark.parametrize("image", ["busybox::1.36", "BusyBox:1.36", "busybox:", ":latest", "busy box"])
def test_invalid_image_reference(blueprint_problems, image):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: "{image}"
        """)

    problem = only(problems)
    assert position(problem) == (5, 12)
    assert problem.key_path == "containers.web.image"
    assert problem.message.startswith(f"invalid image reference {image!r}; write NAME[:TAG]")


@pytest.mark.parametrize("image", ["busybox", "busybox:1.36", "registry.example.com:5000/team/app:2.1",
                                   "127.0.0.1:5443/busybox:1.36", "library/busy_box-x.y",
                                   "busybox@sha256:" + "a" * 64])
def test_valid_image_references(write_blueprint, image):
    path = write_blueprint(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: "{image}"
        """)

    assert load_blueprint(path).blueprint.containers["web"].image == image


@pytest.mark.parametrize("section, entry", [
    ("volumes", "data: {labels: {io.provision.project: other}}"),
    ("networks", "back: {labels: {io.provision.project: other}}"),
    ("containers", "web: {image: busybox, labels: {io.provision.project: other}}"),
])
def test_reserved_label_rejected(blueprint_problems, section, entry):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        {section}:
          {entry}
        """)

    problem = only(problems)
    assert problem.location.line == 4
    assert problem.key_path.endswith(".labels")
    assert problem.message.startswith("label 'io.provision.project' is reserved")


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_network_name_rejected(blueprint_problems, name):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        networks:
          {name}: {{}}
        """)

    problem = only(problems)
    assert position(problem) == (4, 3)
    assert problem.message == f"network name {name!r} is taken by the engine's own network"
    assert problem.hint == f"rename it; to use the engine's {name} network, set network_mode: {name} on the container"


def test_bridge_mode_allows_ports(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            network_mode: bridge
            ports: ["127.0.0.1:8080:80"]
        """)

    web = load_blueprint(path).blueprint.containers["web"]
    assert web.network_mode == "bridge"
    assert web.ports[0].host_port == 8080


def test_bridge_mode_rejects_networks(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          back: {}
        containers:
          web:
            image: busybox
            network_mode: bridge
            networks: [back]
        """)

    problem = only(problems)
    assert position(problem) == (9, 5)
    assert problem.message == "networks cannot be combined with network_mode 'bridge'"


def test_environment_list_duplicate_name(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            environment: [A=1, A=2]
        """)

    problem = only(problems)
    assert position(problem) == (6, 24)
    assert problem.key_path == "containers.web.environment[1]"
    assert problem.message == "environment variable A is set twice; keep one entry"


@pytest.mark.parametrize("key, value, expected", [
    ("command", "123", "invalid value 123; write a list such as [sleep, \"10\"] or a string such as \"sleep 10\""),
    ("networks", "net", "invalid value 'net'; write a list of network names, such as [backend], or a mapping of name: settings"),
])
def test_wrong_shape_explains_forms(blueprint_problems, key, value, expected):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            {key}: {value}
        """)

    problem = only(problems)
    assert problem.key_path == f"containers.web.{key}"
    assert problem.message == expected


def test_numbers_in_command_become_text(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            command: [sleep, 100000]
        """)

    assert load_blueprint(path).blueprint.containers["web"].command == ["sleep", "100000"]


def test_port_without_container_port(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            ports: ["127.0.0.1:8080"]
        """)

    problem = only(problems)
    assert problem.key_path == "containers.web.ports[0]"
    assert problem.message.startswith("invalid port '127.0.0.1:8080': the container port is missing")


def test_services_key_hints_containers(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        services:
          web: {image: busybox}
        """)

    problem = only(problems)
    assert position(problem) == (3, 1)
    assert problem.message == "unknown key 'services'"
    assert problem.hint == "provision calls them containers; rename services: to containers:"


# YAML 1.1 values that must not turn silently into something else


def test_yaml_booleans_where_text_expected(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        volumes:
          v: {labels: {enabled: on}}
        containers:
          web:
            image: busybox
            user: yes
            environment: {FLAG: off}
        """)

    assert [(position(problem), problem.key_path, problem.message, problem.hint) for problem in problems] == [
        ((4, 25), "volumes.v.labels.enabled", "'on' is read by YAML as the boolean true",
         'quote it, as "on", if you meant the text'),
        ((8, 11), "containers.web.user", "'yes' is read by YAML as the boolean true",
         'quote it, as "yes", if you meant the text'),
        ((9, 25), "containers.web.environment.FLAG", "'off' is read by YAML as the boolean false",
         'quote it, as "off", if you meant the text'),
    ]


def test_yaml_numbers_keep_their_text(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        volumes:
          v: {driver_opts: {o: 0644, size: 1_000, plain: 42}}
        containers:
          web:
            image: busybox
            ports: [22:22, 0443:443]
            environment: {HEX: 0x1F}
        """)

    loaded = load_blueprint(path).blueprint

    assert loaded.volumes["v"].driver_opts == {"o": "0644", "size": "1_000", "plain": "42"}
    assert [(port.host_port, port.container_port) for port in loaded.containers["web"].ports] == [(22, 22), (443, 443)]
    assert loaded.containers["web"].environment == {"HEX": "0x1F"}


def test_yaml_boolean_where_boolean_expected(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        networks:
          inner: {internal: yes}
        """)

    assert load_blueprint(path).blueprint.networks["inner"].internal is True


def test_network_list_with_non_name(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox
            networks: [[]]
        """)

    problem = only(problems)
    assert problem.key_path == "containers.web.networks"
    assert problem.message == "invalid network [] in the list; write network names, such as [backend]"


@pytest.mark.parametrize("value", ["false", "0", "167772160"])
def test_subnet_must_be_text(blueprint_problems, value):
    problems = blueprint_problems(f"""\
        version: 1
        project: demo
        networks:
          backend: {{subnet: {value}}}
        """)

    problem = only(problems)
    assert problem.key_path == "networks.backend.subnet"
    assert "not an IPv4 network in CIDR form" in problem.message or "read by YAML as the boolean" in problem.message


def test_single_address_subnet_checks(blueprint_problems):
    problems = blueprint_problems("""\
        version: 1
        project: demo
        networks:
          backend: {subnet: 10.1.0.0/32, gateway: 10.2.0.1}
        """)

    problem = only(problems)
    assert problem.message == "gateway 10.2.0.1 is outside subnet 10.1.0.0/32"
    assert problem.hint == "pick a gateway inside 10.1.0.0/32, such as 10.1.0.0"
