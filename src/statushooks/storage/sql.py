"""The SQL store: one schema on SQLite and PostgreSQL, typed methods, domain records out.

``Store`` owns the engine and hands out transactions: ``async with store.write() as tx`` for a
unit of work that must commit whole (the transactional outbox: a status change, its events and
their deliveries), ``async with store.read() as tx`` for reads. Every driver error is translated
at this seam into ``exceptions.StorageError`` (see ``wrap_exceptions``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from statushooks import accounts, exceptions, ids, messages
from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event, shown_state
from statushooks.endpoints import Endpoint, EndpointSecret, EndpointState
from statushooks.links import TrackedLink
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import driver, migrate, writelock
from statushooks.storage import engine as engines
from statushooks.storage import tables as t

T = TypeVar("T")
_in_write: contextvars.ContextVar[bool] = contextvars.ContextVar("in_write", default=False)
NOTIFY_CHANNEL = "statushooks_deliveries"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 250


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a list, newest first; ``next_cursor`` is None on the last page."""

    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True)
class StatusRecord:
    """One entry of a message's status history."""

    status: MessageStatus
    occurred_at: datetime
    recorded_at: datetime
    error_code: str | None = None
    error_message: str | None = None
    detail: Mapping[str, Any] | None = None


# The messages of a bulk report, raw (``_message_from_values``); locked on PostgreSQL.
_MESSAGE_COLUMNS = tuple(column.name for column in t.messages.c)
_MESSAGE_TIMES = frozenset(
    index for index, column in enumerate(t.messages.c) if isinstance(column.type, t.UTCDateTime)
)
_MESSAGES_SQL = (
    "SELECT " + ", ".join(f'"{name}"' for name in _MESSAGE_COLUMNS) + " FROM messages"
    " WHERE account_id = ? AND id {in_ids} ORDER BY id"
)
_MESSAGES = driver.Statement.of(_MESSAGES_SQL)
_MESSAGES_FOR_UPDATE = driver.Statement.of(_MESSAGES_SQL + " FOR UPDATE")
#: The columns a status write changes (``update_statuses``), by which ``message_version`` tells
#: whether a message changed since it was read.
_VERSION_COLUMNS = ("status", "error_code", "error_message", "last_sequence", "updated_at")
_MESSAGE_VERSIONS = driver.Statement.of(
    f"SELECT id, {', '.join(_VERSION_COLUMNS)} FROM messages WHERE account_id = ? AND id {{in_ids}}"
)


def _insert(table: sa.Table, columns: Sequence[str]) -> driver.Statement:
    placeholders = ", ".join("?" for _ in columns)
    return driver.Statement.of(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
    )


# A bulk report reads a message and writes four rows per report. These statements are driver
# SQL with plain tuples (``storage.driver``), each tuple in its statement's column order:
# through SQLAlchemy Core every row's parameters were built and converted in Python (the
# API's CPU per report, bulks of 300: 182 µs with Core, 157 µs with the writes as driver SQL,
# ~113–125 µs with the read too and messages made without ``__init__``).
_UPDATE_STATUS = driver.Statement.of(
    "UPDATE messages SET status = ?, error_code = ?, error_message = ?, last_sequence = ?,"
    " updated_at = ? WHERE id = ?"
)
_STATUS_COLUMNS = (
    "message_id", "status", "occurred_at", "recorded_at", "error_code", "error_message", "detail"
)  # fmt: skip
_INSERT_STATUS = _insert(t.status_history, _STATUS_COLUMNS)
_EVENT_COLUMNS = (
    "id", "account_id", "message_id", "type", "status", "payload", "sequence", "created_at"
)  # fmt: skip
_INSERT_EVENT = _insert(t.events, _EVENT_COLUMNS)
_DELIVERY_COLUMNS = (
    "id", "account_id", "event_id", "endpoint_id", "message_id", "event_type", "sequence",
    "state", "attempts", "next_attempt_at", "lease_owner", "lease_id", "lease_expires_at",
    "last_response_status", "last_error", "created_at", "updated_at", "completed_at",
)  # fmt: skip
_INSERT_DELIVERY = _insert(t.deliveries, _DELIVERY_COLUMNS)


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Translate driver errors into ``StorageError`` (the driver error on ``__cause__``)."""
    try:
        yield
    except exceptions.StatushooksError:
        raise
    except sa.exc.IntegrityError as exc:
        raise exceptions.ConflictError(f"conflicting write: {exc.orig}") from exc
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise exceptions.StorageError(f"database error: {exc}") from exc


async def _finished_before_cancel(future: asyncio.Future[T]) -> T:
    """``future``'s result; if the caller is cancelled meanwhile, ``future`` still finishes
    before the cancellation goes on."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


