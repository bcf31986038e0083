"""Fixtures shared by the unit tests: blueprint files written to a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import BlueprintInvalid, Problem
from provisioner.validation import load_blueprint


@pytest.fixture
def write_blueprint(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes dedented YAML text to a file under tmp_path and returns its path."""

    def write(text: str, name: str = "blueprint.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def blueprint_problems(write_blueprint: Callable[..., Path]) -> Callable[[str], list[Problem]]:
    """Return a function that writes a blueprint, expects load_blueprint to reject it and returns the problems."""

    def collect(text: str) -> list[Problem]:
        path = write_blueprint(text)
        with pytest.raises(BlueprintInvalid) as caught:
            load_blueprint(path)
        return caught.value.problems

    return collect
