"""provision: a declarative environment provisioner for Docker."""

__version__ = "0.1.0"
