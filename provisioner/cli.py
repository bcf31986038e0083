"""The `provision` command line: parse options, call the pipeline, print, exit.

Expected errors (ProvisionError) print one clear message and exit 1. Anything
else is a bug: one line and a hint to rerun with --debug, which shows the
traceback.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click

from provisioner import __version__
from provisioner.certificates import describe
from provisioner.errors import ApplyRefused, BlueprintNotFound, ProvisionError
from provisioner.events import ActionFinished, Outcome
from provisioner.executor import ExecuteOptions, ExecutionInterrupted, execute
from provisioner.names import PROJECT_PATTERN
from provisioner.render import render_outcome, render_plan, render_progress
from provisioner.resolved import resolved_text
from provisioner.schema import blueprint_schema_text
from provisioner.secrets import RedactingFilter, Redactor
from provisioner.starter import (
    IGNORED_PATTERN,
    SCHEMA_FILE,
    default_project_name,
    ignore_local_var_files,
    starter_blueprint,
)
from provisioner.validation import BlueprintSource, load_blueprint
from provisioner.variables import VariableInputs
from provisioner.workflow import Planned, plan_for_apply, plan_for_destroy, project_to_destroy, registry_ca_certificate

DEFAULT_BLUEPRINT = "blueprint.yaml"

# Set once apply or destroy starts changing the engine, so an interrupt is reported truthfully.
_changing = False

# Hides the values of the blueprint's secret variables in everything printed, once the blueprint is read.
_redact = Redactor()

HOST_HELP = ("Docker engine to use, for example unix:///var/run/docker.sock or tcp://HOST:2376. "
             "Default: as the docker CLI finds it (DOCKER_HOST and friends).")


def _remember(key: str):
    """Store an option's value in the context, so it may be given before or after the command name.

    Repeatable options add up: those before the command name come first.
    """

    def callback(context: click.Context, parameter: click.Parameter, value: object) -> None:
        settings = context.ensure_object(dict)
        if isinstance(value, tuple):
            settings[key] = settings.get(key, ()) + value
        elif value:
            settings[key] = value
        if key == "debug" and value:
            logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
            for handler in logging.getLogger().handlers:
                handler.addFilter(RedactingFilter(_redact))

    return callback


def common_options(function):
    """Add the options that the group and every command accept: files, variables, engine and --debug."""
    options = [
        click.option("-f", "--file", "blueprint_files", multiple=True, type=click.Path(path_type=Path), expose_value=False,
                     callback=_remember("files"),
                     help=f"Blueprint file to read (default: {DEFAULT_BLUEPRINT}). Repeat it to merge override files "
                          "over the first, later files winning."),
        click.option("--var", "var_args", metavar="NAME=VALUE", multiple=True, expose_value=False,
                     callback=_remember("var_args"), help="Set a variable; repeatable, and wins over --var-file."),
        click.option("--var-file", "var_files", metavar="FILE", multiple=True, type=click.Path(path_type=Path),
                     expose_value=False, callback=_remember("var_files"),
                     help="YAML file of variable values; repeatable, later files winning."),
        click.option("--host", metavar="URL", expose_value=False, callback=_remember("host"), help=HOST_HELP),
        click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"),
                     help="Log engine calls and show tracebacks of unexpected errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


replace_option = click.option(
    "--replace", metavar="NAME", multiple=True,
    help="Recreate this resource even if it is unchanged (NAME, or KIND/NAME such as container/web); repeatable.",
)
auto_approve_option = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation before changing the engine.")
parallelism_option = click.option(
    "--parallelism", type=click.IntRange(min=1), default=4, show_default=True,
    help="Engine operations that may run at the same time; 1 runs them one by one.",
)
stop_timeout_option = click.option(
    "--stop-timeout", type=click.IntRange(min=0), default=10, show_default=True,
    help="Seconds a container gets to stop before it is killed, when it is removed or replaced.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
@common_options
def cli() -> None:
    """Plan and apply a blueprint of Docker volumes, networks and containers."""


@cli.command()
@common_options
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(context: click.Context, files: tuple[Path, ...]) -> None:
    """Check blueprints without contacting the engine.

    FILES are checked one by one (default: the -f files merged, or
    blueprint.yaml); the exit code is 1 if any of them is invalid, as a
    pre-commit hook needs. A value that uses a variable without a value is
    left unchecked, so a blueprint can be checked without its secrets.
    """
    base = _source(context)
    if files and context.obj.get("files"):
        raise click.UsageError("give the files either with -f, to check them merged, or as arguments, "
                               "to check each on its own, not both")
    sources = [replace(base, files=(path,)) for path in files] or [base]
    invalid = 0
    for source in sources:
        label = " + ".join(str(path) for path in source.files)
        try:
            loaded = load_blueprint(source, allow_missing=True, check_secrets=False)
        except ProvisionError as error:
            _echo(str(error), err=True)
            invalid += 1
            continue
        _redact.include(loaded.redact)
        note = ""
        if loaded.unrendered:
            count = len(loaded.unrendered)
            names = ", ".join(loaded.missing_variables)
            note = (f"; {count} {'value was' if count == 1 else 'values were'} not checked, because "
                    f"{'this variable has' if len(loaded.missing_variables) == 1 else 'these variables have'} "
                    f"no value: {names}")
        _echo(f"{label}: valid (project {loaded.blueprint.project}{note})")
    if invalid:
        if len(sources) > 1:
            _echo(f"{invalid} of {len(sources)} blueprints are invalid", err=True)
        sys.exit(1)


@cli.command()
@common_options
@click.option("--project", metavar="NAME", help="Project name (default: made from the folder's name).")
@click.pass_context
def init(context: click.Context, project: str | None) -> None:
    """Write a commented starter blueprint; never overwrites a file.

    The schema is written beside it for editors, and .gitignore gets the
    pattern of var files that hold secrets (*.local.yaml).
    """
    blueprint_path = _blueprint_path(context)
    project = project or default_project_name(blueprint_path.absolute().parent)
    if not re.match(PROJECT_PATTERN, project):
        raise click.BadParameter(f"invalid project name {project!r}; use a-z, 0-9, '_' and '-'", param_hint="--project")
    if blueprint_path.is_dir():
        raise ProvisionError(f"{blueprint_path} is a folder; pass the file to write, such as "
                             f"-f {blueprint_path / DEFAULT_BLUEPRINT}")
    try:
        blueprint_path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ProvisionError(f"cannot create the folder {blueprint_path.parent}: a file of that name is in the "
                             "way; pass -f with another path") from None
    try:
        with open(blueprint_path, "x", encoding="utf-8") as file:
            file.write(starter_blueprint(project))
    except FileExistsError:
        raise ProvisionError(f"{blueprint_path} already exists; init never overwrites a file. "
                           "Pass -f PATH to write the starter somewhere else") from None
    written = [str(blueprint_path)]
    folder = blueprint_path.absolute().parent
    schema_path = folder / SCHEMA_FILE
    if not schema_path.exists():
        schema_path.write_text(blueprint_schema_text(), encoding="utf-8")
        written.append(_shown_path(schema_path))
    done = f"wrote {' and '.join(written)}"
    if ignore_local_var_files(folder):
        done += f", added {IGNORED_PATTERN} to {_shown_path(folder / '.gitignore')}"
    _echo(f"{done} (project {project}); next: provision -f {blueprint_path} plan")


def _shown_path(path: Path) -> str:
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


@cli.command()
@common_options
@click.option("--format", "output_format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="Output format.")
@click.pass_context
def config(context: click.Context, output_format: str) -> None:
    """Print the blueprint as provision reads it.

    The files are merged, templates rendered and defaults filled in; secret
    values show as (secret NAME).
    """
    loaded = load_blueprint(_source(context))
    _redact.include(loaded.redact)
    text, hidden = resolved_text(loaded, output_format)
    _echo(text, nl=False)
    if hidden and output_format == "json":
        _echo("note: secrets show as (secret NAME) and sensitive values as (sensitive value); "
              "do not apply this output", err=True)


@cli.command()
def schema() -> None:
    """Print the blueprint's JSON Schema (draft 2020-12)."""
    _echo(blueprint_schema_text(), nl=False)


