"""The processes of ``statushooks serve``, started, restarted and stopped as one service by the
process ``serve`` runs in: the dispatcher's, and with ``--workers N`` (N > 1) the API's.

One Python process runs on one core at a time. With the API and the dispatcher in one
process, both shared it: at 4,000 status reports a second on SQLite the process was at 100 %
of a core and the machine's second core was mostly idle, and deliveries fell behind (the
end-to-end benchmark: docs/benchmarks.md, "Measurement history"). So
``serve`` runs the dispatcher as a child (``python -m statushooks.worker --stop-with-parent``)
with the same settings:

* it starts once the API has migrated the database;
* the API takes requests once the child's dispatcher has joined the workers (a request in
  the first second of a fresh service no longer waits ~0.5 s for the child to start);
* it is stopped when the API stops: SIGTERM (the worker's graceful shutdown), then SIGKILL
  after ``shutdown_timeout`` + ``STOP_GRACE``;
* if it exits on its own it is started again after ``RESTART_DELAY``, doubled (up to
  ``MAX_RESTART_DELAY``) each time it exits again within ``STABLE_AFTER`` of its start;
* it runs in a session of its own, so a Ctrl-C in the terminal stops the API's process,
  which stops the child in turn;
* if the API's process dies without stopping it, the child sees its standard input close and
  stops too (nothing is left delivering from a dead service);
* it learns of new deliveries from the database: ``NOTIFY`` on PostgreSQL, the data version on
  SQLite (``Store.watch_commits``), and writes queue across the two processes on a file lock
  (``storage.writelock``).

With ``--workers N`` (N > 1), ``serve``'s process answers no request itself (``run_service``):
it binds the listening socket once (``listen``), migrates the database, starts the dispatcher as
above, then N API processes (``python -m statushooks.worker --api-socket FD
--stop-with-parent``). Each inherits the socket and serves it with a store of its own, opened
without migrating; the kernel gives each new connection to whichever process accepts it first.
They are watched, restarted and stop with their parent like the dispatcher's. On SIGTERM or
SIGINT the parent stops the API processes (they finish the requests in hand), then the
dispatcher. One socket for all, rather than one each with ``SO_REUSEPORT``: an address in use is
an error in the parent before anything starts, connections waiting to be accepted are not lost
with a process that dies (with ``SO_REUSEPORT`` the kernel drops those queued on its socket), and
no other program of the same user can bind the port beside them and take a share of the
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence

from statushooks import exceptions, logs
from statushooks.config import Settings
from statushooks.storage.sql import Store

logger = logging.getLogger(__name__)

RESTART_DELAY = 1.0  # seconds before a child process that exited is started again …
MAX_RESTART_DELAY = 30.0  # seconds: … doubled for each exit within STABLE_AFTER of a start
STABLE_AFTER = 30.0  # seconds a child must run for its next restart to wait RESTART_DELAY again
STOP_GRACE = 10.0  # seconds beyond ``shutdown_timeout`` before the child is killed
READY_TIMEOUT = 30.0  # seconds ``start`` waits for the child's dispatcher to join the workers
READY_POLL = 0.05  # seconds between two looks
STOP_WITH_PARENT = "--stop-with-parent"  # the worker's flag: stop when standard input closes
API_SOCKET = "--api-socket"  # the worker's option: serve the API on this inherited socket
LISTEN_BACKLOG = 2048  # connections waiting to be accepted (uvicorn's default)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ChildProcess:
    """A ``python -m statushooks.worker`` child process, kept running until ``stop()``."""

    #: What the child is, in log lines.
    kind = "child"

    def __init__(self, settings: Settings, *args: str, pass_fds: Sequence[int] = ()) -> None:
        self.settings = settings
        #: How many times the child exited on its own and was started again.
        self.restarts = 0
        self._args = args
        self._pass_fds = tuple(pass_fds)
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return None if self._proc is None or self._proc.returncode is not None else self._proc.pid

    async def start(self) -> None:
        """Start the child, and start watching it."""
        self._proc = await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name=f"{self.kind}-process")

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
        env.update(self.settings.to_env())
        for name in (logs.ENV_VAR, logs.LEVEL_ENV_VAR):  # the children log as this one does
            if name in os.environ:
                env[name] = os.environ[name]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "statushooks.worker",
            *self._args,
            STOP_WITH_PARENT,
            stdin=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=self._pass_fds,
            # Its own session: a Ctrl-C in the terminal reaches the parent only, which then
            # stops the child itself, in order (instead of both at once, and the child's
            # exit taken for a crash).
            start_new_session=True,
        )
        logger.info("%s process %d started", self.kind, proc.pid)
        return proc

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while self._proc is not None:
            started = loop.time()
            code = await self._proc.wait()
            if self._stopping:
                return
            if loop.time() - started >= STABLE_AFTER:
                delay = RESTART_DELAY
            logger.log(
                logging.INFO if code == 0 else logging.ERROR,
                "the %s process %d exited (status %s); starting another in %g s",
                self.kind,
                self._proc.pid,
                code,
                delay,
            )
            delay = await self._restart(delay)

    async def _restart(self, delay: float) -> float:
        """Start the child again in ``delay`` seconds (and again, each wait doubled, until
        it starts); the wait before the next restart."""
        while not self._stopping:
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_RESTART_DELAY)
            if self._stopping:
                break
            try:
                self._proc = await self._spawn()
            except OSError as exc:
                logger.error(
                    "could not start a %s process (%s); again in %g s", self.kind, exc, delay
                )
                continue
            self.restarts += 1
            break
        return delay

    async def stop(self) -> None:
        """Stop the child gracefully (SIGTERM; SIGKILL if it is still running after
        ``shutdown_timeout`` + ``STOP_GRACE``) and stop watching it."""
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
                logger.error("the %s process %d did not stop: killing it", self.kind, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()


class DispatcherProcess(ChildProcess):
    """The dispatcher in a ``statushooks.worker`` child process; ``stop()`` lets its in-flight
    attempts finish and gives its leases back."""

    kind = "dispatcher"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    async def start(self, store: Store | None = None) -> None:
        """Start the child; given the ``store``, return once its dispatcher has joined the
        workers (its first exchange), or after ``READY_TIMEOUT`` (logged; it goes on)."""
        await super().start()
        if store is not None and self.pid is not None:
            await self._wait_until_live(store, self.pid)

    async def _wait_until_live(self, store: Store, pid: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline and self.pid == pid:
            if await store.read(lambda tx: tx.has_worker_of_process(pid)):
                return
            await asyncio.sleep(READY_POLL)
        logger.warning("the dispatcher process %d is not dispatching yet", pid)


class ApiProcess(ChildProcess):
    """One of ``serve --workers N``'s API processes: it serves ``sock`` (inherited) until
    ``stop()``, after answering the requests in hand."""

    kind = "API"

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        fd = sock.fileno()
        super().__init__(settings, API_SOCKET, str(fd), pass_fds=(fd,))


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, for API processes to share.

    Raises:
        StatushooksError: the address cannot be bound (in use, not this machine's, …).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise exceptions.StatushooksError(f"cannot listen on {host}:{port}: {reason}") from exc
    return sock


async def run_service(
    settings: Settings,
    sock: socket.socket,
    *,
    workers: int,
    dispatch: bool,
    dispatcher_process: bool,
) -> signal.Signals:
    """``serve --workers N`` in its own process: migrate, start the dispatcher (as
    ``dispatching``), then ``workers`` API processes serving ``sock``; run until SIGTERM or
    SIGINT, then stop the API processes and the dispatcher, in that order.

    Returns:
        The signal that stopped the service.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        store = await Store.open(settings.database_url)  # migrated once, before any child
        try:
            async with dispatching(store, settings, run=dispatch, apart=dispatcher_process):
                await _serving(settings, sock, workers, stop)
        finally:
            await store.close()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    return received[0]


