"""A per-project lock, so two applies or destroys on one machine do not race.

Two runs that read the same snapshot would both create the same objects, and
the engine accepts two networks with one name. The lock is an advisory
`flock` on a file in the temporary folder, released when the process ends,
however it ends, and its file is deleted when the run finishes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from provisioner.errors import ProvisionError


class ProjectLocked(ProvisionError):
    """Another run on this machine holds the lock of this project on this engine."""


class ProjectLock:
    """An exclusive lock on one project of one engine, held until `release` or the end of the process."""

    def __init__(self, engine_url: str, project: str):
        key = hashlib.sha256(f"{engine_url}\n{project}".encode()).hexdigest()[:24]
        # NOTE: the lock only covers runs on this machine by the same user;
        # runs elsewhere against the same engine are not excluded.
        folder = Path(tempfile.gettempdir()) / f"provision-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        self.path = folder / f"{key}.lock"
        self.project = project
        self._file = None

    def acquire(self) -> None:
        # The holder deletes the file when it is done. A file opened just
        # before that deletion is no longer the lock, so check that the
        # locked file is still the one at the path, and try again if not.
        for _ in range(10):
            handle = open(self.path, "a")  # noqa: SIM115 - held open while the lock is held
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise ProjectLocked(f"another provision run on this machine is applying or destroying project "
                                    f"{self.project} (lock {self.path}); wait for it to finish, then run the command "
                                    "again") from None
            if self._is_current(handle):
                self._file = handle
                return
            handle.close()
        raise ProjectLocked(f"could not take the lock {self.path} of project {self.project}; run the command again")

    def release(self) -> None:
        """Delete the lock file and let go of it, so finished projects leave no files behind."""
        if self._file is not None:
            self.path.unlink(missing_ok=True)
            self._file.close()
            self._file = None

    def _is_current(self, handle) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            return False
