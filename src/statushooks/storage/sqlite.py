"""The SQLite backend: the stdlib driver in threads of its own, one writer, group commit.

**One hand-off per transaction.** A piece of work runs whole, as synchronous code, in a thread
of the backend: the caller's event loop hands it over once and gets the result back once. (Through
aiosqlite every statement was a hand-off to its thread and back, and on a busy loop each one
waited for a turn of the loop.)

**One writer, group commit.** SQLite lets one connection write at a time. Every write of this
process — the API's use cases and the dispatcher's exchanges — queues for one writer thread,
which takes everything queued, runs it in **one** transaction (each piece of work in a
``SAVEPOINT`` of its own when there are several, so one that fails is rolled back alone) and
commits once. Across processes the writers take a file lock first (``writelock``), which wakes
the next one at once.

**Readers** run on connections of their own in a small thread pool (WAL: readers never wait for
the writer). In memory (``sqlite:///:memory:``) there is one connection, and everything runs on
the writer's thread.

**Wake-ups.** SQLite has no ``NOTIFY`` between processes: ``CommitWatcher`` reads
``PRAGMA data_version`` from a thread of its own while the dispatcher sleeps. ``WalCheckpointer``
copies the WAL back into the database from another thread, off the writer's path.

Every connection runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` (queue on the lock instead of failing half-way), read-only ones with a
deferred ``BEGIN``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from statushooks import exceptions
from statushooks.storage import base, driver, errors, writelock

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 30_000  # milliseconds
#: Pages of WAL after which a commit copies them back into the database (SQLite's default is
#: 1,000, ~4 MB). The queue rewrites the same index pages in every exchange; a longer WAL copies
#: each of them back once per 20,000 pages instead of once per 1,000 (up to ~80 MB of WAL file).
SQLITE_WAL_AUTOCHECKPOINT = 20_000
#: Page cache of the writer's connection, in KiB: 64 MB instead of 2 MB, so that the queue's
#: indexes stay in memory (one connection; bounded).
SQLITE_WRITER_CACHE_KIB = 65_536
#: Seconds between the background checkpoints of a writing process (``WalCheckpointer``).
SQLITE_CHECKPOINT_INTERVAL = 0.25
#: Seconds between two looks of a dispatcher at whether another process committed
#: (``CommitWatcher``): the most a delivery queued by another process waits to be claimed.
SQLITE_COMMIT_WATCH_INTERVAL = 0.002
#: Threads (each with its own connection) that run read-only transactions.
READER_THREADS = 2
#: Pieces of work committed together at most (group commit).
GROUP_MAX = 64


#: ``PRAGMA synchronous`` of every connection unless the URL asks for another
#: (``?synchronous=normal``): FULL syncs the WAL at every commit, so an acknowledged write
#: survives a power loss or an OS crash. NORMAL (faster, an explicit opt-in) survives a crash
#: of the process only: the last commits before a power loss can be lost.
DEFAULT_SYNCHRONOUS = "full"
SYNCHRONOUS_MODES = frozenset({"full", "normal", "extra"})
_SYNCHRONOUS_PARAMETER = "synchronous"


def synchronous_mode(url: str | sa.URL) -> str:
    """The ``PRAGMA synchronous`` an SQLite URL asks for (``?synchronous=``), by default FULL.

    Raises:
        ConfigurationError: a mode other than full, normal or extra.
    """
    asked = sa.make_url(url).query.get(_SYNCHRONOUS_PARAMETER, DEFAULT_SYNCHRONOUS)
    mode = (asked if isinstance(asked, str) else asked[-1]).lower()
    if mode not in SYNCHRONOUS_MODES:
        raise exceptions.ConfigurationError(
            f"unsupported SQLite synchronous={mode!r}: use full (the default), normal or extra"
        )
    return mode


def driver_url(url: str | sa.URL) -> sa.URL:
    """``url`` without the query parameters that are statushooks' own (``synchronous``)."""
    return sa.make_url(url).difference_update_query([_SYNCHRONOUS_PARAMETER])


def sqlite_path(url: str | sa.URL) -> str | None:
    """The database file of an SQLite URL; None in memory."""
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str | sa.URL) -> sa.Engine:
    """A synchronous engine (the stdlib driver) on ``url`` with statushooks' settings.

    Connections are held by the backend's threads for their whole life (no pool); in memory
    there is one connection, shared (it is only used from the writer's thread).
    """
    synchronous = synchronous_mode(url)
    url = driver_url(url).set(drivername="sqlite")
    in_memory = sqlite_path(url) is None
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT / 1000, "check_same_thread": False},
        poolclass=sa.pool.StaticPool if in_memory else sa.pool.NullPool,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
    configure(engine, synchronous=synchronous)
    return engine


