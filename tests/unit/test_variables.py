"""Tests for provisioner.variables.resolve_variables and for variable values as load_blueprint checks them."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import BlueprintInvalid, Location, Problem
from provisioner.models import VariableSpec
from provisioner.validation import BlueprintSource, LoadedBlueprint, load_blueprint
from provisioner.variables import VariableInputs, VariableValues, resolve_variables

DECLARED = {
    "tag": {"default": "1.36"},
    "replicas": {"default": 2},
    "ratio": {"default": 0.5},
    "debug": {"default": False},
    "names": {"default": ["web"]},
    "password": {"secret": True},
    "pin": {"secret": True, "default": 1234},
    "note": {"description": "no default"},
}

SECRET_VALUE = "hunter22"


def declared() -> dict[str, VariableSpec]:
    return {name: VariableSpec.model_validate(entry) for name, entry in DECLARED.items()}


def resolve(*, var_files: tuple[Path, ...] = (), var_args: tuple[str, ...] = (),
            environ: dict[str, str] | None = None) -> tuple[VariableValues, list[Problem]]:
    inputs = VariableInputs(var_files=var_files, var_args=var_args, environ=environ or {})
    return resolve_variables(declared(), inputs)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [problem.render() for problem in problems]
    return problems[0]


def load(*files: Path, var_files: tuple[Path, ...] = (), var_args: tuple[str, ...] = (),
         environ: dict[str, str] | None = None, allow_missing: bool = False) -> LoadedBlueprint:
    inputs = VariableInputs(var_files=var_files, var_args=var_args, environ=environ or {})
    return load_blueprint(BlueprintSource(files, inputs), allow_missing=allow_missing)


def load_error(*files: Path, **options) -> BlueprintInvalid:
    with pytest.raises(BlueprintInvalid) as caught:
        load(*files, **options)
    return caught.value


# Sources and their order


def test_defaults_only():
    values, problems = resolve()

    assert problems == []
    assert values.values == {"tag": "1.36", "replicas": 2, "ratio": 0.5, "debug": False, "names": ["web"], "pin": 1234}
    assert values.origins["tag"] == "its default"


def test_null_default_is_a_value():
    inputs = VariableInputs(environ={})
    values, problems = resolve_variables({"tag": VariableSpec.model_validate({"default": None})}, inputs)

    assert problems == []
    assert values.values == {"tag": None}


def test_environment_exact_name():
    values, problems = resolve(environ={"PROVISION_VAR_tag": "1.37", "PROVISION_VAR_TAG": "1.38"})

    assert problems == []
    assert values.values["tag"] == "1.37"
    assert values.origins["tag"] == "PROVISION_VAR_tag"


def test_environment_upper_case_name():
    values, problems = resolve(environ={"PROVISION_VAR_TAG": "1.38"})

    assert problems == []
    assert values.values["tag"] == "1.38"
    assert values.origins["tag"] == "PROVISION_VAR_TAG"


def test_environment_other_prefix_ignored():
    values, problems = resolve(environ={"TAG": "1.38", "PROVISION_VAR_unknown": "x"})

    assert problems == []
    assert values.values["tag"] == "1.36"


def test_environment_takes_default_type():
    environ = {
        "PROVISION_VAR_replicas": " 3 ",
        "PROVISION_VAR_ratio": "2",
        "PROVISION_VAR_debug": "TRUE",
        "PROVISION_VAR_note": "42",
        "PROVISION_VAR_tag": "007",
    }

    values, problems = resolve(environ=environ)

    assert problems == []
    assert values.values["replicas"] == 3
    assert values.values["ratio"] == 2.0
    assert type(values.values["ratio"]) is float
    assert values.values["debug"] is True
    # Without a default there is no type to take, and text stays text.
    assert values.values["note"] == "42"
    assert values.values["tag"] == "007"


def test_var_file_wins_over_environment(write_blueprint):
    var_file = write_blueprint("tag: '1.39'\nreplicas: 4\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,), environ={"PROVISION_VAR_tag": "1.37"})

    assert problems == []
    assert values.values["tag"] == "1.39"
    assert values.values["replicas"] == 4
    assert values.origins["tag"] == f"{var_file}:1:6"


def test_later_var_file_wins(write_blueprint):
    first = write_blueprint("tag: '1.39'\nreplicas: 4\n", "first.yaml")
    second = write_blueprint("tag: '1.40'\n", "second.yaml")

    values, problems = resolve(var_files=(first, second))

    assert problems == []
    assert values.values["tag"] == "1.40"
    assert values.values["replicas"] == 4
    assert values.origins["tag"] == f"{second}:1:6"


def test_var_file_values_keep_yaml_types(write_blueprint):
    var_file = write_blueprint("""\
        ratio: 1
        debug: true
        names: [web, worker]
        note: {any: thing}
        """, "stage.yaml")

    values, problems = resolve(var_files=(var_file,))

    assert problems == []
    assert values.values["ratio"] == 1
    assert values.values["debug"] is True
    assert values.values["names"] == ["web", "worker"]
    assert values.values["note"] == {"any": "thing"}


def test_var_argument_wins_over_var_file(write_blueprint):
    var_file = write_blueprint("tag: '1.39'\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,), var_args=("tag=1.41",))

    assert problems == []
    assert values.values["tag"] == "1.41"
    assert values.origins["tag"] == "--var"


def test_later_var_argument_wins():
    values, problems = resolve(var_args=("replicas=4", "replicas=5"))

    assert problems == []
    assert values.values["replicas"] == 5


def test_var_argument_value_with_equals():
    values, problems = resolve(var_args=("note=a=b", "tag="))

    assert problems == []
    assert values.values["note"] == "a=b"
    assert values.values["tag"] == ""


def test_var_argument_takes_default_type():
    values, problems = resolve(var_args=("replicas=7", "ratio=0.25", "debug=false"))

    assert problems == []
    assert values.values["replicas"] == 7
    assert values.values["ratio"] == 0.25
    assert values.values["debug"] is False


def test_secrets_returns_text_of_secret_values():
    values, problems = resolve(var_args=(f"password={SECRET_VALUE}",))

    assert problems == []
    assert values.secrets() == {"password": SECRET_VALUE, "pin": "1234"}


# Text that does not fit the default's type


@pytest.mark.parametrize("name, text, reason, default", [
    ("replicas", "three", "expected a whole number", "2"),
    ("replicas", "2.5", "expected a whole number", "2"),
    ("ratio", "half", "expected a number", "0.5"),
    ("debug", "yes", "expected true or false", "false"),
    ("names", "web", "a list cannot be given as text; set it in a var file", '["web"]'),
])
def test_environment_value_of_wrong_type(name, text, reason, default):
    _, problems = resolve(environ={f"PROVISION_VAR_{name}": text})

    problem = only(problems)
    assert problem.location is None
    assert problem.key_path == ""
    assert problem.message == f"PROVISION_VAR_{name}: {text!r} is not a valid value for variable {name!r}: {reason}"
    assert problem.hint == f"give a value like its default, {default}"


def test_var_argument_value_of_wrong_type():
    values, problems = resolve(var_args=("replicas=many",))

    problem = only(problems)
    assert problem.message == "--var: 'many' is not a valid value for variable 'replicas': expected a whole number"
    assert problem.hint == "give a value like its default, 2"
    assert values.values["replicas"] == 2


def test_mapping_default_given_as_text():
    inputs = VariableInputs(var_args=("limits=x",), environ={})
    _, problems = resolve_variables({"limits": VariableSpec.model_validate({"default": {"cpu": 1}})}, inputs)

    problem = only(problems)
    assert problem.message == ("--var: 'x' is not a valid value for variable 'limits': "
                               "a mapping cannot be given as text; set it in a var file")
    assert problem.hint == "give a value like its default, {\"cpu\": 1}"


# --var arguments


def test_var_argument_unknown_name_near_miss():
    _, problems = resolve(var_args=("tga=1.37",))

    problem = only(problems)
    assert problem.location is None
    assert problem.message == "--var tga: variable 'tga' is not declared in the blueprint"
    assert problem.hint == "did you mean 'tag'?"


def test_var_argument_unknown_name_lists_declared():
    _, problems = resolve(var_args=("colour=red",))

    problem = only(problems)
    assert problem.message == "--var colour: variable 'colour' is not declared in the blueprint"
    assert problem.hint == ("define it under variables, or use one of: "
                            "debug, names, note, password, pin, ratio, replicas, tag")


def test_var_argument_unknown_name_none_declared():
    _, problems = resolve_variables({}, VariableInputs(var_args=("tag=1",), environ={}))

    problem = only(problems)
    assert problem.message == "--var tag: variable 'tag' is not declared in the blueprint"
    assert problem.hint == "define it under variables"


@pytest.mark.parametrize(("argument", "shown"), [
    ("tag", "'tag'"),
    ("=1.37", "a value without a name"),
    ("", "a value without a name"),
    ("password:hunter2", "a value without a name"),
])
def test_var_argument_malformed(argument, shown):
    _, problems = resolve(var_args=(argument,))

    problem = only(problems)
    assert problem.location is None
    assert problem.key_path == ""
    assert problem.message == f"--var expects NAME=VALUE, got {shown}"
    assert problem.hint == "write it as --var NAME=VALUE, for example --var tag=1.36"


def test_each_bad_argument_reported():
    _, problems = resolve(var_args=("tag", "tga=1", "replicas=x"))

    assert [problem.message for problem in problems] == [
        "--var expects NAME=VALUE, got 'tag'",
        "--var tga: variable 'tga' is not declared in the blueprint",
        "--var: 'x' is not a valid value for variable 'replicas': expected a whole number",
    ]


# Var files


def test_var_file_unknown_name(write_blueprint):
    var_file = write_blueprint("tag: '1.37'\nreplicsa: 3\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 2, 1)
    assert problem.key_path == "replicsa"
    assert problem.message == "variable 'replicsa' is not declared in the blueprint"
    assert problem.hint == "did you mean 'replicas'?"


@pytest.mark.parametrize("name, text, message, hint", [
    ("replicas", "three", "variable 'replicas' is a whole number by its default, but this value is text",
     "give a value like its default, 2"),
    ("tag", "[1.37]", "variable 'tag' is text by its default, but this value is a list",
     "give a value like its default, \"1.36\""),
    ("debug", "'yes'", "variable 'debug' is a boolean by its default, but this value is text",
     "give a value like its default, false"),
    ("replicas", "yes", "variable 'replicas' is a whole number by its default, but this value is a boolean",
     "give a value like its default, 2"),
    ("replicas", "2.5", "variable 'replicas' is a whole number by its default, but this value is a number",
     "give a value like its default, 2"),
    ("names", "{web: 1}", "variable 'names' is a list by its default, but this value is a mapping",
     "give a value like its default, [\"web\"]"),
])
def test_var_file_value_of_wrong_kind(write_blueprint, name, text, message, hint):
    var_file = write_blueprint(f"# stage values\n{name}: {text}\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 2, len(name) + 3)
    assert problem.key_path == name
    assert problem.message == message
    assert problem.hint == hint


def test_var_file_whole_number_for_decimal_accepted(write_blueprint):
    var_file = write_blueprint("ratio: 1\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,))

    assert problems == []
    assert values.values["ratio"] == 1


def test_var_file_null_value_accepted(write_blueprint):
    var_file = write_blueprint("replicas:\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,))

    assert problems == []
    assert values.values["replicas"] is None


def test_var_file_not_a_mapping(write_blueprint):
    var_file = write_blueprint("# values\n- tag\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 2, 1)
    assert problem.key_path == ""
    assert problem.message == "a var file must be a mapping of variable names to values"
    assert problem.hint == "write one NAME: VALUE line per variable"


def test_var_file_empty(write_blueprint):
    var_file = write_blueprint("# nothing set here\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,))

    assert problems == []
    assert values.values["tag"] == "1.36"


def test_var_file_missing(tmp_path):
    missing = tmp_path / "stage.yaml"

    _, problems = resolve(var_files=(missing,))

    problem = only(problems)
    assert problem.location is None
    assert problem.message == f"var file {missing} not found (looked for {missing})"
    assert problem.hint == "create it, or fix the path given to --var-file"


def test_var_file_syntax_error(write_blueprint):
    var_file = write_blueprint("tag: [1.37\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 2, 1)
    assert problem.message == "invalid YAML: expected ',' or ']', but got '<stream end>'"


@pytest.mark.parametrize("text", ["!reset", "!override '1.37'"])
def test_var_file_merge_tag_rejected(write_blueprint, text):
    var_file = write_blueprint(f"tag: {text}\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 1, 6)
    assert problem.key_path == "tag"
    assert problem.message == "!reset and !override belong in override files, not var files"
    assert problem.hint == "remove the tag"


def test_problems_of_all_sources_reported(write_blueprint, tmp_path):
    var_file = write_blueprint("replicas: many\n", "stage.yaml")

    _, problems = resolve(var_files=(var_file, tmp_path / "gone.yaml"), var_args=("tga=1",),
                          environ={"PROVISION_VAR_debug": "maybe"})

    assert [problem.message for problem in problems] == [
        "PROVISION_VAR_debug: 'maybe' is not a valid value for variable 'debug': expected true or false",
        "variable 'replicas' is a whole number by its default, but this value is text",
        f"var file {tmp_path / 'gone.yaml'} not found (looked for {tmp_path / 'gone.yaml'})",
        "--var tga: variable 'tga' is not declared in the blueprint",
    ]


# Secrets


def test_secret_bad_environment_value_hidden():
    _, problems = resolve(environ={"PROVISION_VAR_pin": SECRET_VALUE})

    problem = only(problems)
    assert problem.message == "PROVISION_VAR_pin: (secret) is not a valid value for variable 'pin': expected a whole number"
    assert problem.hint == "give a value like its default, (secret)"


def test_secret_bad_argument_hidden():
    _, problems = resolve(var_args=(f"pin={SECRET_VALUE}",))

    problem = only(problems)
    assert problem.message == "--var: (secret) is not a valid value for variable 'pin': expected a whole number"
    assert problem.hint == "give a value like its default, (secret)"


def test_secret_bad_var_file_value_hidden(write_blueprint):
    var_file = write_blueprint(f"pin: {SECRET_VALUE}\n", "secrets.local.yaml")

    _, problems = resolve(var_files=(var_file,))

    problem = only(problems)
    assert problem.location == Location(str(var_file), 1, 6)
    assert problem.message == "variable 'pin' is a whole number by its default, but this value is text"
    assert problem.hint == "give a value like its default, (secret)"


def test_secret_misspelt_name_value_hidden(write_blueprint):
    var_file = write_blueprint(f"pasword: {SECRET_VALUE}\n", "secrets.local.yaml")

    _, problems = resolve(var_files=(var_file,), var_args=(f"pasword={SECRET_VALUE}",))

    assert [problem.message for problem in problems] == [
        "variable 'pasword' is not declared in the blueprint",
        "--var pasword: variable 'pasword' is not declared in the blueprint",
    ]
    assert [problem.hint for problem in problems] == ["did you mean 'password'?", "did you mean 'password'?"]


# Through load_blueprint

BLUEPRINT = """\
    version: 1
    project: demo
    variables:
      tag:
        description: image tag
      level: {default: info}
      unused: {}
    containers:
      web:
        image: "busybox:{{ vars.tag }}"
        environment:
          LEVEL: "{{ vars.level }}"
    """

NO_VALUE_HINT = "give it a default, or set it with --var {name}=VALUE, --var-file FILE or PROVISION_VAR_{upper}"


def test_no_value_at_use_and_declaration(write_blueprint):
    path = write_blueprint(BLUEPRINT)

    problems = load_error(path).problems

    assert [(problem.location, problem.key_path, problem.message, problem.hint) for problem in problems] == [
        (Location(str(path), 7, 3), "variables.unused", "variable 'unused' has no value",
         NO_VALUE_HINT.format(name="unused", upper="UNUSED")),
        (Location(str(path), 10, 12), "containers.web.image", "variable 'tag' has no value",
         NO_VALUE_HINT.format(name="tag", upper="TAG")),
    ]


def test_no_value_in_override_file_named(write_blueprint):
    base = write_blueprint(BLUEPRINT)
    override = write_blueprint("""\
        containers:
          web:
            working_dir: "/srv/{{ vars.unused }}"
        """, "ci/override.yaml")

    problems = load_error(base, override, var_args=("tag=1.37",)).problems

    problem = only(problems)
    assert problem.location == Location(str(override), 3, 18)
    assert problem.key_path == "containers.web.working_dir"
    assert problem.message == "variable 'unused' has no value"


def test_values_rendered_from_every_source(write_blueprint):
    path = write_blueprint(BLUEPRINT)
    var_file = write_blueprint("tag: '1.37'\nlevel: warn\n", "stage.yaml")

    loaded = load(path, var_files=(var_file,), var_args=("unused=x", "level=debug"))

    web = loaded.blueprint.containers["web"]
    assert web.image == "busybox:1.37"
    assert web.environment == {"LEVEL": "debug"}
    assert loaded.unrendered == frozenset()


def test_environment_number_reaches_template(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          port: {default: 8080}
        containers:
          web:
            image: busybox
            environment:
              NEXT_PORT: "{{ vars.port + 1 }}"
        """)

    loaded = load(path, environ={"PROVISION_VAR_PORT": "9090"})

    # Text would fail at "+ 1", so the sum shows that the environment's text became a number.
    assert loaded.blueprint.containers["web"].environment == {"NEXT_PORT": "9091"}


