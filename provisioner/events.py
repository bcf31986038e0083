"""Events the executor reports while it works, which the renderer turns into lines."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from provisioner.plan import Action


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ActionFinished:
    """An action's last step ended; `message` is the engine's error or the reason it was skipped."""

    action: Action
    outcome: Outcome
    seconds: float
    message: str = ""
