"""Text for people: plans, progress lines and summaries.

Plain text that reads the same in a log file. Colour is added only on request,
which the CLI makes when it writes to a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from provisioner.events import ActionFinished, Outcome
from provisioner.labels import SENSITIVE_PLACEHOLDER, is_sensitive_name
from provisioner.plan import Action, ActionKind, Plan
from provisioner.secrets import has_marker, shown

SYMBOLS = {
    ActionKind.CREATE: "+",
    ActionKind.REPLACE: "-/+",
    ActionKind.START: "~",
    ActionKind.STOP: "~",
    ActionKind.DELETE: "-",
}
COLOURS = {
    ActionKind.CREATE: "32",
    ActionKind.REPLACE: "33",
    ActionKind.START: "36",
    ActionKind.STOP: "36",
    ActionKind.DELETE: "31",
}
DONE_WORDS = {
    ActionKind.CREATE: "created",
    ActionKind.REPLACE: "replaced",
    ActionKind.START: "started",
    ActionKind.STOP: "stopped",
    ActionKind.DELETE: "deleted",
}


def render_plan(plan: Plan, *, colour: bool = False, verb: str = "apply") -> str:
    lines: list[str] = []
    if plan.actions:
        lines.append(f"provision will perform these actions on project {plan.project}:")
        lines.append("")
        for action in plan.actions:
            lines += _action_lines(action, colour)
    if plan.blockers:
        if lines:
            lines.append("")
        lines.append(f"Problems ({verb} will not start until they are resolved):")
        for blocker in plan.blockers:
            lines.append(f"  ! {blocker.resource}: {blocker.message}")
            if blocker.hint:
                lines.append(f"      hint: {blocker.hint}")
    if not plan.actions and not plan.blockers:
        count = len(plan.unchanged)
        noun = "resource" if count == 1 else "resources"
        lines.append(f"No changes. The engine matches the blueprint of project {plan.project} ({count} {noun}).")
        return "\n".join(lines)

    lines.append("")
    lines.append(summary_line(plan))
    losses = plan.data_loss_actions()
    if losses:
        lines.append(f"Data loss: {len(losses)} {'action removes' if len(losses) == 1 else 'actions remove'} stored data"
                     " (marked DATA LOSS above).")
    return "\n".join(lines)


def summary_line(plan: Plan) -> str:
    counts = [f"{plan.count(kind)} to {kind}" for kind in ActionKind]
    return "Plan: " + ", ".join(counts) + "."


def render_progress(event: ActionFinished, *, colour: bool = False) -> str:
    action = event.action
    head = f"{_symbol(action.kind, colour)} {action.resource}"
    seconds = f"{event.seconds:.1f}s"
    if event.outcome is Outcome.DONE:
        return f"{head}: {DONE_WORDS[action.kind]} in {seconds}"
    if event.outcome is Outcome.FAILED:
        return f"{head}: {_paint('FAILED', '31', colour)} after {seconds}: {event.message}"
    return f"{head}: skipped, because it {event.message}"


def render_outcome(events: list[ActionFinished], verb: str) -> str:
    done = sum(1 for event in events if event.outcome is Outcome.DONE)
    failed = sum(1 for event in events if event.outcome is Outcome.FAILED)
    skipped = sum(1 for event in events if event.outcome is Outcome.SKIPPED)
    if not failed and not skipped:
        return f"{verb.capitalize()} complete: {done} {'action' if done == 1 else 'actions'} done."
    return (f"{verb.capitalize()} incomplete: {done} done, {failed} failed, {skipped} skipped. "
            f"Fix the failures above and run {verb} again; finished work is kept.")


def format_value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _action_lines(action: Action, colour: bool) -> list[str]:
    kind = action.kind
    title = f"  {_symbol(kind, colour)} {action.resource}"
    if kind is not ActionKind.CREATE:
        title += f"  ({kind})"
    if action.data_loss:
        title += "  " + _paint("DATA LOSS", "31;1", colour)
    lines = [title]
    for reason in action.reasons:
        lines.append(f"      {shown(reason)}")
    for change in action.changes:
        old = shown(format_value(_shown(change.field, change.old)))
        new = shown(format_value(_shown(change.field, change.new)))
        if old == new:
            # Only a secret's digest differs: the value itself is never printed.
            new += " (secret value changed)"
        lines.append(f"      {change.field}: {old} -> {new}")
    for loss in action.data_loss:
        lines.append(f"      removes {loss}")
    return lines


def _shown(field: str, value: Any) -> Any:
    """Return the value as a plan may print it, with sensitive environment values replaced by a placeholder.

    A value that uses a secret variable keeps its marker, which names the variable.
    """
    if field == "environment" and isinstance(value, dict):
        return {name: _sensitive(name, item) for name, item in value.items()}
    if field.startswith("environment.") and value is not None:
        return _sensitive(field.removeprefix("environment."), value)
    return value


def _sensitive(name: str, value: Any) -> Any:
    if not is_sensitive_name(name) or (isinstance(value, str) and has_marker(value)):
        return value
    return SENSITIVE_PLACEHOLDER


def _symbol(kind: ActionKind, colour: bool) -> str:
    return _paint(SYMBOLS[kind], COLOURS[kind], colour)


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text
