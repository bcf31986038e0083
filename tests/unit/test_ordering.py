"""build_schedule and Schedule.order for plans made from blueprint edits against the recorded applied state."""

from __future__ import annotations

from pathlib import Path

from provisioner.ordering import Step, StepKind, build_schedule
from provisioner.planner import plan_apply, plan_destroy
from provisioner.resources import Kind, ResourceId
from provisioner.snapshot import snapshot_from_lists
from tests.unit.planning_support import (
    APP_DATA,
    BACKEND,
    BATCH,
    BUSY_BOX2,
    DATA_VOLUME,
    HOSTNET,
    ISOLATED,
    SCRATCH,
    SIDECAR,
    actions_summary,
    desired_state,
    empty_engine,
    recording,
    seed_data,
)

CACHE = ResourceId(Kind.VOLUME, "cache")


def remove(resource: ResourceId) -> Step:
    return Step(resource, StepKind.REMOVE)


def create(resource: ResourceId) -> Step:
    return Step(resource, StepKind.CREATE)


def start(resource: ResourceId) -> Step:
    return Step(resource, StepKind.START)


def schedule_for(data: dict, raw: dict, folder: Path):
    """The plan of blueprint `data` against recording `raw`, and its schedule."""
    desired = desired_state(data, folder)
    snapshot = snapshot_from_lists(raw)
    plan = plan_apply(desired, snapshot)
    return plan, build_schedule(plan, desired, snapshot)


def replaced_network_schedule(folder: Path):
    data = seed_data()
    data["networks"]["backend"]["labels"]["tier"] = "web"
    return schedule_for(data, recording("applied"), folder)


def replaced_busy_box2_schedule(folder: Path):
    data = seed_data()
    data["containers"]["busy-box2"]["environment"]["MODE"] = "prod"
    return schedule_for(data, recording("applied"), folder)


# A replaced network with attached containers


def test_replaced_network_plan_cascades(tmp_path):
    plan, _ = replaced_network_schedule(tmp_path)

    assert actions_summary(plan) == [("replace", SIDECAR), ("replace", BUSY_BOX2), ("replace", BACKEND)]


def test_replaced_network_step_order(tmp_path):
    _, schedule = replaced_network_schedule(tmp_path)

    assert schedule.order() == [
        remove(SIDECAR),
        remove(BUSY_BOX2),
        remove(BACKEND),
        create(BACKEND),
        create(BUSY_BOX2),
        create(SIDECAR),
    ]


def test_network_removal_needs_container_removal(tmp_path):
    _, schedule = replaced_network_schedule(tmp_path)

    assert schedule.needs[remove(BACKEND)] == {remove(BUSY_BOX2)}


def test_container_creation_needs_new_network(tmp_path):
    _, schedule = replaced_network_schedule(tmp_path)

    assert schedule.needs[create(BUSY_BOX2)] == {remove(BUSY_BOX2), create(BACKEND)}


def test_network_creation_needs_own_removal(tmp_path):
    _, schedule = replaced_network_schedule(tmp_path)

    assert schedule.needs[create(BACKEND)] == {remove(BACKEND)}


def test_replaced_volume_step_order(tmp_path):
    # Every container that mounts app-data goes first, directly or through volumes_from and the shared namespace.
    data = seed_data()
    data["volumes"]["app-data"] = {"labels": {"tier": "data"}}

    _, schedule = schedule_for(data, recording("applied"), tmp_path)

    assert schedule.order() == [
        remove(SIDECAR),
        remove(BUSY_BOX2),
        remove(DATA_VOLUME),
        remove(APP_DATA),
        create(APP_DATA),
        create(DATA_VOLUME),
        create(BUSY_BOX2),
        create(SIDECAR),
    ]


# A replaced busy-box2: sidecar shares its namespace


def test_replaced_busy_box2_step_order(tmp_path):
    _, schedule = replaced_busy_box2_schedule(tmp_path)

    assert schedule.order() == [remove(SIDECAR), remove(BUSY_BOX2), create(BUSY_BOX2), create(SIDECAR)]


def test_busy_box2_removal_needs_sidecar_removal(tmp_path):
    _, schedule = replaced_busy_box2_schedule(tmp_path)

    assert schedule.needs[remove(BUSY_BOX2)] == {remove(SIDECAR)}


def test_sidecar_creation_needs_busy_box2(tmp_path):
    _, schedule = replaced_busy_box2_schedule(tmp_path)

    assert schedule.needs[create(SIDECAR)] == {remove(SIDECAR), create(BUSY_BOX2)}


def test_sidecar_removal_needs_nothing(tmp_path):
    _, schedule = replaced_busy_box2_schedule(tmp_path)

    assert schedule.needs[remove(SIDECAR)] == set()


def test_sidecar_creation_waits_for_start(tmp_path):
    # busy-box2 was stopped and sidecar's command is edited, so sidecar is created once busy-box2 runs again.
    data = seed_data()
    data["containers"]["sidecar"]["command"] = ["sleep", "200000"]

    plan, schedule = schedule_for(data, recording("stopped"), tmp_path)

    assert actions_summary(plan) == [("replace", SIDECAR), ("start", BUSY_BOX2)]
    assert schedule.order() == [remove(SIDECAR), start(BUSY_BOX2), create(SIDECAR)]
    assert schedule.needs[create(SIDECAR)] == {remove(SIDECAR), start(BUSY_BOX2)}


