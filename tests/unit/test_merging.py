"""Tests for provisioner.merging.merge_documents and for override files as load_blueprint reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.certificates import generate_ca
from provisioner.errors import BlueprintInvalid, Location, Problem
from provisioner.loader import Document, load_document
from provisioner.merging import merge_documents
from provisioner.resources import Kind, ResourceId, build_desired_state
from provisioner.validation import BlueprintSource, LoadedBlueprint, load_blueprint
from provisioner.variables import VariableInputs

BASE = """\
    version: 1
    project: demo
    volumes:
      data: {}
    containers:
      web:
        image: busybox:1.36
        restart: always
        command: [sleep, "100", "200"]
        environment:
          MODE: base
          LEVEL: info
        labels:
          team: core
          tier: front
    """

UNKNOWN_TAG_HINT = "a blueprint may use only the tags !reset and !override; remove the tag or quote the value"


def merged(*paths: Path) -> Document:
    return merge_documents([load_document(path) for path in paths])


def load(*paths: Path) -> LoadedBlueprint:
    return load_blueprint(BlueprintSource(paths, VariableInputs(environ={})))


def load_problems(*paths: Path) -> list[Problem]:
    with pytest.raises(BlueprintInvalid) as caught:
        load(*paths)
    return caught.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [problem.render() for problem in problems]
    return problems[0]


# Merging data


def test_mappings_merge_key_by_key(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            environment:
              LEVEL: debug
              EXTRA: "1"
          worker:
            image: busybox:1.36
        networks:
          backend: {}
        """, "override.yaml")

    data = merged(base, override).data

    assert data == {
        "version": 1,
        "project": "demo",
        "volumes": {"data": {}},
        "containers": {
            "web": {
                "image": "busybox:1.36",
                "restart": "always",
                "command": ["sleep", "100", "200"],
                "environment": {"MODE": "base", "LEVEL": "debug", "EXTRA": "1"},
                "labels": {"team": "core", "tier": "front"},
            },
            "worker": {"image": "busybox:1.36"},
        },
        "networks": {"backend": {}},
    }


def test_later_scalar_wins(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        project: staging
        containers:
          web:
            image: busybox:1.37
            restart: unless-stopped
        """, "override.yaml")

    data = merged(base, override).data

    assert data["project"] == "staging"
    assert data["containers"]["web"]["image"] == "busybox:1.37"
    assert data["containers"]["web"]["restart"] == "unless-stopped"


def test_list_replaced_not_appended(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            command: [sleep, "5"]
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["command"] == ["sleep", "5"]
    # The base list had three items; the third one's position must not outlive it.
    assert ("containers", "web", "command", 2) not in document.source_map.value_positions


def test_three_files_later_wins(write_blueprint):
    base = write_blueprint(BASE)
    first = write_blueprint("""\
        containers:
          web:
            image: busybox:1.37
            environment: {LEVEL: warn}
        """, "first.yaml")
    second = write_blueprint("""\
        containers:
          web:
            image: busybox:1.38
        """, "second.yaml")

    document = merged(base, first, second)
    web = document.data["containers"]["web"]

    assert web["image"] == "busybox:1.38"
    assert web["environment"] == {"MODE": "base", "LEVEL": "warn"}
    assert document.source_map.locate(("containers", "web", "image")) == Location(str(second), 3, 12)
    assert document.source_map.locate(("containers", "web", "environment", "LEVEL")) == Location(str(first), 4, 26)


def test_scalar_replaces_mapping(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            labels: none
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["labels"] == "none"
    assert ("containers", "web", "labels", "team") not in document.source_map.key_positions
    assert ("containers", "web", "labels", "team") not in document.source_map.value_positions
    assert document.source_map.locate(("containers", "web", "labels")) == Location(str(override), 3, 13)


def test_mapping_replaces_scalar(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: {policy: always}
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["restart"] == {"policy": "always"}
    assert document.source_map.locate(("containers", "web", "restart", "policy")) == Location(str(override), 3, 23)


def test_empty_value_keeps_earlier_section(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          # web:
          #   image: busybox:1.37
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["image"] == "busybox:1.36"
    assert document.source_map.locate(("containers",)) == Location(str(base), 6, 3)


def test_empty_value_keeps_earlier_scalar(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart:
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["restart"] == "always"
    assert document.source_map.locate(("containers", "web", "restart")) == Location(str(base), 8, 14)


def test_empty_value_adds_new_entry(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        volumes:
          cache:
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["volumes"] == {"data": {}, "cache": None}
    assert document.source_map.locate(("volumes", "cache"), at_key=True) == Location(str(override), 2, 3)


def test_empty_override_file_changes_nothing(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("# nothing to change yet\n", "override.yaml")

    document = merged(base, override)

    assert document.data == load_document(base).data
    assert document.source_map.locate(("containers", "web", "image")) == Location(str(base), 7, 12)


def test_merged_document_named_after_first_file(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("containers: {web: {image: busybox:1.37}}\n", "ci/override.yaml")

    document = merged(base, override)

    assert document.path == base
    assert document.source_map.file == str(base)
    assert document.files == {str(base): base, str(override): override}


# !reset and !override


def test_reset_removes_inherited_key(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: !reset
            environment: !reset {}
        """, "override.yaml")

    document = merged(base, override)
    web = document.data["containers"]["web"]

    assert "restart" not in web
    assert "environment" not in web
    assert ("containers", "web", "environment", "MODE") not in document.source_map.value_positions
    assert ("containers", "web", "environment", "MODE") not in document.source_map.key_positions


