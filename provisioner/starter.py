"""The starter blueprint that provision init writes: short, commented, and it applies as it is."""

from __future__ import annotations

import re
from pathlib import Path

# init writes the schema next to the blueprint, so editors check the file offline.
SCHEMA_FILE = "blueprint.schema.json"

# Var files holding secret values are named *.local.yaml; init has git ignore them.
IGNORED_PATTERN = "*.local.yaml"
IGNORE_COMMENT = "# var files with secret values for provision: pass them with --var-file, never commit them"

STARTER = """\
# yaml-language-server: $schema={schema}
# A starter blueprint. Check it with `provision validate`, see what it would
# do with `provision plan`, create it with `provision apply`, and remove
# everything it created with `provision destroy`.
version: 1
project: {project}              # labels every object this file creates

variables:                      # use as {{{{ vars.NAME }}}}; set with --var NAME=VALUE,
  tag:                          # --var-file FILE or PROVISION_VAR_NAME
    default: "1.36"
    description: busybox tag to run
  # db_password:                # a secret is hidden in plans, output and labels;
  #   secret: true              # keep its value in a *.local.yaml var file

volumes:
  {project}-data: {{}}            # a named volume; kept until it leaves this file

networks:
  {project}-net: {{}}             # a bridge network; add subnet: CIDR to fix its addresses

containers:
  {project}-app:
    image: "busybox:{{{{ vars.tag }}}}"
    command: [sleep, "infinity"]
    volumes:
      - {project}-data:/data
    networks:
      {project}-net: {{aliases: [app]}}
    restart: unless-stopped
"""


def default_project_name(folder: Path) -> str:
    """Make a valid project name from a folder's name, for example 'My App' -> 'my-app'."""
    name = re.sub(r"[^a-z0-9_-]+", "-", folder.resolve().name.lower()).strip("-_")
    return name or "project"


def starter_blueprint(project: str) -> str:
    return STARTER.format(project=project, schema=SCHEMA_FILE)


def ignore_local_var_files(folder: Path) -> bool:
    """Add the pattern of secret var files to the folder's .gitignore; return False when it is already there."""
    path = folder / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if IGNORED_PATTERN in text.splitlines():
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    with open(path, "a", encoding="utf-8") as file:
        file.write(f"{separator}{IGNORE_COMMENT}\n{IGNORED_PATTERN}\n")
    return True