class _LoopThread:
    """An event loop running in a thread of its own."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on this loop; its result, back on the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        """Stop the loop, wait for the thread, close the loop (blocking: call in a thread)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class Store:
    """The database behind statushooks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: Set when deliveries were queued by this process: wakes its dispatcher at once.
        self.new_work = asyncio.Event()
        #: SQLite has one writer: this process's writers queue here, in order, instead of in
        #: SQLite's busy handler (which sleeps in growing steps while the lock is held).
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        #: SQLite file: and across processes, on a file lock that wakes the next writer at once.
        path = engines.sqlite_file(engine)
        self._file_lock = writelock.FileWriteLock(path) if path is not None else None
        #: SQLite: the engine and the one thread ``run_write`` uses (made on first use).
        self._thread_engine: sa.Engine | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        #: SQLite: the background checkpoints of a process that uses ``run_write``.
        self.checkpointer: engines.WalCheckpointer | None = None
        #: PostgreSQL: the event loop (in a thread of its own) and engine of ``run_write``.
        self._loop_thread: _LoopThread | None = None
        self._loop_engine: AsyncEngine | None = None

    @classmethod
    async def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to ``url`` and (by default) migrate the schema to the newest revision."""
        engine = engines.create_engine(url)
        with wrap_exceptions():
            if upgrade:
                await migrate.upgrade(engine)
        return cls(engine)

    @property
    def is_sqlite(self) -> bool:
        return engines.is_sqlite(self.engine)

    @property
    def can_be_shared(self) -> bool:
        """Whether another process can open this database (not SQLite in memory)."""
        return not self.is_sqlite or engines.sqlite_file(self.engine) is not None

    async def close(self) -> None:
        if self._loop_thread is not None:
            loop_thread, self._loop_thread = self._loop_thread, None
            if self._loop_engine is not None:
                await loop_thread.run(self._loop_engine.dispose())
                self._loop_engine = None
            await asyncio.to_thread(loop_thread.stop)
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.get_running_loop().run_in_executor(thread, self._dispose_thread_engine)
            thread.shutdown(wait=True)
        await self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()

    def _dispose_thread_engine(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        if self._thread_engine is not None:
            self._thread_engine.dispose()
            self._thread_engine = None

    def watch_commits(self, on_commit: Callable[[], None]) -> engines.CommitWatcher | None:
        """SQLite file: call ``on_commit`` (from a thread) soon after any other connection,
        of this process or another, commits; stop the returned watcher when done. None on
        PostgreSQL (``NOTIFY`` does this there) and in memory (no other process can write)."""
        path = engines.sqlite_file(self.engine)
        return None if path is None else engines.CommitWatcher(path, on_commit)

    async def ping(self) -> None:
        """Raise ``StorageError`` unless the database answers."""
        async with self.read() as tx:
            await tx.conn.execute(sa.text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success.

        Write transactions of one task must not nest: on SQLite the inner one would wait for
        the outer forever, so nesting raises ``RuntimeError`` on both databases.
        """
        if _in_write.get():
            raise RuntimeError("a write transaction is already open in this task")
        token = _in_write.set(True)
        try:
            async with self._write_lock or contextlib.nullcontext(), self._file_locked():
                with wrap_exceptions():
                    async with self.engine.begin() as conn:
                        tx = Transaction(conn)
                        yield tx
                    if tx.queued_deliveries:
                        self.new_work.set()
        finally:
            _in_write.reset(token)

    @contextlib.asynccontextmanager
    async def _file_locked(self) -> AsyncIterator[None]:
        if self._file_lock is None:
            yield
            return
        await self._file_lock.acquire()
        try:
            yield
        finally:
            self._file_lock.release()

    async def run_write(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one write transaction, as plain synchronous code; commit, return its
        result.

        For the dispatcher's short, hot transactions. On SQLite the whole transaction runs in
        the store's own thread, on its own connection, in one hand-off: through aiosqlite each
        statement is a hand-off to its thread and back, and on a busy event loop each one waited
        for a turn of the loop (a claim took ~28 ms of which ~2 ms was SQLite's). It queues
        with the other writers of the process like ``write()``. On PostgreSQL it runs
        (``AsyncConnection.run_sync``) on an event loop of its own, in a thread of its own, with
        its own small engine: on the caller's busy loop each statement's answer waited its turn
        behind the HTTP work, and a claim held its endpoints' row locks meanwhile (PostgreSQL ×2,
        40k drain: 4,027 → 4,514/s; at 100k in ``make bench`` no gain: 3,923 → 3,746/s).
        Either way, if the caller is cancelled, the transaction still finishes first.
        """
        if _in_write.get():
            raise RuntimeError("a write transaction is already open in this task")
        token = _in_write.set(True)
        try:
            if self._write_lock is None:
                if self._loop_thread is None:
                    self._loop_thread = _LoopThread("statushooks-postgres")
                on_loop = asyncio.ensure_future(self._loop_thread.run(self._run_on_loop(work)))
                return await _finished_before_cancel(on_loop)
            async with self._write_lock:
                if self._thread is None:
                    self._thread = concurrent.futures.ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="statushooks-sqlite"
                    )
                done = asyncio.get_running_loop().run_in_executor(
                    self._thread, self._run_in_thread, work
                )
                # Keeps the lock until the transaction is over, then lets the cancel through.
                return await _finished_before_cancel(done)
        finally:
            _in_write.reset(token)

    async def _run_on_loop(self, work: Callable[[sa.Connection], T]) -> T:
        if self._loop_engine is None:
            self._loop_engine = engines.create_postgres_thread_engine(self.engine)
        with wrap_exceptions():
            async with self._loop_engine.begin() as conn:
                return await conn.run_sync(work)

    def _run_in_thread(self, work: Callable[[sa.Connection], T]) -> T:
        if self._thread_engine is None:
            self._thread_engine = engines.create_sqlite_thread_engine(self.engine)
            path = engines.sqlite_file(self.engine)
            if path is not None:
                self.checkpointer = engines.WalCheckpointer(path)
        if self._file_lock is not None:
            self._file_lock.acquire_blocking()
        try:
            with wrap_exceptions(), self._thread_engine.begin() as conn:
                return work(conn)
        finally:
            if self._file_lock is not None:
                self._file_lock.release()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """A read-only transaction (a deferred ``BEGIN`` on SQLite)."""
        with wrap_exceptions():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    yield Transaction(conn)


class Transaction:
    """Typed queries inside one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.db = driver.of(conn)
        self.queued_deliveries = 0
        self._endpoints_by_account: dict[str, list[Endpoint]] = {}

    @property
    def is_postgres(self) -> bool:
        return self.db.is_postgres

    async def _one(self, query: sa.Select[Any]) -> sa.Row[Any] | None:
        row: sa.Row[Any] | None = (await self.conn.execute(query)).first()
        return row

    async def _all(self, query: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        rows: Sequence[sa.Row[Any]] = (await self.conn.execute(query)).all()
        return rows

    # -- accounts and keys -----------------------------------------------------------------

    async def insert_account(self, account: accounts.Account) -> None:
        await self.conn.execute(sa.insert(t.accounts).values(**dataclasses.asdict(account)))

    async def get_account(self, account_id: str) -> accounts.Account:
        row = await self._one(sa.select(t.accounts).where(t.accounts.c.id == account_id))
        if row is None:
            raise exceptions.NotFoundError(f"no account {account_id}")
        return accounts.Account(**row._mapping)

    async def insert_api_key(self, key: accounts.ApiKey) -> None:
        await self.conn.execute(sa.insert(t.api_keys).values(**dataclasses.asdict(key)))

    async def delete_api_key(self, key_id: str) -> None:
        result = await self.conn.execute(sa.delete(t.api_keys).where(t.api_keys.c.id == key_id))
        if result.rowcount == 0:
            raise exceptions.NotFoundError(f"no API key {key_id}")

    async def account_id_for_key_hash(self, key_hash: str) -> str | None:
        query = sa.select(t.api_keys.c.account_id).where(t.api_keys.c.key_hash == key_hash)
        row = await self._one(query)
        return None if row is None else str(row.account_id)

    # -- endpoints -------------------------------------------------------------------------

    async def insert_endpoint(self, endpoint: Endpoint) -> None:
        await self.conn.execute(sa.insert(t.endpoints).values(**_endpoint_values(endpoint)))
        self._endpoints_by_account.pop(endpoint.account_id, None)

    async def update_endpoint(self, endpoint: Endpoint) -> None:
        values = _endpoint_values(endpoint)
        query = sa.update(t.endpoints).where(t.endpoints.c.id == endpoint.id).values(**values)
        await self.conn.execute(query)
        self._endpoints_by_account.pop(endpoint.account_id, None)

    async def get_endpoint(self, account_id: str | None, endpoint_id: str) -> Endpoint:
        """The endpoint; ``account_id=None`` skips the tenant check (dispatcher only)."""
        query = sa.select(t.endpoints).where(t.endpoints.c.id == endpoint_id)
        if account_id is not None:
            query = query.where(t.endpoints.c.account_id == account_id)
        row = await self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no endpoint {endpoint_id}")
        return _endpoint_from_row(row)

    async def list_endpoints(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Endpoint]:
        query = sa.select(t.endpoints).where(t.endpoints.c.account_id == account_id)
        return await self._page(query, t.endpoints.c.id, limit, after, _endpoint_from_row)

    async def delete_endpoint(self, account_id: str, endpoint_id: str) -> None:
        """Delete an endpoint with its deliveries and their attempts."""
        await self.get_endpoint(account_id, endpoint_id)
        owned = sa.select(t.deliveries.c.id).where(t.deliveries.c.endpoint_id == endpoint_id)
        await self.conn.execute(sa.delete(t.attempts).where(t.attempts.c.delivery_id.in_(owned)))
        await self.conn.execute(
            sa.delete(t.deliveries).where(t.deliveries.c.endpoint_id == endpoint_id)
        )
        await self.conn.execute(sa.delete(t.endpoints).where(t.endpoints.c.id == endpoint_id))
        self._endpoints_by_account.pop(account_id, None)

    async def fanout_endpoints(self, account_id: str) -> list[Endpoint]:
        """The account's endpoints that can take new deliveries (cached per transaction)."""
        cached = self._endpoints_by_account.get(account_id)
        if cached is None:
            query = sa.select(t.endpoints).where(
                t.endpoints.c.account_id == account_id,
                t.endpoints.c.state != EndpointState.DISABLED.value,
            )
            cached = [_endpoint_from_row(row) for row in await self._all(query)]
            self._endpoints_by_account[account_id] = cached
        return cached

    async def has_worker_of_process(self, pid: int) -> bool:
        """Whether a dispatcher of process ``pid`` is among the workers (its id is
        ``host:pid:random``: ``dispatcher.default_worker_id``)."""
        query = sa.select(t.workers.c.id).where(t.workers.c.id.like(f"%:{pid}:%")).limit(1)
        return await self._one(query) is not None

    # -- messages --------------------------------------------------------------------------

    async def insert_message(self, message: Message) -> None:
        await self.conn.execute(sa.insert(t.messages).values(**_message_values(message)))

    async def get_message(self, account_id: str, message_id: str) -> Message:
        query = sa.select(t.messages).where(
            t.messages.c.id == message_id, t.messages.c.account_id == account_id
        )
        row = await self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no message {message_id}")
        return _message_from_row(row)

    async def messages_for_update(
        self, account_id: str, message_ids: Iterable[str]
    ) -> dict[str, Message]:
        """The account's messages among ``message_ids``, by id; locked on PostgreSQL.

        Rows are locked in id order, so two transactions locking overlapping sets cannot
        deadlock.
        """
        db = self.db
        statement = _MESSAGES_FOR_UPDATE if db.is_postgres else _MESSAGES
        params = (account_id, db.ids(sorted(set(message_ids))))
        result = await self.conn.exec_driver_sql(db.text(statement), params)
        when = driver.memoized(db.datetime_of)
        found = (_message_from_values(row, when) for row in result.all())
        return {message.id: message for message in found}

    async def message_versions(
        self, account_id: str, message_ids: Iterable[str]
    ) -> dict[str, tuple[Any, ...] | None]:
        """``message_version`` of each of the account's messages among ``message_ids``; None
        for an id that is not one of them."""
        db = self.db
        wanted = sorted(set(message_ids))
        result = await self.conn.exec_driver_sql(
            db.text(_MESSAGE_VERSIONS), (account_id, db.ids(wanted))
        )
        when = driver.memoized(db.datetime_of)
        versions: dict[str, tuple[Any, ...] | None] = dict.fromkeys(wanted)
        rows: Sequence[Sequence[Any]] = result.all()
        for message_id, status, code, text, sequence, updated_at in rows:
            versions[message_id] = (status, code, text, sequence, when(updated_at))
        return versions

    async def update_statuses(self, updated: Iterable[Message]) -> None:
        """Write the status fields of messages whose status changed (one statement)."""
        when = driver.memoized(self.db.when)
        rows = [
            (
                message.status.value,
                message.error_code,
                message.error_message,
                message.last_sequence,
                when(message.updated_at),
                message.id,
            )
            for message in updated
        ]
        await self._execute_many(_UPDATE_STATUS, rows)

    async def list_messages(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Message]:
        query = sa.select(t.messages).where(t.messages.c.account_id == account_id)
        return await self._page(query, t.messages.c.id, limit, after, _message_from_row)

    async def insert_statuses(self, records: Sequence[tuple[str, StatusRecord]]) -> None:
        """Append ``(message_id, record)`` entries to the status histories, in order."""
        db = self.db
        when = driver.memoized(db.when)
        rows = [
            (
                message_id,
                record.status.value,
                when(record.occurred_at),
                when(record.recorded_at),
                record.error_code,
                record.error_message,
                db.json(dict(record.detail) if record.detail is not None else None),
            )
            for message_id, record in records
        ]
        await self._execute_many(_INSERT_STATUS, rows)

    async def status_history(self, message_id: str) -> list[StatusRecord]:
        query = (
            sa.select(t.status_history)
            .where(t.status_history.c.message_id == message_id)
            .order_by(t.status_history.c.id)
        )
        return [
            StatusRecord(
                status=MessageStatus(row.status),
                occurred_at=row.occurred_at,
                recorded_at=row.recorded_at,
                error_code=row.error_code,
                error_message=row.error_message,
                detail=row.detail,
            )
            for row in await self._all(query)
        ]

    # -- tracked links ---------------------------------------------------------------------

    async def insert_links(
        self, account_id: str, message_id: str, made: Sequence[TrackedLink], now: datetime
    ) -> None:
        if made:
            rows = [
                {
                    "code": link.code,
                    "url": link.url,
                    "account_id": account_id,
                    "message_id": message_id,
                    "created_at": now,
                }
                for link in made
            ]
            await self.conn.execute(sa.insert(t.links), rows)

    async def get_link(self, code: str) -> tuple[str, str, str]:
        """``(account_id, message_id, url)`` of a tracked link."""
        row = await self._one(sa.select(t.links).where(t.links.c.code == code))
        if row is None:
            raise exceptions.NotFoundError(f"no link {code}")
        return str(row.account_id), str(row.message_id), str(row.url)

    # -- events and deliveries -------------------------------------------------------------

    async def insert_events(self, events: Sequence[Event]) -> None:
        when = driver.memoized(self.db.when)
        rows = [
            (
                event.id,
                event.account_id,
                event.message_id,
                event.type,
                event.status.value,
                event.payload,
                event.sequence,
                when(event.created_at),
            )
            for event in events
        ]
        await self._execute_many(_INSERT_EVENT, rows)

    async def insert_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        when = driver.memoized(self.db.when)
        rows = [
            (
                d.id,
                d.account_id,
                d.event_id,
                d.endpoint_id,
                d.message_id,
                d.event_type,
                d.sequence,
                d.state.value,
                d.attempts,
                when(d.next_attempt_at),
                d.lease_owner,
                d.lease_id,
                when(d.lease_expires_at),
                d.last_response_status,
                d.last_error,
                when(d.created_at),
                when(d.updated_at),
                when(d.completed_at),
            )
            for d in deliveries
        ]
        await self._execute_many(_INSERT_DELIVERY, rows)
        self.queued_deliveries += len(rows)
        if self.is_postgres:
            await self.conn.execute(
                sa.text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL}
            )

    async def _execute_many(
        self, statement: driver.Statement, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        if rows:
            await self.conn.exec_driver_sql(self.db.text(statement), list(rows))

    async def get_event(self, account_id: str, event_id: str) -> Event:
        query = sa.select(t.events).where(
            t.events.c.id == event_id, t.events.c.account_id == account_id
        )
        row = await self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no event {event_id}")
        return _event_from_row(row)

    async def list_events(
        self,
        account_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        event_type: str | None = None,
        message_id: str | None = None,
    ) -> Page[Event]:
        query = sa.select(t.events).where(t.events.c.account_id == account_id)
        if event_type is not None:
            query = query.where(t.events.c.type == event_type)
        if message_id is not None:
            query = query.where(t.events.c.message_id == message_id)
        return await self._page(query, t.events.c.id, limit, after, _event_from_row)

    async def message_events(self, message_id: str) -> list[Event]:
        query = (
            sa.select(t.events)
            .where(t.events.c.message_id == message_id)
            .order_by(t.events.c.sequence)
        )
        return [_event_from_row(row) for row in await self._all(query)]

    async def get_delivery(self, account_id: str | None, delivery_id: str) -> Delivery:
        query = sa.select(t.deliveries).where(t.deliveries.c.id == delivery_id)
        if account_id is not None:
            query = query.where(t.deliveries.c.account_id == account_id)
        row = await self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no delivery {delivery_id}")
        return _delivery_from_row(row, utcnow())

    async def list_deliveries(
        self,
        account_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        state: DeliveryState | None = None,
    ) -> Page[Delivery]:
        query = sa.select(t.deliveries).where(t.deliveries.c.account_id == account_id)
        if endpoint_id is not None:
            query = query.where(t.deliveries.c.endpoint_id == endpoint_id)
        if event_id is not None:
            query = query.where(t.deliveries.c.event_id == event_id)
        now = utcnow()
        if state is not None:
            query = query.where(delivery_state_is(state, now))
        return await self._page(
            query, t.deliveries.c.id, limit, after, lambda row: _delivery_from_row(row, now)
        )

    async def list_attempts(
        self, delivery_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Attempt]:
        query = sa.select(t.attempts).where(t.attempts.c.delivery_id == delivery_id)
        return await self._page(query, t.attempts.c.id, limit, after, _attempt_from_row)

    async def requeue_delivery(self, account_id: str, delivery_id: str, now: datetime) -> Delivery:
        """Queue a finished delivery for a fresh attempt now (manual retry)."""
        delivery = await self.get_delivery(account_id, delivery_id)
        if delivery.state in (DeliveryState.PENDING, DeliveryState.LEASED):
            raise exceptions.ConflictError(f"delivery {delivery_id} is already queued")
        await self.conn.execute(
            sa.update(t.deliveries)
            .where(t.deliveries.c.id == delivery_id)
            .values(**_requeue_values(now))
        )
        self.queued_deliveries += 1
        return dataclasses.replace(
            delivery, state=DeliveryState.PENDING, next_attempt_at=now, completed_at=None
        )

    async def requeue_failed(
        self, account_id: str, endpoint_id: str, *, since: datetime, until: datetime, now: datetime
    ) -> int:
        """Re-queue every failed delivery of the endpoint created in ``[since, until)``."""
        await self.get_endpoint(account_id, endpoint_id)
        result = await self.conn.execute(
            sa.update(t.deliveries)
            .where(
                t.deliveries.c.endpoint_id == endpoint_id,
                t.deliveries.c.state == DeliveryState.FAILED.value,
                t.deliveries.c.created_at >= since,
                t.deliveries.c.created_at < until,
            )
            .values(**_requeue_values(now))
        )
        self.queued_deliveries += result.rowcount
        return int(result.rowcount)

    # -- paging ----------------------------------------------------------------------------

    async def _page(
        self,
        query: sa.Select[Any],
        id_column: sa.Column[str],
        limit: int,
        after: str | None,
        convert: Callable[[sa.Row[Any]], T],
    ) -> Page[T]:
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        if after is not None:
            query = query.where(id_column < after)
        rows = await self._all(query.order_by(id_column.desc()).limit(limit + 1))
        items = [convert(row) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1]._mapping[id_column.key]) if len(rows) > limit else None
        return Page(data=items, next_cursor=next_cursor)


