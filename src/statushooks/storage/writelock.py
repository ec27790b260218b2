"""One writer at a time across the processes that share an SQLite file, woken at once.

SQLite lets one connection write at a time. A connection that finds the write lock taken
sleeps in its busy handler, in growing steps of up to 100 ms, and so misses the moment the lock
comes free: with the API and the dispatcher in two processes (``statushooks serve``), each
one's transactions waited out the other's sleeps. Within one process every write goes to the
SQLite backend's one writer thread (``storage.sqlite``); across processes that thread takes an
exclusive ``flock`` on a file beside the database (``<database>-wlock``) before each
``BEGIN IMMEDIATE``, and the kernel hands the lock to the next waiter the moment the holder
lets go.

SQLite's own lock still decides who writes: a writer that does not take this one (another
tool, the ``sqlite3`` shell) queues in the busy handler as before.
"""

from __future__ import annotations

import fcntl
import os

SUFFIX = "-wlock"


class FileWriteLock:
    """An exclusive ``flock`` on ``<database>-wlock``, taken by one holder of this process at a
    time (the writer thread: the lock belongs to the file description, which all of this
    process's writers would share)."""

    def __init__(self, database: str) -> None:
        self.path = database + SUFFIX
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def acquire_blocking(self) -> None:
        """Wait for the lock in this thread."""
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
