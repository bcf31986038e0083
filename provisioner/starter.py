"""The starter blueprint that provision init writes: short, commented, and it applies as it is."""

from __future__ import annotations

import re
from pathlib import Path

# init writes the schema next to the blueprint, so editors check the file offline.
SCHEMA_FILE = "blueprint.schema.json"

STARTER = """\
# yaml-language-server: $schema={schema}
# A starter blueprint. Check it with `provision validate`, see what it would
# do with `provision plan`, create it with `provision apply`, and remove
# everything it created with `provision destroy`.
version: 1
project: {project}              # labels every object this file creates

volumes:
  {project}-data: {{}}            # a named volume; kept until it leaves this file

networks:
  {project}-net: {{}}             # a bridge network; add subnet: CIDR to fix its addresses

containers:
  {project}-app:
    image: busybox:1.36
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
