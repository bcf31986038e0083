"""The command line's boundary: exit codes and what reaches the user for each kind of error."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from provisioner import cli
from provisioner.errors import BlueprintInvalid
from provisioner.resources import build_desired_state
from provisioner.schema import blueprint_schema_text
from provisioner.validation import load_blueprint


def run_main(monkeypatch, capsys, *arguments: str) -> tuple[int, str, str]:
    """Run the command line; the code is 0 when it returns without exiting."""
    monkeypatch.setattr(sys, "argv", ["provision", *arguments])
    try:
        cli.main()
        code = 0
    except SystemExit as exited:
        code = exited.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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

    assert capsys.readouterr().out == ("wrote blueprint.yaml and blueprint.schema.json, added *.local.yaml to "
                                       ".gitignore (project my-app); next: provision -f blueprint.yaml plan\n")
    assert loaded.blueprint.project == "my-app"
    assert list(loaded.blueprint.containers) == ["my-app-app"]
    assert loaded.blueprint.containers["my-app-app"].image == "busybox:1.36"
    assert (folder / ".gitignore").read_text() == (
        "# var files with secret values for provision: pass them with --var-file, never commit them\n*.local.yaml\n")
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


def test_init_appends_to_gitignore_once(monkeypatch, capsys, tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["provision", "init", "--project", "app"])
    cli.main()
    monkeypatch.setattr(sys, "argv", ["provision", "init", "-f", "second.yaml", "--project", "app"])
    cli.main()

    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines == ["node_modules/",
                     "# var files with secret values for provision: pass them with --var-file, never commit them",
                     "*.local.yaml"]
    assert capsys.readouterr().out.splitlines()[1] == "wrote second.yaml (project app); next: provision -f second.yaml plan"


SECRET_BLUEPRINT = """\
version: 1
project: "shop-{{ vars.stage }}"
variables:
  stage: {}
  port: {default: 8080}
  db_password: {secret: true}
containers:
  web:
    image: busybox:1.36
    environment:
      DB_URL: "postgres://app:{{ vars.db_password }}@db/{{ project }}"
    ports: ["127.0.0.1:{{ vars.port }}:80"]
