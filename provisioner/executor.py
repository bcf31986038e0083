"""Carry out a plan on the engine, step by step, in dependency order.

The executor is the only code that changes the engine. A failed step does not
stop the run: steps that need it are skipped, everything else goes on, and the
caller sees one event per action.
"""

from __future__ import annotations

import graphlib
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from provisioner.engine import Engine, EngineError
from provisioner.events import ActionFinished, Outcome
from provisioner.labels import PROJECT_LABEL, ROLE_LABEL, ownership_labels
from provisioner.ordering import Schedule, Step, StepKind, build_schedule, step_rank
from provisioner.plan import Action, ActionKind, Plan
from provisioner.registry import create_certificate_authority, prepare_registry, remove_trusted_files, trust_registry
from provisioner.resources import DesiredResource, DesiredState, Kind
from provisioner.snapshot import ObservedContainer, Snapshot


class ExecutionInterrupted(Exception):
    """The user interrupted a run; steps under way finished and nothing else started."""


@dataclass(frozen=True)
class ExecuteOptions:
    stop_timeout: int = 10
    # Steps that may run at the same time; 1 runs them one by one in a stable order.
    parallelism: int = 4


def execute(plan: Plan, desired: DesiredState | None, snapshot: Snapshot, engine: Engine,
            options: ExecuteOptions = ExecuteOptions()) -> Iterator[ActionFinished]:
    """Run every step of `plan`, yielding an event as each action finishes.

    A step starts as soon as its prerequisites have ended, so independent
    work (stopping several containers, say) overlaps.
    """
    schedule = build_schedule(plan, desired, snapshot)
    runner = _StepRunner(plan.project, engine, options)
    outcomes: dict[Step, Outcome] = {}
    messages: dict[Step, str] = {}
    busy_seconds: dict[int, float] = {id(action): 0.0 for action in plan.actions}
    pending = Counter(id(action) for action in schedule.steps.values())
    sorter = graphlib.TopologicalSorter(schedule.after)
    sorter.prepare()

    pool = ThreadPoolExecutor(max_workers=max(1, options.parallelism), thread_name_prefix="provision-step")
    running: dict[Future, Step] = {}
    try:
        while sorter.is_active():
            for step in sorted(sorter.get_ready(), key=step_rank):
                missing = sorted(p for p in schedule.needs[step] if outcomes.get(p) is not Outcome.DONE)
                if missing:
                    outcomes[step] = Outcome.SKIPPED
                    messages[step] = _skip_reason(missing, schedule, outcomes)
                    sorter.done(step)
                    yield from _step_ended(step, 0.0, schedule, outcomes, messages, busy_seconds, pending)
                else:
                    running[pool.submit(_timed_run, runner, step, schedule.steps[step])] = step
            if not running:
                continue

            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda item: step_rank(running[item])):
                step = running.pop(future)
                _record(step, future, outcomes, messages)
                sorter.done(step)
                yield from _step_ended(step, future.result()[0], schedule, outcomes, messages, busy_seconds, pending)
    except KeyboardInterrupt:
        # Let the engine calls under way finish, so no object is left half
        # made, and start nothing new.
        pool.shutdown(wait=True, cancel_futures=True)
        for future, step in running.items():
            if not future.cancelled():
                _record(step, future, outcomes, messages)
                yield from _step_ended(step, future.result()[0], schedule, outcomes, messages, busy_seconds, pending)
        raise ExecutionInterrupted() from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _record(step: Step, future: Future, outcomes: dict[Step, Outcome], messages: dict[Step, str]) -> None:
    _, error = future.result()
    outcomes[step] = Outcome.DONE if error is None else Outcome.FAILED
    if error is not None:
        messages[step] = error


def _timed_run(runner: _StepRunner, step: Step, action: Action) -> tuple[float, str | None]:
    """Run one step in a worker; return its duration and the engine's error message, if any."""
    started = time.monotonic()
    try:
        runner.run(step, action)
    except EngineError as error:
        return time.monotonic() - started, str(error)
    return time.monotonic() - started, None


def _step_ended(step: Step, seconds: float, schedule: Schedule, outcomes: dict[Step, Outcome], messages: dict[Step, str],
                busy_seconds: dict[int, float], pending: Counter) -> Iterator[ActionFinished]:
    action = schedule.steps[step]
    # An action's time is the time of its own steps, not of the steps of
    # other actions that ran between its removal and its creation.
    busy_seconds[id(action)] += seconds
    pending[id(action)] -= 1
    if pending[id(action)] == 0:
        yield _finished(action, schedule, outcomes, messages, busy_seconds[id(action)])


def _finished(action: Action, schedule: Schedule, outcomes: dict[Step, Outcome], messages: dict[Step, str],
              seconds: float) -> ActionFinished:
    steps = [step for step, owner in schedule.steps.items() if owner is action]
    for outcome in (Outcome.FAILED, Outcome.SKIPPED):
        for step in steps:
            if outcomes[step] is outcome:
                return ActionFinished(action, outcome, seconds, messages[step])
    return ActionFinished(action, Outcome.DONE, seconds)


