"""render_document: values and their types, errors with their positions, the sandbox's limits and secret masking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from provisioner.errors import Problem
from provisioner.loader import load_document
from provisioner.models import VariableSpec
from provisioner.secrets import marker
from provisioner.templating import Rendered, render_document
from provisioner.variables import VariableValues

FILE = "blueprint.yaml"
SECRET = "hunter2-secret"
SECRET_MARKER = marker(["db_password"], SECRET, "demo")

DECLARED = {
    "tag": {"default": "1.36"},
    "port": {"default": 5000},
    "debug": {"default": False},
    "hosts": {"default": ["app", "db"]},
    "db_password": {"secret": True},
    "api_key": {"secret": True},
    "pin": {"secret": True},
    "unset": {"description": "has no default and no value"},
}
VALUES = {"tag": "1.36", "port": 5000, "debug": False, "hosts": ["app", "db"], "db_password": SECRET,
          "api_key": "key-0123", "pin": 4711}

SANDBOX_HINT = "templates may only read vars, env and project and build values from them"
UNDEFINED_HINT = "templates can read vars.NAME, env.NAME and project"
SYNTAX_HINT = "templates use Jinja2 syntax, such as {{ vars.tag }}; write {{ '{{' }} for literal braces"
PLACEMENT_HINT = ("this value is shown in plans or stored in labels; secrets may be used only in a container's "
                  "environment, command or entrypoint, or in a volume's driver_opts")


def render(folder: Path, text: str, *, declared: dict[str, dict] | None = None, values: dict[str, Any] | None = None,
           environ: dict[str, str] | None = None, allow_missing: bool = False) -> Rendered:
    """Write the dedented YAML `text` to FILE under `folder`, parse it and render it with DECLARED and VALUES."""
    path = folder / FILE
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    document = load_document(path, FILE)
    specs = {name: VariableSpec.model_validate(spec) for name, spec in (DECLARED if declared is None else declared).items()}
    variables = VariableValues(specs, dict(VALUES if values is None else values))
    return render_document(document.data, document.source_map, variables, environ or {}, allow_missing=allow_missing)


def web(value: str) -> str:
    """A blueprint whose container web has `value` as its environment variable VALUE, on line 5, column 14."""
    return f"""\
        project: demo
        containers:
          web:
            environment:
              VALUE: {json.dumps(value)}
        """


def web_value(rendered: Rendered, *, masked: bool = False) -> Any:
    data = rendered.masked if masked else rendered.data
    return data["containers"]["web"]["environment"]["VALUE"]


WEB_VALUE_PATH = ("containers", "web", "environment", "VALUE")


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [problem.render() for problem in problems]
    return problems[0]


def web_problem(folder: Path, value: str, **options: Any) -> Problem:
    """Render web(value), expect exactly one problem, at the value, and return it."""
    problem = only(render(folder, web(value), **options).problems)
    assert str(problem.location) == f"{FILE}:5:14"
    assert problem.key_path == "containers.web.environment.VALUE"
    return problem


# Values and their types


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ vars.port }}", 5000),
    ("{{ vars.port + 1 }}", 5001),
    ("{{- vars.port -}}", 5000),
    ("{{ vars.debug }}", False),
    ("{{ vars.hosts }}", ["app", "db"]),
    ("{{ none }}", None),
    ("{{ {'tier': vars.tag} }}", {"tier": "1.36"}),
    ("{{ vars.port | string }}", "5000"),
])
def test_whole_expression_keeps_type(tmp_path, template, expected):
    value = web_value(render(tmp_path, web(template)))

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ vars.port }}:80", "5000:80"),
    (" {{ vars.port }}", " 5000"),
    ("{{ vars.port }}{{ vars.port }}", "50005000"),
    ("{{ vars.port }}\n", "5000\n"),
    ("busybox:{{ vars.tag }}", "busybox:1.36"),
    ("{% for host in vars.hosts %}{{ host }},{% endfor %}", "app,db,"),
    ("{% if vars.debug %}debug{% else %}quiet{% endif %}", "quiet"),
    ("n=${#HOSTNAME}; {{ vars.tag }}", "n=${#HOSTNAME}; 1.36"),
    ("{# not a comment #}", "{# not a comment #}"),
    ("x{{ env.get('UNSET') }}", "x"),
    ("{{ '{{' }} literal }}", "{{ literal }}"),
])
def test_text_template_gives_text(tmp_path, template, expected):
    assert web_value(render(tmp_path, web(template))) == expected


def test_plain_values_unchanged(tmp_path):
    rendered = render(tmp_path, """\
        version: 1
        project: demo
        containers:
          web:
            image: busybox:1.36
            command: [sleep, 100000]
            environment: {DEBUG: true, EMPTY: null, TEXT: "a {b} c"}
        """)

    assert rendered.data == {
        "version": 1,
        "project": "demo",
        "containers": {"web": {"image": "busybox:1.36", "command": ["sleep", 100000],
                               "environment": {"DEBUG": True, "EMPTY": None, "TEXT": "a {b} c"}}},
    }
    assert rendered.masked == rendered.data
    assert rendered.problems == []
    assert rendered.secret_paths == {}
    assert rendered.read == set()


def test_list_items_rendered(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            command: [sh, -c, "echo {{ vars.tag }}", "{{ vars.port }}"]
        """)

    assert rendered.data["containers"]["web"]["command"] == ["sh", "-c", "echo 1.36", 5000]