def test_allow_missing_leaves_values_unchecked(write_blueprint):
    path = write_blueprint(BLUEPRINT.replace('LEVEL: "{{ vars.level }}"', 'TAG: "{{ vars.tag }}"'))

    # `unused` has no value either; allow_missing accepts that too.
    loaded = load(path, allow_missing=True)

    assert loaded.unrendered == frozenset({"containers.web.image", "containers.web.environment.TAG"})
    assert loaded.blueprint.project == "demo"


def test_allow_missing_reads_placeholder(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          tag: {}
        containers:
          web:
            image: busybox
            environment:
              TAG: "{{ vars.tag }}"
        """)

    loaded = load(path, allow_missing=True)

    assert loaded.unrendered == frozenset({"containers.web.environment.TAG"})
    assert loaded.blueprint.containers["web"].environment == {"TAG": "unset-tag"}


def test_allow_missing_still_reports_other_problems(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          tag: {}
        containers:
          web:
            image: "busybox:{{ vars.tag }}"
            restart: sometimes
        """)

    problem = only(load_error(path, allow_missing=True).problems)

    assert problem.location == Location(str(path), 8, 14)
    assert problem.key_path == "containers.web.restart"
    assert problem.message == "invalid restart policy 'sometimes'; use no, always, unless-stopped or on-failure[:N]"


