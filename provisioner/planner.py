"""Compute a plan from the desired state and a snapshot of the engine.

Pure: no engine calls, no output. The same inputs always give the same plan.
"""

from __future__ import annotations

import graphlib
import ipaddress

from provisioner.compare import compare
from provisioner.ordering import ordered_actions
from provisioner.plan import Action, ActionKind, Blocker, Plan
from provisioner.registry import foreign_trust_files, registry_create_notes, registry_reasons, registry_removal_notes
from provisioner.resources import DesiredResource, DesiredState, Kind, ResourceId
from provisioner.snapshot import Observed, ObservedContainer, Snapshot

RECREATING = (ActionKind.CREATE, ActionKind.REPLACE)


def plan_apply(desired: DesiredState, snapshot: Snapshot, replace: frozenset[ResourceId] = frozenset()) -> Plan:
    """Actions that make the engine match `desired`, in dependency order.

    Resources in `replace` are recreated even when nothing differs, as with
    Terraform's -replace.
    """
    plan = Plan(desired.project)
    actions: dict[ResourceId, Action] = {}

    for resource in desired.resources.values():
        observed = snapshot.find(resource.id)
        if observed is not None and not observed.owned_by(desired.project):
            plan.blockers.append(_conflict(resource.id, observed, desired.project))
            continue
        action = _action_for(resource, observed, snapshot, forced=resource.id in replace)
        if action is not None:
            actions[resource.id] = action

    _recreate_dependents(desired, snapshot, actions, plan)
    _check_engine_features(desired, snapshot, plan)
    _check_duplicates(desired.project, snapshot, plan)
    _check_images(actions, snapshot, plan)
    _check_subnets(actions, snapshot, plan)
    _check_trust_engine(actions, snapshot, plan)

    for observed in snapshot.in_project(desired.project):
        resource_id = ResourceId(observed.kind, observed.name)
        if resource_id not in desired.resources:
            reason = "no longer in the blueprint"
            if observed.resource is not None and observed.resource != resource_id:
                reason = f"renamed outside provision; it was created as {observed.resource}"
            actions[resource_id] = Action(ActionKind.DELETE, resource_id, [reason],
                                          data_loss=_data_loss(observed), observed=observed)

    plan.actions = list(actions.values())
    plan.actions = ordered_actions(plan, desired, snapshot)
    plan.unchanged = sorted(set(desired.resources) - set(actions) - {blocker.resource for blocker in plan.blockers})
    return plan


def plan_destroy(project: str, snapshot: Snapshot) -> Plan:
    """Delete every object labelled with `project`, dependents first."""
    plan = Plan(project)
    owned = snapshot.in_project(project)
    actions = {
        ResourceId(observed.kind, observed.name): Action(
            ActionKind.DELETE, ResourceId(observed.kind, observed.name),
            [f"destroy: labelled with project {project}", *registry_removal_notes(observed.labels)],
            data_loss=_data_loss(observed), observed=observed)
        for observed in owned
    }
    for duplicate in snapshot.duplicate_networks:
        resource_id = ResourceId(duplicate.kind, duplicate.name)
        if duplicate.in_project(project) and resource_id in actions:
            actions[resource_id].duplicates.append(duplicate)
    plan.actions = list(actions.values())
    plan.actions = ordered_actions(plan, None, snapshot)
    return plan


def _action_for(resource: DesiredResource, observed: Observed | None, snapshot: Snapshot, *,
                forced: bool = False) -> Action | None:
    if observed is None:
        return Action(ActionKind.CREATE, resource.id, _create_reasons(resource, snapshot), desired=resource)

    changes = compare(resource, observed, snapshot)
    reasons = ["configuration differs from the blueprint"] if changes else []
    if resource.role == "registry":
        if any(change.field == "tls.ca" for change in changes):
            reasons.append("a new server certificate is issued, signed by the new CA")
        elif any(change.field.startswith("tls.") for change in changes):
            reasons.append("a new server certificate is issued, signed by the same CA")
        reasons += registry_reasons(resource, observed.labels, trust_files=snapshot.trust_files)
    if forced:
        reasons.append("replacement requested with --replace")
    if reasons:
        return Action(ActionKind.REPLACE, resource.id, reasons, changes=changes,
                      data_loss=_data_loss(observed, resource), desired=resource, observed=observed)

    if isinstance(observed, ObservedContainer):
        if resource.state == "running" and not observed.running:
            return Action(ActionKind.START, resource.id, [f"should be running but is {observed.state}"],
                          desired=resource, observed=observed)
        if resource.state == "created" and observed.running:
            return Action(ActionKind.STOP, resource.id, [f"should be created only but is {observed.state}"],
                          desired=resource, observed=observed)
    return None


