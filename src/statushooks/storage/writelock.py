"""One writer at a time across the processes that share an SQLite file, woken at once.

SQLite lets one connection write at a time. A connection that finds the write lock taken
sleeps in its busy handler, in growing steps of up to 100 ms, and so misses the moment the lock
comes free: with the API and the dispatcher in two processes (``statushooks serve``), each
one's transactions waited out the other's sleeps. Within one process ``Store`` queues its
writers on an ``asyncio.Lock``; across processes each writer also takes an exclusive ``flock``
on a file beside the database (``<database>-wlock``) before its ``BEGIN IMMEDIATE``, and the
kernel hands the lock to the next waiter the moment the holder lets go.

SQLite's own lock still decides who writes: a writer that does not take this one (another
tool, the ``sqlite3`` shell) queues in the busy handler as before.
"""

from __future__ import annotations

import asyncio
import fcntl
import os

SUFFIX = "-wlock"


class FileWriteLock:
    """An exclusive ``flock`` on ``<database>-wlock``, taken by one holder of this process at a
    time (callers serialize on their own lock first: the lock belongs to the file description,
    which all of this process's writers share)."""

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

    def try_acquire(self) -> bool:
        """Take the lock if it is free; whether it was."""
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def acquire(self) -> None:
        """Take the lock, waiting in a thread if another process holds it. If the caller is
        cancelled meanwhile, the wait still ends (the holder's transaction is short) and the
        lock is let go before the cancellation goes on."""
        if self.try_acquire():
            return
        waited = asyncio.get_running_loop().run_in_executor(None, self.acquire_blocking)
        try:
            await asyncio.shield(waited)
        except asyncio.CancelledError:
            await asyncio.wait([waited])
            if waited.exception() is None:
                self.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
