"""Secret markers, the Redactor and its logging filter, and secrets on their way from a blueprint to labels."""

from __future__ import annotations

import io
import json
import logging
import textwrap
from pathlib import Path

import pytest

from provisioner.errors import BlueprintInvalid
from provisioner.planner import plan_apply
from provisioner.render import render_plan
from provisioner.snapshot import snapshot_from_lists
from provisioner.labels import SPEC_HASH_LABEL, SPEC_LABEL, ownership_labels, stored_spec
from provisioner.resources import DesiredState, Kind, ResourceId, build_desired_state
from provisioner.secrets import MIN_REDACTED_LENGTH, Redactor, RedactingFilter, has_marker, marker, shown
from provisioner.validation import BlueprintSource, LoadedBlueprint, load_blueprint
from provisioner.variables import VariableInputs
from tests.unit.planning_support import PROJECT, SCRATCH, desired_state, raw_item, recording, seed_data

SECRET = "hunter2-secret"
# The marker of SECRET in project demo. Stored labels contain it, so a change of
# the digest scheme would make every plan replace every object that uses a secret.
SECRET_MARKER = "[secret:db_password:19aaee8837e9f28b]"

WEB = ResourceId(Kind.CONTAINER, "web")
WORKER = ResourceId(Kind.CONTAINER, "worker")
SHARE = ResourceId(Kind.VOLUME, "share")

BLUEPRINT = """\
    version: 1
    project: demo
    variables:
      db_password: {secret: true}
      tag: {default: "1.36"}
    volumes:
      share:
        driver_opts:
          type: cifs
          device: //files.example/share
          o: "username=app,password={{ vars.db_password }}"
    containers:
      web:
        image: "busybox:{{ vars.tag }}"
        command: [sh, -c, "exec app --db-password={{ vars.db_password }}"]
        environment:
          DB_PASSWORD: "{{ vars.db_password }}"
          DSN: "postgres://app:{{ vars.db_password }}@db/app"
      worker:
        image: "busybox:{{ vars.tag }}"
        command: [sleep, "100000"]
    """


# marker


def test_marker_pinned_value():
    assert marker(["db_password"], SECRET, "demo") == SECRET_MARKER


def test_marker_deterministic():
    assert marker(["db_password"], SECRET, "demo") == marker(["db_password"], SECRET, "demo")


def test_marker_differs_per_project():
    assert marker(["db_password"], SECRET, "staging") == "[secret:db_password:0504fb01dc561c31]"


def test_marker_differs_per_value():
    assert marker(["db_password"], "hunter3-secret", "demo") == "[secret:db_password:accb60dc7da52e2f]"


def test_marker_sorts_names():
    assert marker(["user", "db_password"], SECRET, "demo") == "[secret:db_password,user:19aaee8837e9f28b]"


def test_marker_hides_value():
    assert SECRET not in marker(["db_password"], SECRET, "demo")


def test_has_marker():
    assert has_marker(f"postgres://app:{SECRET_MARKER}@db/app")
    assert not has_marker("postgres://app@db/app")
    assert not has_marker("[secret:db_password:19aaee88]")
    assert not has_marker("[secret:db_password:19AAEE8837E9F28B]")


# shown


def test_shown_replaces_marker():
    assert shown(f"postgres://app:{SECRET_MARKER}@db/app") == "postgres://app:(secret db_password)@db/app"


def test_shown_replaces_every_marker():
    text = f"{SECRET_MARKER} and [secret:api_key:0123456789abcdef]"

    assert shown(text) == "(secret db_password) and (secret api_key)"


def test_shown_lists_several_names():
    assert shown("[secret:db_password,user:19aaee8837e9f28b]") == "(secret db_password,user)"


def test_shown_keeps_other_text():
    assert shown("sleep 100000") == "sleep 100000"
    assert shown("[secret:db_password:19aaee88]") == "[secret:db_password:19aaee88]"


# Redactor