# -- row <-> record ------------------------------------------------------------------------


def _requeue_values(now: datetime) -> dict[str, Any]:
    return {
        "state": DeliveryState.PENDING.value,
        "next_attempt_at": now,
        "completed_at": None,
        "lease_owner": None,
        "lease_id": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


def _endpoint_values(endpoint: Endpoint) -> dict[str, Any]:
    values = dataclasses.asdict(endpoint)
    values["state"] = endpoint.state.value
    values["enabled_events"] = list(endpoint.enabled_events)
    values["statuses"] = [status.value for status in endpoint.statuses]
    values["metadata"] = dict(endpoint.metadata)
    values["secrets"] = [
        {
            "value": secret.value,
            "expires_at": secret.expires_at.isoformat() if secret.expires_at else None,
        }
        for secret in endpoint.secrets
    ]
    return values


def _endpoint_from_row(row: sa.Row[Any]) -> Endpoint:
    return endpoint_from_values(dict(row._mapping))


def endpoint_from_values(values: dict[str, Any]) -> Endpoint:
    """An ``Endpoint`` from its row's values, JSON and datetimes decoded (changes ``values``)."""
    values.pop("in_flight", None)  # the queue's counter, not part of the endpoint's record
    values["state"] = EndpointState(values["state"])
    values["enabled_events"] = tuple(values["enabled_events"])
    values["statuses"] = tuple(MessageStatus(status) for status in values["statuses"])
    values["secrets"] = tuple(
        EndpointSecret(
            value=secret["value"],
            expires_at=datetime.fromisoformat(secret["expires_at"])
            if secret["expires_at"]
            else None,
        )
        for secret in values["secrets"]
    )
    return Endpoint(**values)


def message_version(message: Message) -> tuple[Any, ...]:
    """The message's values of the columns a status write changes (``message_versions``)."""
    return (
        message.status.value,
        message.error_code,
        message.error_message,
        message.last_sequence,
        message.updated_at,
    )


def _message_values(message: Message) -> dict[str, Any]:
    values = _shallow(message)
    values["channel"] = message.channel.value
    values["status"] = message.status.value
    values["price"] = str(message.price) if message.price is not None else None
    return values


def _message_from_values(row: Sequence[Any], when: Callable[[Any], datetime | None]) -> Message:
    """A ``Message`` from a raw ``_MESSAGE_COLUMNS`` row (as the driver returns it)."""
    return _message_of(
        {
            name: when(value) if index in _MESSAGE_TIMES else value
            for index, (name, value) in enumerate(zip(_MESSAGE_COLUMNS, row, strict=True))
        }
    )


def _message_from_row(row: sa.Row[Any]) -> Message:
    return _message_of(dict(row._mapping))


def _message_of(values: dict[str, Any]) -> Message:
    """A ``Message`` from its row's values, datetimes decoded (changes ``values``)."""
    values["channel"] = Channel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    values["price"] = Decimal(values["price"]) if values["price"] is not None else None
    return messages.restore(values)


def _event_from_row(row: sa.Row[Any]) -> Event:
    values = dict(row._mapping)
    values["status"] = MessageStatus(values["status"])
    values["payload"] = bytes(values["payload"])
    return Event(**values)


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``asdict`` deep-copies: slow)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _delivery_from_row(row: sa.Row[Any], now: datetime) -> Delivery:
    values = dict(row._mapping)
    values["state"] = shown_state(DeliveryState(values["state"]), values["lease_expires_at"], now)
    return Delivery(**values)