def configure(engine: sa.Engine, *, synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
    """WAL, ``synchronous`` (``synchronous_mode``), busy timeout, foreign keys, and
    ``BEGIN IMMEDIATE`` for writes, on every connection of ``engine``."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise exceptions.ConfigurationError(f"unsupported SQLite synchronous={synchronous!r}")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below emit BEGIN itself (the driver's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT}")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class SqliteBackend(base.Backend):
    """An SQLite file (or database in memory) behind ``Store``."""

    dialect = driver.SQLITE_DIALECT
    single_writer = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.shareable = self.path is not None
        self.engine = create_engine(url)
        file_lock = writelock.FileWriteLock(self.path) if self.path is not None else None
        self._file_lock = file_lock
        self._writer = _Writer(self.engine, file_lock)
        self._readers = _Readers(self.engine) if self.path is not None else None
        #: The background checkpoints of this process (it writes): None in memory.
        self.checkpointer = WalCheckpointer(self.path) if self.path is not None else None

    async def read(self, work: base.Work[base.T]) -> base.T:
        if self._readers is None:  # one connection in memory: the writer's
            return await self.write(work)
        return await self._readers.run(work)

    async def write(self, work: base.Work[base.T]) -> base.T:
        return await base.finished_before_cancel(self._writer.submit(work))

    async def run_queue(self, work: base.Work[base.T]) -> base.T:
        return await self.write(work)

    def watch(self, on_commit: Callable[[], None]) -> CommitWatcher | None:
        return None if self.path is None else CommitWatcher(self.path, on_commit)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._writer.stop()
        if self._readers is not None:
            self._readers.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()


@dataclass(eq=False)
class _Job:
    """One piece of work queued for the writer, and what became of it."""

    work: base.Work[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class _Writer:
    """The thread that runs every write of this process, several per transaction."""

    def __init__(self, engine: sa.Engine, file_lock: writelock.FileWriteLock | None) -> None:
        self._engine = engine
        self._file_lock = file_lock
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="statushooks-sqlite-writer", daemon=True
        )
        self._thread.start()

    def submit(self, work: base.Work[Any]) -> asyncio.Future[Any]:
        """Queue ``work``; a future of the caller's loop with its result."""
        loop = asyncio.get_running_loop()
        job = _Job(work=work, loop=loop, future=loop.create_future())
        self._jobs.put(job)
        return job.future

    def stop(self) -> None:
        """Run what is queued, then stop (blocking: call from a thread)."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        conn: sa.Connection | None = None
        try:
            stopping = False
            while not stopping:
                job = self._jobs.get()
                if job is None:
                    break
                group, stopping = self._more(job)
                try:
                    conn = conn or self._connect()
                except exceptions.StorageError as exc:  # this group fails; the next one retries
                    for queued in group:
                        queued.error = exc
                else:
                    self._commit(conn, group)
                _hand_back(group)
        finally:
            if conn is not None:
                conn.close()

    def _connect(self) -> sa.Connection:
        """The writer's connection, with its larger page cache."""
        with errors.wrap_exceptions():
            conn = self._engine.connect()
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}"
            )
        return conn

    def _more(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` and what else is queued (up to ``GROUP_MAX``); whether a stop came."""
        group = [first]
        while len(group) < GROUP_MAX:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return group, True
            group.append(job)
        return group, False

    def _commit(self, conn: sa.Connection, group: list[_Job]) -> None:
        """Run ``group`` in one transaction; each job's result or error is set on it."""
        if self._file_lock is not None:
            self._file_lock.acquire_blocking()
        try:
            with errors.wrap_exceptions(), conn.begin():
                if len(group) == 1:
                    group[0].result = group[0].work(conn)
                else:
                    for job in group:
                        _run_isolated(conn, job)
        except BaseException as exc:  # noqa: BLE001 — the commit (or the only job) failed: all fail
            for job in group:
                if job.error is None:
                    job.error = exc
        finally:
            if self._file_lock is not None:
                self._file_lock.release()


def _run_isolated(conn: sa.Connection, job: _Job) -> None:
    """Run ``job`` in a savepoint: if it fails, only its own changes are rolled back. (On the
    driver's cursor: ``Connection.begin_nested()`` compiles its statements on every use.)"""
    driver.run_on_cursor(conn, "SAVEPOINT job", ())
    try:
        with errors.wrap_exceptions():
            job.result = job.work(conn)
    except Exception as exc:  # noqa: BLE001 — the job's error is its caller's
        driver.run_on_cursor(conn, "ROLLBACK TO job", ())
        job.error = exc
    driver.run_on_cursor(conn, "RELEASE job", ())


def _hand_back(group: list[_Job]) -> None:
    """Set each job's future, with one call into each caller's loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in group:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, jobs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, jobs)
        except RuntimeError:  # the loop closed: nobody waits for these any more
            logger.debug("a writer's caller loop closed before its result came back")


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class _Readers:
    """Read-only transactions on a few threads, each with a connection of its own."""

    def __init__(self, engine: sa.Engine, threads: int = READER_THREADS) -> None:
        self._engine = engine
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="statushooks-sqlite-read"
        )
        self._local = threading.local()
        self._connections: list[sa.Connection] = []

    async def run(self, work: base.Work[base.T]) -> base.T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, work)

    def _run(self, work: base.Work[base.T]) -> base.T:
        with errors.wrap_exceptions():
            conn: sa.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._engine.connect().execution_options(readonly=True)
                self._local.conn = conn
                self._connections.append(conn)
            with conn.begin():
                return work(conn)

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
        for conn in self._connections:
            conn.close()


class _SqliteThread:
    """A daemon thread that runs ``_tick`` every ``interval`` seconds on an SQLite connection
    of its own, until ``stop()``; ``pause()`` holds the ticks (the thread waits without the
    GIL) until ``resume()``."""

    name = "statushooks-sqlite-thread"

    def __init__(self, path: str, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._ticking = threading.Event()
        self._ticking.set()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Run no tick until ``resume()``."""
        self._ticking.clear()

    def resume(self) -> None:
        """Tick every ``interval`` again."""
        self._ticking.set()

    def stop(self) -> None:
        """Stop after the tick under way, if any (blocking: call from a thread)."""
        self._stop.set()
        self._ticking.set()  # a paused thread wakes, and then sees the stop
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._first(connection)
            while self._ticking.wait() and not self._stop.wait(self.interval):
                if self._ticking.is_set():  # not paused during the interval
                    self._tick(connection)
        finally:
            connection.close()

    def _first(self, connection: sqlite3.Connection) -> None:
        """Run once, before the first interval."""

    def _tick(self, connection: sqlite3.Connection) -> None:
        raise NotImplementedError


class WalCheckpointer(_SqliteThread):
    """Copies an SQLite WAL back into the database from a thread and connection of its own.

    A commit that crosses ``SQLITE_WAL_AUTOCHECKPOINT`` pages copies the WAL back itself, and
    the writer waits meanwhile: in a drain the dispatcher writes ~200 pages per exchange, so
    every ~100th exchange stalled on the copy. Every ``interval`` seconds this thread runs a
    ``PASSIVE`` checkpoint instead, which never waits for readers or writers and, from the
    sqlite3 driver, runs without the GIL: the copying moves off the writer's path (onto the
    other core). The writers' own threshold stays as the backstop.
    """

    name = "statushooks-checkpoint"

    def __init__(self, path: str, interval: float | None = None) -> None:
        #: Checkpoints run, and how many of them failed (logged at debug level).
        self.runs = 0
        self.failures = 0
        super().__init__(path, SQLITE_CHECKPOINT_INTERVAL if interval is None else interval)

    def _tick(self, connection: sqlite3.Connection) -> None:
        self.runs += 1
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            self.failures += 1
            logger.debug("background checkpoint of %s failed", self.path, exc_info=True)


class CommitWatcher(_SqliteThread):
    """Calls ``on_commit`` soon after another connection commits to an SQLite file.

    This thread reads ``PRAGMA data_version`` every ``interval`` on a connection of its own:
    the number changes whenever any other connection (in this process or another) has committed
    a change, and reading it takes no lock and does no I/O beyond the WAL index in shared
    memory. ``on_commit`` runs in this thread.

    A dispatcher pauses it while busy (it claims at every exchange anyway, and a look every
    2 ms takes the GIL from it 500 times a second). The first look after ``resume()`` compares
    with the last one taken, so a commit made while paused is still reported.
    """

    name = "statushooks-commits"

    def __init__(
        self, path: str, on_commit: Callable[[], None], interval: float | None = None
    ) -> None:
        self._on_commit = on_commit
        self._seen: int | None = None
        super().__init__(path, SQLITE_COMMIT_WATCH_INTERVAL if interval is None else interval)

    async def close(self) -> None:
        """``stop()``, waited for in a thread (``base.Watcher``)."""
        await asyncio.to_thread(self.stop)

    def _first(self, connection: sqlite3.Connection) -> None:
        self._seen = self._version(connection)

    def _tick(self, connection: sqlite3.Connection) -> None:
        version = self._version(connection)
        if version != self._seen:
            self._seen = version
            self._on_commit()

    def _version(self, connection: sqlite3.Connection) -> int | None:
        try:
            return int(connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            logger.debug("reading the data version of %s failed", self.path, exc_info=True)
            return None