async def _serving(
    settings: Settings, sock: socket.socket, workers: int, stop: asyncio.Event
) -> None:
    children = [ApiProcess(settings, sock) for _ in range(workers)]
    try:
        for child in children:
            if not stop.is_set():
                await child.start()
        await stop.wait()
    finally:
        await asyncio.gather(*(child.stop() for child in children))


def dispatching(
    store: Store, settings: Settings, *, run: bool, apart: bool
) -> contextlib.AbstractAsyncContextManager[None]:
    """Deliver webhooks beside the API while the context is open: not at all (not ``run``),
    from a child process (``apart``), or from this process (``apart`` is ignored where a child
    could not open the database: SQLite in memory)."""
    if not run:
        return contextlib.nullcontext()
    if apart and store.can_be_shared:
        return _dispatching_apart(store, settings)
    return _dispatching(store, settings)


@contextlib.asynccontextmanager
async def _dispatching(store: Store, settings: Settings) -> AsyncIterator[None]:
    """Run a dispatcher in this process while the context is open."""
    from statushooks import dispatcher  # imported only by processes that deliver

    worker = dispatcher.Dispatcher(store, settings)
    task = asyncio.create_task(worker.run(), name="dispatcher")
    try:
        yield
    finally:
        worker.stop()
        await task


@contextlib.asynccontextmanager
async def _dispatching_apart(store: Store, settings: Settings) -> AsyncIterator[None]:
    """Run a dispatcher in a child process while the context is open (once it dispatches)."""
    child = DispatcherProcess(settings)
    await child.start(store)
    try:
        yield
    finally:
        await child.stop()
