"""The pipeline shared by the commands: blueprint -> desired state -> snapshot -> plan."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from provisioner.engine import Engine, VolumeNotFound, connect
from provisioner.errors import BlueprintInvalid, Problem, UnknownResource
from provisioner.labels import PROJECT_LABEL, ROLE_LABEL
from provisioner.locking import ProjectLock
from provisioner.names import PROJECT_PATTERN
from provisioner.plan import Plan
from provisioner.planner import plan_apply, plan_destroy
from provisioner.registry import DOCKER_CERTS_FOLDER, certificate_authority_pem, file_digest
from provisioner.resources import DesiredState, Kind, ResourceId, build_desired_state
from provisioner.snapshot import Snapshot
from provisioner.templating import render_document
from provisioner.validation import BlueprintSource, LoadedBlueprint, declared_variables, load_blueprint, read_document
from provisioner.variables import resolve_variables


@dataclass
class Planned:
    """Everything a command needs after planning: the plan and what it was computed from."""

    loaded: LoadedBlueprint | None
    desired: DesiredState
    engine: Engine
    snapshot: Snapshot
    plan: Plan
    lock: ProjectLock | None = None


def plan_for_apply(source: BlueprintSource | Path, host: str | None, *, lock: bool = False,
                   replace: tuple[str, ...] = ()) -> Planned:
    """Plan an apply; with `lock`, hold the project's lock from before the engine is read.

    `replace` names resources to recreate even when unchanged, as NAME or KIND/NAME.
    """
    loaded = load_blueprint(source)
    desired = build_desired_state(loaded)
    forced = frozenset(resolve_resource(desired, name) for name in replace)
    engine = connect(host)
    project_lock = _acquire(engine, desired.project) if lock else None
    snapshot = read_snapshot(engine, desired)
    return Planned(loaded, desired, engine, snapshot, plan_apply(desired, snapshot, forced), project_lock)


def resolve_resource(desired: DesiredState, text: str) -> ResourceId:
    """Return the blueprint resource that NAME or KIND/NAME (volume, network or container) refers to."""
    matches = [resource_id for resource_id in desired.resources
               if text in (resource_id.name, resource_id.label)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        choices = " or ".join(sorted(match.label for match in matches))
        raise UnknownResource(f"--replace {text}: the name is ambiguous; write {choices}")
    raise UnknownResource(f"--replace {text}: the blueprint has no volume, network or container of that name")


def plan_for_destroy(project: str, host: str | None) -> Planned:
    """Plan a destroy of everything labelled with `project`, holding its lock from before the engine is read."""
    desired = DesiredState(project)
    engine = connect(host)
    project_lock = _acquire(engine, project)
    snapshot = read_snapshot(engine, desired)
    return Planned(None, desired, engine, snapshot, plan_destroy(project, snapshot), project_lock)


def project_to_destroy(source: BlueprintSource | Path) -> tuple[str, BlueprintInvalid | None]:
    """Return the blueprint's project, and the blueprint's problems if it has any.

    Destroy needs nothing but the project name, so a blueprint that no longer
    validates (a bind source gone, a typo) can still be torn down. The
    project name itself must be certain: when it is a template, every
    variable input must be readable and every value it uses set, or another
    environment could be destroyed.
    """
    try:
        return load_blueprint(source).blueprint.project, None
    except BlueprintInvalid as problems:
        return _project_name(BlueprintSource.of(source), problems), problems


def _project_name(source: BlueprintSource, problems: BlueprintInvalid) -> str:
    """Read just the project name, rendering it if it is a template; raise when it is not certain."""
    document = read_document(source.files)
    declaration_problems, declared = declared_variables(document)
    variables, value_problems = resolve_variables(declared, source.inputs)
    if declaration_problems or value_problems:
        # A misspelt or missing var file could leave a default that names another environment.
        raise BlueprintInvalid(declaration_problems + value_problems)

    rendered = render_document({"project": document.data.get("project")}, document.source_map, variables,
                               source.inputs.environ)
    if rendered.problems:
        raise BlueprintInvalid(rendered.problems)
    project = rendered.data.get("project")
    if not isinstance(project, str) or not re.match(PROJECT_PATTERN, project):
        raise BlueprintInvalid([
            Problem(document.source_map.locate(("project",)), "project",
                    f"destroy needs the project name, and {project!r} is not a valid one",
                    "fix the project, or name it with --project NAME"),
        ] + problems.problems)
    return project


def _acquire(engine: Engine, project: str) -> ProjectLock:
    project_lock = ProjectLock(engine.url, project)
    project_lock.acquire()
    return project_lock


def _local_facts(engine: Engine, snapshot: Snapshot) -> Snapshot:
    """Add what plan needs to know about this machine: is the engine here, and may its certs.d be written."""
    url = engine.url
    snapshot.engine_is_local = url.startswith(("http+unix://", "unix://", "npipe://")) or "://localhost" in url \
        or "://127.0.0.1" in url
    folder = DOCKER_CERTS_FOLDER
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    snapshot.certs_folder_writable = os.access(folder, os.W_OK)
    return snapshot


def _trust_files(desired: DesiredState, snapshot: Snapshot) -> Snapshot:
    for resource in desired.resources.values():
        for path in resource.spec.get("trust_engine", []) if resource.role == "registry" else []:
            try:
                snapshot.trust_files[path] = file_digest(Path(path).read_bytes())
            except FileNotFoundError:
                snapshot.trust_files[path] = None
            except OSError:
                continue
    return snapshot


def read_snapshot(engine: Engine, desired: DesiredState) -> Snapshot:
    names: dict[Kind, list[str]] = {kind: [] for kind in Kind}
    for resource_id in desired.resources:
        names[resource_id.kind].append(resource_id.name)
    need_swarm = any(resource.id.kind is Kind.NETWORK and resource.spec["driver"] == "overlay"
                     for resource in desired.resources.values())
    snapshot = engine.read_snapshot(desired.project, names, need_swarm=need_swarm)
    return _trust_files(desired, _local_facts(engine, snapshot))


def registry_ca_certificate(source: BlueprintSource | Path, host: str | None, name: str) -> bytes:
    """Return the PEM certificate of the CA that signs registry `name`, from the engine or the blueprint's CA file."""
    loaded = load_blueprint(source, check_secrets=False)
    desired = build_desired_state(loaded)
    resource = desired.resources.get(ResourceId(Kind.CONTAINER, name))
    if resource is None or resource.role != "registry":
        registries = ", ".join(sorted(loaded.blueprint.registries)) or "none"
        raise UnknownResource(f"the blueprint has no registry named {name!r} (registries: {registries})")
    engine = connect(host)
    labels = {PROJECT_LABEL: desired.project, ROLE_LABEL: "volume-access"}
    try:
        return certificate_authority_pem(engine, resource, labels)
    except (VolumeNotFound, KeyError):
        raise UnknownResource(f"registry {name!r} has no CA on the engine yet; run provision apply first") from None
