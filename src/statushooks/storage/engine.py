"""Engines for the two databases: SQLite (embedded default) and PostgreSQL (asyncpg).

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing half-way.
Read-only work opens its transaction with ``readonly=True`` (a plain deferred ``BEGIN``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from statushooks import exceptions

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 30_000  # milliseconds
#: Pages of WAL after which a commit copies them back into the database (SQLite's default is
#: 1,000, ~4 MB). The queue rewrites the same index pages in every exchange; a longer WAL copies
#: each of them back once per 20,000 pages instead of once per 1,000 (up to ~80 MB of WAL file).
SQLITE_WAL_AUTOCHECKPOINT = 20_000
#: Page cache of the dispatcher's own SQLite connection (``Store.run_write``), in KiB: 64 MB
#: instead of 2 MB, so that the queue's indexes stay in memory (one connection; bounded).
SQLITE_THREAD_CACHE_KIB = 65_536
#: Seconds between the background checkpoints of a dispatching process (``WalCheckpointer``).
SQLITE_CHECKPOINT_INTERVAL = 0.25
#: Seconds between two looks of a dispatcher at whether another process committed
#: (``CommitWatcher``): the most a delivery queued by another process waits to be claimed.
SQLITE_COMMIT_WATCH_INTERVAL = 0.002
PG_POOL_SIZE = 10
THREAD_POOL_SIZE = 2  # connections of the PostgreSQL engine of ``Store.run_write``'s thread
#: asyncpg prepares every statement, and after five runs PostgreSQL may switch a prepared
#: statement to a generic plan: for the queue's ``id IN (…) AND state = $n`` that plan scanned
#: every pending row (a backend at 93 % CPU, claims at 15 ms). Plan each execution instead.
PG_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}
#: The queue's own connections (``Store.run_write``) plan each statement once, generically:
#: planning them on every run was ~45 % of the server's CPU in the queue's
#: transactions (``perf``). Such a plan is made without the parameters' values, and may be made
#: while the tables are small and kept as they grow; so sequential scans are off (the only
#: table a queue statement may read whole is ``endpoints``, through its primary key instead)
#: and every read of ``deliveries`` and ``events`` is written as an index probe
#: (``storage.queue``; checked by ``test_queue_plans_are_generic_and_read_deliveries_by_index``).
#: JIT is off: a scan that must stay sequential (the few rows of ``workers``) is costed as
#: disabled (10¹⁰), far above ``jit_above_cost``, and was compiled, inlined and optimized by
#: LLVM on every run: 17–20 ms of server CPU for each worker's once-a-second renewal, which
#: held up that worker's next exchange as long. The queue's statements are all short.
PG_QUEUE_SERVER_SETTINGS = {
    "plan_cache_mode": "force_generic_plan",
    "enable_seqscan": "off",
    "jit": "off",
}


def normalize_url(url: str) -> str:
    """Pick the async driver: ``postgresql://`` → asyncpg, ``sqlite:///`` → aiosqlite."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise exceptions.ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://…"
    )


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_JSON_OPTIONS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
_SQLITE_CONNECT_ARGS = {"timeout": SQLITE_BUSY_TIMEOUT / 1000}


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url`` with statushooks' connection settings applied (JSON via orjson)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args=_SQLITE_CONNECT_ARGS, **_JSON_OPTIONS)
        _configure_sqlite(engine)
        return engine
    return _postgres_engine(url, PG_POOL_SIZE, PG_SERVER_SETTINGS)


def create_postgres_thread_engine(engine: AsyncEngine) -> AsyncEngine:
    """A second engine on the same PostgreSQL database as ``engine``, for the event loop of
    ``Store.run_write``'s own thread (asyncpg connections belong to one loop); a small pool:
    the dispatcher runs one of those transactions at a time."""
    return _postgres_engine(engine.url, THREAD_POOL_SIZE, PG_QUEUE_SERVER_SETTINGS)


def _postgres_engine(url: str | sa.URL, pool_size: int, settings: dict[str, str]) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": settings},
        **_JSON_OPTIONS,
    )


def create_sqlite_thread_engine(engine: AsyncEngine) -> sa.Engine:
    """A synchronous engine (the stdlib driver) on the same SQLite file as ``engine``, with the
    same settings: ``Store.run_write`` runs whole transactions on it in one thread."""
    url = engine.url.set(drivername="sqlite")
    thread_engine = sa.create_engine(
        url, connect_args={**_SQLITE_CONNECT_ARGS, "check_same_thread": False}, **_JSON_OPTIONS
    )
    _configure_sqlite(thread_engine, f"cache_size=-{SQLITE_THREAD_CACHE_KIB}")
    return thread_engine


def _configure_sqlite(engine: AsyncEngine | sa.Engine, *pragmas: str) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @sa.event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below emit BEGIN itself (the driver's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


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

    PostgreSQL tells a dispatcher of new deliveries with ``NOTIFY``; SQLite has no such channel
    between processes. This thread reads ``PRAGMA data_version`` every ``interval`` on a
    connection of its own: the number changes whenever any other connection (in this process
    or another) has committed a change, and reading it takes no lock and does no I/O beyond the
    WAL index in shared memory. ``on_commit`` runs in this thread.

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


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of an SQLite engine; None in memory (or not SQLite)."""
    if not is_sqlite(engine):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database