def test_multiline_value_rendered(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            command:
              - sh
              - -c
              - |
                echo {{ vars.tag }}
                exec app --port {{ vars.port }}
        """)

    assert rendered.data["containers"]["web"]["command"][2] == "echo 1.36\nexec app --port 5000\n"


def test_project_in_templates(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        volumes:
          data:
            labels: {owner: "{{ project }}-team"}
        """)

    assert rendered.data["volumes"]["data"]["labels"] == {"owner": "demo-team"}


def test_templated_project_rendered_first(tmp_path):
    rendered = render(tmp_path, """\
        volumes:
          data:
            labels: {owner: "{{ project }}"}
        project: "{{ env.STAGE }}"
        """, environ={"STAGE": "staging"})

    assert rendered.data["project"] == "staging"
    assert rendered.data["volumes"]["data"]["labels"] == {"owner": "staging"}


def test_project_without_value_allowed(tmp_path):
    rendered = render(tmp_path, """\
        project: "{{ vars.unset }}"
        volumes:
          data:
            labels: {owner: "{{ project }}-team", tier: cache}
        """, allow_missing=True)

    # The project reads as "unset-" and the variable's name, so values built from it can still be checked.
    assert rendered.problems == []
    assert rendered.unrendered_paths == {("project",)}
    assert rendered.data["project"] == "unset-unset"
    assert rendered.data["volumes"]["data"]["labels"] == {"owner": "unset-unset-team", "tier": "cache"}


def test_project_missing_used(tmp_path):
    rendered = render(tmp_path, """\
        volumes:
          data:
            labels: {owner: "{{ project }}-team"}
        """)

    # The missing project is the one problem to report; the model checks find it.
    assert rendered.problems == []
    assert rendered.data["volumes"]["data"]["labels"] == {"owner": "{{ project }}-team"}


def test_document_not_mapping_unchanged(tmp_path):
    rendered = render(tmp_path, '- "{{ vars.tag }}"\n')

    assert rendered.data == ["{{ vars.tag }}"]
    assert rendered.masked == ["{{ vars.tag }}"]
    assert rendered.problems == []


def test_env_from_given_environment(tmp_path):
    environ = {"REGISTRY": "registry.example:5000"}

    assert web_value(render(tmp_path, web("{{ env.REGISTRY }}/app"), environ=environ)) == "registry.example:5000/app"
    assert web_value(render(tmp_path, web("{{ env['REGISTRY'] }}"), environ=environ)) == "registry.example:5000"
    assert web_value(render(tmp_path, web("{{ env.get('MISSING', 'fallback') }}"), environ=environ)) == "fallback"
    assert web_value(render(tmp_path, web("{{ env.get('MISSING') }}"), environ=environ)) is None


