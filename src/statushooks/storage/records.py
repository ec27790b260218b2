"""Rows to records and back: the conversions between the tables and the domain records.

Pure functions (no I/O): the store's transactions and the queue call them on what the driver
returned, and on what they are about to write.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from statushooks import deliveries, ids, messages
from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event, shown_state
from statushooks.endpoints import Endpoint, EndpointSecret, EndpointState, Verification
from statushooks.messages import Channel, Message, MessageStatus
from statushooks.storage import driver
from statushooks.storage import tables as t

#: Every column of ``endpoints``, in table order, and which are JSON and datetimes.
ENDPOINT_COLUMNS = tuple(column.name for column in t.endpoints.c)
_ENDPOINT_JSON = frozenset(c.name for c in t.endpoints.c if isinstance(c.type, sa.JSON))
_ENDPOINT_TIMES = frozenset(c.name for c in t.endpoints.c if isinstance(c.type, t.UTCDateTime))
#: Cached ``Endpoint`` records per raw row: an unchanged endpoint is converted once.
ENDPOINT_CACHE_SIZE = 16_384


def endpoint_statement(rest: str) -> driver.Statement:
    """``SELECT <every endpoint column> FROM endpoints <rest>``, the JSON columns as text on
    both databases (so that a raw row is hashable: ``endpoint_of_row``)."""
    return endpoint_select(f"SELECT {{columns}} FROM endpoints {rest}")


def endpoint_select(template: str) -> driver.Statement:
    """``template`` with ``{columns}`` replaced by every endpoint column, in the form
    ``endpoint_of_row`` takes (the JSON columns as text on both databases)."""
    sqlite_columns = ", ".join(f"endpoints.{name}" for name in ENDPOINT_COLUMNS)
    postgres_columns = ", ".join(
        f"endpoints.{name}::text" if name in _ENDPOINT_JSON else f"endpoints.{name}"
        for name in ENDPOINT_COLUMNS
    )
    return driver.Statement.each(
        sqlite=template.replace("{columns}", sqlite_columns),
        postgresql=template.replace("{columns}", postgres_columns),
    )


@functools.lru_cache(maxsize=ENDPOINT_CACHE_SIZE)
def endpoint_of_row(row: tuple[Any, ...]) -> Endpoint:
    """The ``Endpoint`` of a raw ``endpoint_statement`` row (as the driver returns it)."""
    values = dict(zip(ENDPOINT_COLUMNS, row, strict=True))
    for name in _ENDPOINT_JSON:
        values[name] = orjson.loads(values[name])
    for name in _ENDPOINT_TIMES:
        values[name] = _utc(values[name])
    values["ordered"] = bool(values["ordered"])
    values["send_traceparent"] = bool(values["send_traceparent"])
    return endpoint_from_values(values)


def _utc(value: Any) -> datetime | None:
    """A datetime column's raw value, aware and in UTC (SQLite's text or the driver's)."""
    if value is None or isinstance(value, datetime):
        return None if value is None else value.astimezone(UTC)
    return t.sqlite_datetime_value(value)


# The messages' columns, in table order, and which of them are datetimes (raw driver rows).
MESSAGE_COLUMNS = tuple(column.name for column in t.messages.c)
MESSAGE_TIMES = frozenset(
    index for index, column in enumerate(t.messages.c) if isinstance(column.type, t.UTCDateTime)
)


def requeue_values(now: datetime) -> dict[str, Any]:
    return {
        "state": DeliveryState.PENDING.value,
        "next_attempt_at": now,
        "completed_at": None,
        "lease_owner": None,
        "lease_id": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


def endpoint_values(endpoint: Endpoint) -> dict[str, Any]:
    values = dataclasses.asdict(endpoint)
    values["state"] = endpoint.state.value
    values["verification"] = endpoint.verification.value
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


def endpoint_from_row(row: sa.Row[Any]) -> Endpoint:
    return endpoint_from_values(dict(row._mapping))


def endpoint_from_values(values: dict[str, Any]) -> Endpoint:
    """An ``Endpoint`` from its row's values, JSON and datetimes decoded (changes ``values``)."""
    values.pop("in_flight", None)  # the queue's counter, not part of the endpoint's record
    values["state"] = EndpointState(values["state"])
    values["verification"] = Verification(values["verification"])
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


def message_values(message: Message) -> dict[str, Any]:
    values = _shallow(message)
    values["channel"] = message.channel.value
    values["status"] = message.status.value
    values["price"] = str(message.price) if message.price is not None else None
    return values


def message_from_values(row: Sequence[Any], when: Callable[[Any], datetime | None]) -> Message:
    """A ``Message`` from a raw ``MESSAGE_COLUMNS`` row (as the driver returns it)."""
    return _message_of(
        {
            name: when(value) if index in MESSAGE_TIMES else value
            for index, (name, value) in enumerate(zip(MESSAGE_COLUMNS, row, strict=True))
        }
    )


def message_from_row(row: sa.Row[Any]) -> Message:
    return _message_of(dict(row._mapping))


def _message_of(values: dict[str, Any]) -> Message:
    """A ``Message`` from its row's values, datetimes decoded (changes ``values``)."""
    values["channel"] = Channel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    values["price"] = Decimal(values["price"]) if values["price"] is not None else None
    return messages.restore(values)


def event_from_row(row: sa.Row[Any]) -> Event:
    values = dict(row._mapping)
    values["status"] = deliveries.event_status(values["status"])
    values["payload"] = bytes(values["payload"])
    return Event(**values)


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``asdict`` deep-copies: slow)."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def delivery_from_row(row: sa.Row[Any], now: datetime) -> Delivery:
    values = dict(row._mapping)
    values["state"] = shown_state(DeliveryState(values["state"]), values["lease_expires_at"], now)
    return Delivery(**values)


def shown_delivery_state(now: datetime) -> sa.ColumnElement[str]:
    """A delivery's state as the API shows it at ``now`` (``deliveries.shown_state``)."""
    leased = delivery_state_is(DeliveryState.LEASED, now)
    return sa.case((leased, DeliveryState.LEASED.value), else_=t.deliveries.c.state)


def delivery_state_is(
    state: DeliveryState, now: datetime, columns: Any = None
) -> sa.ColumnElement[bool]:
    """Whether a delivery shows ``state`` at ``now``: a condition on the stored state and,
    for ``pending`` and ``leased``, on the lease (of ``columns``: the table's by default, or a
    subquery's of its columns)."""
    d = t.deliveries.c if columns is None else columns
    if state is DeliveryState.LEASED:
        return sa.and_(d.state == DeliveryState.PENDING.value, d.lease_expires_at > now)
    if state is DeliveryState.PENDING:
        free = sa.or_(d.lease_expires_at.is_(None), d.lease_expires_at <= now)
        return sa.and_(d.state == DeliveryState.PENDING.value, free)
    return d.state == state.value


def attempt_from_row(row: sa.Row[Any]) -> Attempt:
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
        traceparent=event.traceparent,
    )
