"""The PostgreSQL backend: asyncpg, ``LISTEN``/``NOTIFY`` with reconnection, two engines.

**One hand-off per transaction.** A piece of work runs whole, as synchronous code, inside
``AsyncConnection.run_sync``: one greenlet for the transaction, each statement going to asyncpg
on the caller's loop (no thread), instead of one greenlet hop and await per statement.

**Two engines.** The API's transactions run on the caller's event loop and plan each statement
with its parameters (``plan_cache_mode=force_custom_plan``). The dispatcher's (``run_queue``)
run on an event loop of their own, in a thread of their own, with generic plans made once
(``PG_QUEUE_SERVER_SETTINGS``): on the dispatcher's busy loop each statement's answer waited its
turn behind the HTTP work, and a claim held its endpoints' row locks meanwhile.

**Wake-ups.** A write that queued deliveries sends ``NOTIFY statushooks_deliveries``
(``notify``); a dispatcher ``LISTEN``s on a connection of its own (``watch``), which is
reconnected within ``LISTEN_CHECK_INTERVAL`` when it drops.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from statushooks.storage import base, driver, errors

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "statushooks_deliveries"
#: Connections the API keeps open (as many again may open under a burst). A connection past
#: the pool's size is closed when given back, and a new one costs a TCP (and TLS) handshake,
#: authentication and preparing every statement again: the pool covers the requests a process
#: has in flight at once under load, within PostgreSQL's default of 100 connections for a few
#: processes.
PG_POOL_SIZE = 20
PG_POOL_OVERFLOW = 10
QUEUE_POOL_SIZE = 2  # connections of the dispatcher's engine: one transaction at a time
#: The API's connections keep PostgreSQL's default plan cache (a generic plan once it is no
#: dearer than the custom ones): planning every statement on every run cost ~0.4 ms of server
#: CPU per submitted message. Its look-ups are written so that any plan reads the index meant
#: (``transaction._OWN``).
PG_SERVER_SETTINGS: dict[str, str] = {}
#: The queue's own connections (``run_queue``) plan each statement once, generically: planning
#: them on every run was ~45 % of the server's CPU in the queue's transactions (``perf``). Such a
#: plan is made without the parameters' values, and may be made while the tables are small and
#: kept as they grow; so sequential scans are off (the only table a queue statement may read
#: whole is ``endpoints``, through its primary key instead) and every read of ``deliveries`` and
#: ``events`` is written as an index probe (``storage.queue``; checked by
#: ``test_queue_plans_are_generic_and_read_deliveries_by_index``). JIT is off: a scan that must
#: stay sequential (the few rows of ``workers``) is costed as disabled (10¹⁰), far above
#: ``jit_above_cost``, and LLVM compiled it on every run (17–20 ms of server CPU each time).
PG_QUEUE_SERVER_SETTINGS = {
    "plan_cache_mode": "force_generic_plan",
    "enable_seqscan": "off",
    "jit": "off",
}
LISTEN_CONNECT_TIMEOUT = 10.0  # seconds to open the LISTEN connection
LISTEN_CLOSE_TIMEOUT = 2.0  # seconds to close it
LISTEN_CHECK_INTERVAL = 1.0  # seconds between checks that it is still connected
LISTEN_RETRY_MAX = 30.0  # seconds between reconnection tries, at most (doubling from 1 s)
LISTEN_APPLICATION_NAME = "statushooks-listen"  # its application_name in pg_stat_activity


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(
    url: str | sa.URL,
    pool_size: int = PG_POOL_SIZE,
    settings: dict[str, str] = PG_SERVER_SETTINGS,
    overflow: int = PG_POOL_OVERFLOW,
) -> AsyncEngine:
    """An asyncpg engine on ``url`` with statushooks' settings (JSON through orjson)."""
    return create_async_engine(
        sa.make_url(url).set(drivername="postgresql+asyncpg"),
        pool_size=pool_size,
        max_overflow=overflow,
        connect_args={"server_settings": settings},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


class PostgresBackend(base.Backend):
    """A PostgreSQL database behind ``Store``."""

    dialect = driver.POSTGRES_DIALECT
    shareable = True
    single_writer = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        #: The dispatcher's event loop (in a thread of its own) and engine, made on first use.
        self._queue_loop: _LoopThread | None = None
        self._queue_engine: AsyncEngine | None = None

    async def read(self, work: base.Work[base.T]) -> base.T:
        with errors.wrap_exceptions():
            async with self.engine.connect() as conn, conn.begin():
                return await conn.run_sync(work)

    async def write(self, work: base.Work[base.T]) -> base.T:
        return await base.finished_before_cancel(asyncio.ensure_future(self._write(work)))

    async def _write(self, work: base.Work[base.T]) -> base.T:
        with errors.wrap_exceptions():
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)

    async def run_queue(self, work: base.Work[base.T]) -> base.T:
        if self._queue_loop is None:
            self._queue_loop = _LoopThread("statushooks-postgres")
        on_loop = asyncio.ensure_future(self._queue_loop.run(self._run_queue(work)))
        return await base.finished_before_cancel(on_loop)

    async def _run_queue(self, work: base.Work[base.T]) -> base.T:
        if self._queue_engine is None:
            self._queue_engine = create_engine(
                self.engine.url, QUEUE_POOL_SIZE, PG_QUEUE_SERVER_SETTINGS, QUEUE_POOL_SIZE
            )
        with errors.wrap_exceptions():
            async with self._queue_engine.begin() as conn:
                return await conn.run_sync(work)

    async def maintenance_warnings(self) -> list[str]:
        """Autovacuum off: deleted rows' space is not reused and the planner has no
        statistics (the claim query is then planned as a walk of its tables), unless VACUUM
        (ANALYZE) runs on a schedule."""
        settings = await self.read(_autovacuum_settings)
        if all(value == "on" for value in settings.values()):
            return []
        off = ", ".join(f"{name} = {value}" for name, value in settings.items() if value != "on")
        warning = (
            f"PostgreSQL runs with {off}: schedule VACUUM (ANALYZE), or pruned rows' space is"
            " not reused and the dispatcher's queries are planned without statistics"
            " (docs/api.md, Retention)"
        )
        return [warning]

    def notify(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")

    def watch(self, on_commit: Callable[[], None]) -> Listener:
        return Listener(self.dsn, on_commit)

    @property
    def dsn(self) -> str:
        """The database's URL for the plain asyncpg driver."""
        url = self.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def close(self) -> None:
        if self._queue_loop is not None:
            loop_thread, self._queue_loop = self._queue_loop, None
            if self._queue_engine is not None:
                await loop_thread.run(self._queue_engine.dispose())
                self._queue_engine = None
            await asyncio.to_thread(loop_thread.stop)
        await self.engine.dispose()


class Listener:
    """``LISTEN statushooks_deliveries`` on a connection of its own, calling ``on_commit`` for
    each notification; the connection is checked every ``LISTEN_CHECK_INTERVAL`` and opened
    again when it dropped (``on_commit`` is then called once: a notification may have been
    missed meanwhile). Made inside the running loop."""

    def __init__(self, dsn: str, on_commit: Callable[[], None]) -> None:
        self._dsn = dsn
        self._on_commit = on_commit
        self.connection: Any = None
        self._task = asyncio.create_task(self._keep_listening(), name="keep-listening")

    def pause(self) -> None:
        """Notifications cost nothing while busy: nothing to hold."""

    def resume(self) -> None:
        """See ``pause``."""

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await _close_connection(self.connection)
        self.connection = None

    async def _keep_listening(self) -> None:
        delay = LISTEN_CHECK_INTERVAL
        first = True
        while True:
            if self.connection is None or self.connection.is_closed():
                self.connection = await self._listen()
                if self.connection is None:  # the database is away: retry less often
                    delay = min(delay * 2, LISTEN_RETRY_MAX)
                else:
                    delay = LISTEN_CHECK_INTERVAL
                    if not first:
                        logger.info("LISTEN %s connected again", NOTIFY_CHANNEL)
                    self._on_commit()  # a notification may have been missed meanwhile
                first = False
            await asyncio.sleep(delay)

    async def _listen(self) -> Any:
        """A raw asyncpg connection listening on the channel, or None."""
        import asyncpg  # type: ignore[import-untyped]

        try:
            async with asyncio.timeout(LISTEN_CONNECT_TIMEOUT):
                connection = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": LISTEN_APPLICATION_NAME}
                )
                await connection.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            logger.warning("LISTEN %s failed: polling only", NOTIFY_CHANNEL, exc_info=True)
            return None
        return connection

    def _notified(self, *_args: object) -> None:
        self._on_commit()


def _autovacuum_settings(conn: sa.Connection) -> dict[str, str]:
    """``autovacuum`` and ``track_counts`` (without which autovacuum never starts)."""
    rows = conn.exec_driver_sql(
        "SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', 'track_counts')"
    )
    return {str(name): str(setting) for name, setting in rows}


async def _close_connection(connection: Any) -> None:
    if connection is None:
        return
    try:
        async with asyncio.timeout(LISTEN_CLOSE_TIMEOUT):
            await connection.close()
    except Exception:  # closing a broken connection must not break shutdown
        logger.debug("closing the LISTEN connection failed", exc_info=True)
        connection.terminate()


class _LoopThread:
    """An event loop running in a thread of its own."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, base.T]) -> base.T:
        """Run ``coroutine`` on this loop; its result, back on the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        """Stop the loop, wait for the thread, close the loop (blocking: call in a thread)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