def test_reset_of_absent_key_ignored(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            hostname: !reset
        """, "override.yaml")

    assert merged(base, override).data == load_document(base).data


def test_reset_then_later_file_sets_again(write_blueprint):
    base = write_blueprint(BASE)
    reset = write_blueprint("containers: {web: {environment: !reset null}}\n", "reset.yaml")
    again = write_blueprint("""\
        containers:
          web:
            environment:
              LEVEL: trace
        """, "again.yaml")

    document = merged(base, reset, again)

    assert document.data["containers"]["web"]["environment"] == {"LEVEL": "trace"}
    assert document.source_map.locate(("containers", "web", "environment", "LEVEL")) == Location(str(again), 4, 14)


def test_override_replaces_mapping(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            labels: !override
              owner: ci
        """, "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["labels"] == {"owner": "ci"}
    assert ("containers", "web", "labels", "team") not in document.source_map.key_positions
    assert document.source_map.locate(("containers", "web", "labels", "owner")) == Location(str(override), 4, 14)


def test_override_on_whole_container(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web: !override
            image: alpine:3.20
        """, "override.yaml")

    assert merged(base, override).data["containers"]["web"] == {"image": "alpine:3.20"}


def test_override_of_new_key_unwrapped(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            user: !override nobody
            working_dir: !override /srv
        """, "override.yaml")

    web = merged(base, override).data["containers"]["web"]

    assert web["user"] == "nobody"
    assert web["working_dir"] == "/srv"


def test_override_nested_in_new_mapping_unwrapped(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          worker:
            image: busybox:1.36
            labels: !override {team: jobs}
            environment: {MODE: !reset, LEVEL: info}
        """, "override.yaml")

    worker = merged(base, override).data["containers"]["worker"]

    assert worker == {"image": "busybox:1.36", "labels": {"team": "jobs"}, "environment": {"LEVEL": "info"}}


def test_tags_in_only_file(write_blueprint):
    only_file = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox:1.36
            restart: !reset
            labels: !override {team: core}
        """)

    web = merged(only_file).data["containers"]["web"]

    assert web == {"image": "busybox:1.36", "labels": {"team": "core"}}


# Positions after merging


def test_positions_point_into_source_file(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            image: busybox:1.37
            environment:
              LEVEL: debug
        """, "ci/override.yaml")

    source_map = merged(base, override).source_map

    assert source_map.locate(("containers", "web", "image")) == Location(str(override), 3, 12)
    assert source_map.locate(("containers", "web", "image"), at_key=True) == Location(str(override), 3, 5)
    assert source_map.locate(("containers", "web", "environment", "LEVEL")) == Location(str(override), 5, 14)
    assert source_map.locate(("containers", "web", "environment", "MODE")) == Location(str(base), 11, 13)
    assert source_map.locate(("containers", "web", "restart")) == Location(str(base), 8, 14)
    assert source_map.locate(("containers", "web", "command", 1)) == Location(str(base), 9, 22)
    assert source_map.locate(("project",)) == Location(str(base), 2, 10)


def test_new_entry_positions_from_override(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          worker:
            image: busybox:1.36
            command: [sleep, "1"]
        """, "override.yaml")

    source_map = merged(base, override).source_map

    assert source_map.locate(("containers", "worker"), at_key=True) == Location(str(override), 2, 3)
    assert source_map.locate(("containers", "worker", "command", 1)) == Location(str(override), 4, 22)


def test_boolean_text_follows_value(write_blueprint):
    base = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web: {image: busybox, restart: no}
          db: {image: busybox, restart: no}
        """)
    override = write_blueprint("""\
        containers:
          web: {restart: always}
          db: {restart: off}
        """, "override.yaml")

    boolean_texts = merged(base, override).source_map.boolean_texts

    assert boolean_texts == {("containers", "db", "restart"): "off"}


# Through load_blueprint


def test_override_error_names_override_file(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: sometimes
        """, "ci/override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 3, 14)
    assert problem.key_path == "containers.web.restart"
    assert problem.message == "invalid restart policy 'sometimes'; use no, always, unless-stopped or on-failure[:N]"


def test_errors_in_both_files_each_located(write_blueprint):
    base = write_blueprint(BASE.replace("restart: always", "restart: sometimes"))
    override = write_blueprint("""\
        containers:
          web:
            ports: ["80"]
        """, "ci/override.yaml")

    problems = load_problems(base, override)

    assert [(problem.location, problem.key_path) for problem in problems] == [
        (Location(str(base), 8, 14), "containers.web.restart"),
        (Location(str(override), 3, 13), "containers.web.ports[0]"),
    ]


def test_boolean_from_override_named(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: yes
        """, "override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 3, 14)
    assert problem.message == "'yes' is read by YAML as the boolean true"
    assert problem.hint == "quote it, as \"yes\", if you meant the text"


def test_missing_key_of_new_container_in_override(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          worker:
            restart: always
        """, "override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 2, 3)
    assert problem.key_path == "containers.worker"
    assert problem.message == "missing required key 'image'"
    assert problem.hint == "add image: to containers.worker"


def test_override_file_not_a_mapping(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("- containers\n", "override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 1, 1)
    assert problem.message == "an override file must be a mapping of the keys it changes"
    assert problem.hint == ("write the keys to change at the top level, as in the first file, "
                            "for example containers: {web: {restart: always}}")


def test_empty_section_in_override_keeps_containers(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("containers:\n", "override.yaml")

    loaded = load(base, override)

    assert list(loaded.blueprint.containers) == ["web"]
    assert loaded.blueprint.containers["web"].image == "busybox:1.36"


def test_bind_mount_relative_to_override_folder(write_blueprint, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "ci" / "data").mkdir(parents=True)
    base = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox:1.36
            volumes: [./data:/base]
          worker:
            image: busybox:1.36
        """)
    override = write_blueprint("""\
        containers:
          web:
            image: busybox:1.37
          worker:
            volumes: ["./data:/data"]
        """, "ci/override.yaml")

    state = build_desired_state(load(base, override))

    # web's volumes were written in the base file, worker's in the override file.
    root = tmp_path.resolve()
    web_mounts = state.resources[ResourceId(Kind.CONTAINER, "web")].spec["mounts"]
    worker_mounts = state.resources[ResourceId(Kind.CONTAINER, "worker")].spec["mounts"]
    assert web_mounts == [{"type": "bind", "source": str(root / "data"), "target": "/base", "read_only": False}]
    assert worker_mounts == [{"type": "bind", "source": str(root / "ci" / "data"), "target": "/data",
                              "read_only": False}]


def test_bind_mount_checked_in_override_folder(write_blueprint, tmp_path):
    # ./data exists next to the base file only; the override file's folder has none.
    (tmp_path / "data").mkdir()
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            volumes: ["./data:/data"]
        """, "ci/override.yaml")

    problem = only(load_problems(base, override))

    missing = tmp_path.resolve() / "ci" / "data"
    assert problem.location == Location(str(override), 3, 15)
    assert problem.key_path == "containers.web.volumes[0]"
    assert problem.message == f"bind mount source './data' does not exist (resolved to {missing})"
    assert problem.hint == "create it, or fix the path; a relative path is relative to the file it is written in"


def test_reset_in_only_file_through_load(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox:1.36
            restart: !reset
        """)

    web = load(path).blueprint.containers["web"]

    assert web.restart == "no"


def test_reset_in_override_through_load(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: !reset null
            environment: !override {LEVEL: debug}
        """, "override.yaml")

    web = load(base, override).blueprint.containers["web"]

    assert web.restart == "no"
    assert web.environment == {"LEVEL": "debug"}


def test_unknown_tag_in_only_file(write_blueprint):
    path = write_blueprint(BASE.replace("restart: always", "restart: !foo always"))

    problem = only(load_problems(path))

    assert problem.location == Location(str(path), 8, 14)
    assert problem.key_path == ""
    assert problem.message == "invalid YAML: could not determine a constructor for the tag '!foo'"
    assert problem.hint == UNKNOWN_TAG_HINT


def test_unknown_tag_in_override_file(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: !foo always
        """, "ci/override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 3, 14)
    assert problem.key_path == ""
    assert problem.message == "invalid YAML: could not determine a constructor for the tag '!foo'"
    assert problem.hint == UNKNOWN_TAG_HINT


def test_unknown_tags_in_two_files_reported_together(write_blueprint):
    base = write_blueprint(BASE.replace("restart: always", "restart: !foo always"))
    override = write_blueprint("containers: {web: {image: !bar busybox}}\n", "override.yaml")

    problems = load_problems(base, override)

    assert [(problem.location, problem.message) for problem in problems] == [
        (Location(str(base), 8, 14), "invalid YAML: could not determine a constructor for the tag '!foo'"),
        (Location(str(override), 1, 27), "invalid YAML: could not determine a constructor for the tag '!bar'"),
    ]
    assert [problem.hint for problem in problems] == [UNKNOWN_TAG_HINT, UNKNOWN_TAG_HINT]


def test_merged_mapping_keeps_first_position(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("""\
        containers:
          web:
            restart: "no"
        """, "ci/override.yaml")

    source_map = merged(base, override).source_map

    assert source_map.locate(("containers", "web"), at_key=True) == Location(str(base), 6, 3)
    assert source_map.locate(("containers", "web", "restart")) == Location(str(override), 3, 14)


def test_certificate_paths_resolved_per_file(write_blueprint, tmp_path):
    ca = generate_ca("test CA")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "ca.key").write_bytes(ca.key_pem)
    base = write_blueprint("""\
        version: 1
        project: demo
        registries:
          hub:
            port: 5443
            hostnames: [localhost]
            tls: {ca: {cert: ca.crt, key: ca.key}}
        """)
    override = write_blueprint("""\
        registries:
          hub:
            tls: {days: 90}
        """, "ci/override.yaml")

    tls = load(base, override).blueprint.registries["hub"].tls

    assert tls.days == 90
    assert tls.ca.cert == str(tmp_path.resolve() / "ca.crt")
    assert tls.ca.key == str(tmp_path.resolve() / "ca.key")


def test_certificate_paths_from_override_folder(write_blueprint, tmp_path):
    ca = generate_ca("test CA")
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "ci" / "ca.key").write_bytes(ca.key_pem)
    base = write_blueprint("""\
        version: 1
        project: demo
        registries:
          hub:
            port: 5443
            hostnames: [localhost]
            tls: {days: 90}
        """)
    override = write_blueprint("""\
        registries:
          hub:
            tls: {ca: {cert: ca.crt, key: ca.key}}
        """, "ci/override.yaml")

    tls = load(base, override).blueprint.registries["hub"].tls

    assert tls.ca.cert == str(tmp_path.resolve() / "ci" / "ca.crt")
    assert tls.ca.key == str(tmp_path.resolve() / "ci" / "ca.key")


def test_reset_as_list_item_rejected(write_blueprint):
    base = write_blueprint("""\
        version: 1
        project: demo
        containers:
          web:
            image: busybox:1.36
            command: [sleep, !reset "100"]
        """)

    problem = only(load_problems(base))

    assert problem.location == Location(str(base), 6, 22)
    assert problem.key_path == "containers.web.command[1]"
    assert problem.message == "!reset removes a key, so it must be the value of a mapping key"
    assert problem.hint == "to empty a list, write KEY: [] instead; to remove the list, write KEY: !reset"


@pytest.mark.parametrize("written", ["!reset", "!reset null", "!reset []", "!reset {}"])
def test_reset_forms_accepted(write_blueprint, written):
    base = write_blueprint(BASE)
    override = write_blueprint(f"containers:\n  web:\n    labels: {written}\n", "override.yaml")

    web = merged(base, override).data["containers"]["web"]

    assert "labels" not in web


def test_reset_with_value_rejected(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("containers:\n  web:\n    restart: !reset always\n", "override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 3, 14)
    assert problem.message == "!reset takes no value: it removes the key, and what follows it would be ignored"
    assert problem.hint == "write KEY: !reset alone, or drop the tag to set the value"


def test_key_spelt_differently_in_override(write_blueprint):
    base = write_blueprint("""\
        version: 1
        project: demo
        containers:
          "{{ project }}-web":
            image: busybox:1.36
        """)
    override = write_blueprint("""\
        containers:
          "{{project}}-web":
            restart: always
        """, "ci/override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 2, 3)
    assert problem.message == (f"key '{{{{project}}}}-web' renders to 'demo-web', the same as key "
                               f"'{{{{ project }}}}-web' at {base}:4:3")
    assert problem.hint == ("override files are merged before templates are rendered, so write a key the same way "
                            "in every file; otherwise make the names differ")


@pytest.mark.parametrize("written", ['["C=d", "LEVEL=debug"]', "{C: d, LEVEL: debug}"])
def test_environment_merged_by_name(write_blueprint, written):
    base = write_blueprint(BASE.replace("""\
        environment:
          MODE: base
          LEVEL: info""", """\
        environment: ["MODE=base", "LEVEL=info"]"""))
    override = write_blueprint(f"containers:\n  web:\n    environment: {written}\n", "override.yaml")

    document = merged(base, override)

    assert document.data["containers"]["web"]["environment"] == {"MODE": "base", "LEVEL": "debug", "C": "d"}
    assert document.source_map.locate(("containers", "web", "environment", "MODE")) == Location(str(base), 10, 19)


def test_environment_entry_error_keeps_position(write_blueprint):
    base = write_blueprint(BASE)
    override = write_blueprint("containers:\n  web:\n    environment: [\"C=d\", \"BROKEN\"]\n", "override.yaml")

    problem = only(load_problems(base, override))

    assert problem.location == Location(str(override), 3, 26)
    assert problem.key_path == "containers.web.environment[1]"
    assert problem.message == "invalid environment entry 'BROKEN'; write NAME=VALUE"