def _create_reasons(resource: DesiredResource, snapshot: Snapshot) -> list[str]:
    reasons = ["missing"]
    if resource.id.kind is Kind.CONTAINER:
        image = resource.spec["image"]
        present = snapshot.image_id(image) is not None
        if resource.pull == "always" or (resource.pull == "missing" and not present):
            reasons.append(f"image {image} will be pulled")
    if resource.role == "registry-ca":
        reasons.append(f"a new certificate authority ({resource.inputs['key_type']}) is generated and kept in it")
    if resource.role == "registry":
        reasons += registry_create_notes(resource)
    return reasons


def _recreate_dependents(desired: DesiredState, snapshot: Snapshot, actions: dict[ResourceId, Action], plan: Plan) -> None:
    """Replace every existing resource whose dependency is created or replaced.

    A container keeps the network, volume or namespace it was created with, so
    when that dependency is recreated the container must be recreated too. A
    container sharing the namespace of a container started again is left with
    only a loopback interface, so it is recreated as well.
    """
    blocked = {blocker.resource for blocker in plan.blockers}
    order = graphlib.TopologicalSorter({rid: res.requires for rid, res in desired.resources.items()}).static_order()
    for resource_id in order:
        resource = desired.resources.get(resource_id)
        observed = snapshot.find(resource_id)
        if resource is None or observed is None or resource_id in blocked:
            continue
        reasons = _dependency_reasons(resource, actions)
        if not reasons:
            continue
        action = actions.get(resource_id)
        if action is not None and action.kind in RECREATING:
            action.reasons += reasons
            continue
        actions[resource_id] = Action(ActionKind.REPLACE, resource_id, reasons, data_loss=_data_loss(observed, resource),
                                      desired=resource, observed=observed)


def _dependency_reasons(resource: DesiredResource, actions: dict[ResourceId, Action]) -> list[str]:
    name = resource.id.name
    shared = resource.spec.get("network_mode") or ""
    reasons = []
    for dependency in sorted(resource.requires):
        action = actions.get(dependency)
        if action is None:
            continue
        if action.kind in RECREATING:
            verb = "replaced" if action.kind is ActionKind.REPLACE else "created"
            reasons.append(f"{dependency} is {verb}, so {name} must be recreated to use the new one")
        elif action.kind is ActionKind.START and shared == f"container:{dependency.name}":
            reasons.append(f"{dependency} is started again, so {name} must be recreated to rejoin its network namespace")
    return reasons


def _check_images(actions: dict[ResourceId, Action], snapshot: Snapshot, plan: Plan) -> None:
    """Block apply when a container to be created needs an image that is missing and may not be pulled."""
    for action in actions.values():
        resource = action.desired
        if action.kind not in RECREATING or resource is None or resource.id.kind is not Kind.CONTAINER:
            continue
        image = resource.spec["image"]
        if resource.pull == "never" and snapshot.image_id(image) is None:
            plan.blockers.append(Blocker(resource.id, f"image {image} is not on the engine, and pull is never",
                                         f"build or load {image} on the engine first, or set pull: missing"))


def _check_subnets(actions: dict[ResourceId, Action], snapshot: Snapshot, plan: Plan) -> None:
    """Block apply when a network to be created would overlap a network the project does not own."""
    for action in actions.values():
        resource = action.desired
        if action.kind not in RECREATING or resource is None or resource.id.kind is not Kind.NETWORK:
            continue
        subnet = resource.spec["subnet"]
        if subnet is None:
            continue
        for other, other_subnet in sorted(snapshot.other_subnets.items()):
            if ipaddress.ip_network(subnet).overlaps(ipaddress.ip_network(other_subnet)):
                plan.blockers.append(Blocker(
                    resource.id, f"subnet {subnet} overlaps subnet {other_subnet} of network {other} on the engine",
                    "pick a subnet that no network on the engine uses"))