def test_env_membership(tmp_path):
    environ = {"REGISTRY": "registry.example:5000"}

    assert web_value(render(tmp_path, web("{{ 'REGISTRY' in env }}"), environ=environ)) is True
    assert web_value(render(tmp_path, web("{{ 'MISSING' in env }}"), environ=environ)) is False


def test_variables_section_not_rendered(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        variables:
          tag: {default: "{{ project }}"}
        """, declared={"tag": {"default": "{{ project }}"}}, values={"tag": "{{ project }}"})

    assert rendered.data["variables"] == {"tag": {"default": "{{ project }}"}}
    assert rendered.problems == []


def test_variable_value_not_rendered_again(tmp_path):
    rendered = render(tmp_path, web("{{ vars.tag }}"), values={**VALUES, "tag": "{{ project }}"})

    assert web_value(rendered) == "{{ project }}"


def test_read_lists_variables_used(tmp_path):
    rendered = render(tmp_path, web("{{ vars.tag }}-{{ vars['port'] }}"))

    assert rendered.read == {"tag", "port"}


# Templated keys


def test_templated_key_renamed(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          "{{ project }}-web":
            image: busybox:1.36
        """)

    assert rendered.data["containers"] == {"demo-web": {"image": "busybox:1.36"}}
    assert rendered.renamed == {("containers", "{{ project }}-web"): "demo-web"}
    assert rendered.rendered_path(("containers", "{{ project }}-web", "image")) == ("containers", "demo-web", "image")


@pytest.mark.parametrize(("order", "position", "other"), [
    (["demo-web", "{{ project }}-web"], "4:3", "3:3"),
    (["{{ project }}-web", "demo-web"], "3:3", "4:3"),
])
def test_templated_key_clash(tmp_path, order, position, other):
    lines = "".join(f'  "{key}": {{image: busybox:1.36}}\n' for key in order)

    rendered = render(tmp_path, f"project: demo\ncontainers:\n{lines}")

    problem = only(rendered.problems)
    assert str(problem.location) == f"{FILE}:{position}"
    assert problem.key_path == "containers.{{ project }}-web"
    assert problem.message == f"key '{{{{ project }}}}-web' renders to 'demo-web', the same as key 'demo-web' at {FILE}:{other}"
    assert problem.hint == "make the names differ"
    assert sorted(rendered.data["containers"]) == ["demo-web", "{{ project }}-web"]


def test_secret_in_key_rejected(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            environment:
              "{{ vars.db_password }}": "x"
        """)

    problem = only(rendered.problems)
    assert str(problem.location) == f"{FILE}:5:7"
    assert problem.key_path == "containers.web.environment.{{ vars.db_password }}"
    assert problem.message == "a secret variable cannot be used in a key"
    assert problem.hint == ("keys are names, which plans print and labels store; use a variable that is not secret")
    assert SECRET not in json.dumps(rendered.masked)


# Errors and their positions


def test_undeclared_variable_close_match(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.tga }}")

    assert problem.message == "variable 'tga' is not declared"
    assert problem.hint == "did you mean 'tag'?"


def test_undeclared_variable_lists_declared(tmp_path):
    problem = web_problem(tmp_path, "{{ vars['registry'] }}")

    assert problem.message == "variable 'registry' is not declared"
    assert problem.hint == "define it under variables, or use one of: api_key, db_password, debug, hosts, pin, port, tag, unset"


def test_undeclared_variable_none_declared(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.tag }}", declared={}, values={})

    assert problem.message == "variable 'tag' is not declared"
    assert problem.hint == "define it under variables"


def test_variable_without_value(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.unset }}")

    assert problem.message == "variable 'unset' has no value"
    assert problem.hint == "give it a default, or set it with --var unset=VALUE, --var-file FILE or PROVISION_VAR_UNSET"


def test_missing_value_allowed_reads_placeholder(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            image: "busybox:{{ vars.tag }}"
            environment:
              VALUE: "{{ vars.unset }}-{{ vars.db_password }}"
        """, allow_missing=True)

    assert rendered.problems == []
    assert rendered.unrendered_paths == {WEB_VALUE_PATH}
    assert web_value(rendered) == f"unset-unset-{SECRET}"
    assert web_value(rendered, masked=True) == f"unset-unset-{SECRET_MARKER}"
    assert rendered.data["containers"]["web"]["image"] == "busybox:1.36"
    assert rendered.secret_paths == {WEB_VALUE_PATH: frozenset({"db_password"})}


