"""Whatever templates, variable values and override files hold, loading gives a model or problems, never a traceback.

The examples are derandomized, so that a CI run is repeatable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.errors import BlueprintInvalid
from provisioner.validation import BlueprintSource, load_blueprint
from provisioner.variables import VariableInputs
from tests.unit.test_loader_properties import key_paths, replace_at, yaml_values

EXAMPLE = Path(__file__).resolve().parents[2] / "blueprints" / "environments" / "shop.yaml"
EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text())
SECRET = "correct-horse-battery"
VALUES = {"stage": "ci", "port": "9090"}

# Pieces that templates are made of, so that generated text is often close to a real template.
FRAGMENTS = ["{{", "}}", "{%", "%}", "{#", "#}", " ", "vars.", "stage", "port", "db_password", "project", "env.",
             "HOME", "|upper", "|int", " if ", " else ", " for x in ", "endfor", "endif", "'", '"', "1", "-", "*",
             "**", "(", ")", "[", "]", "~", ".__class__", "range(3)", "none"]
templates = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join)


def load(text: str, override: str | None = None, var_args: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / "blueprint.yaml"]
        files[0].write_text(text, encoding="utf-8")
        if override is not None:
            files.append(Path(folder) / "override.yaml")
            files[1].write_text(override, encoding="utf-8")
        environ = {"HOME": "/root", "PROVISION_VAR_DB_PASSWORD": SECRET}
        inputs = VariableInputs(var_args=var_args or tuple(f"{name}={value}" for name, value in VALUES.items()),
                                environ=environ)
        try:
            loaded = load_blueprint(BlueprintSource(tuple(files), inputs))
        except BlueprintInvalid as invalid:
            assert invalid.problems, "an invalid blueprint must name at least one problem"
            for problem in invalid.problems:
                assert SECRET not in problem.render()
            return
        assert SECRET not in loaded.blueprint.model_dump_json()


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(key_paths(EXAMPLE_DATA)), templates)
def test_template_anywhere_never_crashes(path, template):
    load(yaml.safe_dump(replace_at(EXAMPLE_DATA, path, template), sort_keys=False))


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=30), st.text(max_size=30))
def test_any_variable_values_never_crash(stage, port):
    load(EXAMPLE.read_text(), var_args=(f"stage={stage}", f"port={port}"))


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(key_paths(EXAMPLE_DATA)), yaml_values)
def test_any_override_never_crashes(path, value):
    load(EXAMPLE.read_text(), override=yaml.safe_dump(nested(path, value), sort_keys=False))


def nested(path: list, value):
    """Return a mapping with `value` at the keys of `path`, up to its first list index."""
    keys = []
    for part in path:
        if not isinstance(part, str):
            break
        keys.append(part)
    for key in reversed(keys):
        value = {key: value}
    return value if keys else {}
