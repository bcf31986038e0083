"""Break a plan's actions into engine steps and order them.

A replace is a removal and a creation, and the two halves order differently:
a dependent container is removed before the network it uses, and created after
it. Each step lists its prerequisites; a failed prerequisite that the step
truly needs makes the step skip, while order-only prerequisites do not.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from enum import StrEnum

from provisioner.plan import Action, ActionKind, Plan
from provisioner.resources import DesiredState, Kind, ResourceId
from provisioner.snapshot import Snapshot


class StepKind(StrEnum):
    REMOVE = "remove"
    CREATE = "create"
    START = "start"
    STOP = "stop"


STEPS_OF_ACTION = {
    ActionKind.CREATE: (StepKind.CREATE,),
    ActionKind.REPLACE: (StepKind.REMOVE, StepKind.CREATE),
    ActionKind.DELETE: (StepKind.REMOVE,),
    ActionKind.START: (StepKind.START,),
    ActionKind.STOP: (StepKind.STOP,),
}


@dataclass(frozen=True, order=True)
class Step:
    resource: ResourceId
    kind: StepKind

    def __str__(self) -> str:
        return f"{self.kind} {self.resource}"


@dataclass
class Schedule:
    """Steps with their prerequisites, and which prerequisites a step cannot do without."""

    steps: dict[Step, Action] = field(default_factory=dict)
    after: dict[Step, set[Step]] = field(default_factory=dict)
    needs: dict[Step, set[Step]] = field(default_factory=dict)

    def order(self) -> list[Step]:
        """Steps in an order that honours every prerequisite; ties are broken by kind and name, so the order is stable."""
        sorter = graphlib.TopologicalSorter(self.after)
        sorter.prepare()
        ordered: list[Step] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=step_rank)
            ordered += ready
            sorter.done(*ready)
        return ordered


def build_schedule(plan: Plan, desired: DesiredState | None, snapshot: Snapshot) -> Schedule:
    schedule = Schedule()
    for action in plan.actions:
        for kind in STEPS_OF_ACTION[action.kind]:
            step = Step(action.resource, kind)
            schedule.steps[step] = action
            schedule.after[step] = set()
            schedule.needs[step] = set()

    for step, action in schedule.steps.items():
        if step.kind is StepKind.REMOVE:
            _order_removal(schedule, step, snapshot)
        elif step.kind in (StepKind.CREATE, StepKind.START):
            _order_creation(schedule, step, desired)

    _removals_before_creations(schedule)
    return schedule


def ordered_actions(plan: Plan, desired: DesiredState | None, snapshot: Snapshot) -> list[Action]:
    """Return the plan's actions in the order their first step runs."""
    schedule = build_schedule(plan, desired, snapshot)
    seen: list[Action] = []
    for step in schedule.order():
        action = schedule.steps[step]
        if all(action is not other for other in seen):
            seen.append(action)
    return seen


def _order_removal(schedule: Schedule, step: Step, snapshot: Snapshot) -> None:
    # Remove every object that uses this one first; removing this one while
    # something still uses it would fail.
    for other in schedule.steps:
        if other.kind is not StepKind.REMOVE or other == step:
            continue
        observed = snapshot.find(other.resource)
        if observed is None:
            continue
        if step.resource in snapshot.dependencies_of(observed):
            _require(schedule, step, other)
        elif step.resource in snapshot.started_after(observed):
            # depends_on only orders the work; the engine does not stop the removal.
            schedule.after[step].add(other)


def _order_creation(schedule: Schedule, step: Step, desired: DesiredState | None) -> None:
    removal = Step(step.resource, StepKind.REMOVE)
    if removal in schedule.steps:
        _require(schedule, step, removal)

    resource = desired.resources.get(step.resource) if desired else None
    if resource is None:
        return
    for dependency in resource.requires | resource.after:
        # Ordering between networks (declared subnets first) must not make one
        # network's failure skip another.
        needed = dependency in resource.requires or dependency.kind is Kind.CONTAINER
        for kind in (StepKind.CREATE, StepKind.START):
            prerequisite = Step(dependency, kind)
            if prerequisite in schedule.steps:
                schedule.after[step].add(prerequisite)
                if needed:
                    schedule.needs[step].add(prerequisite)


def _removals_before_creations(schedule: Schedule) -> None:
    # A deleted object may hold a name, subnet or host port that a new one
    # takes; removing first frees it. Order only: a failed deletion does not
    # stop unrelated creations.
    removals = [step for step in schedule.steps if step.kind is StepKind.REMOVE]
    for step in schedule.steps:
        if step.kind is StepKind.CREATE:
            schedule.after[step].update(removal for removal in removals if removal.resource != step.resource)


def _require(schedule: Schedule, step: Step, prerequisite: Step) -> None:
    schedule.after[step].add(prerequisite)
    schedule.needs[step].add(prerequisite)


def step_rank(step: Step) -> tuple[int, int, str]:
    kinds = {StepKind.STOP: 0, StepKind.REMOVE: 1, StepKind.CREATE: 2, StepKind.START: 3}
    resources = {Kind.VOLUME: 0, Kind.NETWORK: 1, Kind.CONTAINER: 2}
    return kinds[step.kind], resources[step.resource.kind], step.resource.name