# Edges that only order the work, and edges a step cannot do without


def test_empty_engine_step_order(tmp_path):
    desired = desired_state(seed_data(), tmp_path)
    snapshot = snapshot_from_lists(empty_engine(recording("applied")))
    plan = plan_apply(desired, snapshot)

    assert build_schedule(plan, desired, snapshot).order() == [
        create(APP_DATA),
        create(SCRATCH),
        create(BACKEND),
        create(BATCH),
        create(HOSTNET),
        create(ISOLATED),
        create(DATA_VOLUME),
        create(BUSY_BOX2),
        create(SIDECAR),
    ]


def test_automatic_subnet_ordered_after_declared(tmp_path):
    desired = desired_state(seed_data(), tmp_path)
    snapshot = snapshot_from_lists(empty_engine(recording("applied")))
    schedule = build_schedule(plan_apply(desired, snapshot), desired, snapshot)

    assert schedule.after[create(ISOLATED)] == {create(BACKEND)}


def test_automatic_subnet_does_not_need_declared(tmp_path):
    desired = desired_state(seed_data(), tmp_path)
    snapshot = snapshot_from_lists(empty_engine(recording("applied")))
    schedule = build_schedule(plan_apply(desired, snapshot), desired, snapshot)

    assert schedule.needs[create(ISOLATED)] == set()


def test_container_needs_every_network(tmp_path):
    desired = desired_state(seed_data(), tmp_path)
    snapshot = snapshot_from_lists(empty_engine(recording("applied")))
    schedule = build_schedule(plan_apply(desired, snapshot), desired, snapshot)

    assert schedule.needs[create(BUSY_BOX2)] == {create(BACKEND), create(ISOLATED), create(DATA_VOLUME)}


def test_depends_on_is_needed(tmp_path):
    data = seed_data()
    data["containers"]["batch"]["depends_on"] = ["hostnet"]
    desired = desired_state(data, tmp_path)
    snapshot = snapshot_from_lists(empty_engine(recording("applied")))
    schedule = build_schedule(plan_apply(desired, snapshot), desired, snapshot)

    assert schedule.after[create(BATCH)] == {create(HOSTNET)}
    assert schedule.needs[create(BATCH)] == {create(HOSTNET)}


def test_present_dependency_adds_no_edge(tmp_path):
    # Only steps in the plan are prerequisites, because an unchanged network is already there.
    data = seed_data()
    data["containers"]["busy-box2"]["environment"]["MODE"] = "prod"

    _, schedule = schedule_for(data, recording("applied"), tmp_path)

    assert create(BACKEND) not in schedule.after[create(BUSY_BOX2)]


# Deletions come before creations


def deletion_and_creation_schedule(folder: Path):
    """scratch is removed from the blueprint and a new volume cache is added."""
    data = seed_data()
    del data["volumes"]["scratch"]
    data["volumes"]["cache"] = {}
    return schedule_for(data, recording("applied"), folder)


def test_deletion_precedes_unrelated_creation(tmp_path):
    plan, schedule = deletion_and_creation_schedule(tmp_path)

    assert actions_summary(plan) == [("delete", SCRATCH), ("create", CACHE)]
    assert schedule.order() == [remove(SCRATCH), create(CACHE)]


def test_deletion_edge_is_order_only(tmp_path):
    _, schedule = deletion_and_creation_schedule(tmp_path)

    assert schedule.after[create(CACHE)] == {remove(SCRATCH)}
    assert schedule.needs[create(CACHE)] == set()


def test_deletion_precedes_creation_by_rank(tmp_path):
    # Without the edge, the new volume would go first, because volumes rank before containers.
    data = seed_data()
    del data["containers"]["batch"]
    data["volumes"]["cache"] = {}

    plan, schedule = schedule_for(data, recording("applied"), tmp_path)

    assert schedule.order() == [remove(BATCH), create(CACHE)]
    assert actions_summary(plan) == [("delete", BATCH), ("create", CACHE)]


def test_destroy_schedule_has_no_creations():
    snapshot = snapshot_from_lists(recording("applied"))
    schedule = build_schedule(plan_destroy("seed-demo", snapshot), None, snapshot)

    assert {step.kind for step in schedule.steps} == {StepKind.REMOVE}
    assert schedule.needs[remove(APP_DATA)] == {remove(DATA_VOLUME), remove(BUSY_BOX2)}



def test_destroy_reverses_depends_on():
    def container(name: str, depends_on: str = "") -> dict:
        labels = {"io.provision.project": "chain", "io.provision.resource": f"container/{name}"}
        if depends_on:
            labels["io.provision.depends-on"] = depends_on
        return {"Id": f"id-{name}", "Names": [f"/{name}"], "Labels": labels, "State": "running",
                "HostConfig": {"NetworkMode": "none"}, "Mounts": []}

    snapshot = snapshot_from_lists({"containers": [container("first"), container("second", "first"),
                                                   container("third", "second")]})
    plan = plan_destroy("chain", snapshot)
    schedule = build_schedule(plan, None, snapshot)

    assert [step.resource.name for step in schedule.order()] == ["third", "second", "first"]
    assert schedule.needs[Step(ResourceId(Kind.CONTAINER, "first"), StepKind.REMOVE)] == set()
