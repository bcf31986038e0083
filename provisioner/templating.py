"""Render every string of a parsed blueprint as a Jinja2 template.

Templates are rendered after the YAML is parsed, one string at a time, so a
value can never change the file's structure and every error keeps the
string's line and column. A string that is one whole expression, such as
"{{ vars.port }}", takes the expression's value with its type.

Templates run in Jinja2's immutable sandbox: they can read `vars`, `env` and
`project`, but cannot reach Python internals, files or the network.

Rendering gives two blueprints. The real one has every value and goes only to
the engine calls. The masked one has each output that used a secret variable
replaced by a marker (see `secrets`); plans, labels and printed output use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from provisioner.errors import Problem
from provisioner.loader import KeyPath, SourceMap, format_key_path
from provisioner.secrets import Redactor, marker
from provisioner.validation_support import defined_hint
from provisioner.variables import VariableValues, no_value_hint

TEMPLATE_MARKS = ("{{", "{%")

# Jinja2's comments are turned off: shell commands write ${#NAME}, and YAML has comments of its own.
# A NUL character cannot occur in a YAML file, so these markers never match.
NO_COMMENT_START = "\0{#"
NO_COMMENT_END = "#}\0"

# Value of a variable without a value while a blueprint is validated without it, as
# "unset-" and the variable's name. It is valid in names and text and differs per
# variable, so the rest of the blueprint, names included, can still be checked.
PLACEHOLDER_PREFIX = "unset-"
WHOLE_EXPRESSION = re.compile(r"^\{\{-?(?P<expression>.*?)-?\}\}$", re.DOTALL)

# Sections that are not rendered: variables hold the values templates read.
UNRENDERED_SECTIONS = ("variables",)

# Keys whose values may use a secret: what a container or a volume driver
# needs at run time, and nothing shown as a name, an image or a label.
SECRET_KEYS = {
    "containers": ("environment", "command", "entrypoint"),
    "volume_containers": ("environment", "command", "entrypoint"),
    "volumes": ("driver_opts",),
}

# A template may build text or lists up to this length, so a typo such as
# "{{ 'x' * 10000000000 }}" is an error instead of filling the memory.
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_EXPONENT = 1_000


@dataclass
class Rendered:
    """The result of rendering a document's strings."""

    data: Any
    masked: Any
    problems: list[Problem] = field(default_factory=list)
    # Key paths whose value used a secret, with the secrets' names.
    secret_paths: dict[KeyPath, frozenset[str]] = field(default_factory=dict)
    # Key paths whose value read a variable without a value, and so a placeholder (only when that is allowed).
    unrendered_paths: set[KeyPath] = field(default_factory=set)
    # Variables that some template read, whether or not they had a value.
    read: set[str] = field(default_factory=set)
    # The variables each rendered value read, by key path as written, to explain problems in the value.
    reads: dict[KeyPath, frozenset[str]] = field(default_factory=dict)
    # Keys written as templates, by their key path as written, with the name each rendered to.
    renamed: dict[KeyPath, str] = field(default_factory=dict)
    # Hides the values of the secret variables in text, such as problems.
    redact: Redactor = field(default_factory=Redactor)

    def rendered_path(self, path: KeyPath) -> KeyPath:
        """Return the key path that `path`, as written, has in the rendered data."""
        if not self.renamed:
            return path
        return tuple(self.renamed.get(path[:index + 1], part) for index, part in enumerate(path))

    def rendered_source_map(self, source_map: SourceMap) -> SourceMap:
        """Return `source_map` with its key paths as they are in the rendered data."""
        if not self.renamed:
            return source_map
        return SourceMap(
            source_map.file,
            {self.rendered_path(path): position for path, position in source_map.key_positions.items()},
            {self.rendered_path(path): position for path, position in source_map.value_positions.items()},
            {self.rendered_path(path): text for path, text in source_map.boolean_texts.items()},
        )


