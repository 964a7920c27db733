"""An exclusive lock on a run folder, so that two trainers cannot write the same run."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".lock"


class RunLockedError(ValueError):
    """Error raised when a run folder is already locked, by this process or another."""


class RunLock:
    """Hold an advisory lock on ``folder/.lock`` until :meth:`release` or the process ends.

    The lock is an ``flock`` on an open file, so the operating system drops it when the holder exits,
    even after a crash, and no stale lock is left behind. The file contains the process ID of the
    lock's owner, which the error message names.

    Parameters
    ----------
    folder : path
        Run folder; created if missing.

    Raises
    ------
    RunLockedError
        If the folder is already locked, by this process or another.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+")
        if fcntl is None:
            # NOTE: without fcntl (Windows) the folder is not locked.
            return
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise RunLockedError(
                f"{self.path.parent}: another trainer (PID {holder}) is using this run folder; "
                "wait for it to end or choose another --out"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    @property
    def held(self) -> bool:
        """Whether this object still owns the lock."""
        return not self._file.closed

    def release(self) -> None:
        """Release the lock. Releasing it twice does nothing."""
        if not self._file.closed:
            self._file.close()
