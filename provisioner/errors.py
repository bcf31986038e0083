"""Errors a user can act on.

Every exception here is expected: the CLI prints it as plain text and exits 1
without a traceback. Anything else that escapes a command is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A position in a blueprint file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a blueprint, with where it is and how to fix it."""

    location: Location | None
    key_path: str
    message: str
    hint: str = ""

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        subject = f"{self.key_path}: " if self.key_path else ""
        text = f"{where}error: {subject}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ProvisionError(Exception):
    """An error the user can fix; printed without a traceback."""


class BlueprintInvalid(ProvisionError):
    """The blueprint failed to load or validate; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=_problem_sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [problem.render() for problem in self.problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines.append(f"blueprint is invalid: {count} {noun} found; nothing was changed on the engine")
        return "\n".join(lines)


class BlueprintNotFound(ProvisionError):
    """The blueprint file does not exist."""


class UnknownResource(ProvisionError):
    """A command line option names a resource that the blueprint does not have."""


class EngineUnreachable(ProvisionError):
    """No Docker engine responded where the client looked for one."""


class ApplyRefused(ProvisionError):
    """Apply or destroy stopped before changing anything, for a stated reason."""


def _problem_sort_key(problem: Problem) -> tuple:
    if problem.location is None:
        return ("", 0, 0, problem.key_path)
    return (problem.location.file, problem.location.line, problem.location.column, problem.key_path)
