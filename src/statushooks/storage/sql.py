"""The SQL store: one schema on SQLite and PostgreSQL, whole pieces of work, records out.

``Store`` hands a piece of work — a synchronous function of a ``Transaction`` — to its backend,
which runs it as one transaction in one hand-off (``storage.base``): ``await store.write(work)``
for a unit that must commit whole (the transactional outbox: a status change, its events and
their deliveries), ``await store.read(work)`` for reads, ``await store.run_write(work)`` for the
dispatcher's hot transactions on a plain connection. Every driver error is translated at the
backend into ``exceptions.StorageError`` (``storage.errors``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from statushooks.storage import base, driver, engine, migrate, postgres, sqlite
from statushooks.storage.transaction import Transaction

T = TypeVar("T")


class Store:
    """The database behind statushooks."""

    def __init__(self, backend: base.Backend) -> None:
        self.backend = backend
        #: Set when deliveries were queued by this process: wakes its dispatcher at once.
        self.new_work = asyncio.Event()

    @classmethod
    async def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to ``url`` and (by default) migrate the schema to the newest revision."""
        url = engine.normalize_url(url)
        backend: base.Backend = (
            sqlite.SqliteBackend(url)
            if engine.is_sqlite_url(url)
            else postgres.PostgresBackend(url)
        )
        if upgrade:  # on the backend's own connection: in memory, the only one there is
            try:
                await backend.write(migrate.upgrade_connection)
            except BaseException:
                await backend.close()
                raise
        return cls(backend)

    @property
    def url(self) -> str:
        return self.backend.url

    @property
    def dialect(self) -> driver.Dialect:
        return self.backend.dialect

    @property
    def can_be_shared(self) -> bool:
        """Whether another process can open this database (not SQLite in memory)."""
        return self.backend.shareable

    @property
    def single_writer(self) -> bool:
        """Whether one write at a time runs on the whole database (SQLite)."""
        return self.backend.single_writer

    async def close(self) -> None:
        await self.backend.close()

    def watch(self, on_commit: Callable[[], None]) -> base.Watcher | None:
        """Call ``on_commit`` (from any thread) soon after another connection, of this
        process or another, queued work; close the returned watcher when done. None where no
        other connection can write (SQLite in memory)."""
        return self.backend.watch(on_commit)

    async def maintenance_warnings(self) -> list[str]:
        """What the database's own settings leave undone that statushooks relies on (on
        PostgreSQL: autovacuum off)."""
        return await self.backend.maintenance_warnings()

    async def ping(self) -> None:
        """Raise ``StorageError`` unless the database answers."""
        await self.backend.read(_select_one)

    async def read(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a read-only transaction; its result."""
        return await self.backend.read(lambda conn: work(Transaction(conn)))

    async def write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a write transaction; commit; its result. If it raises, nothing it
        wrote is kept. If the caller is cancelled, the transaction still finishes first."""
        queued = 0

        def unit(conn: sa.Connection) -> T:
            nonlocal queued
            tx = Transaction(conn, self.backend.notify)
            result = work(tx)
            queued = tx.queued_deliveries
            return result

        result = await self.backend.write(unit)
        if queued:
            self.new_work.set()
        return result

    async def run_write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one write transaction on a plain connection, for the dispatcher's
        short, hot transactions; commit; its result."""
        return await self.backend.run_queue(work)


def _select_one(conn: sa.Connection) -> None:
    conn.exec_driver_sql("SELECT 1")
