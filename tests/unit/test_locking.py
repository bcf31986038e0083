"""The project lock keeps a second apply or destroy of the same project out."""

from __future__ import annotations

import secrets

import pytest

from provisioner.locking import ProjectLock, ProjectLocked


def test_second_holder_is_rejected():
    project = f"lock-{secrets.token_hex(4)}"
    first = ProjectLock("unix:///var/run/docker.sock", project)
    second = ProjectLock("unix:///var/run/docker.sock", project)
    first.acquire()
    try:
        with pytest.raises(ProjectLocked) as raised:
            second.acquire()
    finally:
        first.release()

    assert str(raised.value).startswith(f"another provision run on this machine is applying or destroying project {project} ")


def test_released_lock_can_be_taken():
    project = f"lock-{secrets.token_hex(4)}"
    first = ProjectLock("unix:///var/run/docker.sock", project)
    first.acquire()
    first.release()
    second = ProjectLock("unix:///var/run/docker.sock", project)

    second.acquire()
    second.release()


def test_other_engine_or_project_not_blocked():
    project = f"lock-{secrets.token_hex(4)}"
    held = ProjectLock("unix:///var/run/docker.sock", project)
    held.acquire()
    try:
        other_engine = ProjectLock("tcp://127.0.0.1:2376", project)
        other_project = ProjectLock("unix:///var/run/docker.sock", project + "-b")
        other_engine.acquire()
        other_project.acquire()
        other_engine.release()
        other_project.release()
    finally:
        held.release()


def test_lock_folder_is_private():
    lock = ProjectLock("unix:///var/run/docker.sock", f"lock-{secrets.token_hex(4)}")

    assert lock.path.parent.stat().st_mode & 0o077 == 0


def test_released_lock_leaves_no_file():
    lock = ProjectLock("unix:///var/run/docker.sock", f"lock-{secrets.token_hex(4)}")
    lock.acquire()
    assert lock.path.exists()

    lock.release()

    assert not lock.path.exists()
