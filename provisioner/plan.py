"""A plan: the actions that would make the engine match the blueprint, with reasons.

A plan is a value. The planner computes it without side effects; the executor
carries it out; the renderer shows it. Nothing else decides what changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from provisioner.resources import DesiredResource, ResourceId
from provisioner.snapshot import Observed


class ActionKind(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    START = "start"
    STOP = "stop"
    DELETE = "delete"


@dataclass(frozen=True)
class FieldChange:
    """One declared field whose engine value differs from the blueprint's."""

    field: str
    old: Any
    new: Any


@dataclass
class Action:
    kind: ActionKind
    resource: ResourceId
    reasons: list[str]
    changes: list[FieldChange] = field(default_factory=list)
    data_loss: list[str] = field(default_factory=list)
    desired: DesiredResource | None = None
    observed: Observed | None = None
    # Further objects with the same name and the project's label, removed along with `observed`.
    duplicates: list[Observed] = field(default_factory=list)


@dataclass(frozen=True)
class Blocker:
    """Something that stops apply before it starts, such as a name taken by an object provision does not own."""

    resource: ResourceId
    message: str
    hint: str = ""


@dataclass
class Plan:
    project: str
    actions: list[Action] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    unchanged: list[ResourceId] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for action in self.actions if action.kind == kind)

    def data_loss_actions(self) -> list[Action]:
        return [action for action in self.actions if action.data_loss]

    def action_for(self, resource: ResourceId) -> Action | None:
        return next((action for action in self.actions if action.resource == resource), None)