def test_redactor_replaces_each_occurrence():
    redact = Redactor({"db_password": SECRET})

    assert redact(f"login {SECRET} failed; retry with {SECRET}") == (
        "login (secret db_password) failed; retry with (secret db_password)")


def test_redactor_longest_value_first():
    redact = Redactor({"short": "abc", "long": "abcdef"})

    assert redact("abcdef abc") == "(secret long) (secret short)"


def test_redactor_minimum_length():
    redact = Redactor({"two": "ab", "three": "xyz"})

    assert MIN_REDACTED_LENGTH == 3
    assert redact("ab xyz") == "ab (secret three)"


def test_redactor_empty_returns_text():
    assert Redactor()("login hunter2-secret") == "login hunter2-secret"


def test_redactor_value_is_not_pattern():
    redact = Redactor({"pattern": "a.b*c"})

    assert redact("aXbbc a.b*c") == "aXbbc (secret pattern)"


def test_redactor_add_later():
    redact = Redactor()
    redact.add({"db_password": SECRET})

    assert redact(SECRET) == "(secret db_password)"


def test_redactor_include_other():
    redact = Redactor({"db_password": SECRET})
    redact.include(Redactor({"api_key": "key-0123"}))

    assert redact(f"{SECRET} key-0123") == "(secret db_password) (secret api_key)"


def test_redactor_python_repr_spelling():
    value = "p\\w'd\tx"
    redact = Redactor({"db_password": value})

    assert redact(repr(f"sh -c 'echo {value}'")) == "\"sh -c 'echo (secret db_password)'\""
    assert redact(repr(f"\"{value}")) == "'\"(secret db_password)'"
    assert redact(str([value])) == '["(secret db_password)"]'


def test_redactor_json_spelling():
    value = 'p\\w"d\tü'
    redact = Redactor({"db_password": value})

    assert redact(json.dumps({"DB": value})) == '{"DB": "(secret db_password)"}'
    assert redact(json.dumps({"DB": value}, ensure_ascii=False)) == '{"DB": "(secret db_password)"}'


def test_redactor_keeps_placeholder():
    redact = Redactor({"db_password": "password"})

    assert redact("(secret db_password) password") == "(secret db_password) (secret db_password)"


def test_redactor_twice_unchanged():
    redact = Redactor({"db_password": "password"})
    once = redact("DB_PASSWORD=password")

    assert once == "DB_PASSWORD=(secret db_password)"
    assert redact(once) == once


def test_redactor_keeps_marker():
    redact = Redactor({"token": "token", "digest": "19aaee"})

    assert redact(f"token {SECRET_MARKER}") == f"(secret token) {SECRET_MARKER}"
    assert redact("[secret:token:0123456789abcdef]") == "[secret:token:0123456789abcdef]"


# RedactingFilter


