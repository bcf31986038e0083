"""Tests for provisioner.loader: YAML parsing with positions, key paths and source maps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provisioner import loader
from provisioner.errors import BlueprintInvalid, BlueprintNotFound, Location, Problem
from provisioner.loader import MAX_FILE_BYTES, MAX_NESTING, SourceMap, format_key_path, load_document


def position(problem: Problem) -> tuple[int, int]:
    assert problem.location is not None
    return problem.location.line, problem.location.column


def document_problems(path: Path) -> list[Problem]:
    with pytest.raises(BlueprintInvalid) as caught:
        load_document(path)
    return caught.value.problems


def nested_keys(depth: int) -> str:
    """Return YAML text with `depth` nested `k:` keys and a scalar at the bottom."""
    lines = ["  " * level + "k:" for level in range(depth)]
    lines.append("  " * depth + "v")
    return "\n".join(lines) + "\n"


# format_key_path


def test_format_key_path_empty():
    assert format_key_path(()) == ""


def test_format_key_path_single_key():
    assert format_key_path(("containers",)) == "containers"


def test_format_key_path_nested_keys():
    assert format_key_path(("containers", "web", "image")) == "containers.web.image"


def test_format_key_path_list_index():
    assert format_key_path(("containers", "web", "ports", 0)) == "containers.web.ports[0]"


def test_format_key_path_key_after_index():
    assert format_key_path(("items", 2, "name")) == "items[2].name"


def test_format_key_path_consecutive_indices():
    assert format_key_path(("grid", 1, 3)) == "grid[1][3]"


def test_format_key_path_leading_index():
    assert format_key_path((0, "name")) == "[0].name"


# SourceMap.locate


@pytest.fixture
def source_map() -> SourceMap:
    # Positions as they would be recorded for:
    #   1 # comment
    #   2 a:
    #   3   b: x
    #   4 list:
    #   5   - item
    return SourceMap(
        "bp.yaml",
        key_positions={("a",): (2, 1), ("a", "b"): (3, 3), ("list",): (4, 1)},
        value_positions={(): (2, 1), ("a",): (3, 3), ("a", "b"): (3, 6), ("list",): (5, 3), ("list", 0): (5, 5)},
    )


def test_locate_value_exact(source_map):
    assert source_map.locate(("a", "b")) == Location("bp.yaml", 3, 6)


def test_locate_key_exact(source_map):
    assert source_map.locate(("a", "b"), at_key=True) == Location("bp.yaml", 3, 3)


def test_locate_value_uses_parent(source_map):
    assert source_map.locate(("a", "b", "c")) == Location("bp.yaml", 3, 6)


def test_locate_key_uses_parent(source_map):
    assert source_map.locate(("a", "b", "c"), at_key=True) == Location("bp.yaml", 3, 3)


def test_locate_list_item_key_fallback(source_map):
    assert source_map.locate(("list", 0), at_key=True) == Location("bp.yaml", 5, 5)


def test_locate_unknown_path_uses_root(source_map):
    assert source_map.locate(("nowhere", "deep")) == Location("bp.yaml", 2, 1)


def test_locate_empty_map_defaults_first_line():
    assert SourceMap("empty.yaml").locate(("a",)) == Location("empty.yaml", 1, 1)


# load_document: values and positions


SAMPLE = """\
version: 1
project: demo
containers:
  web:
    image: busybox
    ports:
      - "8080:80"
"""


def test_load_document_returns_data(write_blueprint):
    path = write_blueprint(SAMPLE)

    document = load_document(path)

    assert document.path == path
    assert document.data == {
        "version": 1,
        "project": "demo",
        "containers": {"web": {"image": "busybox", "ports": ["8080:80"]}},
    }


def test_load_document_records_key_positions(write_blueprint):
    document = load_document(write_blueprint(SAMPLE))
    keys = document.source_map.key_positions

    assert keys[("version",)] == (1, 1)
    assert keys[("containers", "web")] == (4, 3)
    assert keys[("containers", "web", "image")] == (5, 5)
    assert keys[("containers", "web", "ports")] == (6, 5)


def test_load_document_records_value_positions(write_blueprint):
    document = load_document(write_blueprint(SAMPLE))
    values = document.source_map.value_positions

    assert values[()] == (1, 1)
    assert values[("version",)] == (1, 10)
    assert values[("containers", "web", "image")] == (5, 12)
    assert values[("containers", "web", "ports")] == (7, 7)
    assert values[("containers", "web", "ports", 0)] == (7, 9)


def test_load_document_display_name(write_blueprint):
    document = load_document(write_blueprint(SAMPLE), display_name="shown.yaml")

    assert document.source_map.file == "shown.yaml"
    assert document.source_map.locate(("version",)) == Location("shown.yaml", 1, 10)


def test_load_document_default_name(write_blueprint):
    path = write_blueprint(SAMPLE)

    document = load_document(path)

    assert document.source_map.file == str(path)


def test_load_document_empty_file(write_blueprint):
    document = load_document(write_blueprint(""))

    assert document.data == {}


def test_load_document_comments_only(write_blueprint):
    document = load_document(write_blueprint("# nothing here yet\n"))

    assert document.data == {}


# load_document: YAML syntax


def test_syntax_error_position(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo: extra
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (2, 14)
    assert problems[0].location.file == str(path)
    assert problems[0].message == "invalid YAML: mapping values are not allowed here"


def test_unclosed_flow_list_reported(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: [demo
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (3, 1)
    assert "expected ',' or ']'" in problems[0].message


def test_tab_indentation_hint(write_blueprint):
    path = write_blueprint("version: 1\ncontainers:\n\tweb: {}\n")

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (3, 1)
    assert problems[0].message.startswith("invalid YAML: found character '\\t'")
    assert "indent with spaces" in problems[0].hint


def test_tab_inside_mapping_hint(write_blueprint):
    path = write_blueprint("containers:\n  web:\n\timage: busybox\n")

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (3, 1)
    assert "spaces" in problems[0].hint


def test_second_document_rejected(write_blueprint):
    path = write_blueprint("""\
        version: 1
        ---
        project: demo
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (2, 1)
    assert "another document" in problems[0].message


