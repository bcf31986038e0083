"""The exact text of render_plan, render_progress and render_outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provisioner.events import ActionFinished, Outcome
from provisioner.labels import SPEC_HASH_LABEL
from provisioner.plan import Action, ActionKind, Blocker, FieldChange, Plan
from provisioner.planner import plan_apply
from provisioner.render import render_outcome, render_plan, render_progress
from provisioner.secrets import marker
from provisioner.snapshot import snapshot_from_lists
from tests.unit.planning_support import (
    APP_DATA,
    BATCH,
    BUSY_BOX2,
    ISOLATED,
    SCRATCH,
    desired_state,
    labels_of,
    recording,
    seed_data,
    set_stored_spec,
    stored_spec_of,
)

ESCAPE = "\033["

CONFLICT_MESSAGE = ("a volume named 'app-data' already exists and was not created by provision; "
                    "provision will not touch it")
CONFLICT_HINT = "rename app-data in the blueprint, or remove the existing volume yourself"


def create_action() -> Action:
    return Action(ActionKind.CREATE, ISOLATED, ["missing"])


def replace_action() -> Action:
    return Action(ActionKind.REPLACE, BUSY_BOX2, ["configuration differs from the blueprint"], changes=[
        FieldChange("environment.MODE", "demo", "prod"),
        FieldChange("networks.backend.ipv4_address", "10.231.10.20", "10.231.10.21"),
    ])


def start_action() -> Action:
    return Action(ActionKind.START, BATCH, ["should be running but is exited"])


def delete_action() -> Action:
    return Action(ActionKind.DELETE, SCRATCH, ["no longer in the blueprint"],
                  data_loss=["named volume scratch and all data in it"])


def small_plan() -> Plan:
    return Plan("seed-demo", actions=[create_action(), replace_action(), start_action(), delete_action()],
                blockers=[Blocker(APP_DATA, CONFLICT_MESSAGE, CONFLICT_HINT)])


SMALL_PLAN_TEXT = """\
provision will perform these actions on project seed-demo:

  + network isolated
      missing
  -/+ container busy-box2  (replace)
      configuration differs from the blueprint
      environment.MODE: "demo" -> "prod"
      networks.backend.ipv4_address: "10.231.10.20" -> "10.231.10.21"
  ~ container batch  (start)
      should be running but is exited
  - volume scratch  (delete)  DATA LOSS
      no longer in the blueprint
      removes named volume scratch and all data in it

Problems (apply will not start until they are resolved):
  ! volume app-data: a volume named 'app-data' already exists and was not created by provision; provision will not touch it
      hint: rename app-data in the blueprint, or remove the existing volume yourself

