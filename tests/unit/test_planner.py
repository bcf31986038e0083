"""plan_apply and plan_destroy against engine states recorded from blueprints/seed-demo.yaml.

The recordings are the raw list output of a real engine, made by snapshots/record.py:
- applied.json right after apply,
- stopped.json after `docker stop busy-box2`,
- network-removed.json after busy-box2 was disconnected from `isolated` and the network removed,
- conflict.json after a plain `docker volume create scratch` and an apply of the other eight resources.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from provisioner.errors import UnknownResource
from provisioner.labels import HASH_SCHEME_LABEL, PROJECT_LABEL, RESOURCE_LABEL, SPEC_HASH_LABEL
from provisioner.plan import ActionKind, Blocker, FieldChange
from provisioner.planner import plan_apply, plan_destroy
from provisioner.resources import DesiredState, Kind, ResourceId
from provisioner.snapshot import snapshot_from_lists
from provisioner.workflow import resolve_resource
from tests.unit.planning_support import (
    ALL_SEED_RESOURCES,
    APP_DATA,
    BACKEND,
    BATCH,
    BUSY_BOX2,
    DATA_VOLUME,
    HOSTNET,
    ISOLATED,
    PROJECT,
    SCRATCH,
    SIDECAR,
    actions_summary,
    desired_state,
    empty_engine,
    labels_of,
    raw_item,
    recording,
    seed_data,
    set_stored_spec,
    stored_spec_of,
)

FRONTEND = ResourceId(Kind.NETWORK, "frontend")
BUSY_BOX2_REPLACED = "container busy-box2 is replaced, so sidecar must be recreated to use the new one"


@pytest.fixture
def seed_desired(tmp_path: Path) -> DesiredState:
    return desired_state(seed_data(), tmp_path)


def plan_for_data(data: dict, raw: dict, folder: Path):
    """Plan the blueprint `data` against the recording `raw`."""
    return plan_apply(desired_state(data, folder), snapshot_from_lists(raw))


def index_of(plan, resource: ResourceId) -> int:
    return [action.resource for action in plan.actions].index(resource)


# Applied state: nothing to do


def test_applied_state_has_no_actions(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("applied")))

    assert plan.actions == []


def test_applied_state_lists_nine_unchanged(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("applied")))

    assert plan.unchanged == ALL_SEED_RESOURCES


def test_applied_state_has_no_blockers(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("applied")))

    assert plan.blockers == []


# Empty engine: everything is created, in dependency order


def test_empty_engine_creates_nine_in_order(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(empty_engine(recording("applied"))))

    assert actions_summary(plan) == [
        ("create", APP_DATA),
        ("create", SCRATCH),
        ("create", BACKEND),
        ("create", BATCH),
        ("create", HOSTNET),
        ("create", ISOLATED),
        ("create", DATA_VOLUME),
        ("create", BUSY_BOX2),
        ("create", SIDECAR),
    ]


def test_empty_engine_orders_dependencies_first(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(empty_engine(recording("applied"))))

    assert index_of(plan, BACKEND) < index_of(plan, ISOLATED), "a network with a subnet comes before one without"
    assert index_of(plan, APP_DATA) < index_of(plan, DATA_VOLUME), "a volume comes before the container mounting it"
    assert index_of(plan, BACKEND) < index_of(plan, BUSY_BOX2), "a network comes before its containers"
    assert index_of(plan, ISOLATED) < index_of(plan, BUSY_BOX2), "a network comes before its containers"
    assert index_of(plan, DATA_VOLUME) < index_of(plan, BUSY_BOX2), "volumes_from source comes first"
    assert index_of(plan, BUSY_BOX2) < index_of(plan, SIDECAR), "the namespace owner comes first"


def test_empty_engine_create_reasons_missing(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(empty_engine(recording("applied"))))

    assert [action.reasons for action in plan.actions] == [["missing"]] * 9


def test_empty_engine_creates_without_changes(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(empty_engine(recording("applied"))))

    assert [action.changes for action in plan.actions] == [[]] * 9
    assert [action.data_loss for action in plan.actions] == [[]] * 9


def test_empty_engine_without_images_pulls(seed_desired):
    raw = empty_engine(recording("applied"))
    raw["images"] = []

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(BUSY_BOX2).reasons == ["missing", "image busybox:1.36 will be pulled"]
    assert plan.action_for(BACKEND).reasons == ["missing"]


def test_empty_engine_has_no_unchanged(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(empty_engine(recording("applied"))))

    assert plan.unchanged == []


# Drift made behind the tool's back


def test_stopped_container_starts_and_recreates_sharer(seed_desired):
    # Starting busy-box2 again gives it a new network namespace; sidecar, which
    # shares it, would be left with only lo, so it is recreated.
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("stopped")))

    assert actions_summary(plan) == [("replace", SIDECAR), ("start", BUSY_BOX2)]
    assert plan.action_for(BUSY_BOX2).reasons == ["should be running but is exited"]
    assert plan.action_for(BUSY_BOX2).changes == []
    assert plan.action_for(BUSY_BOX2).data_loss == []
    assert plan.action_for(SIDECAR).reasons == [
        "container busy-box2 is started again, so sidecar must be recreated to rejoin its network namespace"]


def test_running_volume_container_gets_stop(seed_desired):
    raw = recording("applied")
    raw_item(raw, DATA_VOLUME)["State"] = "running"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert actions_summary(plan) == [("stop", DATA_VOLUME)]
    assert plan.actions[0].reasons == ["should be created only but is running"]


def test_removed_network_actions_in_order(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("network-removed")))

    # sidecar's removal is the first step, because it lives in busy-box2's namespace.
    assert actions_summary(plan) == [("replace", SIDECAR), ("replace", BUSY_BOX2), ("create", ISOLATED)]


def test_removed_network_is_created(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("network-removed")))

    assert plan.action_for(ISOLATED).reasons == ["missing"]
    assert plan.action_for(ISOLATED).changes == []


def test_removed_network_replaces_attached_container(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("network-removed")))
    action = plan.action_for(BUSY_BOX2)

    assert action.reasons == ["configuration differs from the blueprint",
                              "network isolated is created, so busy-box2 must be recreated to use the new one"]
    assert action.changes == [FieldChange("networks.isolated", "not connected", "connected")]
    assert action.data_loss == []


def test_removed_network_replaces_namespace_sharer(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("network-removed")))
    action = plan.action_for(SIDECAR)

    assert action.kind is ActionKind.REPLACE
    assert action.reasons == [BUSY_BOX2_REPLACED]
    assert action.changes == []


def test_changed_declared_gateway_replaces_network(seed_desired):
    raw = recording("applied")
    raw_item(raw, BACKEND)["IPAM"]["Config"][0]["Gateway"] = "10.231.10.254"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(BACKEND).changes == [FieldChange("gateway", "10.231.10.254", "10.231.10.1")]
    assert actions_summary(plan) == [("replace", SIDECAR), ("replace", BUSY_BOX2), ("replace", BACKEND)]


def test_removed_network_label_replaces_network(seed_desired):
    raw = recording("applied")
    del labels_of(raw, BACKEND)["tier"]

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(BACKEND).changes == [FieldChange("labels.tier", None, "app")]


def test_moved_static_address_replaces_container(seed_desired):
    raw = recording("applied")
    raw_item(raw, BUSY_BOX2)["NetworkSettings"]["Networks"]["backend"]["IPAMConfig"]["IPv4Address"] = "10.231.10.99"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(BUSY_BOX2).changes == [
        FieldChange("networks.backend.ipv4_address", "10.231.10.99", "10.231.10.20")]


def test_recreated_network_replaces_container(seed_desired):
    raw = recording("applied")
    raw_item(raw, ISOLATED)["Id"] = "f" * 64

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    old_id = raw_item(recording("applied"), ISOLATED)["Id"][:12]
    assert plan.action_for(BUSY_BOX2).changes == [
        FieldChange("networks.isolated", f"network id {old_id} (removed)", f"network id {'f' * 12}")]


def test_removed_volume_mount_replaces_container(seed_desired):
    raw = recording("applied")
    item = raw_item(raw, DATA_VOLUME)
    item["Mounts"] = [mount for mount in item["Mounts"] if mount["Destination"] != "/srv/data"]

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(DATA_VOLUME).changes == [FieldChange("mounts[/srv/data]", "not mounted", "app-data")]


def test_updated_local_image_replaces_container(seed_desired):
    raw = recording("applied")
    for image in raw["images"]:
        if "busybox:1.36" in image["RepoTags"]:
            image["Id"] = "sha256:" + "e" * 64
    item = raw_item(raw, BATCH)

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    old_id = item["ImageID"].removeprefix("sha256:")[:12]
    assert plan.action_for(BATCH).changes == [
        FieldChange("image", f"busybox:1.36 ({old_id})", f"busybox:1.36 ({'e' * 12}, updated locally)")]


def test_retagged_image_replaces_container(seed_desired):
    raw = recording("applied")
    item = raw_item(raw, BATCH)
    item["Image"] = item["ImageID"]
    for image in raw["images"]:
        if "busybox:1.36" in image["RepoTags"]:
            image["Id"] = "sha256:" + "e" * 64

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))
    action = plan.action_for(BATCH)

    assert action.kind is ActionKind.REPLACE
    assert [change.field for change in action.changes] == ["image"]
    assert action.changes[0].new == "busybox:1.36 (eeeeeeeeeeee, updated locally)"


# Blueprint edits that force a replacement


def test_edited_image_replaces_container(tmp_path):
    data = seed_data()
    data["containers"]["batch"]["image"] = "busybox:latest"

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("replace", BATCH)]
    assert plan.actions[0].reasons == ["configuration differs from the blueprint"]
    assert plan.actions[0].changes == [FieldChange("image", "busybox:1.36", "busybox:latest")]


def test_edited_environment_replaces_container(tmp_path):
    data = seed_data()
    data["containers"]["busy-box2"]["environment"]["MODE"] = "prod"

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("replace", SIDECAR), ("replace", BUSY_BOX2)]
    assert plan.action_for(BUSY_BOX2).changes == [FieldChange("environment.MODE", "demo", "prod")]
    assert plan.action_for(SIDECAR).reasons == [BUSY_BOX2_REPLACED]


def test_edited_static_address_replaces_container(tmp_path):
    data = seed_data()
    data["containers"]["busy-box2"]["networks"]["backend"]["ipv4_address"] = "10.231.10.21"

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert plan.action_for(BUSY_BOX2).changes == [
        FieldChange("networks.backend.ipv4_address", "10.231.10.20", "10.231.10.21")]


def test_edited_port_replaces_container(tmp_path):
    data = seed_data()
    data["containers"]["busy-box2"]["ports"] = ["127.0.0.1:18081:80/tcp"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    old = [{"container_port": 80, "host_ip": "127.0.0.1", "host_port": 18080, "protocol": "tcp"}]
    new = [{"container_port": 80, "host_ip": "127.0.0.1", "host_port": 18081, "protocol": "tcp"}]
    assert plan.action_for(BUSY_BOX2).changes == [FieldChange("ports", old, new)]


def test_added_network_replaces_container(tmp_path):
    data = seed_data()
    data["networks"]["frontend"] = {}
    data["containers"]["busy-box2"]["networks"]["frontend"] = {}

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("replace", SIDECAR), ("replace", BUSY_BOX2), ("create", FRONTEND)]
    assert plan.action_for(BUSY_BOX2).changes == [
        FieldChange("networks.frontend", None, {"aliases": [], "ipv4_address": None})]
    assert plan.action_for(FRONTEND).reasons == ["missing"]


def test_deleted_environment_key_is_change(tmp_path):
    data = seed_data()
    del data["containers"]["busy-box2"]["environment"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert plan.action_for(BUSY_BOX2).changes == [FieldChange("environment.MODE", "demo", None)]


def test_edited_volume_label_replaces_volume(tmp_path):
    data = seed_data()
    data["volumes"]["scratch"]["labels"]["tier"] = "hot"

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("replace", SCRATCH)]
    assert plan.actions[0].changes == [FieldChange("labels.tier", "cache", "hot")]
    assert plan.actions[0].data_loss == ["named volume scratch and all data in it"]


def test_replaced_volume_cascades_with_loss(tmp_path):
    data = seed_data()
    data["volumes"]["app-data"] = {"labels": {"tier": "data"}}

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [
        ("replace", SIDECAR), ("replace", BUSY_BOX2), ("replace", DATA_VOLUME), ("replace", APP_DATA)]
    assert plan.action_for(APP_DATA).changes == [FieldChange("labels.tier", None, "data")]
    assert plan.action_for(APP_DATA).data_loss == ["named volume app-data and all data in it"]
    assert plan.action_for(DATA_VOLUME).reasons == [
        "volume app-data is replaced, so data-volume must be recreated to use the new one"]


def test_edited_bind_mode_replaces_containers(tmp_path):
    data = seed_data()
    data["volume_containers"]["data-volume"]["volumes"][2] = "./site:/srv/site"

    plan = plan_for_data(data, recording("applied"), tmp_path)
    action = plan.action_for(DATA_VOLUME)

    # The edit shows in the stored spec and in the live mount; it is listed once, as the blueprint edit.
    assert action.changes == [FieldChange("mounts[/srv/site].read_only", True, False)]
    assert plan.action_for(BUSY_BOX2).reasons == [
        "container data-volume is replaced, so busy-box2 must be recreated to use the new one"]


def test_replaced_container_keeps_anonymous_volume(tmp_path):
    # The new spec still declares /tmp/myfolder anonymous, so the successor mounts the old volume.
    data = seed_data()
    data["volume_containers"]["data-volume"]["volumes"][2] = "./site:/srv/site"

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert plan.action_for(DATA_VOLUME).data_loss == []


def test_dropped_anonymous_volume_loses_data(tmp_path):
    data = seed_data()
    data["volume_containers"]["data-volume"]["volumes"] = ["app-data:/srv/data", "./site:/srv/site:ro"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert plan.action_for(DATA_VOLUME).data_loss == ["anonymous volume at /tmp/myfolder in container data-volume"]


# Hash scheme and the stored spec


def test_other_hash_scheme_equal_spec_unchanged(seed_desired):
    raw = recording("applied")
    for resource in ALL_SEED_RESOURCES:
        labels = labels_of(raw, resource)
        labels[HASH_SCHEME_LABEL] = "2"
        labels[SPEC_HASH_LABEL] = "sha512:computed-by-a-later-scheme"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


def test_other_hash_scheme_edited_spec_changes(seed_desired):
    raw = recording("applied")
    spec = stored_spec_of(raw, BUSY_BOX2)
    spec["environment"]["MODE"] = "staging"
    set_stored_spec(raw, BUSY_BOX2, spec)
    labels_of(raw, BUSY_BOX2)[HASH_SCHEME_LABEL] = "2"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(BUSY_BOX2).changes == [FieldChange("environment.MODE", "staging", "demo")]


def test_stale_hash_equal_spec_unchanged(seed_desired):
    raw = recording("applied")
    labels_of(raw, BUSY_BOX2)[SPEC_HASH_LABEL] = "sha256:" + "0" * 64

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


def test_missing_spec_label_is_change(seed_desired):
    raw = recording("applied")
    labels = labels_of(raw, HOSTNET)
    del labels["io.provision.spec"]
    del labels[SPEC_HASH_LABEL]

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert actions_summary(plan) == [("replace", HOSTNET)]
    assert plan.actions[0].changes == [FieldChange("spec", "unknown (no readable spec label)", "as in the blueprint")]


def test_unreadable_spec_label_is_change(seed_desired):
    raw = recording("applied")
    labels = labels_of(raw, HOSTNET)
    labels["io.provision.spec"] = "{not json"
    labels[HASH_SCHEME_LABEL] = "2"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.action_for(HOSTNET).changes == [
        FieldChange("spec", "unknown (no readable spec label)", "as in the blueprint")]


# Values the engine fills in are never a difference


def test_automatic_gateway_is_no_difference(seed_desired):
    raw = recording("applied")
    raw_item(raw, ISOLATED)["IPAM"]["Config"] = [{"Subnet": "172.29.0.0/16", "Gateway": "172.29.0.1"}]

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


def test_recorded_isolated_gateway_is_automatic():
    # The test above is only meaningful if the engine really chose a gateway for `isolated`.
    config = raw_item(recording("applied"), ISOLATED)["IPAM"]["Config"]

    assert config[0]["Gateway"]


def test_engine_labels_are_no_difference(seed_desired):
    raw = recording("applied")
    labels_of(raw, BUSY_BOX2)["org.opencontainers.image.version"] = "1.36.1"
    labels_of(raw, BACKEND)["com.docker.network.bridge.name"] = "br-backend"
    labels_of(raw, APP_DATA)["com.docker.volume.anonymous"] = ""

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


def test_image_environment_is_no_difference(seed_desired):
    # The list endpoint (API 1.41) returns no environment. The planner compares environment through the
    # stored spec only, so even a listing with the image's PATH added shows no difference.
    raw = recording("applied")
    raw_item(raw, BUSY_BOX2)["Config"] = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                  "MODE=demo"]}

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


def test_engine_addresses_are_no_difference(seed_desired):
    # busy-box2 got an automatic address on `isolated`, and data-volume sits on the default bridge.
    raw = recording("applied")
    raw_item(raw, BUSY_BOX2)["NetworkSettings"]["Networks"]["isolated"]["IPAddress"] = "192.168.16.77"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert plan.actions == []


# Resources removed from the blueprint


def test_removed_container_is_deleted(tmp_path):
    data = seed_data()
    del data["containers"]["batch"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("delete", BATCH)]
    assert plan.actions[0].reasons == ["no longer in the blueprint"]
    assert plan.actions[0].data_loss == []


def test_removed_volume_delete_loses_data(tmp_path):
    data = seed_data()
    del data["volumes"]["scratch"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("delete", SCRATCH)]
    assert plan.actions[0].data_loss == ["named volume scratch and all data in it"]


def test_removed_volume_container_loses_data(tmp_path):
    data = seed_data()
    del data["containers"]["busy-box2"]
    del data["containers"]["sidecar"]
    del data["volume_containers"]["data-volume"]

    plan = plan_for_data(data, recording("applied"), tmp_path)

    assert actions_summary(plan) == [("delete", SIDECAR), ("delete", BUSY_BOX2), ("delete", DATA_VOLUME)]
    assert plan.action_for(DATA_VOLUME).data_loss == ["anonymous volume at /tmp/myfolder in container data-volume"]


# Objects with a blueprint name that the project does not own


def test_unlabelled_volume_is_blocker(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("conflict")))

    assert plan.blockers == [Blocker(
        SCRATCH,
        "a volume named 'scratch' already exists and was not created by provision; provision will not touch it",
        "rename scratch in the blueprint, or remove the existing volume yourself")]


def test_unlabelled_volume_gets_no_action(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("conflict")))

    assert plan.actions == []
    assert SCRATCH not in plan.unchanged
    assert len(plan.unchanged) == 8


def test_recorded_conflict_volume_unlabelled():
    # The recording itself must show an unlabelled scratch, so the tests above test a conflict.
    assert not raw_item(recording("conflict"), SCRATCH)["Labels"]


def test_other_project_volume_is_blocker(seed_desired):
    raw = recording("applied")
    labels_of(raw, SCRATCH)[PROJECT_LABEL] = "other-project"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert [blocker.resource for blocker in plan.blockers] == [SCRATCH]
    assert "belongs to project 'other-project'" in plan.blockers[0].message
    assert plan.actions == []


def test_other_project_container_is_blocker(seed_desired):
    raw = recording("applied")
    labels_of(raw, BUSY_BOX2)[PROJECT_LABEL] = "other-project"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert [blocker.resource for blocker in plan.blockers] == [BUSY_BOX2]
    assert plan.action_for(BUSY_BOX2) is None
    assert plan.actions == []


def test_mislabelled_resource_is_blocker(seed_desired):
    raw = recording("applied")
    labels_of(raw, SCRATCH)[RESOURCE_LABEL] = "volume/app-data"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert [blocker.resource for blocker in plan.blockers] == [SCRATCH]
    assert "is labelled as another resource (volume app-data)" in plan.blockers[0].message


def test_blocked_container_dependents_untouched(tmp_path):
    # An edit that would replace busy-box2 must not cascade into sidecar while busy-box2 is someone else's.
    data = seed_data()
    data["containers"]["busy-box2"]["environment"]["MODE"] = "prod"
    raw = recording("applied")
    labels_of(raw, BUSY_BOX2)[PROJECT_LABEL] = "other-project"

    plan = plan_for_data(data, raw, tmp_path)

    assert plan.actions == []


# plan_destroy


def test_destroy_deletes_dependents_first():
    plan = plan_destroy(PROJECT, snapshot_from_lists(recording("applied")))

    assert actions_summary(plan) == [
        ("delete", SCRATCH),
        ("delete", BATCH),
        ("delete", HOSTNET),
        ("delete", SIDECAR),
        ("delete", BUSY_BOX2),
        ("delete", BACKEND),
        ("delete", ISOLATED),
        ("delete", DATA_VOLUME),
        ("delete", APP_DATA),
    ]


def test_destroy_pairwise_order():
    plan = plan_destroy(PROJECT, snapshot_from_lists(recording("applied")))

    assert index_of(plan, SIDECAR) < index_of(plan, BUSY_BOX2)
    assert index_of(plan, BUSY_BOX2) < index_of(plan, DATA_VOLUME)
    assert index_of(plan, BUSY_BOX2) < index_of(plan, BACKEND)
    assert index_of(plan, BUSY_BOX2) < index_of(plan, ISOLATED)
    assert index_of(plan, BUSY_BOX2) < index_of(plan, APP_DATA)
    assert index_of(plan, DATA_VOLUME) < index_of(plan, APP_DATA)


def test_destroy_reasons_and_data_loss():
    plan = plan_destroy(PROJECT, snapshot_from_lists(recording("applied")))

    assert {action.resource: action.reasons for action in plan.actions} == {
        resource: [f"destroy: labelled with project {PROJECT}"] for resource in ALL_SEED_RESOURCES}
    assert {action.resource: action.data_loss for action in plan.actions if action.data_loss} == {
        SCRATCH: ["named volume scratch and all data in it"],
        APP_DATA: ["named volume app-data and all data in it"],
        DATA_VOLUME: ["anonymous volume at /tmp/myfolder in container data-volume"],
    }


def test_destroy_skips_unlabelled_volume():
    plan = plan_destroy(PROJECT, snapshot_from_lists(recording("conflict")))

    assert plan.action_for(SCRATCH) is None
    assert len(plan.actions) == 8


def test_destroy_skips_other_project():
    raw = recording("applied")
    labels_of(raw, BATCH)[PROJECT_LABEL] = "other-project"

    plan = plan_destroy(PROJECT, snapshot_from_lists(raw))

    assert plan.action_for(BATCH) is None
    assert len(plan.actions) == 8


def test_destroy_unknown_project_empty():
    plan = plan_destroy("seed-demo-other", snapshot_from_lists(recording("applied")))

    assert plan.actions == []


# Overlay networks need a swarm


OVERLAY_DATA = {
    "version": 1, "project": "mesh-demo",
    "networks": {"mesh": {"driver": "overlay", "subnet": "10.231.30.0/24"}},
    "containers": {"node": {"image": "busybox:1.36", "networks": {"mesh": {}}}},
}


def test_overlay_without_swarm_blocks(tmp_path):
    plan = plan_apply(desired_state(OVERLAY_DATA, tmp_path), snapshot_from_lists({"swarm_manager": False}))

    assert [blocker.resource for blocker in plan.blockers] == [ResourceId(Kind.NETWORK, "mesh")]
    assert plan.blockers[0].message == "overlay networks need a swarm, and this engine is not a swarm manager"
    assert plan.blockers[0].hint == "run docker swarm init on the engine, or use driver: bridge"


def test_overlay_on_swarm_manager_creates(tmp_path):
    plan = plan_apply(desired_state(OVERLAY_DATA, tmp_path), snapshot_from_lists({"swarm_manager": True}))

    assert plan.blockers == []
    assert actions_summary(plan) == [("create", ResourceId(Kind.NETWORK, "mesh")),
                                     ("create", ResourceId(Kind.CONTAINER, "node"))]


# Objects the engine holds twice, and images that may not be pulled


def with_duplicate_backend() -> dict:
    raw = copy.deepcopy(recording("applied"))
    duplicate = copy.deepcopy(raw_item(raw, BACKEND))
    duplicate["Id"] = "f" * 64
    raw["networks"].append(duplicate)
    return raw


def test_duplicate_network_blocks_apply(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(with_duplicate_backend()))

    assert [blocker.resource for blocker in plan.blockers] == [BACKEND]
    assert plan.blockers[0].message.startswith("there are several networks named 'backend' (ids ")
    assert plan.blockers[0].hint.startswith("remove the extra one with docker network rm ffffffffffff")


def test_destroy_removes_duplicate_network(seed_desired):
    plan = plan_destroy(PROJECT, snapshot_from_lists(with_duplicate_backend()))
    action = plan.action_for(BACKEND)

    assert [duplicate.id for duplicate in action.duplicates] == ["f" * 64]


def test_other_project_conflict_hint(seed_desired):
    raw = copy.deepcopy(recording("applied"))
    raw_item(raw, BACKEND)["Labels"][PROJECT_LABEL] = "elsewhere"

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert [blocker.resource for blocker in plan.blockers] == [BACKEND]
    assert plan.blockers[0].message == ("a network named 'backend' already exists and belongs to project 'elsewhere'; "
                                        "provision will not touch it")
    assert plan.blockers[0].hint == ("rename backend in the blueprint, or destroy project 'elsewhere' with its own "
                                     "blueprint first")


def test_never_pulled_missing_image_blocks(tmp_path):
    data = {"version": 1, "project": "images",
            "containers": {"local": {"image": "busybox:1.36", "pull": "never"},
                           "absent": {"image": "absent:1", "pull": "never"}}}
    raw = {"images": [{"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:1.36"]}]}

    plan = plan_apply(desired_state(data, tmp_path), snapshot_from_lists(raw))

    assert [(blocker.resource, blocker.message) for blocker in plan.blockers] == [
        (ResourceId(Kind.CONTAINER, "absent"), "image absent:1 is not on the engine, and pull is never")]
    assert plan.blockers[0].hint == "build or load absent:1 on the engine first, or set pull: missing"


def test_added_mount_listed_by_target(tmp_path):
    data = seed_data()
    data["volume_containers"]["data-volume"]["volumes"].append("/var/cache")

    plan = plan_for_data(data, recording("applied"), tmp_path)
    action = plan.action_for(DATA_VOLUME)

    assert action.changes[0] == FieldChange("mounts[/var/cache]", None, {"type": "anonymous", "target": "/var/cache"})


def renamed_busy_box2() -> dict:
    raw = copy.deepcopy(recording("applied"))
    raw_item(raw, BUSY_BOX2)["Names"] = ["/busy-box2-renamed"]
    return raw


def test_renamed_container_is_deleted_and_recreated(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(renamed_busy_box2()))
    renamed = ResourceId(Kind.CONTAINER, "busy-box2-renamed")

    assert plan.action_for(renamed).kind is ActionKind.DELETE
    assert plan.action_for(renamed).reasons == ["renamed outside provision; it was created as container busy-box2"]
    assert plan.action_for(BUSY_BOX2).kind is ActionKind.CREATE


def test_destroy_includes_renamed_container():
    plan = plan_destroy(PROJECT, snapshot_from_lists(renamed_busy_box2()))

    assert ResourceId(Kind.CONTAINER, "busy-box2-renamed") in [action.resource for action in plan.actions]
    assert len(plan.actions) == 9


def test_forced_replace_of_unchanged_container(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("applied")), frozenset({BATCH}))

    assert actions_summary(plan) == [("replace", BATCH)]
    assert plan.action_for(BATCH).reasons == ["replacement requested with --replace"]
    assert plan.action_for(BATCH).changes == []


def test_resolve_resource_by_name_and_kind(seed_desired):
    assert resolve_resource(seed_desired, "batch") == BATCH
    assert resolve_resource(seed_desired, "network/backend") == BACKEND
    with pytest.raises(UnknownResource) as raised:
        resolve_resource(seed_desired, "batc")
    assert str(raised.value) == "--replace batc: the blueprint has no volume, network or container of that name"


def test_resolve_resource_ambiguous_name(tmp_path):
    data = {"version": 1, "project": "twins", "volumes": {"web": {}}, "containers": {"web": {"image": "busybox"}}}

    with pytest.raises(UnknownResource) as raised:
        resolve_resource(desired_state(data, tmp_path), "web")

    assert str(raised.value) == "--replace web: the name is ambiguous; write container/web or volume/web"


def test_subnet_overlapping_foreign_network_blocks(seed_desired):
    raw = {"other_networks": [{"Name": "office-vpn", "Id": "a" * 64,
                               "IPAM": {"Config": [{"Subnet": "10.231.10.128/25"}]}},
                              {"Name": "elsewhere", "Id": "b" * 64, "IPAM": {"Config": [{"Subnet": "10.99.0.0/16"}]}}]}

    plan = plan_apply(seed_desired, snapshot_from_lists(raw))

    assert [(blocker.resource, blocker.message) for blocker in plan.blockers] == [
        (BACKEND, "subnet 10.231.10.0/24 overlaps subnet 10.231.10.128/25 of network office-vpn (aaaaaaaaaaaa) on the engine")]
    assert plan.blockers[0].hint == "pick a subnet that no network on the engine uses"


def test_existing_project_network_is_no_overlap(seed_desired):
    plan = plan_apply(seed_desired, snapshot_from_lists(recording("applied")))

    assert plan.blockers == []
