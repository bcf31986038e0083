"""The pipeline shared by the commands: blueprint -> desired state -> snapshot -> plan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner.engine import Engine, connect
from provisioner.locking import ProjectLock
from provisioner.plan import Plan
from provisioner.planner import plan_apply, plan_destroy
from provisioner.resources import DesiredState, Kind, build_desired_state
from provisioner.snapshot import Snapshot
from provisioner.validation import LoadedBlueprint, load_blueprint


@dataclass
class Planned:
    """Everything a command needs after planning: the plan and what it was computed from."""

    loaded: LoadedBlueprint
    desired: DesiredState
    engine: Engine
    snapshot: Snapshot
    plan: Plan
    lock: ProjectLock | None = None


def plan_for_apply(path: Path, host: str | None, *, lock: bool = False) -> Planned:
    """Plan an apply; with `lock`, hold the project's lock from before the engine is read."""
    loaded = load_blueprint(path)
    desired = build_desired_state(loaded)
    engine = connect(host)
    project_lock = _acquire(engine, desired.project) if lock else None
    snapshot = read_snapshot(engine, desired)
    return Planned(loaded, desired, engine, snapshot, plan_apply(desired, snapshot), project_lock)


def plan_for_destroy(path: Path, host: str | None) -> Planned:
    """Plan a destroy, holding the project's lock from before the engine is read."""
    loaded = load_blueprint(path)
    desired = build_desired_state(loaded)
    engine = connect(host)
    project_lock = _acquire(engine, desired.project)
    snapshot = read_snapshot(engine, desired)
    return Planned(loaded, desired, engine, snapshot, plan_destroy(desired.project, snapshot), project_lock)


def _acquire(engine: Engine, project: str) -> ProjectLock:
    project_lock = ProjectLock(engine.url, project)
    project_lock.acquire()
    return project_lock


def read_snapshot(engine: Engine, desired: DesiredState) -> Snapshot:
    names: dict[Kind, list[str]] = {kind: [] for kind in Kind}
    for resource_id in desired.resources:
        names[resource_id.kind].append(resource_id.name)
    need_swarm = any(resource.id.kind is Kind.NETWORK and resource.spec["driver"] == "overlay"
                     for resource in desired.resources.values())
    return engine.read_snapshot(desired.project, names, need_swarm=need_swarm)