"""


def write_blueprint(folder, text=SECRET_BLUEPRINT):
    path = folder / "blueprint.yaml"
    path.write_text(text)
    return path


def test_config_prints_resolved_blueprint_with_secret_hidden(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    (tmp_path / "ci.yaml").write_text("stage: ci\nport: 9090\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVISION_VAR_DB_PASSWORD", "hunter2-secret")

    code, out, err = run_main(monkeypatch, capsys, "config", "--var-file", "ci.yaml")

    assert (code, err) == (0, "")
    assert out == ("# Resolved by provision config. Secrets show as (secret NAME) and sensitive values as\n"
                   "# (sensitive value): do not apply this output.\n"
                   "version: 1\n"
                   "project: shop-ci\n"
                   "containers:\n"
                   "  web:\n"
                   "    image: busybox:1.36\n"
                   "    environment:\n"
                   "      DB_URL: postgres://app:(secret db_password)@db/shop-ci\n"
                   "    ports:\n"
                   "    - host_ip: 127.0.0.1\n"
                   "      host_port: 9090\n"
                   "      container_port: 80\n"
                   "      protocol: tcp\n"
                   "    restart: 'no'\n"
                   "    state: running\n"
                   "    pull: missing\n")


def test_config_json_output_cannot_be_applied(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_main(monkeypatch, capsys, "config", "--format", "json", "--var", "stage=dev",
                            "--var", "db_password=hunter2-secret", "--var", "port=7070")
    data = json.loads(out)
    (tmp_path / "resolved.yaml").write_text(out)
    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(tmp_path / "resolved.yaml")

    assert code == 0
    assert data["project"] == "shop-dev"
    assert data["containers"]["web"]["ports"][0]["host_port"] == 7070
    assert "hunter2-secret" not in out
    problem = caught.value.problems[0]
    assert problem.key_path == "containers.web.environment.DB_URL"
    assert problem.message == ("'postgres://app:(secret db_password)@db/shop-dev' contains a placeholder that "
                               "provision config prints for a hidden value")


def test_unknown_var_is_an_error_with_suggestion(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "config", "--var", "stage=ci", "--var", "prot=1",
                              "--var", "db_password=hunter2-secret")

    assert (code, out) == (1, "")
    assert err.splitlines() == ["error: --var prot: variable 'prot' is not declared in the blueprint",
                                "    hint: did you mean 'port'?",
                                "blueprint is invalid: 1 problem found; nothing was changed on the engine"]


def test_validate_leaves_values_without_variables_unchecked(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_main(monkeypatch, capsys, "validate", "--var", "stage=ci")

    assert code == 0
    assert out == ("blueprint.yaml: valid (project shop-ci; 1 value was not checked, because this variable has "
                   "no value: db_password)\n")


def test_error_output_hides_secret_value(monkeypatch, capsys, tmp_path):
    command = "command: \"sh -c 'echo {{ vars.db_password }}'\"\n    environment:"
    write_blueprint(tmp_path, SECRET_BLUEPRINT.replace("environment:", command))
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "config", "--var", "stage=ci", "--var", "db_password=it's-secret")

    assert (code, out) == (1, "")
    assert err.splitlines()[0] == ("blueprint.yaml:10:14: error: containers.web.command: cannot split \"sh -c 'echo "
                                   "(secret db_password)'\" into words (No closing quotation); write it as a list")


def test_init_creates_missing_folders(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_main(monkeypatch, capsys, "init", "-f", "deploy/env/app.yaml", "--project", "app")

    assert code == 0
    assert out.startswith("wrote deploy/env/app.yaml and deploy/env/blueprint.schema.json, ")
    assert load_blueprint(tmp_path / "deploy" / "env" / "app.yaml").blueprint.project == "app"


def test_init_refuses_folder(monkeypatch, capsys, tmp_path):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "init", "-f", "sub")

    assert (code, out) == (1, "")
    assert err == "sub is a folder; pass the file to write, such as -f sub/blueprint.yaml\n"


def test_validate_refuses_files_both_ways(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "-f", "blueprint.yaml", "validate", "blueprint.yaml")

    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == ("Error: give the files either with -f, to check them merged, or as arguments, "
                                    "to check each on its own, not both")


def test_config_yaml_warns_against_applying(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_main(monkeypatch, capsys, "config", "--var", "stage=ci", "--var", "db_password=hunter2-secret")

    assert code == 0
    assert out.splitlines()[:2] == ["# Resolved by provision config. Secrets show as (secret NAME) and sensitive values as",
                                    "# (sensitive value): do not apply this output."]


def test_config_hides_sensitive_names(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path, textwrap.dedent("""\
        version: 1
        project: plain
        containers:
          web:
            image: busybox:1.36
            environment: {API_TOKEN: literal-token-1, MODE: demo}
        """))
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "config", "--format", "json")

    assert code == 0
    assert json.loads(out)["containers"]["web"]["environment"] == {"API_TOKEN": "(sensitive value)", "MODE": "demo"}
    assert err == ("note: secrets show as (secret NAME) and sensitive values as (sensitive value); "
                   "do not apply this output\n")


def test_destroy_needs_project_variable(monkeypatch, capsys, tmp_path):
    write_blueprint(tmp_path)
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "destroy", "--auto-approve")

    assert (code, out) == (1, "")
    assert err.splitlines()[:2] == ["blueprint.yaml:2:10: error: project: variable 'stage' has no value",
                                    "    hint: give it a default, or set it with --var stage=VALUE, --var-file FILE "
                                    "or PROVISION_VAR_STAGE"]


DEFAULT_STAGE_BLUEPRINT = SECRET_BLUEPRINT.replace("  stage: {}", "  stage: {default: dev}")


@pytest.mark.parametrize(("arguments", "first_line"), [
    (("--var-file", "ci.vars.yml"), "error: var file ci.vars.yml not found (looked for {folder}/ci.vars.yml)"),
    (("--var", "stgae=ci"), "error: --var stgae: variable 'stgae' is not declared in the blueprint"),
])
def test_destroy_refuses_uncertain_project(monkeypatch, capsys, tmp_path, arguments, first_line):
    write_blueprint(tmp_path, DEFAULT_STAGE_BLUEPRINT)
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, *arguments, "destroy", "--auto-approve")

    assert (code, out) == (1, "")
    assert err.splitlines()[0] == first_line.format(folder=tmp_path)
    assert err.splitlines()[-1] == "blueprint is invalid: 1 problem found; nothing was changed on the engine"


@pytest.mark.parametrize("example", ["seed-demo.yaml", "storage.yaml", "networks.yaml", "overlay.yaml"])
def test_config_of_example_plans_the_same(monkeypatch, capsys, tmp_path, example):
    source = Path(__file__).resolve().parents[2] / "blueprints" / example

    code, out, _ = run_main(monkeypatch, capsys, "-f", str(source), "config")
    (tmp_path / "resolved.yaml").write_text(out)
    original = build_desired_state(load_blueprint(source))
    resolved = build_desired_state(load_blueprint(tmp_path / "resolved.yaml"))

    assert code == 0
    assert {key: resource.spec for key, resource in resolved.resources.items()} == {
        key: resource.spec for key, resource in original.resources.items()}


def test_init_refuses_file_as_folder(monkeypatch, capsys, tmp_path):
    (tmp_path / "ff").write_text("")
    monkeypatch.chdir(tmp_path)

    code, out, err = run_main(monkeypatch, capsys, "init", "-f", "ff/app.yaml")

    assert (code, out) == (1, "")
    assert err == "cannot create the folder ff: a file of that name is in the way; pass -f with another path\n"