@cli.command()
@common_options
@click.argument("registry")
@click.pass_context
def ca(context: click.Context, registry: str) -> None:
    """Print the CA certificate of REGISTRY, for clients to trust.

    The PEM goes to standard output, so it can be redirected to a file; its
    fingerprint and expiry go to standard error, to compare on the client.
    """
    pem = registry_ca_certificate(_source(context), context.obj.get("host"), registry)
    info = describe(pem)
    _echo(pem.decode("ascii"), nl=False)
    _echo(f"CA {info.common_name}: SHA-256 fingerprint {info.sha256_fingerprint}, "
               f"valid until {info.not_after:%Y-%m-%d}", err=True)


@cli.command()
@common_options
@replace_option
@click.pass_context
def plan(context: click.Context, replace: tuple[str, ...]) -> None:
    """Show what apply would change on the engine, and why."""
    planned = plan_for_apply(_source(context), context.obj.get("host"), replace=replace)
    _redact.include(planned.loaded.redact)
    _echo(render_plan(planned.plan, colour=_colour()))
    if planned.plan.blockers:
        sys.exit(1)


@cli.command()
@common_options
@auto_approve_option
@click.option("--allow-data-loss", is_flag=True, help="Allow actions that remove named volumes or a container's anonymous volumes.")
@stop_timeout_option
@parallelism_option
@replace_option
@click.pass_context
def apply(context: click.Context, auto_approve: bool, allow_data_loss: bool, stop_timeout: int, parallelism: int,
          replace: tuple[str, ...]) -> None:
    """Make the engine match the blueprint."""
    planned = plan_for_apply(_source(context), context.obj.get("host"), lock=True, replace=replace)
    _redact.include(planned.loaded.redact)
    with _holding(planned):
        _apply_planned(planned, auto_approve, allow_data_loss,
                       ExecuteOptions(stop_timeout=stop_timeout, parallelism=parallelism))


