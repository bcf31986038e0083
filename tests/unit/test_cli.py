"""The command line's boundary: exit codes and what reaches the user for each kind of error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from provisioner import cli
from provisioner.schema import blueprint_schema_text
from provisioner.validation import load_blueprint


def run_main(monkeypatch, capsys, *arguments: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["provision", *arguments])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def failing_load(source, **options):
    raise KeyError("spec")


def test_unexpected_error_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_blueprint", failing_load)

    code, out, err = run_main(monkeypatch, capsys, "validate")

    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "error: unexpected KeyError: 'spec' (a bug in provision; rerun with --debug to see the traceback)"]


def test_debug_shows_traceback(monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_blueprint", failing_load)

    code, _, err = run_main(monkeypatch, capsys, "--debug", "validate")

    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'spec'" in err


def test_invalid_blueprint_exits_one(monkeypatch, capsys, tmp_path):
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text("version: 1\nproject: demo\ncontainers:\n  web:\n    imagee: busybox\n")

    code, out, err = run_main(monkeypatch, capsys, "-f", str(blueprint), "validate")

    assert code == 1
    assert out == ""
    assert f"{blueprint}:5:5: error: containers.web.imagee: unknown key 'imagee'" in err
    assert "Traceback" not in err


def test_valid_blueprint_validates(monkeypatch, capsys, tmp_path):
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text("version: 1\nproject: demo\n")
    monkeypatch.chdir(tmp_path)

    monkeypatch.setattr(sys, "argv", ["provision", "validate"])
    cli.main()

    assert capsys.readouterr().out == "blueprint.yaml: valid (project demo)\n"


def test_unknown_option_exits_one(monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, "plan", "--bogus")

    assert code == 1
    assert "No such option '--bogus'" in err


def test_file_option_after_command(monkeypatch, capsys, tmp_path):
    blueprint = tmp_path / "other.yaml"
    blueprint.write_text("version: 1\nproject: other\n")

    monkeypatch.setattr(sys, "argv", ["provision", "validate", "-f", str(blueprint)])
    cli.main()

    assert capsys.readouterr().out == f"{blueprint}: valid (project other)\n"


def test_validate_several_files(monkeypatch, capsys, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nproject: good\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nproject: Bad\n")

    code, out, err = run_main(monkeypatch, capsys, "validate", str(good), str(bad), str(tmp_path / "missing.yaml"))

    assert code == 1
    assert out == f"{good}: valid (project good)\n"
    assert f"{bad}:2:10: error: project: invalid name 'Bad'" in err
    assert f"blueprint file {tmp_path / 'missing.yaml'} not found" in err
    assert err.strip().endswith("2 of 3 blueprints are invalid")


def test_validate_all_valid_exits_zero(monkeypatch, capsys, tmp_path):
    files = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"version: 1\nproject: {name}\n")
        files.append(str(path))

    monkeypatch.setattr(sys, "argv", ["provision", "validate", *files])
    cli.main()

    assert capsys.readouterr().out == f"{files[0]}: valid (project one)\n{files[1]}: valid (project two)\n"


def test_pre_commit_hook_runs_validate():
    hooks = yaml.safe_load((Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text())

    assert [hook["id"] for hook in hooks] == ["provision-validate"]
    assert hooks[0]["entry"] == "provision validate"
    assert hooks[0]["pass_filenames"] is True


def test_init_writes_valid_starter(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "My App"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["provision", "init"])

    cli.main()
    loaded = load_blueprint(folder / "blueprint.yaml")

    assert capsys.readouterr().out == ("wrote blueprint.yaml and blueprint.schema.json (project my-app); "
                                       "next: provision -f blueprint.yaml plan\n")
    assert loaded.blueprint.project == "my-app"
    assert list(loaded.blueprint.containers) == ["my-app-app"]
    assert (folder / "blueprint.yaml").read_text().startswith("# yaml-language-server: $schema=blueprint.schema.json\n")
    assert (folder / "blueprint.schema.json").read_text() == blueprint_schema_text()


def test_init_never_overwrites(monkeypatch, capsys, tmp_path):
    existing = tmp_path / "blueprint.yaml"
    existing.write_text("version: 1\nproject: mine\n")
    monkeypatch.chdir(tmp_path)

    code, _, err = run_main(monkeypatch, capsys, "init", "--project", "other")

    assert code == 1
    assert err.startswith("blueprint.yaml already exists; init never overwrites a file.")
    assert existing.read_text() == "version: 1\nproject: mine\n"


def test_init_rejects_invalid_project(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)

    code, _, err = run_main(monkeypatch, capsys, "init", "--project", "Not Valid")

    assert code == 1
    assert "invalid project name 'Not Valid'" in err
    assert not (tmp_path / "blueprint.yaml").exists()