def test_allow_missing_still_rejects_bad_values(write_blueprint):
    path = write_blueprint(BLUEPRINT.replace("level: {default: info}", "level: {default: 1}"))

    problem = only(load_error(path, var_args=("level=high",), allow_missing=True).problems)

    assert problem.message == "--var: 'high' is not a valid value for variable 'level': expected a whole number"


def test_secret_bad_value_not_in_error_text(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          pin: {secret: true, default: 1234}
        containers:
          web:
            image: busybox
            environment:
              PIN: "{{ vars.pin }}"
        """)
    var_file = write_blueprint(f"pin: {SECRET_VALUE}-file\n", "secrets.local.yaml")

    error = load_error(path, var_files=(var_file,), environ={"PROVISION_VAR_PIN": f"{SECRET_VALUE}-env"})

    assert [problem.message for problem in error.problems] == [
        "PROVISION_VAR_PIN: (secret) is not a valid value for variable 'pin': expected a whole number",
        "variable 'pin' is a whole number by its default, but this value is text",
    ]
    assert SECRET_VALUE not in str(error)


@pytest.mark.parametrize(("text", "expected"), [("1.40", "1.40"), ("2", 2.0), ("2.5", 2.5), ("1e3", 1000.0)])
def test_decimal_text_keeps_trailing_zero(text, expected):
    values, problems = resolve(var_args=(f"ratio={text}",))

    assert problems == []
    assert values.values["ratio"] == expected
    assert type(values.values["ratio"]) is type(expected)


def test_badly_declared_variable_reported_alone(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          tag: {defualt: "1.36"}
        containers:
          web:
            image: "busybox:{{ vars.tag }}"
        """)

    problem = only(load_error(path).problems)

    assert problem.key_path == "variables.tag.defualt"
    assert problem.message == "unknown key 'defualt'"