def _apply_planned(planned: Planned, auto_approve: bool, allow_data_loss: bool, options: ExecuteOptions) -> None:
    _echo(render_plan(planned.plan, colour=_colour()))
    if planned.plan.blockers:
        raise ApplyRefused("apply did not start: resolve the problems above first; nothing was changed")
    if not planned.plan.has_changes:
        return
    if planned.plan.data_loss_actions() and not allow_data_loss:
        raise ApplyRefused("apply did not start: the plan removes stored data (DATA LOSS above), and nothing was changed. "
                           "Back up what you need and rerun with --allow-data-loss, or change the blueprint.")
    _confirm("apply", auto_approve)
    _run(planned, "apply", options)


@cli.command()
@common_options
@click.option("--project", metavar="NAME", help="Project to destroy, instead of the one named in the blueprint file.")
@auto_approve_option
@stop_timeout_option
@parallelism_option
@click.pass_context
def destroy(context: click.Context, project: str | None, auto_approve: bool, stop_timeout: int, parallelism: int) -> None:
    """Remove every object of the blueprint's project.

    Only objects labelled with the project are removed; anything else on the
    engine, including objects with the same names, is left alone.
    """
    if project is not None and not re.match(PROJECT_PATTERN, project):
        raise click.BadParameter(f"invalid project name {project!r}; use a-z, 0-9, '_' and '-'", param_hint="--project")
    if project is None:
        try:
            project, problems = project_to_destroy(_source(context))
        except BlueprintNotFound as error:
            raise BlueprintNotFound(f"{error}, or name the project with --project NAME") from None
        if problems is not None:
            for problem in problems.problems:
                _echo(problem.render().replace(": error: ", ": warning: ", 1), err=True)
            _echo(f"destroy needs only the project name, so it goes on with project {project}", err=True)

    planned = plan_for_destroy(project, context.obj.get("host"))
    with _holding(planned):
        if not planned.plan.has_changes:
            _echo(f"Nothing to destroy: no object on the engine is labelled with project {planned.plan.project}.")
            return
        _echo(render_plan(planned.plan, colour=_colour(), verb="destroy"))
        _confirm("destroy", auto_approve)
        _run(planned, "destroy", ExecuteOptions(stop_timeout=stop_timeout, parallelism=parallelism))


@contextmanager
def _holding(planned: Planned) -> Iterator[None]:
    """Release the project's lock when the command ends, however it ends."""
    try:
        yield
    finally:
        if planned.lock is not None:
            planned.lock.release()


def _blueprint_path(context: click.Context) -> Path:
    """The first blueprint file: the one init writes and the others are merged over."""
    return _source(context).files[0]


def _source(context: click.Context) -> BlueprintSource:
    settings = context.obj
    inputs = VariableInputs(var_files=settings.get("var_files", ()), var_args=settings.get("var_args", ()))
    return BlueprintSource(settings.get("files") or (Path(DEFAULT_BLUEPRINT),), inputs)


def _echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print, with the value of any secret variable hidden."""
    click.echo(_redact(text), err=err, nl=nl)


def _confirm(verb: str, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ApplyRefused(f"{verb} did not start: there is no terminal to confirm on, and nothing was changed; "
                           "rerun with --auto-approve to proceed without confirmation")
    _echo("")
    try:
        answer = click.prompt(f"Do you want to {verb}? Only 'yes' will be accepted", default="", show_default=False)
    except click.exceptions.Abort:
        answer = ""
    if answer.strip() != "yes":
        raise ApplyRefused(f"{verb} cancelled; nothing was changed")


def _run(planned: Planned, verb: str, options: ExecuteOptions) -> None:
    global _changing
    _echo("")
    events: list[ActionFinished] = []
    desired = planned.desired if verb == "apply" else None
    _changing = True
    try:
        for event in execute(planned.plan, desired, planned.snapshot, planned.engine, options):
            events.append(event)
            _echo(render_progress(event, colour=_colour()))
    except ExecutionInterrupted:
        done = sum(1 for event in events if event.outcome is Outcome.DONE)
        _echo(f"\n{verb} interrupted: {done} of {len(planned.plan.actions)} actions done. Steps under way were "
                   f"allowed to finish and nothing else was started; run plan to see what is left.", err=True)
        sys.exit(130)
    _echo("")
    failed = any(event.outcome is not Outcome.DONE for event in events)
    _echo(render_outcome(events, verb), err=failed)
    if failed:
        sys.exit(1)


def _colour() -> bool:
    return sys.stdout.isatty()


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        if _changing:
            _echo("\ninterrupted while changing the engine; run plan to see what is left.", err=True)
        else:
            _echo("\ninterrupted; nothing was changed.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        # Bad input exits 1, whether it is a bad option or a bad blueprint.
        error.show()
        sys.exit(1)
    except ProvisionError as error:
        _echo(str(error), err=True)
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - the last line of defence for bugs
        if debug:
            _echo(traceback.format_exc(), err=True, nl=False)
            sys.exit(1)
        _echo(f"error: unexpected {type(error).__name__}: {error} (a bug in provision; rerun with --debug to see "
                   "the traceback)", err=True)
        sys.exit(1)
