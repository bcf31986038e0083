"""Name rules shared by the models and the parsers."""

# Docker accepts these names for containers, volumes and networks.
DOCKER_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"

# A project name ends up in labels and messages; keep it simple.
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