class TemplateProblem(Exception):
    """A template read something it may not: an undeclared variable, one without a value, an unset environment variable."""

    def __init__(self, message: str, hint: str, *, missing_value: bool = False, follows: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.missing_value = missing_value
        # Set when the cause is already reported elsewhere, such as a project name without a value.
        self.follows = follows


def render_document(data: Any, source_map: SourceMap, variables: VariableValues, environ: Mapping[str, str], *,
                    allow_missing: bool = False) -> Rendered:
    """Render every string of `data` outside the variables section.

    With `allow_missing`, a variable without a value reads as a placeholder
    instead of being an error, and the values that read one are listed in
    `unrendered_paths`, so a blueprint can be checked without its secrets.
    """
    renderer = _Renderer(source_map, variables, environ, allow_missing)
    if not isinstance(data, dict):
        renderer.result.data = renderer.result.masked = data
        return renderer.result

    project = data.get("project")
    project_path: KeyPath = ("project",)
    real_project, masked_project = renderer.render(project, project_path)
    if project_path in renderer.result.secret_paths:
        renderer.report(project_path, "a secret variable cannot be used in the project name",
                        "the project name is printed and stored in labels; use a variable that is not secret")
    failed = any(problem.key_path == "project" for problem in renderer.result.problems)
    renderer.context["project"] = real_project if isinstance(real_project, str) and not failed else _unknown_project()

    real: dict[str, Any] = {}
    masked: dict[str, Any] = {}
    for key, value in data.items():
        if key == "project":
            real[key], masked[key] = real_project, masked_project
        elif key in UNRENDERED_SECTIONS:
            real[key] = masked[key] = value
        else:
            real[key], masked[key] = renderer.render(value, (key,))

    renderer.check_secret_placement()
    renderer.result.data, renderer.result.masked = real, masked
    return renderer.result


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with limits on repetition and powers."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and len(sequence) * count > MAX_SEQUENCE_LENGTH:
                    raise SecurityError(f"the result would be longer than {MAX_SEQUENCE_LENGTH} items")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        return super().call_binop(context, operator, left, right)


class _Renderer:
    def __init__(self, source_map: SourceMap, variables: VariableValues, environ: Mapping[str, str], allow_missing: bool):
        self.source_map = source_map
        self.variables = variables
        self.allow_missing = allow_missing
        self.result = Rendered(None, None, redact=Redactor(variables.secrets()))
        # Secret variables read since the last output, and since the current string began.
        self.pending: set[str] = set()
        self.used: set[str] = set()
        self.masking = False
        # Set when the current string read a variable without a value (only when that is allowed).
        self.read_missing = False
        self.read_here: set[str] = set()
        self.environment = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                    finalize=self._finalize, comment_start_string=NO_COMMENT_START,
                                    comment_end_string=NO_COMMENT_END)
        self.context: dict[str, Any] = {"vars": _VariablesView(self), "env": _EnvironmentView(environ)}
        self.compiled: dict[str, tuple[nodes.Template, Any, jinja2.Template | None]] = {}

    def render(self, value: Any, path: KeyPath) -> tuple[Any, Any]:
        """Return the real and the masked rendering of `value`, which sits at `path`."""
        if isinstance(value, str):
            real, masked = self._render_text(value, path)
            # Text written out in the file is not searched: the secret's value would be in git already.
            return real, self._sweep_secrets(masked, path) if _is_template(value) else masked
        if isinstance(value, dict):
            real: dict[Any, Any] = {}
            masked: dict[Any, Any] = {}
            for key, item in value.items():
                name = self._render_key(key, path + (key,), real, value)
                real[name], masked[name] = self.render(item, path + (key,))
            return real, masked
        if isinstance(value, list):
            pairs = [self.render(item, path + (index,)) for index, item in enumerate(value)]
            return [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        return value, value

    def _render_key(self, key: Any, path: KeyPath, rendered: dict[Any, Any], written: dict[Any, Any]) -> Any:
        """Render a mapping key, such as a container name written "{{ project }}-web"; the result is always text.

        `rendered` has the keys rendered so far and `written` every key of the
        mapping as written, so a clash is found whichever of the two comes first.
        """
        if not isinstance(key, str) or not _is_template(key):
            return key
        secrets_before = set(self.result.secret_paths)
        value, _ = self._render_text(key, path)
        name = _text(value)
        if path in self.result.secret_paths and path not in secrets_before:
            del self.result.secret_paths[path]
            self.report(path, "a secret variable cannot be used in a key", "keys are names, which plans print and "
                        "labels store; use a variable that is not secret", at_key=True)
            return key
        if name != key and (name in rendered or name in written):
            other = next((other for other in written if other != key and name in (other, self.result.renamed.get(
                path[:-1] + (other,)))), name)
            where = self.source_map.locate(path[:-1] + (other,), at_key=True)
            merged = where.file != self.source_map.locate(path, at_key=True).file
            hint = ("override files are merged before templates are rendered, so write a key the same way in every "
                    "file; otherwise make the names differ") if merged else "make the names differ"
            self.report(path, f"key {key!r} renders to {name!r}, the same as key {other!r} at {where}", hint,
                        at_key=True)
            return key
        if name != key:
            self.result.renamed[path] = name
        return name

    def _sweep_secrets(self, masked: Any, path: KeyPath) -> Any:
        """Mask a secret's value wherever it still shows in a rendered string, such as one read through env."""
        if not isinstance(masked, str):
            return masked
        found: set[str] = set()

        def to_marker(name: str, value: str) -> str:
            found.add(name)
            return marker([name], value, self._project())

        swept = self.result.redact.replace(masked, to_marker)
        if found:
            self.result.secret_paths[path] = self.result.secret_paths.get(path, frozenset()) | found
        return swept

    def _render_text(self, text: str, path: KeyPath) -> tuple[Any, Any]:
        if not _is_template(text):
            return text, text
        self.read_missing = False
        self.read_here = set()
        try:
            rendered = self._render_template(text, path)
            if self.read_missing:
                self.result.unrendered_paths.add(path)
            if self.read_here:
                self.result.reads[path] = frozenset(self.read_here)
            return rendered
        except TemplateProblem as problem:
            if problem.missing_value and self.allow_missing:
                self.result.unrendered_paths.add(path)
            elif not problem.follows:
                self.report(path, problem.message, problem.hint)
        except jinja2.TemplateSyntaxError as error:
            where = f" (line {error.lineno} of the value)" if error.lineno and error.lineno > 1 else ""
            self.report(path, f"template syntax error{where}: {error.message}",
                        "templates use Jinja2 syntax, such as {{ vars.tag }}; write {{ '{{' }} for literal braces")
        except SecurityError as error:
            self.report(path, f"template refused by the sandbox: {error}",
                        "templates may only read vars, env and project and build values from them")
        except jinja2.UndefinedError as error:
            self.report(path, f"template error: {error.message}",
                        "templates can read vars.NAME, env.NAME and project")
        except Exception as error:  # noqa: BLE001 - any failure of a user's expression is a problem in the file
            self.report(path, f"template failed: {type(error).__name__}: {error}")
        return text, text

    def _compiled(self, text: str) -> tuple[nodes.Template, Any, jinja2.Template | None]:
        """Parse and compile `text` once: blueprints repeat the same templates across many entries."""
        if text not in self.compiled:
            tree = self.environment.parse(text)
            expression = _whole_expression(text, tree)
            if expression is not None:
                self.compiled[text] = (tree, self.environment.compile_expression(expression, undefined_to_none=False), None)
            else:
                self.compiled[text] = (tree, None, self.environment.from_string(tree))
        return self.compiled[text]

    def _render_template(self, text: str, path: KeyPath) -> tuple[Any, Any]:
        tree, expression, template = self._compiled(text)
        self.used = set()
        self.pending = set()
        self.masking = False

        if expression is not None:
            value = expression(**self.context)
            _check_defined(value)
            if not self.used:
                return value, value
            self.result.secret_paths[path] = frozenset(self.used)
            return value, marker(self.used, _text(value), self._project())

        real = template.render(self.context)
        if not self.used:
            return real, real
        self.result.secret_paths[path] = frozenset(self.used)
        if not _only_outputs(tree):
            # Loops and conditions can spread a secret over several outputs; hide the whole value.
            return real, marker(self.used, real, self._project())
        self.masking = True
        self.pending = set()
        try:
            return real, template.render(self.context)
        finally:
            self.masking = False

    def _finalize(self, value: Any) -> Any:
        """Called by Jinja2 on each {{ }} output: while masking, replace one that read a secret."""
        _check_defined(value)
        used, self.pending = self.pending, set()
        if self.masking and used:
            return marker(used, _text(value), self._project())
        # Text shows nothing for None, as for a missing env.get value; a whole expression keeps None.
        return "" if value is None else value

    def read_variable(self, name: str) -> Any:
        declared = self.variables.declared
        self.result.read.add(name)
        self.read_here.add(name)
        if name not in declared:
            raise TemplateProblem(f"variable {name!r} is not declared", defined_hint("variables", name, declared))
        if declared[name].secret:
            # Noted also without a value, so where a secret is used is checked without it.
            self.used.add(name)
            self.pending.add(name)
        if name not in self.variables.values and self.allow_missing:
            self.read_missing = True
            return PLACEHOLDER_PREFIX + name.lower()
        if name not in self.variables.values:
            return _Unavailable(TemplateProblem(f"variable {name!r} has no value", no_value_hint(name),
                                                missing_value=True))
        return self.variables.values[name]

    def check_secret_placement(self) -> None:
        for path, names in self.result.secret_paths.items():
            if path == ("project",):
                continue
            allowed = SECRET_KEYS.get(str(path[0]), ())
            if not (len(path) >= 3 and path[2] in allowed):
                quoted = ", ".join(repr(name) for name in sorted(names))
                self.report(path, f"the secret variable {quoted} cannot be used in {format_key_path(path)}",
                            "this value is shown in plans or stored in labels; secrets may be used only in a "
                            "container's environment, command or entrypoint, or in a volume's driver_opts")

    def report(self, path: KeyPath, message: str, hint: str = "", *, at_key: bool = False) -> None:
        location = self.source_map.locate(path, at_key=at_key)
        self.result.problems.append(Problem(location, format_key_path(path), message, hint))

    def _project(self) -> str:
        project = self.context.get("project")
        return project if isinstance(project, str) else ""


class _Unavailable(jinja2.StrictUndefined):
    """A value that has none yet, such as a variable without a value.

    It is Jinja2's undefined, so `default` and `is defined` work on it; any
    other use raises its problem.
    """

    def __init__(self, problem: TemplateProblem):
        super().__init__()
        self.problem = problem

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise self.problem

    # StrictUndefined binds these to its own method; bind them to the one above.
    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __getattr__ = __add__ = __radd__ = (
        _fail_with_undefined_error)


def _unknown_project() -> _Unavailable:
    return _Unavailable(TemplateProblem("the project name has no value, because the project is missing or uses a "
                                        "variable without a value", "fix the project first", missing_value=True,
                                        follows=True))


class _VariablesView:
    """`vars` in templates: reading a variable goes through the renderer, which notes secrets."""

    def __init__(self, renderer: _Renderer):
        self._renderer = renderer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._renderer.read_variable(name)

    def __getitem__(self, name: str) -> Any:
        return self._renderer.read_variable(name)

    def __iter__(self) -> Any:
        # Without it, `in` and `for` would call __getitem__ with 0, 1, 2, ...
        raise TemplateProblem("vars cannot be listed or searched with 'in'",
                              "read a declared variable by name, as vars.NAME or vars['NAME']")

    def __str__(self) -> str:
        raise TemplateProblem("vars is the set of variables, not a value", "read one variable, as vars.NAME")


class _EnvironmentView:
    """`env` in templates: the process environment, where an unset name is an error."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def __str__(self) -> str:
        raise TemplateProblem("env is the whole environment, not a value", "read one variable, as env.NAME")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> str:
        if name not in self._environ:
            raise TemplateProblem(f"environment variable {name!r} is not set",
                                  f"set it, or give a fallback: {{{{ env.get({name!r}, 'VALUE') }}}}")
        return self._environ[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._environ.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._environ

    def __iter__(self) -> Any:
        raise TemplateProblem("env cannot be listed",
                              "read an environment variable by name, as env.NAME or env.get('NAME', 'VALUE')")


def _is_template(text: str) -> bool:
    return any(mark in text for mark in TEMPLATE_MARKS)


def _whole_expression(text: str, tree: nodes.Template) -> str | None:
    """Return the expression's source when `text` is exactly one {{ }} and nothing else."""
    match = WHOLE_EXPRESSION.match(text)
    if match is None or len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    outputs = tree.body[0].nodes
    if len(outputs) != 1 or isinstance(outputs[0], nodes.TemplateData):
        return None
    return match["expression"]


def _only_outputs(tree: nodes.Template) -> bool:
    """True when the template is text and {{ }} outputs only, without loops, conditions or assignments."""
    return all(isinstance(node, nodes.Output) for node in tree.body)


def _check_defined(value: Any) -> None:
    """Raise the "is undefined" error for an undefined value, also one inside a list or mapping, which Jinja2 lets pass."""
    if isinstance(value, (jinja2.Undefined, _VariablesView, _EnvironmentView)):
        str(value)  # each of them raises its problem here
    elif isinstance(value, dict):
        for item in value.values():
            _check_defined(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_defined(item)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