def test_missing_value_allowed_undeclared_still_error(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.tga }}", allow_missing=True)

    assert problem.message == "variable 'tga' is not declared"


def test_unset_environment_variable(tmp_path):
    problem = web_problem(tmp_path, "{{ env.REGISTRY_HOST }}", environ={"HOME": "/root"})

    assert problem.message == "environment variable 'REGISTRY_HOST' is not set"
    assert problem.hint == "set it, or give a fallback: {{ env.get('REGISTRY_HOST', 'VALUE') }}"


def test_undefined_name(tmp_path):
    problem = web_problem(tmp_path, "busybox:{{ tag }}")

    assert problem.message == "template error: 'tag' is undefined"
    assert problem.hint == UNDEFINED_HINT


def test_undefined_name_whole_expression(tmp_path):
    problem = web_problem(tmp_path, "{{ tag }}")

    assert problem.message == "template error: 'tag' is undefined"


@pytest.mark.parametrize("template", ["{{ [vars.tag, tag] }}", "{{ {'image': tag} }}", "x {{ [[tag]] }}"])
def test_undefined_name_inside_list(tmp_path, template):
    problem = web_problem(tmp_path, template)

    assert problem.message == "template error: 'tag' is undefined"
    assert problem.hint == UNDEFINED_HINT


def test_missing_attribute(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.tag.major }}")

    assert problem.message == "template error: 'str object' has no attribute 'major'"
    assert problem.hint == UNDEFINED_HINT


def test_syntax_error(tmp_path):
    problem = web_problem(tmp_path, "busybox:{{ vars.tag")

    assert problem.message == "template syntax error: unexpected end of template, expected 'end of print statement'."
    assert problem.hint == SYNTAX_HINT


def test_syntax_error_names_statement(tmp_path):
    problem = web_problem(tmp_path, "{% for %}{% endfor %}")

    assert problem.message == "template syntax error: Expected an expression, got 'end of statement block'"


