"""Typed, dialect-free reads and writes inside one transaction.

A ``Transaction`` wraps the synchronous connection that a backend hands to a piece of work
(``Store.read`` / ``Store.write``): its methods are plain calls, run in the backend's thread or
greenlet, and return domain records (``storage.records`` converts). The statements that run
for every message or delivery are driver SQL (``storage.driver``); the rest is SQLAlchemy Core.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from statushooks import accounts, exceptions, notices
from statushooks.connectors.records import Connector, UnmatchedReceipt
from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.inbound import DEFAULT_KEYWORDS, Keywords, Suppression
from statushooks.links import TrackedLink
from statushooks.messages import Message, MessageStatus
from statushooks.storage import driver, records
from statushooks.storage import tables as t

T = TypeVar("T")
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


# The messages of a bulk report, raw (``records.message_from_values``); locked on PostgreSQL.
_MESSAGE_COLUMNS = records.MESSAGE_COLUMNS
# A look-up by id reads the primary key; the tenant is checked on the row found. As written,
# ``account_id || ''`` is the same test but one neither planner can answer from
# ix_messages_account_id_id: PostgreSQL, its statistics lagging a table that grows fast, chose
# that index for ``account_id = ? AND id IN (…)`` and filtered every message of the account
# (1.3 ms a report at 4,000 messages, growing with them).
_OWN = "account_id || '' = ?"
_MESSAGES_SQL = (
    "SELECT " + ", ".join(f'"{name}"' for name in _MESSAGE_COLUMNS) + " FROM messages"
    f" WHERE id {{in_ids}} AND {_OWN} ORDER BY id"
)
_MESSAGES_FOR_UPDATE = driver.Statement.each(
    sqlite=_MESSAGES_SQL, postgresql=_MESSAGES_SQL + " FOR UPDATE"
)
#: The columns a status write changes (``update_statuses``), by which ``message_version`` tells
#: whether a message changed since it was read.
_VERSION_COLUMNS = ("status", "error_code", "error_message", "last_sequence", "updated_at")
_MESSAGE_VERSIONS = driver.Statement.of(
    f"SELECT id, {', '.join(_VERSION_COLUMNS)} FROM messages WHERE id {{in_ids}} AND {_OWN}"
)


def _insert(table: sa.Table, columns: Sequence[str]) -> driver.Statement:
    names = ", ".join(f'"{name}"' for name in columns)
    placeholders = ", ".join("?" for _ in columns)
    return driver.Statement.of(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})")


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
    "traceparent",
)  # fmt: skip
_INSERT_DELIVERY = _insert(t.deliveries, _DELIVERY_COLUMNS)
_INSERT_MESSAGE = _insert(t.messages, _MESSAGE_COLUMNS)


_ENDPOINTS_BY_ID = records.endpoint_statement("WHERE id {in_ids} ORDER BY id")
# A connector's receipts find their messages by the provider's id (ix_messages_provider_ref),
# read whole like a report's (and locked on PostgreSQL): a receipt costs a report's statements.
# Neither ``ORDER BY id`` nor ``provider_message_id IS NOT NULL`` on SQLite: with either its
# planner walks every message of the account (ix_messages_account_id_id), or every one with a
# provider id, instead of looking each id up. PostgreSQL locks in id order (no deadlock
# between two callbacks locking overlapping sets) and sorts the few rows found.
_BY_PROVIDER_SQL = (
    "SELECT " + ", ".join(f'"{name}"' for name in _MESSAGE_COLUMNS) + " FROM messages"
    " WHERE account_id = ? AND provider = ? AND provider_message_id {in_ids}"
)
_BY_PROVIDER_FOR_UPDATE = driver.Statement.each(
    sqlite=_BY_PROVIDER_SQL, postgresql=_BY_PROVIDER_SQL + " ORDER BY id FOR UPDATE"
)
# One provider id (a callback of one receipt) is an equality, unordered: PostgreSQL looks it
# up in ix_messages_provider_ref whatever its statistics. Without statistics on messages (a
# new database before its first ANALYZE) it plans the ``= ANY`` list with ``ORDER BY id`` as
# a walk of all the account's messages in id order (ix_messages_account_id_id). The rows one
# id finds (one, unless two messages carry it) are locked in that index's order.
_BY_PROVIDER_ONE_SQL = _BY_PROVIDER_SQL.replace(
    "provider_message_id {in_ids}", "provider_message_id = ?"
)
_BY_PROVIDER_ONE_FOR_UPDATE = driver.Statement.each(
    sqlite=_BY_PROVIDER_ONE_SQL, postgresql=_BY_PROVIDER_ONE_SQL + " FOR UPDATE"
)
_SET_PROVIDER = driver.Statement.of(
    "UPDATE messages SET provider = ?, provider_message_id = ? WHERE id = ?"
)
_UNMATCHED_COLUMNS = tuple(column.name for column in t.unmatched_receipts.c)
_UNMATCHED_TIMES = frozenset(("occurred_at", "received_at"))
#: A provider's retry of a receipt kept already adds nothing (the same fingerprint).
_INSERT_UNMATCHED = driver.Statement.of(
    _insert(t.unmatched_receipts, _UNMATCHED_COLUMNS).sqlite
    + " ON CONFLICT (account_id, fingerprint) DO NOTHING"
)

#: A sampling round's total: written by one worker only (another's round of the same minute
#: finds it there, and writes nothing); RETURNING tells which.
_CLAIM_BACKLOG_ROUND = driver.Statement.of(
    "INSERT INTO backlog_samples (account_id, minute, backlog) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING backlog"
)

_IS_SUPPRESSED = driver.Statement.of(
    "SELECT 1 FROM suppressions WHERE account_id = ? AND phone_number = ?"
)
_FANOUT_ENDPOINTS = records.endpoint_statement(
    f"WHERE account_id = ? AND state != '{EndpointState.DISABLED.value}' ORDER BY id"
)


def _owned_by(table: sa.Table, account_id: str) -> sa.ColumnElement[bool]:
    """``table.account_id || '' = account_id``: the tenant check of a look-up by primary key,
    written so that no planner reads the table's ``(account_id, id)`` index for it (``_OWN``)."""
    return (table.c.account_id + "") == account_id