def test_problem_names_variable_source(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          port: {default: 8080}
          pin: {default: 1234, secret: true}
        containers:
          web:
            image: busybox:1.36
            ports: ["127.0.0.1:{{ vars.port }}:80"]
        """)
    var_file = write_blueprint("port: 99999\n", "stage.yaml")

    problem = only(load_error(path, var_files=(var_file,)).problems)

    assert problem.key_path == "containers.web.ports[0]"
    assert problem.hint == f"the value is rendered from vars.port = 99999 from {var_file}:1:7"


def test_allow_missing_names_differ_per_variable(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          front: {}
          back: {}
        containers:
          "web-{{ vars.front }}":
            image: busybox
            depends_on: ["web-{{ vars.back }}"]
          "web-{{ vars.back }}":
            image: busybox
        """)

    loaded = load(path, allow_missing=True)

    assert sorted(loaded.blueprint.containers) == ["web-unset-back", "web-unset-front"]
    assert loaded.missing_variables == ("back", "front")


def test_allow_missing_still_checks_secret_placement(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        variables:
          pw: {secret: true}
        containers:
          web:
            image: "busybox:{{ vars.pw }}"
        """)

    problem = only(load_error(path, allow_missing=True).problems)

    assert problem.location == Location(str(path), 7, 12)
    assert problem.message == "the secret variable 'pw' cannot be used in containers.web.image"


@pytest.mark.parametrize(("name", "written", "expected"), [
    ("tag", "1.37", "1.37"),
    ("tag", "7", "7"),
    ("ratio", "1.40", "1.40"),
    ("ratio", "2.5", 2.5),
])
def test_var_file_number_and_text_follow_default(write_blueprint, name, written, expected):
    var_file = write_blueprint(f"{name}: {written}\n", "stage.yaml")

    values, problems = resolve(var_files=(var_file,))

    assert problems == []
    assert values.values[name] == expected
