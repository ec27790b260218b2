"""The dispatcher of ``statushooks serve`` in a process of its own, started and watched by the
API's process.

One Python process runs on one core at a time. With the API and the dispatcher in one
process, both shared it: at 4,000 status reports a second on SQLite the process was at 100 %
of a core and the machine's second core was mostly idle, and deliveries fell behind (the
end-to-end benchmark: docs/architecture.md, "The dispatcher in a process of its own"). So
``serve`` runs the dispatcher as a child (``python -m statushooks.worker --stop-with-parent``)
with the same settings:

* it starts once the API has migrated the database;
* the API takes requests once the child's dispatcher has joined the workers (a request in
  the first second of a fresh service no longer waits ~0.5 s for the child to start);
* it is stopped when the API stops: SIGTERM (the worker's graceful shutdown), then SIGKILL
  after ``shutdown_timeout`` + ``STOP_GRACE``;
* if it exits on its own it is started again after ``RESTART_DELAY``;
* it runs in a session of its own, so a Ctrl-C in the terminal stops the API's process,
  which stops the child in turn;
* if the API's process dies without stopping it, the child sees its standard input close and
  stops too (nothing is left delivering from a dead service);
* it learns of new deliveries from the database: ``NOTIFY`` on PostgreSQL, the data version on
  SQLite (``Store.watch_commits``), and writes queue across the two processes on a file lock
  (``storage.writelock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

from statushooks.config import Settings
from statushooks.storage.sql import Store

logger = logging.getLogger(__name__)

RESTART_DELAY = 1.0  # seconds before a dispatcher process that exited is started again
STOP_GRACE = 10.0  # seconds beyond ``shutdown_timeout`` before the child is killed
READY_TIMEOUT = 30.0  # seconds ``start`` waits for the child's dispatcher to join the workers
READY_POLL = 0.05  # seconds between two looks
STOP_WITH_PARENT = "--stop-with-parent"  # the worker's flag: stop when standard input closes


class DispatcherProcess:
    """A ``statushooks.worker`` child process, kept running until ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: How many times the child exited on its own and was started again.
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return None if self._proc is None or self._proc.returncode is not None else self._proc.pid

    async def start(self, store: Store | None = None) -> None:
        """Start the child; given the ``store``, return once its dispatcher has joined the
        workers (its first exchange), or after ``READY_TIMEOUT`` (logged; it goes on)."""
        self._proc = await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="dispatcher-process")
        if store is not None:
            await self._wait_until_live(store, self._proc.pid)

    async def _wait_until_live(self, store: Store, pid: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline and self.pid == pid:
            if await store.read(lambda tx: tx.has_worker_of_process(pid)):
                return
            await asyncio.sleep(READY_POLL)
        logger.warning("the dispatcher process %d is not dispatching yet", pid)

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
        env.update(self.settings.to_env())
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "statushooks.worker",
            STOP_WITH_PARENT,
            stdin=asyncio.subprocess.PIPE,
            env=env,
            # Its own session: a Ctrl-C in the terminal reaches the API's process only, which
            # then stops the child itself, in order (instead of both at once, and the child's
            # exit taken for a crash).
            start_new_session=True,
        )
        logger.info("dispatcher process %d started", proc.pid)
        return proc

    async def _supervise(self) -> None:
        while self._proc is not None:
            code = await self._proc.wait()
            if self._stopping:
                return
            logger.log(
                logging.INFO if code == 0 else logging.ERROR,
                "the dispatcher process %d exited (status %s); starting another in %g s",
                self._proc.pid,
                code,
                RESTART_DELAY,
            )
            await asyncio.sleep(RESTART_DELAY)
            if self._stopping:
                return
            self._proc = await self._spawn()
            self.restarts += 1

    async def stop(self) -> None:
        """Stop the child gracefully (its in-flight attempts finish, its leases are given
        back) and stop watching it."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), self.settings.shutdown_timeout + STOP_GRACE)
            except TimeoutError:
                logger.error("the dispatcher process %d did not stop: killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
