"""Whatever the file holds, loading a blueprint gives a model or a list of problems, never a traceback.

The examples are derandomized, so that a CI run is repeatable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.errors import BlueprintInvalid
from provisioner.validation import LoadedBlueprint, load_blueprint

SEED = (Path(__file__).resolve().parents[2] / "blueprints" / "seed-demo.yaml").read_text()
SEED_DATA = yaml.safe_load(SEED)

# Values YAML can hold, nested a few levels deep.
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def load_text(text: str) -> LoadedBlueprint | BlueprintInvalid:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blueprint.yaml"
        path.write_text(text, encoding="utf-8")
        (Path(folder) / "site").mkdir()
        try:
            return load_blueprint(path)
        except BlueprintInvalid as invalid:
            assert invalid.problems, "an invalid blueprint must name at least one problem"
            for problem in invalid.problems:
                assert problem.message
            return invalid


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(text):
    load_text(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=len(SEED) - 1), st.integers(min_value=1, max_value=20), st.text(max_size=10))
def test_mutated_seed_never_crashes(start, length, replacement):
    load_text(SEED[:start] + replacement + SEED[start + length:])


def replace_at(data, path: list, value):
    """A copy of `data` with the value at `path` replaced; the path follows dict keys and list indexes."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        copy = dict(data)
        copy[head] = replace_at(data.get(head), rest, value)
        return copy
    if isinstance(data, list) and isinstance(head, int) and 0 <= head < len(data):
        copy = list(data)
        copy[head] = replace_at(data[head], rest, value)
        return copy
    return data


def key_paths(data, prefix=()) -> list[list]:
    paths = [list(prefix)]
    if isinstance(data, dict):
        for key, value in data.items():
            paths += key_paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths += key_paths(value, prefix + (index,))
    return paths


SEED_PATHS = key_paths(SEED_DATA)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(SEED_PATHS), yaml_values)
def test_any_value_anywhere_never_crashes(path, value):
    data = replace_at(SEED_DATA, path, value)
    try:
        text = yaml.safe_dump(data, sort_keys=False)
    except yaml.YAMLError:
        return
    load_text(text)
