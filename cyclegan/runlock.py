"""An exclusive lock on a run folder, so that two trainers cannot write the same run."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".lock"
# Attempts to lock a lock file that another process may be deleting at the same moment.
_ATTEMPTS = 5


class RunLockedError(ValueError):
    """Error raised when a run folder is already locked, by this process or another."""


class RunFolderError(ValueError):
    """Error raised when a run folder or its lock file cannot be created or opened."""


class RunLock:
    """Hold an advisory lock on ``folder/.lock`` until :meth:`release` or the process ends.

    The lock is an ``flock`` on an open file, so the operating system drops it when the holder exits,
    even after a crash, and no stale lock is left behind. The file contains the process ID of the
    lock's owner, which the error message names.

    Parameters
    ----------
    folder : path
        Run folder; created if missing, with its missing parents.

    Raises
    ------
    RunLockedError
        If the folder is already locked, by this process or another.
    RunFolderError
        If the folder or the lock file cannot be created or opened, or the lock file is a link.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.path = folder / LOCK_NAME
        # The topmost folder this lock creates, so that remove() can delete what it made.
        self._created_root = _first_missing(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunFolderError(f"{folder}: exists and is not a folder; choose another --out") from None
        except OSError as exc:
            raise RunFolderError(f"{folder}: cannot create the run folder ({exc.strerror}); choose another --out") from None

        self._created_file = not self.path.exists()
        self._file = self._acquire()

        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def _acquire(self):
        for _ in range(_ATTEMPTS):
            handle = self._open()
            if fcntl is None:
                # NOTE: without fcntl (Windows) the folder is not locked.
                return handle
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise RunLockedError(
                    f"{self.path.parent}: another trainer (PID {holder}) is using this run folder; "
                    "wait for it to end or choose another --out"
                ) from None

            # A trainer that failed to start deletes the lock file while it holds the lock. A lock
            # taken on the deleted file protects nothing, so take it again on the new one.
            if self._is_current(handle):
                return handle
            handle.close()
        raise RunFolderError(f"{self.path}: the lock file keeps being replaced; check what else writes to {self.path.parent}")

    def _open(self):
        # O_NOFOLLOW: a link named .lock must not make the PID overwrite the file it points to.
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            descriptor = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise RunFolderError(
                f"{self.path}: cannot open the run folder's lock file ({exc.strerror}); "
                "check that it is a plain file you may write, or choose another --out"
            ) from None
        return os.fdopen(descriptor, "r+")

    def _is_current(self, handle) -> bool:
        try:
            return os.path.samestat(os.fstat(handle.fileno()), os.stat(self.path))
        except FileNotFoundError:
            return False

    @property
    def held(self) -> bool:
        """Whether this object still owns the lock."""
        return not self._file.closed

    def identity(self) -> tuple[int, int, int] | None:
        """Return the lock file's descriptor, device and inode, or None once released.

        :func:`close_inherited` takes them in a forked child process.
        """
        if not self.held:
            return None
        stat = os.fstat(self._file.fileno())
        return self._file.fileno(), stat.st_dev, stat.st_ino

    def release(self) -> None:
        """Release the lock. Releasing it twice does nothing."""
        if self.held:
            self._file.close()

    def remove(self) -> None:
        """Delete what the lock created (the lock file and any new folders), then release it.

        Folders are deleted only if empty. The file is deleted before the lock is released, so that
        no other process can lock it in between.
        """
        if self.held and self._created_file:
            self.path.unlink(missing_ok=True)
            if self._created_root is not None:
                folder = self.path.parent
                while True:
                    try:
                        folder.rmdir()
                    except OSError:
                        break
                    if folder == self._created_root:
                        break
                    folder = folder.parent
        self.release()


def close_inherited(identity: tuple[int, int, int] | None) -> None:
    """Close a child process's copy of a lock file's descriptor, from :meth:`RunLock.identity`.

    A forked child, such as a DataLoader worker, shares its parent's open lock file, and an
    ``flock`` lasts until every copy is closed. Without this, a worker orphaned by a killed
    trainer would keep the run folder locked. Closing one copy leaves the parent's lock in place.
    The descriptor is closed only if it still refers to the same file, because a child started
    with "spawn" inherits no descriptors and may use the number for another file.
    """
    if identity is None:
        return
    descriptor, device, inode = identity
    try:
        stat = os.fstat(descriptor)
    except OSError:
        return
    if (stat.st_dev, stat.st_ino) == (device, inode):
        os.close(descriptor)


def _first_missing(folder: Path) -> Path | None:
    """Return the topmost missing folder on the way to ``folder``, or None if it exists."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing = candidate
    return missing