Plan: 1 to create, 1 to replace, 1 to start, 0 to stop, 1 to delete.
Data loss: 1 action removes stored data (marked DATA LOSS above)."""


# render_plan


def test_small_plan_exact_text():
    assert render_plan(small_plan()) == SMALL_PLAN_TEXT


def test_small_plan_without_colour_codes():
    assert ESCAPE not in render_plan(small_plan())


def test_small_plan_colour_marks_symbols():
    text = render_plan(small_plan(), colour=True)

    assert "  \033[32m+\033[0m network isolated" in text
    assert "  \033[33m-/+\033[0m container busy-box2  (replace)" in text
    assert "  \033[36m~\033[0m container batch  (start)" in text
    assert "  \033[31m-\033[0m volume scratch  (delete)  \033[31;1mDATA LOSS\033[0m" in text


def test_colour_changes_only_escape_codes():
    coloured = render_plan(small_plan(), colour=True)

    assert coloured != SMALL_PLAN_TEXT
    assert _strip_escapes(coloured) == SMALL_PLAN_TEXT


def test_destroy_verb_in_conflicts():
    text = render_plan(small_plan(), verb="destroy")

    assert "Problems (destroy will not start until they are resolved):" in text


def test_two_data_loss_actions_plural():
    second = Action(ActionKind.DELETE, APP_DATA, ["no longer in the blueprint"],
                    data_loss=["named volume app-data and all data in it"])
    plan = Plan("seed-demo", actions=[delete_action(), second])

    assert render_plan(plan).splitlines()[-1] == "Data loss: 2 actions remove stored data (marked DATA LOSS above)."


def test_changed_values_formatted_as_json():
    action = Action(ActionKind.REPLACE, BUSY_BOX2, ["configuration differs from the blueprint"], changes=[
        FieldChange("environment.MODE", "demo", None),
        FieldChange("ports", [{"host_port": 18080}], [{"host_port": 18081}]),
        FieldChange("internal", False, True),
    ])
    lines = render_plan(Plan("seed-demo", actions=[action])).splitlines()

    assert '      environment.MODE: "demo" -> (none)' in lines
    assert '      ports: [{"host_port": 18080}] -> [{"host_port": 18081}]' in lines
    assert "      internal: false -> true" in lines


def test_blockers_only_plan_text():
    plan = Plan("seed-demo", blockers=[Blocker(APP_DATA, CONFLICT_MESSAGE, CONFLICT_HINT)])

    assert render_plan(plan) == "\n".join([
        "Problems (apply will not start until they are resolved):",
        f"  ! volume app-data: {CONFLICT_MESSAGE}",
        f"      hint: {CONFLICT_HINT}",
        "",
        "Plan: 0 to create, 0 to replace, 0 to start, 0 to stop, 0 to delete.",
    ])


def test_no_changes_line():
    plan = Plan("seed-demo", unchanged=[APP_DATA, SCRATCH, ISOLATED])

    assert render_plan(plan) == "No changes. The engine matches the blueprint of project seed-demo (3 resources)."


def test_no_changes_line_singular():
    plan = Plan("seed-demo", unchanged=[APP_DATA])

    assert render_plan(plan) == "No changes. The engine matches the blueprint of project seed-demo (1 resource)."


def test_applied_recording_renders_no_changes(tmp_path: Path):
    plan = plan_apply(desired_state(seed_data(), tmp_path), snapshot_from_lists(recording("applied")))

    assert render_plan(plan) == "No changes. The engine matches the blueprint of project seed-demo (9 resources)."


def test_stopped_recording_renders_start(tmp_path: Path):
    plan = plan_apply(desired_state(seed_data(), tmp_path), snapshot_from_lists(recording("stopped")))

    assert render_plan(plan) == """\
provision will perform these actions on project seed-demo:

  -/+ container sidecar  (replace)
      container busy-box2 is started again, so sidecar must be recreated to rejoin its network namespace
  ~ container busy-box2  (start)
      should be running but is exited

Plan: 0 to create, 1 to replace, 1 to start, 0 to stop, 0 to delete."""


def secret_dsn_plan(monkeypatch, folder: Path, applied_password: str) -> Plan:
    """Plan seed-demo with DSN built from a secret, against the applied recording as if applied with `applied_password`."""
    monkeypatch.setenv("PROVISION_VAR_db_password", "new-password")
    data = seed_data()
    data["variables"] = {"db_password": {"secret": True}}
    data["containers"]["busy-box2"]["environment"]["DSN"] = "postgres://app:{{ vars.db_password }}@db/app"
    desired = desired_state(data, folder)

    raw = recording("applied")
    spec = stored_spec_of(raw, BUSY_BOX2)
    spec["environment"]["DSN"] = f"postgres://app:{marker(['db_password'], applied_password, 'seed-demo')}@db/app"
    set_stored_spec(raw, BUSY_BOX2, spec)
    if applied_password == "new-password":
        labels_of(raw, BUSY_BOX2)[SPEC_HASH_LABEL] = desired.resources[BUSY_BOX2].spec_hash
    return plan_apply(desired, snapshot_from_lists(raw))


def test_changed_secret_names_secret(monkeypatch, tmp_path: Path):
    text = render_plan(secret_dsn_plan(monkeypatch, tmp_path, "old-password"))

    assert text == """\
provision will perform these actions on project seed-demo:

  -/+ container sidecar  (replace)
      container busy-box2 is replaced, so sidecar must be recreated to use the new one
  -/+ container busy-box2  (replace)
      configuration differs from the blueprint
      environment.DSN: "postgres://app:(secret db_password)@db/app" -> "postgres://app:(secret db_password)@db/app" \
(secret value changed)