def _check_trust_engine(actions: dict[ResourceId, Action], snapshot: Snapshot, plan: Plan) -> None:
    """Block apply when a registry's CA cannot be installed where the engine looks for it."""
    for action in actions.values():
        resource = action.desired
        if action.kind not in RECREATING or resource is None or not resource.spec.get("trust_engine"):
            continue
        if not snapshot.engine_is_local:
            plan.blockers.append(Blocker(resource.id, "trust_engine installs the CA in this machine's /etc/docker/certs.d, "
                                         "but the engine runs elsewhere", "set trust_engine: false and install the CA "
                                         "on the engine's host yourself (provision ca NAME prints it)"))
        elif foreign := foreign_trust_files(resource, _observed_labels(action), snapshot.trust_files):
            plan.blockers.append(Blocker(resource.id, f"{foreign[0]} already exists and was not written by provision "
                                         "for this registry; provision will not overwrite it",
                                         "remove the file yourself if it is stale, or set trust_engine: false"))
        elif not snapshot.certs_folder_writable:
            plan.blockers.append(Blocker(resource.id, "trust_engine needs to write to /etc/docker/certs.d, which this "
                                         "user may not", "run provision as root, or set trust_engine: false"))


def _observed_labels(action: Action) -> dict[str, str]:
    return action.observed.labels if action.observed is not None else {}


def _check_engine_features(desired: DesiredState, snapshot: Snapshot, plan: Plan) -> None:
    for resource in desired.resources.values():
        if resource.id.kind is Kind.NETWORK and resource.spec["driver"] == "overlay" and not snapshot.swarm_manager:
            plan.blockers.append(Blocker(resource.id, "overlay networks need a swarm, and this engine is not a swarm manager",
                                         "run docker swarm init on the engine, or use driver: bridge"))


def _check_duplicates(project: str, snapshot: Snapshot, plan: Plan) -> None:
    """Block apply when the engine holds one of the project's networks more than once.

    Docker allows two networks with one name, which two applies racing each
    other can create; provision cannot tell which one the blueprint means.
    """
    for duplicate in snapshot.duplicate_networks:
        first = snapshot.networks[duplicate.name]
        if duplicate.owned_by(project) or first.owned_by(project):
            resource_id = ResourceId(Kind.NETWORK, duplicate.name)
            plan.blockers.append(Blocker(
                resource_id, f"there are several networks named {duplicate.name!r} (ids {first.id[:12]} and "
                f"{duplicate.id[:12]}), for example from two applies run at the same time",
                f"remove the extra one with docker network rm {duplicate.id[:12]}, or run provision destroy and apply again"))


def _conflict(resource_id: ResourceId, observed: Observed, project: str) -> Blocker:
    if observed.project is None:
        owner = "was not created by provision"
    elif observed.project != project:
        owner = f"belongs to project {observed.project!r}"
        return Blocker(resource_id, f"a {resource_id.kind} named {resource_id.name!r} already exists and {owner}; "
                       "provision will not touch it",
                       f"rename {resource_id.name} in the blueprint, or destroy project {observed.project!r} with its "
                       "own blueprint first")
    else:
        owner = f"is labelled as another resource ({observed.resource})"
    return Blocker(resource_id, f"a {resource_id.kind} named {resource_id.name!r} already exists and {owner}; "
                   "provision will not touch it",
                   f"rename {resource_id.name} in the blueprint, or remove the existing {resource_id.kind} yourself")


def _data_loss(observed: Observed, desired: DesiredResource | None = None) -> list[str]:
    """List what removing `observed` would destroy that the blueprint cannot recreate.

    A replaced container hands its anonymous volumes to its successor where the
    new spec keeps them anonymous, so only the targets it drops lose data.
    """
    if observed.kind is Kind.VOLUME:
        return [f"named volume {observed.name} and all data in it"]
    if not isinstance(observed, ObservedContainer):
        return []
    kept: set[str] = set()
    if desired is not None:
        kept = {mount["target"] for mount in desired.spec["mounts"] if mount["type"] == "anonymous"}
    return [f"anonymous volume at {target} in container {observed.name}"
            for target in observed.anonymous_volumes() if target not in kept]