@pytest.fixture
def log_output():
    """Return a logger whose records pass through a RedactingFilter for SECRET, and the text it wrote."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor({"db_password": SECRET})))
    logger = logging.getLogger("tests.unit.test_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, output

    logger.removeHandler(handler)
    logger.filters.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_filter_redacts_arguments(log_output):
    logger, output = log_output

    logger.info("connecting with %s to %s", SECRET, "db")

    assert output.getvalue() == "INFO connecting with (secret db_password) to db\n"


def test_filter_redacts_message(log_output):
    logger, output = log_output

    logger.warning(f"login {SECRET} failed, 100% sure")

    assert output.getvalue() == "WARNING login (secret db_password) failed, 100% sure\n"


def test_filter_leaves_record_formatted(log_output):
    logger, _ = log_output
    records: list[logging.LogRecord] = []
    logger.addFilter(lambda record: records.append(record) or True)

    logger.info("user %s", SECRET)

    assert records[0].args is None
    assert records[0].msg == "user (secret db_password)"


def test_filter_redacts_traceback(log_output):
    logger, output = log_output

    try:
        raise RuntimeError(f"login {SECRET} failed")
    except RuntimeError:
        logger.exception("engine call failed")

    lines = output.getvalue().splitlines()
    assert lines[0] == "ERROR engine call failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: login (secret db_password) failed"
    assert SECRET not in output.getvalue()


def test_filter_redacts_stack(log_output):
    logger, output = log_output

    def log_with_secret_in_source():
        logger.debug("here", stack_info=True)  # hunter2-secret

    log_with_secret_in_source()

    assert "logger.debug(\"here\", stack_info=True)  # (secret db_password)" in output.getvalue()
    assert SECRET not in output.getvalue()


def test_filter_mismatched_arguments(log_output):
    logger, output = log_output

    logger.warning("kept %s of %s", SECRET)

    assert output.getvalue() == "WARNING kept %s of %s (arguments: ('(secret db_password)',))\n"


# From a blueprint to labels: load_blueprint, build_desired_state, ownership_labels


def load(folder: Path, text: str = BLUEPRINT, password: str = SECRET, project: str = "demo") -> LoadedBlueprint:
    path = folder / "blueprint.yaml"
    path.write_text(textwrap.dedent(text).replace("project: demo", f"project: {project}"), encoding="utf-8")
    inputs = VariableInputs(var_args=(f"db_password={password}",), environ={})
    return load_blueprint(BlueprintSource((path,), inputs))


def desired(folder: Path, password: str = SECRET, project: str = "demo") -> DesiredState:
    return build_desired_state(load(folder, password=password, project=project))


def labels_of(state: DesiredState, resource_id: ResourceId) -> dict[str, str]:
    resource = state.resources[resource_id]
    return ownership_labels(state.project, resource.id.label, resource.role, resource.spec)


def test_labels_never_contain_secret(tmp_path):
    state = desired(tmp_path)

    for resource_id in (WEB, WORKER, SHARE):
        for key, value in labels_of(state, resource_id).items():
            assert SECRET not in value, (resource_id, key)


def test_spec_label_has_markers(tmp_path):
    state = desired(tmp_path)

    web = stored_spec(labels_of(state, WEB))
    assert web["command"] == ["sh", "-c", f"exec app --db-password={SECRET_MARKER}"]
    assert web["environment"]["DSN"] == f"postgres://app:{SECRET_MARKER}@db/app"
    # The marker already hides the value, and it names the variable for plans.
    assert web["environment"]["DB_PASSWORD"] == SECRET_MARKER
    share = stored_spec(labels_of(state, SHARE))
    assert share["driver_opts"]["o"] == f"username=app,password={SECRET_MARKER}"


def test_engine_spec_has_real_values(tmp_path):
    state = desired(tmp_path)

    web = state.resources[WEB].engine_spec
    assert web["command"] == ["sh", "-c", f"exec app --db-password={SECRET}"]
    assert web["environment"] == {"DB_PASSWORD": SECRET, "DSN": f"postgres://app:{SECRET}@db/app"}
    assert web["image"] == "busybox:1.36"
    assert state.resources[SHARE].engine_spec["driver_opts"] == {
        "type": "cifs", "device": "//files.example/share", "o": f"username=app,password={SECRET}"}


def test_spec_has_markers(tmp_path):
    state = desired(tmp_path)

    assert state.resources[WEB].spec["environment"] == {
        "DB_PASSWORD": SECRET_MARKER, "DSN": f"postgres://app:{SECRET_MARKER}@db/app"}
    assert state.resources[SHARE].spec["driver_opts"]["o"] == f"username=app,password={SECRET_MARKER}"


def test_resource_without_secret_one_spec(tmp_path):
    worker = desired(tmp_path).resources[WORKER]

    assert "engine_spec" not in worker.inputs
    assert worker.engine_spec is worker.spec
    assert worker.spec["command"] == ["sleep", "100000"]


def test_spec_hash_kept_for_same_secret(tmp_path):
    first = desired(tmp_path)
    second = desired(tmp_path)

    for resource_id in (WEB, WORKER, SHARE):
        assert labels_of(second, resource_id)[SPEC_HASH_LABEL] == labels_of(first, resource_id)[SPEC_HASH_LABEL]
        assert labels_of(second, resource_id)[SPEC_LABEL] == labels_of(first, resource_id)[SPEC_LABEL]


def test_spec_hash_changes_with_secret(tmp_path):
    first = desired(tmp_path)
    changed = desired(tmp_path, password="hunter3-secret")

    assert labels_of(changed, WEB)[SPEC_HASH_LABEL] != labels_of(first, WEB)[SPEC_HASH_LABEL]
    assert labels_of(changed, SHARE)[SPEC_HASH_LABEL] != labels_of(first, SHARE)[SPEC_HASH_LABEL]
    assert labels_of(changed, WORKER)[SPEC_HASH_LABEL] == labels_of(first, WORKER)[SPEC_HASH_LABEL]
    assert "hunter3-secret" not in json.dumps(labels_of(changed, WEB))


def test_marker_salted_by_project(tmp_path):
    staging = desired(tmp_path, project="staging")

    assert staging.resources[WEB].spec["environment"]["DB_PASSWORD"] == "[secret:db_password:0504fb01dc561c31]"


def test_loaded_blueprint_two_forms(tmp_path):
    loaded = load(tmp_path)

    assert SECRET not in loaded.blueprint.model_dump_json()
    assert loaded.blueprint.containers["web"].environment["DB_PASSWORD"] == SECRET_MARKER
    assert loaded.engine_blueprint.containers["web"].environment["DB_PASSWORD"] == SECRET
    assert loaded.has_secrets
    assert loaded.redact(f"password {SECRET}") == "password (secret db_password)"


def test_problem_hides_quoted_secret(tmp_path):
    text = """\
        version: 1
        project: demo
        variables:
          db_password: {secret: true}
        containers:
          web:
            image: busybox:1.36
            command: "sh -c 'echo {{ vars.db_password }}'"
        """
    # The quote ends the command's quoting early, so only the real value is invalid.
    password = "it's\\here"

    with pytest.raises(BlueprintInvalid) as caught:
        load(tmp_path, text, password=password)

    [problem] = caught.value.problems
    assert str(problem.location) == f"{tmp_path / 'blueprint.yaml'}:8:14"
    assert problem.key_path == "containers.web.command"
    assert problem.message == ("cannot split \"sh -c 'echo (secret db_password)'\" into words (No closing quotation); "
                               "write it as a list")
    assert password not in caught.value.render()
    assert "it's\\\\here" not in caught.value.render()


# Live comparison of a volume option that uses a secret


def applied_scratch_volume(monkeypatch, tmp_path, live_value: str):
    """Return the plan of the seed example with a secret tmpfs size, against an engine whose option `o` is `live_value`."""
    monkeypatch.setenv("PROVISION_VAR_tmpfs_size", "64m-secret")
    data = seed_data()
    data["variables"] = {"tmpfs_size": {"secret": True}}
    data["volumes"]["scratch"]["driver_opts"]["o"] = "size={{ vars.tmpfs_size }}"
    desired = desired_state(data, tmp_path)
    resource = desired.resources[SCRATCH]
    raw = recording("applied")
    item = raw_item(raw, SCRATCH)
    item["Labels"] = {**ownership_labels(PROJECT, resource.id.label, resource.role, resource.spec), "tier": "cache"}
    item["Options"] = {**resource.engine_spec["driver_opts"], "o": live_value}
    return plan_apply(desired, snapshot_from_lists(raw))


def test_secret_option_as_applied_plans_nothing(monkeypatch, tmp_path):
    plan = applied_scratch_volume(monkeypatch, tmp_path, "size=64m-secret")

    assert [action for action in plan.actions if action.resource == SCRATCH] == []


def test_secret_option_changed_live_hides_both(monkeypatch, tmp_path):
    plan = applied_scratch_volume(monkeypatch, tmp_path, "size=32m-other")

    text = render_plan(plan)

    assert "64m-secret" not in text
    assert "32m-other" not in text
    assert ('      driver_opts.o: "(hidden: the value should contain a secret)" -> "size=(secret tmpfs_size)"'
            in text.splitlines())