def shown_delivery_state(now: datetime) -> sa.ColumnElement[str]:
    """A delivery's state as the API shows it at ``now`` (``deliveries.shown_state``)."""
    leased = delivery_state_is(DeliveryState.LEASED, now)
    return sa.case((leased, DeliveryState.LEASED.value), else_=t.deliveries.c.state)


def delivery_state_is(state: DeliveryState, now: datetime) -> sa.ColumnElement[bool]:
    """Whether a delivery shows ``state`` at ``now``: a condition on the stored state and,
    for ``pending`` and ``leased``, on the lease."""
    d = t.deliveries.c
    if state is DeliveryState.LEASED:
        return sa.and_(d.state == DeliveryState.PENDING.value, d.lease_expires_at > now)
    if state is DeliveryState.PENDING:
        free = sa.or_(d.lease_expires_at.is_(None), d.lease_expires_at <= now)
        return sa.and_(d.state == DeliveryState.PENDING.value, free)
    return d.state == state.value


def _attempt_from_row(row: sa.Row[Any]) -> Attempt:
    return Attempt(**row._mapping)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_delivery(event: Event, endpoint: Endpoint, now: datetime) -> Delivery:
    """A pending delivery of ``event`` to ``endpoint``, due now."""
    return Delivery(
        id=ids.new_id("dlv", now.timestamp()),
        account_id=event.account_id,
        event_id=event.id,
        endpoint_id=endpoint.id,
        message_id=event.message_id,
        event_type=event.type,
        sequence=event.sequence,
        state=DeliveryState.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
