"""Name rules shared by the models and the parsers."""

# Docker accepts these names for containers, volumes and networks.
DOCKER_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"

# A project name ends up in labels and messages; keep it simple.
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"

# An image reference as the engine parses it: [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST],
# with lower-case path components (the distribution project's reference grammar).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE_PATTERN = rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"

# Networks every engine has; a blueprint cannot own them.
PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none", "ingress", "docker_gwbridge"})

# provision's own labels; a blueprint cannot set them.
RESERVED_LABEL_PREFIX = "io.provision."