def test_complex_key_rejected(write_blueprint):
    path = write_blueprint("""\
        ? [a, b]
        : 1
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (1, 3)
    assert problems[0].message == "a mapping key must be a plain value, not a list or mapping"


# load_document: duplicate keys


def test_duplicate_top_level_key(write_blueprint):
    path = write_blueprint("""\
        version: 1
        project: demo
        version: 2
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (3, 1)
    assert problems[0].key_path == "version"
    assert problems[0].message == "duplicate key 'version' (first defined on line 1)"
    assert "remove one of the two" in problems[0].hint


def test_duplicate_nested_key(write_blueprint):
    path = write_blueprint("""\
        containers:
          web:
            image: busybox
            restart: always
            image: alpine
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (5, 5)
    assert problems[0].key_path == "containers.web.image"
    assert problems[0].message == "duplicate key 'image' (first defined on line 3)"


def test_duplicate_keys_all_reported(write_blueprint):
    path = write_blueprint("""\
        a: 1
        a: 2
        b:
          c: 1
          c: 2
        """)

    problems = document_problems(path)

    assert [position(problem) for problem in problems] == [(2, 1), (5, 3)]
    assert [problem.key_path for problem in problems] == ["a", "b.c"]


def test_same_key_in_siblings_allowed(write_blueprint):
    document = load_document(write_blueprint("""\
        web:
          image: busybox
        db:
          image: postgres
        """))

    assert document.data == {"web": {"image": "busybox"}, "db": {"image": "postgres"}}


# load_document: anchors, aliases and merge keys


MERGE_SAMPLE = """\
defaults: &defaults
  image: busybox
  restart: always
containers:
  web:
    <<: *defaults
    restart: unless-stopped
"""


def test_merge_key_adds_values(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))

    assert document.data["containers"]["web"]["image"] == "busybox"


def test_merge_key_explicit_overrides(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))

    assert document.data["containers"]["web"]["restart"] == "unless-stopped"


def test_merge_key_leaves_anchor_unchanged(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))

    assert document.data["defaults"] == {"image": "busybox", "restart": "always"}


def test_merge_key_not_in_data(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))

    assert "<<" not in document.data["containers"]["web"]


def test_merge_key_override_position(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))
    keys = document.source_map.key_positions

    assert keys[("containers", "web", "restart")] == (7, 5)


def test_merged_key_position_is_anchor(write_blueprint):
    document = load_document(write_blueprint(MERGE_SAMPLE))
    keys = document.source_map.key_positions

    assert keys[("containers", "web", "image")] == (2, 3)


def test_merge_list_first_source_wins(write_blueprint):
    document = load_document(write_blueprint("""\
        first: &first {x: 1, y: 2}
        second: &second {y: 3, z: 4}
        merged:
          <<: [*first, *second]
          w: 5
        """))

    assert document.data["merged"] == {"w": 5, "x": 1, "y": 2, "z": 4}


def test_alias_repeats_list(write_blueprint):
    document = load_document(write_blueprint("""\
        web:
          command: &cmd [sleep, "100"]
        db:
          command: *cmd
        """))

    assert document.data["db"]["command"] == ["sleep", "100"]


def test_merge_scalar_rejected(write_blueprint):
    path = write_blueprint("""\
        web:
          image: busybox
          <<: 5
        """)

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (3, 7)
    assert problems[0].key_path == "web"
    assert problems[0].message == "the << merge key takes a mapping or a list of mappings"
    assert "<<: *defaults" in problems[0].hint


# load_document: how scalars and keys are read


def test_colon_number_stays_text(write_blueprint):
    document = load_document(write_blueprint("""\
        port: 22:22
        time: 190:20:30
        fraction: 1:30.5
        """))

    assert document.data["port"] == "22:22"
    assert document.data["time"] == "190:20:30"
    assert document.data["fraction"] == "1:30.5"


def test_colon_number_in_flow_list(write_blueprint):
    document = load_document(write_blueprint("ports: [22:22, 8080:80]\n"))

    assert document.data["ports"] == ["22:22", "8080:80"]


def test_plain_numbers_stay_numbers(write_blueprint):
    document = load_document(write_blueprint("""\
        count: 1342
        ratio: 1.5
        quoted: "22:22"
        """))

    assert document.data["count"] == 1342
    assert document.data["ratio"] == 1.5
    assert document.data["quoted"] == "22:22"


def test_decimal_with_trailing_zero_kept_as_text(write_blueprint):
    document = load_document(write_blueprint("""\
        tag: 1.10
        ratio: 1.36
        signed: +2.5
        """))

    assert document.data["tag"] == "1.10"
    assert document.data["ratio"] == 1.36
    assert document.data["signed"] == 2.5


def test_keys_kept_as_written(write_blueprint):
    document = load_document(write_blueprint("""\
        80: http
        on: push
        yes: agreed
        1.5: ratio
        """))

    assert list(document.data) == ["80", "on", "yes", "1.5"]


# load_document: file problems


def test_missing_file_not_found(tmp_path):
    missing = tmp_path / "missing.yaml"

    with pytest.raises(BlueprintNotFound) as caught:
        load_document(missing)

    assert str(caught.value) == (f"blueprint file {missing} not found (looked for {missing}); "
                                 "create it, or pass -f PATH to read another file")


def test_missing_file_display_name(tmp_path):
    with pytest.raises(BlueprintNotFound) as caught:
        load_document(tmp_path / "missing.yaml", display_name="blueprint.yaml")

    assert str(caught.value).startswith("blueprint file blueprint.yaml not found")


def test_directory_cannot_be_read(tmp_path):
    problems = document_problems(tmp_path)

    assert len(problems) == 1
    assert problems[0].location is None
    assert problems[0].message.startswith(f"cannot read {tmp_path}: ")


def test_invalid_utf8_rejected(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_bytes(b"project: \xff\n")

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (1, 1)
    assert problems[0].message == "file is not valid UTF-8 (invalid start byte at byte 9)"
    assert problems[0].hint == "save the file as UTF-8"


def test_file_over_size_limit(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (1, 1)
    assert problems[0].message == f"file is {MAX_FILE_BYTES + 1} bytes, more than the limit of {MAX_FILE_BYTES} bytes"
    assert "split" in problems[0].hint


def test_file_at_size_limit_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 64)
    text = "a: 1\n#" + "x" * 57 + "\n"
    assert len(text.encode()) == 64
    path = tmp_path / "blueprint.yaml"
    path.write_text(text, encoding="utf-8")

    document = load_document(path)

    assert document.data == {"a": 1}


def test_file_one_byte_over_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 64)
    path = tmp_path / "blueprint.yaml"
    path.write_text("a: 1\n#" + "x" * 58 + "\n", encoding="utf-8")

    problems = document_problems(path)

    assert problems[0].message == "file is 65 bytes, more than the limit of 64 bytes"


# load_document: nesting limit


def test_nesting_at_limit_loads(write_blueprint):
    document = load_document(write_blueprint(nested_keys(MAX_NESTING)))

    value = document.data
    for _ in range(MAX_NESTING):
        value = value["k"]
    assert value == "v"


def test_nesting_over_limit_rejected(write_blueprint):
    depth = MAX_NESTING + 1
    path = write_blueprint(nested_keys(depth))

    problems = document_problems(path)

    assert len(problems) == 1
    assert position(problems[0]) == (depth + 1, 2 * depth + 1)
    assert problems[0].key_path == ".".join(["k"] * depth)
    assert problems[0].message == f"nesting is deeper than the limit of {MAX_NESTING} levels"


def test_duplicate_in_merged_anchor_reported_once(tmp_path):
    path = tmp_path / "blueprint.yaml"
    path.write_text(textwrap.dedent("""\
        base: &base
          image: busybox
          image: alpine
        first:
          <<: *base
        second:
          <<: *base
        """))

    with pytest.raises(BlueprintInvalid) as raised:
        load_document(path)

    problems = raised.value.problems
    assert len(problems) == 1
    assert (problems[0].location.line, problems[0].location.column) == (3, 3)
    assert problems[0].message == "duplicate key 'image' (first defined on line 2)"