Plan: 0 to create, 2 to replace, 0 to start, 0 to stop, 0 to delete."""
    assert "new-password" not in text
    assert "old-password" not in text
    assert "[secret:" not in text


def test_unchanged_secret_no_changes(monkeypatch, tmp_path: Path):
    text = render_plan(secret_dsn_plan(monkeypatch, tmp_path, "new-password"))

    assert text == "No changes. The engine matches the blueprint of project seed-demo (9 resources)."


# render_progress


def test_progress_done_line():
    event = ActionFinished(create_action(), Outcome.DONE, 1.5)

    assert render_progress(event) == "+ network isolated: created in 1.5s"


@pytest.mark.parametrize(("action", "word"), [
    (replace_action(), "replaced"),
    (start_action(), "started"),
    (delete_action(), "deleted"),
    (Action(ActionKind.STOP, BATCH, ["should be created only but is running"]), "stopped"),
])
def test_progress_done_words(action, word):
    line = render_progress(ActionFinished(action, Outcome.DONE, 0.04))

    assert line.endswith(f": {word} in 0.0s")


def test_progress_failed_line():
    event = ActionFinished(replace_action(), Outcome.FAILED, 2.0,
                           "could not create container busy-box2: port is already allocated")

    assert render_progress(event) == ("-/+ container busy-box2: FAILED after 2.0s: "
                                      "could not create container busy-box2: port is already allocated")


def test_progress_skipped_line():
    event = ActionFinished(create_action(), Outcome.SKIPPED, 0.0, "needs network backend, which failed")

    assert render_progress(event) == "+ network isolated: skipped, because it needs network backend, which failed"


def test_progress_without_colour_codes():
    event = ActionFinished(replace_action(), Outcome.FAILED, 2.0, "engine error")

    assert ESCAPE not in render_progress(event)


def test_progress_failed_colour():
    event = ActionFinished(replace_action(), Outcome.FAILED, 2.0, "engine error")

    assert render_progress(event, colour=True) == (
        "\033[33m-/+\033[0m container busy-box2: \033[31mFAILED\033[0m after 2.0s: engine error")


# render_outcome


def test_outcome_success_line():
    events = [ActionFinished(create_action(), Outcome.DONE, 1.0), ActionFinished(start_action(), Outcome.DONE, 0.5)]

    assert render_outcome(events, "apply") == "Apply complete: 2 actions done."


def test_outcome_single_action_singular():
    events = [ActionFinished(delete_action(), Outcome.DONE, 0.1)]

    assert render_outcome(events, "destroy") == "Destroy complete: 1 action done."


def test_outcome_failure_line():
    events = [
        ActionFinished(create_action(), Outcome.DONE, 1.0),
        ActionFinished(replace_action(), Outcome.FAILED, 2.0, "port is already allocated"),
        ActionFinished(start_action(), Outcome.SKIPPED, 0.0, "needs container busy-box2, which failed"),
    ]

    assert render_outcome(events, "apply") == ("Apply incomplete: 1 done, 1 failed, 1 skipped. "
                                               "Fix the failures above and run apply again; finished work is kept.")


def test_outcome_skipped_only_incomplete():
    events = [ActionFinished(start_action(), Outcome.SKIPPED, 0.0, "needs container busy-box2, which failed")]

    assert render_outcome(events, "apply").startswith("Apply incomplete: 0 done, 0 failed, 1 skipped.")


def _strip_escapes(text: str) -> str:
    return re.sub(r"\033\[[0-9;]*m", "", text)


def test_secret_marker_shown_over_sensitive_placeholder():
    old, new = marker(["db_password"], "first", "seed-demo"), marker(["db_password"], "second", "seed-demo")
    action = Action(ActionKind.REPLACE, BUSY_BOX2, ["configuration differs from the blueprint"], changes=[
        FieldChange("environment.DB_PASSWORD", old, new),
        FieldChange("environment.API_TOKEN", "plain-old", "plain-new"),
    ])

    lines = render_plan(Plan("seed-demo", actions=[action])).splitlines()

    assert ('      environment.DB_PASSWORD: "(secret db_password)" -> "(secret db_password)" '
            '(secret value changed)') in lines
    assert ('      environment.API_TOKEN: "(sensitive value)" -> "(sensitive value)" '
            '(secret value changed)') in lines