@dataclass(frozen=True, kw_only=True)
class AttemptPoint:
    """An attempt without its request and answer: what a chart plots."""

    started_at: datetime
    duration_ms: float
    response_status: int | None
    error_kind: str | None

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


@dataclass(frozen=True, kw_only=True)
class PendingSample:
    """The pending deliveries, counted up to a cap, and the due and in-flight ones among
    those read."""

    pending: int
    due: int
    in_flight: int


def _account_values(account: accounts.Account) -> dict[str, Any]:
    """The account's columns; ``portal`` only when it is not the defaults (NULL stands for
    them)."""
    values: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "created_at": account.created_at,
    }
    if account.portal != accounts.PortalSettings():
        values["portal"] = account.portal.to_json()
    return values


def _account_of(row: sa.Row[Any]) -> accounts.Account:
    return accounts.Account(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        portal=accounts.PortalSettings.from_json(row.portal),
    )


class Transaction:
    """Typed queries inside one transaction."""

    def __init__(
        self, conn: sa.Connection, notify: Callable[[sa.Connection], None] | None = None
    ) -> None:
        self.conn = conn
        self.db = driver.of(conn)
        #: Deliveries this transaction queued (or made due again): the dispatcher is woken.
        self.queued_deliveries = 0
        self._notify = notify
        self._endpoints_by_account: dict[str, list[Endpoint]] = {}

    def _one(self, query: sa.Select[Any]) -> sa.Row[Any] | None:
        row: sa.Row[Any] | None = self.conn.execute(query).first()
        return row

    def _all(self, query: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        rows: Sequence[sa.Row[Any]] = self.conn.execute(query).all()
        return rows

    # -- accounts and keys -----------------------------------------------------------------

    def insert_account(self, account: accounts.Account) -> None:
        self.conn.execute(sa.insert(t.accounts).values(**_account_values(account)))

    def get_account(self, account_id: str) -> accounts.Account:
        row = self._one(sa.select(t.accounts).where(t.accounts.c.id == account_id))
        if row is None:
            raise exceptions.NotFoundError(f"no account {account_id}")
        return _account_of(row)

    def list_accounts(
        self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[accounts.Account]:
        return self._page(sa.select(t.accounts), t.accounts.c.id, limit, after, _account_of)

    def update_account(self, account: accounts.Account) -> None:
        values = {"portal": None} | _account_values(account)
        query = sa.update(t.accounts).where(t.accounts.c.id == account.id).values(**values)
        if self.conn.execute(query).rowcount == 0:
            raise exceptions.NotFoundError(f"no account {account.id}")

    def insert_api_key(self, key: accounts.ApiKey) -> None:
        self.conn.execute(sa.insert(t.api_keys).values(**dataclasses.asdict(key)))

    def delete_api_key(self, key_id: str) -> None:
        result = self.conn.execute(sa.delete(t.api_keys).where(t.api_keys.c.id == key_id))
        if result.rowcount == 0:
            raise exceptions.NotFoundError(f"no API key {key_id}")

    def account_id_for_key_hash(self, key_hash: str) -> str | None:
        query = sa.select(t.api_keys.c.account_id).where(t.api_keys.c.key_hash == key_hash)
        row = self._one(query)
        return None if row is None else str(row.account_id)

    # -- endpoints -------------------------------------------------------------------------

    def insert_endpoint(self, endpoint: Endpoint) -> None:
        self.conn.execute(sa.insert(t.endpoints).values(**records.endpoint_values(endpoint)))
        self._endpoints_by_account.pop(endpoint.account_id, None)

    def update_endpoint(self, endpoint: Endpoint) -> None:
        values = records.endpoint_values(endpoint)
        query = sa.update(t.endpoints).where(t.endpoints.c.id == endpoint.id).values(**values)
        self.conn.execute(query)
        self._endpoints_by_account.pop(endpoint.account_id, None)

    def get_endpoint(self, account_id: str | None, endpoint_id: str) -> Endpoint:
        """The endpoint; ``account_id=None`` skips the tenant check (dispatcher only)."""
        query = sa.select(t.endpoints).where(t.endpoints.c.id == endpoint_id)
        if account_id is not None:
            query = query.where(t.endpoints.c.account_id == account_id)
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no endpoint {endpoint_id}")
        return records.endpoint_from_row(row)

    def list_endpoints(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Endpoint]:
        query = sa.select(t.endpoints).where(t.endpoints.c.account_id == account_id)
        return self._page(query, t.endpoints.c.id, limit, after, records.endpoint_from_row)

    def delete_endpoint(self, account_id: str, endpoint_id: str) -> None:
        """Delete an endpoint with its deliveries and their attempts."""
        self.get_endpoint(account_id, endpoint_id)
        owned = sa.select(t.deliveries.c.id).where(t.deliveries.c.endpoint_id == endpoint_id)
        self.conn.execute(sa.delete(t.attempts).where(t.attempts.c.delivery_id.in_(owned)))
        self.conn.execute(sa.delete(t.deliveries).where(t.deliveries.c.endpoint_id == endpoint_id))
        self.conn.execute(sa.delete(t.endpoints).where(t.endpoints.c.id == endpoint_id))
        self._endpoints_by_account.pop(account_id, None)

    def endpoints_by_ids(self, endpoint_ids: Sequence[str]) -> list[Endpoint]:
        """The endpoints of these ids that exist, of any account, in id order."""
        rows = self.db.execute(self.conn, _ENDPOINTS_BY_ID, (self.db.ids(endpoint_ids),))
        return [records.endpoint_of_row(tuple(row)) for row in rows]

    def fanout_endpoints(self, account_id: str) -> list[Endpoint]:
        """The account's endpoints that can take new deliveries (cached per transaction;
        an unchanged row becomes an ``Endpoint`` once per process: ``records``)."""
        cached = self._endpoints_by_account.get(account_id)
        if cached is None:
            rows = self.db.execute(self.conn, _FANOUT_ENDPOINTS, (account_id,))
            cached = [records.endpoint_of_row(tuple(row)) for row in rows]
            self._endpoints_by_account[account_id] = cached
        return cached

    def has_worker_of_process(self, pid: int) -> bool:
        """Whether a dispatcher of process ``pid`` is among the workers (its id is
        ``host:pid:random``: ``dispatcher.default_worker_id``)."""
        query = sa.select(t.workers.c.id).where(t.workers.c.id.like(f"%:{pid}:%")).limit(1)
        return self._one(query) is not None

    # -- messages --------------------------------------------------------------------------

    def insert_message(self, message: Message) -> None:
        values = records.message_values(message)
        when = self.db.when
        row = tuple(
            when(values[name]) if index in records.MESSAGE_TIMES else values[name]
            for index, name in enumerate(_MESSAGE_COLUMNS)
        )
        self.db.execute(self.conn, _INSERT_MESSAGE, row)

    def get_message(self, account_id: str, message_id: str) -> Message:
        query = sa.select(t.messages).where(
            t.messages.c.id == message_id, _owned_by(t.messages, account_id)
        )
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no message {message_id}")
        return records.message_from_row(row)

    def messages_for_update(
        self, account_id: str, message_ids: Iterable[str]
    ) -> dict[str, Message]:
        """The account's messages among ``message_ids``, by id; locked on PostgreSQL.

        Rows are locked in id order, so two transactions locking overlapping sets cannot
        deadlock.
        """
        db = self.db
        statement = _MESSAGES_FOR_UPDATE
        params = (db.ids(sorted(set(message_ids))), account_id)
        rows = db.execute(self.conn, statement, params)
        when = driver.memoized(db.datetime_of)
        found = (records.message_from_values(row, when) for row in rows)
        return {message.id: message for message in found}

    def message_versions(
        self, account_id: str, message_ids: Iterable[str]
    ) -> dict[str, tuple[Any, ...] | None]:
        """``message_version`` of each of the account's messages among ``message_ids``; None
        for an id that is not one of them."""
        db = self.db
        wanted = sorted(set(message_ids))
        rows = db.execute(self.conn, _MESSAGE_VERSIONS, (db.ids(wanted), account_id))
        when = driver.memoized(db.datetime_of)
        versions: dict[str, tuple[Any, ...] | None] = dict.fromkeys(wanted)
        for message_id, status, code, text, sequence, updated_at in rows:
            versions[message_id] = (status, code, text, sequence, when(updated_at))
        return versions

    def update_statuses(self, updated: Iterable[Message]) -> None:
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
        self._execute_many(_UPDATE_STATUS, rows)

    def list_messages(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Message]:
        query = sa.select(t.messages).where(t.messages.c.account_id == account_id)
        return self._page(query, t.messages.c.id, limit, after, records.message_from_row)

    def insert_statuses(self, records: Sequence[tuple[str, StatusRecord]]) -> None:
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
        self._execute_many(_INSERT_STATUS, rows)

    def status_history(self, message_id: str) -> list[StatusRecord]:
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
            for row in self._all(query)
        ]

    def set_provider_ids(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Give messages their provider's id: ``(provider, provider_message_id, message id)``."""
        self._execute_many(_SET_PROVIDER, rows)

    def messages_by_provider_ids(
        self, account_id: str, provider: str, provider_message_ids: Iterable[str]
    ) -> dict[str, Message]:
        """The account's messages carrying these ids of ``provider``, by provider id (the
        newest where two carry one); locked on PostgreSQL, in id order."""
        db = self.db
        distinct = sorted(set(provider_message_ids))
        if len(distinct) == 1:
            params = (account_id, provider, distinct[0])
            rows = db.execute(self.conn, _BY_PROVIDER_ONE_FOR_UPDATE, params)
        else:
            params = (account_id, provider, db.ids(distinct))
            rows = db.execute(self.conn, _BY_PROVIDER_FOR_UPDATE, params)
        when = driver.memoized(db.datetime_of)
        found = sorted((records.message_from_values(row, when) for row in rows), key=_by_id)
        return {str(message.provider_message_id): message for message in found}

    # -- connectors ------------------------------------------------------------------------

    def insert_connector(self, connector: Connector) -> None:
        self.conn.execute(sa.insert(t.connectors).values(**dataclasses.asdict(connector)))

    def update_connector(self, connector: Connector) -> None:
        values = dataclasses.asdict(connector)
        query = sa.update(t.connectors).where(t.connectors.c.id == connector.id).values(**values)
        self.conn.execute(query)

    def get_connector(self, account_id: str | None, connector_id: str) -> Connector:
        """The connector; ``account_id=None`` skips the tenant check (its callbacks)."""
        query = sa.select(t.connectors).where(t.connectors.c.id == connector_id)
        if account_id is not None:
            query = query.where(t.connectors.c.account_id == account_id)
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no connector {connector_id}")
        return Connector(**row._mapping)

    def list_connectors(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Connector]:
        query = sa.select(t.connectors).where(t.connectors.c.account_id == account_id)
        return self._page(query, t.connectors.c.id, limit, after, lambda r: Connector(**r._mapping))

    def delete_connector(self, account_id: str, connector_id: str) -> None:
        """Delete a connector with the receipts it kept unmatched."""
        self.get_connector(account_id, connector_id)
        u = t.unmatched_receipts.c
        self.conn.execute(sa.delete(t.unmatched_receipts).where(u.connector_id == connector_id))
        self.conn.execute(sa.delete(t.connectors).where(t.connectors.c.id == connector_id))

    # -- unmatched receipts ----------------------------------------------------------------

    def insert_unmatched(self, receipts: Sequence[UnmatchedReceipt]) -> None:
        """Keep receipts whose message is not known yet; one already kept is not added again."""
        self._execute_many(
            _INSERT_UNMATCHED, [self._unmatched_row(receipt) for receipt in receipts]
        )

    def _unmatched_row(self, receipt: UnmatchedReceipt) -> tuple[Any, ...]:
        values = dataclasses.asdict(receipt)
        values["status"] = receipt.status.value
        for name in _UNMATCHED_TIMES:
            values[name] = self.db.when(values[name])
        return tuple(values[name] for name in _UNMATCHED_COLUMNS)

    def trim_unmatched(self, account_id: str, keep: int) -> int:
        """Keep only the account's newest ``keep`` unmatched receipts; how many went."""
        u = t.unmatched_receipts.c
        oldest_gone = (
            sa.select(u.id)
            .where(u.account_id == account_id)
            .order_by(u.id.desc())
            .limit(1)
            .offset(keep)
            .scalar_subquery()
        )
        query = sa.delete(t.unmatched_receipts).where(
            u.account_id == account_id, u.id <= oldest_gone
        )
        return int(self.conn.execute(query).rowcount or 0)

    def take_unmatched(
        self, account_id: str, provider: str, provider_message_ids: Sequence[str]
    ) -> list[UnmatchedReceipt]:
        """Remove and return the account's unmatched receipts for these ids, oldest first."""
        u = t.unmatched_receipts.c
        query = (
            sa.select(t.unmatched_receipts)
            .where(
                u.account_id == account_id,
                u.provider == provider,
                u.provider_message_id.in_(provider_message_ids),
            )
            .order_by(u.id)
        )
        taken = [_unmatched_of(row) for row in self._all(query)]
        if taken:
            ids = [receipt.id for receipt in taken]
            self.conn.execute(sa.delete(t.unmatched_receipts).where(u.id.in_(ids)))
        return taken

    def list_unmatched(
        self,
        account_id: str,
        *,
        connector_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> Page[UnmatchedReceipt]:
        u = t.unmatched_receipts.c
        query = sa.select(t.unmatched_receipts).where(u.account_id == account_id)
        if connector_id is not None:
            query = query.where(u.connector_id == connector_id)
        return self._page(query, u.id, limit, after, _unmatched_of)

    # -- tracked links ---------------------------------------------------------------------

    def insert_links(
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
            self.conn.execute(sa.insert(t.links), rows)

    def get_link(self, code: str) -> tuple[str, str, str]:
        """``(account_id, message_id, url)`` of a tracked link."""
        row = self._one(sa.select(t.links).where(t.links.c.code == code))
        if row is None:
            raise exceptions.NotFoundError(f"no link {code}")
        return str(row.account_id), str(row.message_id), str(row.url)

    def link_target(self, code: str) -> tuple[str, MessageStatus]:
        """``(url, status)`` of a tracked link: its original URL and its message's status."""
        query = (
            sa.select(t.links.c.url, t.messages.c.status)
            .join(t.messages, t.messages.c.id == t.links.c.message_id)
            .where(t.links.c.code == code)
        )
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no link {code}")
        return str(row.url), MessageStatus(row.status)

    # -- events and deliveries -------------------------------------------------------------

    def insert_events(self, events: Sequence[Event]) -> None:
        when = driver.memoized(self.db.when)
        rows = [
            (
                event.id,
                event.account_id,
                event.message_id,
                event.type,
                event.status.value if event.status is not None else "",
                event.payload,
                event.sequence,
                when(event.created_at),
            )
            for event in events
        ]
        self._execute_many(_INSERT_EVENT, rows)

    def insert_deliveries(self, deliveries: Sequence[Delivery]) -> None:
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
                d.traceparent,
            )
            for d in deliveries
        ]
        self._execute_many(_INSERT_DELIVERY, rows)
        self.queued(len(rows))

    def emit_notices(self, items: Sequence[notices.Notice]) -> int:
        """Queue each operational event to its account's endpoints that name its type, never
        to the endpoint it is about; an event nobody takes is not stored. How many
        deliveries."""
        events: list[Event] = []
        deliveries: list[Delivery] = []
        for notice in items:
            event = notice.event
            taking = [
                records.new_delivery(event, endpoint, event.created_at)
                for endpoint in self.fanout_endpoints(event.account_id)
                if endpoint.id != notice.about and endpoint.accepts(event.type, None)
            ]
            if taking:
                events.append(event)
                deliveries += taking
        if events:
            self.insert_events(events)
            self.insert_deliveries(deliveries)
            self.queued(len(deliveries))
        return len(deliveries)

    def queued(self, count: int) -> None:
        """``count`` deliveries became due: wake the dispatchers (this process's once the
        transaction commits, other processes' through the backend)."""
        if count:
            self.queued_deliveries += count
            if self._notify is not None:
                self._notify(self.conn)

    def _execute_many(self, statement: driver.Statement, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.db.execute_many(self.conn, statement, rows)

    def get_event(self, account_id: str, event_id: str) -> Event:
        query = sa.select(t.events).where(
            t.events.c.id == event_id, _owned_by(t.events, account_id)
        )
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no event {event_id}")
        return records.event_from_row(row)

    def list_events(
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
        return self._page(query, t.events.c.id, limit, after, records.event_from_row)

    def message_events(self, message_id: str) -> list[Event]:
        query = (
            sa.select(t.events)
            .where(t.events.c.message_id == message_id)
            .order_by(t.events.c.sequence)
        )
        return [records.event_from_row(row) for row in self._all(query)]

    def get_delivery(self, account_id: str | None, delivery_id: str) -> Delivery:
        query = sa.select(t.deliveries).where(t.deliveries.c.id == delivery_id)
        if account_id is not None:
            query = query.where(_owned_by(t.deliveries, account_id))
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"no delivery {delivery_id}")
        return records.delivery_from_row(row, records.utcnow())

    def list_deliveries(
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
        now = records.utcnow()
        if state is not None:
            query = query.where(records.delivery_state_is(state, now))
        return self._page(
            query, t.deliveries.c.id, limit, after, lambda row: records.delivery_from_row(row, now)
        )

    def list_attempts(
        self, delivery_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Attempt]:
        query = sa.select(t.attempts).where(t.attempts.c.delivery_id == delivery_id)
        return self._page(query, t.attempts.c.id, limit, after, records.attempt_from_row)

    def requeue_delivery(self, account_id: str, delivery_id: str, now: datetime) -> Delivery:
        """Queue a finished delivery for a fresh attempt now (manual retry)."""
        delivery = self.get_delivery(account_id, delivery_id)
        if delivery.state in (DeliveryState.PENDING, DeliveryState.LEASED):
            raise exceptions.ConflictError(f"delivery {delivery_id} is already queued")
        self.conn.execute(
            sa.update(t.deliveries)
            .where(t.deliveries.c.id == delivery_id)
            .values(**records.requeue_values(now))
        )
        self.queued(1)
        return dataclasses.replace(
            delivery, state=DeliveryState.PENDING, next_attempt_at=now, completed_at=None
        )

    def requeue_failed(
        self, account_id: str, endpoint_id: str, *, since: datetime, until: datetime, now: datetime
    ) -> int:
        """Re-queue every failed delivery of the endpoint created in ``[since, until)``."""
        self.get_endpoint(account_id, endpoint_id)
        result = self.conn.execute(
            sa.update(t.deliveries)
            .where(
                t.deliveries.c.endpoint_id == endpoint_id,
                t.deliveries.c.state == DeliveryState.FAILED.value,
                t.deliveries.c.created_at >= since,
                t.deliveries.c.created_at < until,
            )
            .values(**records.requeue_values(now))
        )
        self.queued(result.rowcount)
        return int(result.rowcount)

    # -- retention (``statushooks.retention``): one small batch per call, oldest first ------

    def prune_attempts(self, *, made_before: str, limit: int) -> int:
        """Delete up to ``limit`` attempts whose id sorts before ``made_before``."""
        a = t.attempts.c
        batch = sa.select(a.id).where(a.id < made_before).order_by(a.id).limit(limit)
        return self._delete_ids(t.attempts, batch)

    def prune_deliveries(self, *, made_before: str, limit: int) -> int:
        """Delete up to ``limit`` finished (succeeded or failed) deliveries made before
        ``made_before`` (an id); open ones are kept, however old."""
        d = t.deliveries.c
        finished = (DeliveryState.SUCCEEDED.value, DeliveryState.FAILED.value)
        batch = (
            sa.select(d.id)
            .where(d.id < made_before, d.state.in_(finished))
            .order_by(d.id)
            .limit(limit)
        )
        return self._delete_ids(t.deliveries, batch)

    def prune_events(self, *, made_before: str, limit: int) -> int:
        """Delete up to ``limit`` events made before ``made_before`` that no delivery refers
        to any more."""
        e = t.events.c
        delivered = sa.exists().where(t.deliveries.c.event_id == e.id)
        batch = sa.select(e.id).where(e.id < made_before, ~delivered).order_by(e.id).limit(limit)
        return self._delete_ids(t.events, batch)

    def prune_messages(self, *, made_before: str, updated_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` messages made before ``made_before`` and unchanged since
        ``updated_before`` that no event refers to any more, with their status history and
        tracked links."""
        m = t.messages.c
        with_events = sa.exists().where(t.events.c.message_id == m.id)
        query = (
            sa.select(m.id)
            .where(m.id < made_before, m.updated_at < updated_before, ~with_events)
            .order_by(m.id)
            .limit(limit)
        )
        message_ids = [str(row.id) for row in self._all(query)]
        if not message_ids:
            return 0
        for table in (t.status_history, t.links):
            self.conn.execute(sa.delete(table).where(table.c.message_id.in_(message_ids)))
        result = self.conn.execute(sa.delete(t.messages).where(m.id.in_(message_ids)))
        return int(result.rowcount)

    def prune_idempotency_keys(self, *, created_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` idempotency keys created before ``created_before``."""
        k = t.idempotency_keys.c
        batch = (
            sa.select(k.account_id, k.key)
            .where(k.created_at < created_before)
            .order_by(k.created_at)
            .limit(limit)
        )
        keys = [(str(row.account_id), str(row.key)) for row in self._all(batch)]
        if not keys:
            return 0
        result = self.conn.execute(
            sa.delete(t.idempotency_keys).where(sa.tuple_(k.account_id, k.key).in_(keys))
        )
        return int(result.rowcount)

    def _delete_ids(self, table: sa.Table, batch: sa.Select[Any]) -> int:
        ids = [str(row[0]) for row in self._all(batch)]
        if not ids:
            return 0
        result = self.conn.execute(sa.delete(table).where(table.c.id.in_(ids)))
        return int(result.rowcount)

    # -- suppressions and keywords ---------------------------------------------------------

    def is_suppressed(self, account_id: str, phone_number: str) -> bool:
        """Whether the account may not send SMS to the number (checked for every SMS: driver
        SQL, one probe of the primary key)."""
        return bool(self.db.execute(self.conn, _IS_SUPPRESSED, (account_id, phone_number)))

    def get_suppression(self, account_id: str, phone_number: str) -> Suppression:
        s = t.suppressions.c
        query = sa.select(t.suppressions).where(
            s.account_id == account_id, s.phone_number == phone_number
        )
        row = self._one(query)
        if row is None:
            raise exceptions.NotFoundError(f"{phone_number} is not on the suppression list")
        return Suppression(**row._mapping)

    def add_suppression(self, suppression: Suppression) -> bool:
        """Put a number on the list; False if it was there already (kept as it was)."""
        if self.is_suppressed(suppression.account_id, suppression.phone_number):
            return False
        self.conn.execute(sa.insert(t.suppressions).values(**dataclasses.asdict(suppression)))
        return True

    def remove_suppression(self, account_id: str, phone_number: str) -> bool:
        """Take a number off the list; False if it was not on it."""
        s = t.suppressions.c
        result = self.conn.execute(
            sa.delete(t.suppressions).where(
                s.account_id == account_id, s.phone_number == phone_number
            )
        )
        return bool(result.rowcount)

    def list_suppressions(
        self, account_id: str, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[Suppression]:
        """The account's suppressed numbers, in descending number order."""
        query = sa.select(t.suppressions).where(t.suppressions.c.account_id == account_id)
        return self._page(
            query,
            t.suppressions.c.phone_number,
            limit,
            after,
            lambda row: Suppression(**row._mapping),
        )

    def sms_keywords(self, account_id: str) -> Keywords:
        """The account's opt-out and opt-in keywords (the defaults unless it set its own)."""
        k = t.sms_keywords.c
        row = self._one(sa.select(k.opt_out, k.opt_in).where(k.account_id == account_id))
        if row is None:
            return DEFAULT_KEYWORDS
        return Keywords(opt_out=tuple(row.opt_out), opt_in=tuple(row.opt_in))

    def set_sms_keywords(self, account_id: str, keywords: Keywords, now: datetime) -> None:
        k = t.sms_keywords.c
        self.conn.execute(sa.delete(t.sms_keywords).where(k.account_id == account_id))
        self.conn.execute(
            sa.insert(t.sms_keywords).values(
                account_id=account_id,
                opt_out=list(keywords.opt_out),
                opt_in=list(keywords.opt_in),
                updated_at=now,
            )
        )

    # -- the dashboard's bounded reads -------------------------------------------------------
    # Each reads a bounded range of an index: pages stay fast however many rows there are.

    def attempt_points(
        self, endpoint_id: str, *, since: datetime, limit: int
    ) -> list[AttemptPoint]:
        """The endpoint's newest attempts started at or after ``since`` (at most ``limit``),
        newest first, without their bodies (``ix_attempts_endpoint_started``)."""
        a = t.attempts.c
        query = (
            sa.select(a.started_at, a.duration_ms, a.response_status, a.error_kind)
            .where(a.endpoint_id == endpoint_id, a.started_at >= since)
            .order_by(a.started_at.desc())
            .limit(limit)
        )
        return [AttemptPoint(**row._mapping) for row in self._all(query)]

    def failed_attempts(self, endpoint_id: str, *, scan: int, limit: int) -> list[Attempt]:
        """Up to ``limit`` failed attempts among the endpoint's newest ``scan``, newest first."""
        a = t.attempts.c
        newest = (
            sa.select(a.id)
            .where(a.endpoint_id == endpoint_id)
            .order_by(a.started_at.desc())
            .limit(scan)
            .subquery()
        )
        failed = sa.or_(
            a.response_status.is_(None), a.response_status < 200, a.response_status >= 300
        )
        query = (
            sa.select(t.attempts)
            .where(a.id.in_(sa.select(newest.c.id)), failed)
            .order_by(a.started_at.desc())
            .limit(limit)
        )
        return [records.attempt_from_row(row) for row in self._all(query)]

    def newest_attempt_points(self, *, limit: int) -> list[AttemptPoint]:
        """The newest attempts of every account (ids sort by time: the primary key)."""
        a = t.attempts.c
        query = (
            sa.select(a.started_at, a.duration_ms, a.response_status, a.error_kind)
            .order_by(a.id.desc())
            .limit(limit)
        )
        return [AttemptPoint(**row._mapping) for row in self._all(query)]

    def count_pending(self, *, endpoint_id: str | None = None, cap: int) -> int:
        """Deliveries stored ``pending`` (waiting or leased), of one endpoint or all; counted
        up to ``cap + 1`` (``ix_deliveries_pending``): more than ``cap`` answers ``cap + 1``."""
        d = t.deliveries.c
        # The predicate as a literal: a planner proves a partial index's predicate from a
        # literal, never from a bound parameter.
        query = sa.select(sa.literal(1)).select_from(t.deliveries).where(t.PENDING_STATE)
        if endpoint_id is not None:
            query = query.where(d.endpoint_id == endpoint_id)
        return self._capped_count(query, cap)

    def pending_sample(self, now: datetime, *, cap: int) -> PendingSample:
        """How many deliveries are pending (up to ``cap + 1``), and of those read, how many are
        due and how many in flight (``ix_deliveries_pending``; at most ``cap + 1`` rows read)."""
        d = t.deliveries.c
        read = (
            sa.select(d.next_attempt_at, d.lease_expires_at)
            .where(t.PENDING_STATE)
            .limit(cap + 1)
            .subquery()
        )
        leased = read.c.lease_expires_at > now
        due = sa.and_(
            read.c.next_attempt_at <= now, sa.or_(read.c.lease_expires_at.is_(None), ~leased)
        )
        row = self.conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.sum(sa.case((due, 1), else_=0)),
                sa.func.sum(sa.case((leased, 1), else_=0)),
            ).select_from(read)
        ).one()
        return PendingSample(pending=int(row[0]), due=int(row[1] or 0), in_flight=int(row[2] or 0))

    # -- backlog samples -------------------------------------------------------------------

    def record_backlog(self, minute: int, backlogs: Mapping[str, int]) -> bool:
        """Write ``backlogs`` (by account: ``backlog_by_account``) and their total as sampled
        in ``minute`` (since the epoch); False, writing nothing, when that minute's round is
        there already (another worker's)."""
        claimed = self.db.execute(
            self.conn, _CLAIM_BACKLOG_ROUND, (t.TOTAL_ACCOUNT, minute, sum(backlogs.values()))
        )
        if not claimed:
            return False
        rows = [
            {"account_id": account_id, "minute": minute, "backlog": count}
            for account_id, count in sorted(backlogs.items())
            if count
        ]
        if rows:
            self.conn.execute(sa.insert(t.backlog_samples), rows)
        return True

    def backlog_by_account(self) -> dict[str, int]:
        """Each account's deliveries stored ``pending``, where there are any: the rows of the
        partial index ``ix_deliveries_pending``, never the finished deliveries. Its cost grows
        with the backlog (as ``/metrics``'s count does), never with the history kept."""
        d, e = t.deliveries.c, t.endpoints.c
        query = (
            sa.select(e.account_id, sa.func.count())
            .select_from(t.endpoints)
            .join(t.deliveries, d.endpoint_id == e.id)
            .where(sa.text("deliveries.state = 'pending'"))  # a literal: see count_pending
            .group_by(e.account_id)
        )
        return {str(key): int(count) for key, count in self.conn.execute(query).all()}

    def backlog_peaks(self, account_id: str | None, *, first: int, width: int) -> dict[int, int]:
        """The highest backlog of the account (None: the total) sampled in each bucket of
        ``width`` minutes from minute ``first``, by bucket number; a round without the
        account's row counts 0, a bucket without a round is missing. Grouped by the
        database: it reads two rows a minute of the window (the primary key's ranges) and
        answers one a bucket."""
        b = t.backlog_samples.c
        wanted = t.TOTAL_ACCOUNT if account_id is None else account_id
        bucket = ((b.minute - first) // width).label("bucket")
        mine = sa.case((b.account_id == wanted, b.backlog), else_=0)
        query = (
            sa.select(bucket, sa.func.max(mine))
            .where(b.account_id.in_([t.TOTAL_ACCOUNT, wanted]), b.minute >= first)
            .group_by(bucket)
        )
        return {int(key): int(peak) for key, peak in self.conn.execute(query).all()}

    def prune_backlog_samples(self, *, before: int, limit: int) -> int:
        """Delete up to ``limit`` samples of minutes before ``before``, oldest first."""
        b = t.backlog_samples.c
        batch = (
            sa.select(b.account_id, b.minute)
            .where(b.minute < before)
            .order_by(b.minute)
            .limit(limit)
        )
        result = self.conn.execute(
            sa.delete(t.backlog_samples).where(sa.tuple_(b.account_id, b.minute).in_(batch))
        )
        return int(result.rowcount)

    def _capped_count(self, query: sa.Select[Any], cap: int) -> int:
        counted = sa.select(sa.func.count()).select_from(query.limit(cap + 1).subquery())
        return int(self.conn.execute(counted).scalar_one())

    def scan_deliveries(
        self,
        account_id: str,
        *,
        before: str | None,
        scan: int,
        limit: int,
        endpoint_id: str | None = None,
        event_type: str | None = None,
        state: DeliveryState | None = None,
    ) -> Page[Delivery]:
        """The account's deliveries older than ``before`` that match the filters, newest first.

        At most ``scan`` of the account's deliveries are read (``ix_deliveries_account_id_id``)
        whatever the filters: a page may hold fewer than ``limit`` matches, and
        ``next_cursor`` is then the oldest delivery read, where the next page goes on.
        """
        d = t.deliveries.c
        window = sa.select(t.deliveries).where(d.account_id == account_id)
        if before is not None:
            window = window.where(d.id < before)
        # The filters apply to the window read, never inside it: a planner cannot then read
        # the table by a filter instead (PostgreSQL did, for a type no delivery had).
        read = window.order_by(d.id.desc()).limit(scan).subquery()
        read_ids = window.with_only_columns(d.id).order_by(d.id.desc()).limit(scan).subquery()
        oldest_id, read_count = self.conn.execute(
            sa.select(sa.func.min(read_ids.c.id), sa.func.count()).select_from(read_ids)
        ).one()
        query = sa.select(read)
        if endpoint_id is not None:
            query = query.where(read.c.endpoint_id == endpoint_id)
        if event_type is not None:
            query = query.where(read.c.event_type == event_type)
        now = records.utcnow()
        if state is not None:
            query = query.where(records.delivery_state_is(state, now, read.c))
        rows = self._all(query.order_by(read.c.id.desc()).limit(limit + 1))
        items = [records.delivery_from_row(row, now) for row in rows[:limit]]
        if len(rows) > limit:
            next_cursor: str | None = items[-1].id
        elif read_count >= scan:
            next_cursor = str(oldest_id)
        else:
            next_cursor = None
        return Page(data=items, next_cursor=next_cursor)

    def deliveries_of_events(self, account_id: str, event_ids: Sequence[str]) -> list[Delivery]:
        """The account's deliveries of these events (``event_id`` index), newest first."""
        if not event_ids:
            return []
        d = t.deliveries.c
        query = (
            sa.select(t.deliveries)
            .where(d.event_id.in_(list(event_ids)), _owned_by(t.deliveries, account_id))
            .order_by(d.id.desc())
            .limit(MAX_PAGE_SIZE)
        )
        now = records.utcnow()
        return [records.delivery_from_row(row, now) for row in self._all(query)]

    def troubled_endpoints(self, account_id: str | None, *, limit: int) -> list[Endpoint]:
        """Endpoints failing now (an unbroken run of failed attempts) or disabled."""
        e = t.endpoints.c
        query = sa.select(t.endpoints).where(
            sa.or_(e.failing_since.is_not(None), e.state == EndpointState.DISABLED.value)
        )
        if account_id is not None:
            query = query.where(e.account_id == account_id)
        rows = self._all(query.order_by(e.id).limit(limit))
        return [records.endpoint_from_row(row) for row in rows]

    def list_workers(self) -> list[tuple[str, datetime, datetime]]:
        """``(id, seen_at, expires_at)`` of every dispatcher worker row."""
        w = t.workers.c
        rows = self._all(sa.select(w.id, w.seen_at, w.expires_at).order_by(w.id))
        return [(str(row.id), row.seen_at, row.expires_at) for row in rows]

    # -- paging ----------------------------------------------------------------------------

    def _page(
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
        rows = self._all(query.order_by(id_column.desc()).limit(limit + 1))
        items = [convert(row) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1]._mapping[id_column.key]) if len(rows) > limit else None
        return Page(data=items, next_cursor=next_cursor)


def _by_id(message: Message) -> str:
    return message.id


def _unmatched_of(row: sa.Row[Any]) -> UnmatchedReceipt:
    values = dict(row._mapping)
    values["status"] = MessageStatus(values["status"])
    return UnmatchedReceipt(**values)
