"""A first end-to-end check: the full example applies, plans clean and destroys."""

from __future__ import annotations

from tests.integration.conftest import BLUEPRINTS


def test_seed_demo_round_trip(engine_run):
    blueprint = engine_run.isolate(BLUEPRINTS / "seed-demo.yaml")

    applied = engine_run.provision("-f", str(blueprint), "apply", "--auto-approve", "--stop-timeout", "0")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    replanned = engine_run.provision("-f", str(blueprint), "plan")
    assert replanned.returncode == 0
    assert "No changes." in replanned.stdout

    destroyed = engine_run.provision("-f", str(blueprint), "destroy", "--auto-approve", "--stop-timeout", "0")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