def test_syntax_error_line_of_value(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            command:
              - |
                echo {{ vars.tag }}
                echo {{ vars.port
        """)

    problem = only(rendered.problems)
    assert str(problem.location) == f"{FILE}:5:9"
    assert problem.key_path == "containers.web.command[0]"
    assert problem.message == ("template syntax error (line 2 of the value): unexpected end of template, "
                               "expected 'end of print statement'.")


def test_expression_failure(tmp_path):
    problem = web_problem(tmp_path, "{{ vars.port / 0 }}")

    assert problem.message == "template failed: ZeroDivisionError: division by zero"
    assert problem.hint == ""


def test_vars_not_searchable(tmp_path):
    problem = web_problem(tmp_path, "{% if 'tag' in vars %}yes{% endif %}")

    assert problem.message == "vars cannot be listed or searched with 'in'"
    assert problem.hint == "read a declared variable by name, as vars.NAME or vars['NAME']"


def test_env_not_listed(tmp_path):
    problem = web_problem(tmp_path, "{% for name in env %}{{ name }}{% endfor %}", environ={"HOME": "/root"})

    assert problem.message == "env cannot be listed"
    assert problem.hint == "read an environment variable by name, as env.NAME or env.get('NAME', 'VALUE')"


def test_failed_value_kept_as_written(tmp_path):
    rendered = render(tmp_path, web("busybox:{{ vars.tga }}"))

    assert web_value(rendered) == "busybox:{{ vars.tga }}"
    assert web_value(rendered, masked=True) == "busybox:{{ vars.tga }}"


def test_every_problem_reported(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            image: "busybox:{{ vars.tga }}"
            ports: ["{{ vars.port }}:80", "{{ env.HOST_PORT }}:443"]
            command: ["{{ vars.unset }}"]
        """)

    assert [(str(problem.location), problem.key_path, problem.message) for problem in rendered.problems] == [
        (f"{FILE}:4:12", "containers.web.image", "variable 'tga' is not declared"),
        (f"{FILE}:5:35", "containers.web.ports[1]", "environment variable 'HOST_PORT' is not set"),
        (f"{FILE}:6:15", "containers.web.command[0]", "variable 'unset' has no value"),
    ]
    assert rendered.data["containers"]["web"]["ports"] == ["5000:80", "{{ env.HOST_PORT }}:443"]


# The sandbox's refusals


def test_sandbox_refuses_internals(tmp_path):
    problem = web_problem(tmp_path, "{{ ''.__class__.__mro__ }}")

    assert problem.message == "template refused by the sandbox: access to attribute '__class__' of 'str' object is unsafe."
    assert problem.hint == SANDBOX_HINT


def test_sandbox_refuses_internals_in_text(tmp_path):
    problem = web_problem(tmp_path, "x{{ vars.tag.__class__ }}")

    assert problem.message == "template refused by the sandbox: access to attribute '__class__' of 'str' object is unsafe."


def test_sandbox_refuses_changes(tmp_path):
    values = {**VALUES, "hosts": ["app", "db"]}

    problem = web_problem(tmp_path, "{{ vars.hosts.append('cache') }}", values=values)

    assert problem.message == "template refused by the sandbox: access to attribute 'append' of 'list' object is unsafe."
    assert values["hosts"] == ["app", "db"]


@pytest.mark.parametrize("template", ["{{ 'x' * 10000000 }}", "{{ 10000000 * 'x' }}", "{{ [0] * 1000001 }}",
                                      "{{ vars.tag * 250001 }}"])
def test_sandbox_refuses_long_repetition(tmp_path, template):
    problem = web_problem(tmp_path, template)

    assert problem.message == "template refused by the sandbox: the result would be longer than 1000000 items"
    assert problem.hint == SANDBOX_HINT


def test_sandbox_allows_repetition_at_limit(tmp_path):
    assert web_value(render(tmp_path, web("{{ ('x' * 1000000) | length }}"))) == 1_000_000
    assert web_value(render(tmp_path, web("{{ '-' * 3 }}"))) == "---"


@pytest.mark.parametrize("template", ["{{ 2 ** 100000 }}", "{{ 2 ** -1001 }}", "{{ 2.0 ** 1000.5 }}"])
def test_sandbox_refuses_huge_exponent(tmp_path, template):
    problem = web_problem(tmp_path, template)

    assert problem.message == "template refused by the sandbox: exponents above 1000 are not allowed"
    assert problem.hint == SANDBOX_HINT


def test_sandbox_allows_exponent_at_limit(tmp_path):
    assert web_value(render(tmp_path, web("{{ 2 ** 1000 }}"))) == 2 ** 1000


# Secrets


def test_secret_whole_value_masked(tmp_path):
    rendered = render(tmp_path, web("{{ vars.db_password }}"))

    assert web_value(rendered) == SECRET
    assert web_value(rendered, masked=True) == SECRET_MARKER
    assert rendered.secret_paths == {WEB_VALUE_PATH: frozenset({"db_password"})}
    assert rendered.problems == []


def test_secret_output_masked_in_text(tmp_path):
    rendered = render(tmp_path, web("postgres://app:{{ vars.db_password }}@db/app"))

    assert web_value(rendered) == f"postgres://app:{SECRET}@db/app"
    assert web_value(rendered, masked=True) == f"postgres://app:{SECRET_MARKER}@db/app"


def test_only_secret_outputs_masked(tmp_path):
    rendered = render(tmp_path, web("{{ vars.tag }}:{{ vars.db_password }}:{{ vars.port }}"))

    assert web_value(rendered, masked=True) == f"1.36:{SECRET_MARKER}:5000"


def test_secret_filter_output_masked(tmp_path):
    rendered = render(tmp_path, web("{{ vars.db_password | upper }}"))

    assert web_value(rendered) == "HUNTER2-SECRET"
    assert web_value(rendered, masked=True) == marker(["db_password"], "HUNTER2-SECRET", "demo")


def test_two_secrets_one_output(tmp_path):
    rendered = render(tmp_path, web("{{ vars.db_password ~ ':' ~ vars.api_key }}"))

    assert web_value(rendered, masked=True) == marker(["api_key", "db_password"], f"{SECRET}:key-0123", "demo")
    assert rendered.secret_paths == {WEB_VALUE_PATH: frozenset({"api_key", "db_password"})}


def test_two_secrets_two_outputs(tmp_path):
    rendered = render(tmp_path, web("{{ vars.db_password }}/{{ vars.api_key }}"))

    assert web_value(rendered, masked=True) == f"{SECRET_MARKER}/{marker(['api_key'], 'key-0123', 'demo')}"


@pytest.mark.parametrize(("template", "real"), [
    ("{% for part in vars.db_password.split('-') %}{{ part }};{% endfor %}", "hunter2;secret;"),
    ("{% if vars.db_password %}set{% endif %}", "set"),
    ("{% set dsn = 'postgres://app:' ~ vars.db_password %}{{ dsn }}", f"postgres://app:{SECRET}"),
])
def test_secret_in_statement_masks_whole(tmp_path, template, real):
    rendered = render(tmp_path, web(template))

    assert web_value(rendered) == real
    assert web_value(rendered, masked=True) == marker(["db_password"], real, "demo")


def test_secret_number_masked(tmp_path):
    rendered = render(tmp_path, web("{{ vars.pin }}"))

    assert web_value(rendered) == 4711
    assert web_value(rendered, masked=True) == marker(["pin"], "4711", "demo")


def test_secret_marker_salted_by_project(tmp_path):
    rendered = render(tmp_path, web("{{ vars.db_password }}").replace("project: demo", 'project: "{{ env.STAGE }}"'),
                      environ={"STAGE": "staging"})

    assert web_value(rendered, masked=True) == marker(["db_password"], SECRET, "staging")
    assert web_value(rendered, masked=True) != SECRET_MARKER


def test_secret_allowed_places(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        volumes:
          share:
            driver_opts: {o: "password={{ vars.db_password }}"}
        volume_containers:
          seed:
            environment: ["DB_PASSWORD={{ vars.db_password }}"]
        containers:
          web:
            command: [app, "--key={{ vars.api_key }}"]
            entrypoint: "sh -c 'exec \\"$0\\" --pin {{ vars.pin }}'"
            environment: {DB_PASSWORD: "{{ vars.db_password }}"}
        """)

    assert rendered.problems == []
    assert rendered.secret_paths == {
        ("volumes", "share", "driver_opts", "o"): frozenset({"db_password"}),
        ("volume_containers", "seed", "environment", 0): frozenset({"db_password"}),
        ("containers", "web", "command", 1): frozenset({"api_key"}),
        ("containers", "web", "entrypoint"): frozenset({"pin"}),
        ("containers", "web", "environment", "DB_PASSWORD"): frozenset({"db_password"}),
    }
    assert rendered.masked["containers"]["web"]["entrypoint"] == (
        f"sh -c 'exec \"$0\" --pin {marker(['pin'], '4711', 'demo')}'")


@pytest.mark.parametrize(("section", "position", "key_path"), [
    ("containers:\n  web:\n    image: 'busybox:{{ vars.db_password }}'\n", "4:12", "containers.web.image"),
    ("containers:\n  web:\n    labels: {token: '{{ vars.db_password }}'}\n", "4:21", "containers.web.labels.token"),
    ("containers:\n  web:\n    hostname: '{{ vars.db_password }}'\n", "4:15", "containers.web.hostname"),
    ("volumes:\n  share:\n    labels: {token: '{{ vars.db_password }}'}\n", "4:21", "volumes.share.labels.token"),
    ("networks:\n  backend:\n    labels: {token: '{{ vars.db_password }}'}\n", "4:21", "networks.backend.labels.token"),
    ("registries:\n  hub:\n    hostnames: ['{{ vars.db_password }}']\n", "4:17", "registries.hub.hostnames[0]"),
])
def test_secret_rejected_outside_allowed_places(tmp_path, section, position, key_path):
    rendered = render(tmp_path, "project: demo\n" + section)

    problem = only(rendered.problems)
    assert str(problem.location) == f"{FILE}:{position}"
    assert problem.key_path == key_path
    assert problem.message == f"the secret variable 'db_password' cannot be used in {key_path}"
    assert problem.hint == PLACEMENT_HINT


def test_two_secrets_rejected_names_both(tmp_path):
    rendered = render(tmp_path, "project: demo\ncontainers:\n  web:\n    user: '{{ vars.db_password }}{{ vars.api_key }}'\n")

    problem = only(rendered.problems)
    assert problem.message == "the secret variable 'api_key', 'db_password' cannot be used in containers.web.user"


def test_secret_rejected_in_project(tmp_path):
    rendered = render(tmp_path, "project: 'demo-{{ vars.api_key }}'\n")

    problem = only(rendered.problems)
    assert str(problem.location) == f"{FILE}:1:10"
    assert problem.key_path == "project"
    assert problem.message == "a secret variable cannot be used in the project name"
    assert problem.hint == "the project name is printed and stored in labels; use a variable that is not secret"
    assert "key-0123" not in json.dumps(rendered.masked)


def test_masked_never_contains_secret(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        volumes:
          share:
            driver_opts: {o: "username=app,password={{ vars.db_password }}"}
        containers:
          web:
            command:
              - sh
              - -c
              - |
                {% for host in vars.hosts %}
                connect {{ host }} {{ vars.db_password }}
                {% endfor %}
            entrypoint: ["{{ vars.db_password[:7] }}"]
            environment:
              DB_PASSWORD: "{{ vars.db_password }}"
              DSN: "postgres://app:{{ vars.db_password | urlencode }}@db/app"
              KEY: "{{ vars.api_key ~ vars.db_password }}"
              REVERSED: "{{ vars.db_password | reverse | join }}"
        """)

    assert rendered.problems == []
    text = json.dumps(rendered.masked)
    assert SECRET not in text
    assert "hunter2" not in text
    assert SECRET[::-1] not in text
    assert SECRET in json.dumps(rendered.data)


def test_repeated_template_each_path(tmp_path):
    rendered = render(tmp_path, """\
        project: demo
        containers:
          web:
            environment: {DB_PASSWORD: "{{ vars.db_password }}", TAG: "{{ vars.tag }}"}
          worker:
            environment: {DB_PASSWORD: "{{ vars.db_password }}", TAG: "{{ vars.tag }}"}
        """)

    for name in ("web", "worker"):
        assert rendered.data["containers"][name]["environment"] == {"DB_PASSWORD": SECRET, "TAG": "1.36"}
        assert rendered.masked["containers"][name]["environment"] == {"DB_PASSWORD": SECRET_MARKER, "TAG": "1.36"}
    assert set(rendered.secret_paths) == {("containers", "web", "environment", "DB_PASSWORD"),
                                          ("containers", "worker", "environment", "DB_PASSWORD")}


def test_non_secret_variables_not_masked(tmp_path):
    rendered = render(tmp_path, web("{{ vars.tag }}-{{ vars.port }}"))

    assert web_value(rendered, masked=True) == "1.36-5000"
    assert rendered.secret_paths == {}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ vars.unset | default('fallback') }}", "fallback"),
    ("x-{{ vars.unset | default(vars.port) }}", "x-5000"),
    ("{{ vars.unset is defined }}", False),
    ("{{ vars.tag is defined }}", True),
])
def test_variable_without_value_takes_default_filter(tmp_path, template, expected):
    rendered = render(tmp_path, web(template))

    assert rendered.problems == []
    assert web_value(rendered) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("{{ vars }}", "vars is the set of variables, not a value"),
    ("x{{ vars }}", "vars is the set of variables, not a value"),
    ("{{ env }}", "env is the whole environment, not a value"),
])
def test_whole_views_are_not_values(tmp_path, template, message):
    problem = web_problem(tmp_path, template)

    assert problem.message == message