def _skip_reason(missing: list[Step], schedule: Schedule, outcomes: dict[Step, Outcome]) -> str:
    first = missing[0]
    verb = "failed" if outcomes.get(first) is Outcome.FAILED else "was skipped"
    if first.kind is StepKind.REMOVE and first.resource == schedule.steps[first].resource:
        return f"needs the removal of {first.resource} first, which {verb}"
    return f"needs {first.resource}, which {verb}"


def reused_volumes(action: Action) -> dict[str, str]:
    """Anonymous volumes a replaced container hands to its successor: targets anonymous in both specs."""
    if action.kind is not ActionKind.REPLACE or not isinstance(action.observed, ObservedContainer):
        return {}
    targets = {mount["target"] for mount in action.desired.spec["mounts"] if mount["type"] == "anonymous"}
    return {target: volume for target, volume in action.observed.anonymous_volumes().items() if target in targets}


class _StepRunner:
    def __init__(self, project: str, engine: Engine, options: ExecuteOptions):
        self.project = project
        self.engine = engine
        self.options = options

    def run(self, step: Step, action: Action) -> None:
        if step.kind is StepKind.REMOVE:
            if action.kind is ActionKind.REPLACE and action.desired.id.kind is Kind.CONTAINER:
                # Make sure the new image is there before the old container goes,
                # so a missing image leaves the old container running.
                self._ensure_image(action.desired)
            self._remove(action)
        elif step.kind is StepKind.CREATE:
            # A replacement checked its image before removing its predecessor.
            previous = action.observed.labels if action.observed is not None else {}
            self._create(action.desired, reused_volumes(action), check_image=action.kind is not ActionKind.REPLACE,
                         previous_labels=previous)
        elif step.kind is StepKind.START:
            observed = action.observed
            self.engine.start_container(observed.id, observed.name, paused=observed.state == "paused")
        elif step.kind is StepKind.STOP:
            self.engine.stop_container(action.observed.id, action.observed.name, self.options.stop_timeout)

    def _remove(self, action: Action) -> None:
        observed = action.observed
        # The planner only removes owned objects; check again right before the call.
        if observed is None or not observed.in_project(self.project):
            raise EngineError(f"did not remove {action.resource}: it is not labelled as part of project {self.project}")
        if isinstance(observed, ObservedContainer):
            self.engine.remove_container(observed.id, observed.name, self.options.stop_timeout)
            if observed.role == "registry":
                remove_trusted_files(observed.labels)
            kept = set(reused_volumes(action).values())
            for volume in observed.anonymous_volumes().values():
                if volume not in kept:
                    self.engine.remove_anonymous_volume(volume, observed.name)
        elif observed.kind is Kind.NETWORK:
            self.engine.remove_network(observed.id, observed.name)
            for duplicate in action.duplicates:
                if duplicate.in_project(self.project):
                    self.engine.remove_network(duplicate.id, duplicate.name)
        else:
            self.engine.remove_volume(observed.name)

    def _helper_labels(self) -> dict[str, str]:
        """Labels of the short-lived containers that read and write volume files, so destroy finds any left over."""
        return {PROJECT_LABEL: self.project, ROLE_LABEL: "volume-access"}

    def _create(self, resource: DesiredResource, reused: dict[str, str], *, check_image: bool,
                previous_labels: dict[str, str] | None = None) -> None:
        name = resource.id.name
        depends_on = [dependency.name for dependency in resource.after if dependency.kind is Kind.CONTAINER]
        labels = ownership_labels(self.project, resource.id.label, resource.role, resource.spec, depends_on)
        if resource.id.kind is Kind.VOLUME:
            self.engine.create_volume(name, resource.engine_spec, labels)
            if resource.role == "registry-ca":
                self._ensure_image_named(resource.inputs["image"])
                create_certificate_authority(self.engine, resource, self._helper_labels())
        elif resource.id.kind is Kind.NETWORK:
            self.engine.create_network(name, resource.engine_spec, labels)
        else:
            if check_image:
                self._ensure_image(resource)
            prepared = None
            if resource.role == "registry":
                prepared = prepare_registry(self.engine, resource, previous_labels or {}, self._helper_labels())
                labels |= prepared.labels
            self.engine.create_container(name, resource.engine_spec, labels, reused)
            if resource.state == "running":
                self.engine.start_container(name, name)
            if prepared is not None:
                trust_registry(resource, prepared.ca_pem)

    def _ensure_image_named(self, image: str) -> None:
        if not self.engine.has_image(image):
            self.engine.pull(image)

    def _ensure_image(self, resource: DesiredResource) -> None:
        image = resource.spec["image"]
        if resource.pull == "always":
            self.engine.pull(image)
        elif not self.engine.has_image(image):
            if resource.pull == "never":
                raise EngineError(f"image {image} is not on the engine and pull is set to never; "
                                  "build or load it first, or set pull: missing")
            self.engine.pull(image)


