"""The delivery queue: claim due deliveries under leases, record their attempts in batches.

The queue lives in the ``deliveries`` table; a delivery moves ``pending`` → ``leased`` →
``succeeded`` / ``failed`` (or back to ``pending`` for a retry). One claim is one short write
transaction:

1. **Reclaim** expired leases (at most once a second per worker): a worker that died loses its
   deliveries, back to ``pending``.
2. **Pick endpoints**: active endpoints with due work and room under their ``max_in_flight``
   (leases held by every worker count), split the batch fairly between them, so one slow or
   dead endpoint with a huge backlog cannot starve the others.
3. **Pick deliveries** per endpoint, oldest due first. On an ``ordered`` endpoint a delivery is
   not claimable while an earlier-sequence delivery of the same message is pending or leased:
   a message's events go out one at a time, in order (test events have no message: never held).
4. **Lease** them: ``FOR UPDATE SKIP LOCKED`` then ``UPDATE`` on PostgreSQL (claims are also
   serialized by a transaction-scoped advisory lock, so in-flight caps hold across workers), a
   conditional ``UPDATE … WHERE state = 'pending'`` inside ``BEGIN IMMEDIATE`` on SQLite.

Each claim gets a fresh ``lease_id``. Completion is fenced on it: a worker whose lease expired
and was taken over by another writes nothing (its late result is reported as ``stale``).
Completions are written many per transaction (attempt rows, delivery updates, the endpoints'
failure clocks, 410 and auto-disable).
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from statushooks import durations, ids
from statushooks.deliveries import Attempt, Delivery, DeliveryState
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.storage import driver, sql
from statushooks.storage import tables as t
from statushooks.storage.sql import Store, Transaction

CLAIM_LOCK_ID = 7_311_003  # PostgreSQL advisory lock key: one claim at a time
RECLAIM_INTERVAL = timedelta(seconds=1)  # expired leases wait at most this long after expiry
MAX_ENDPOINTS_PER_CLAIM = 100  # endpoints served by one claim (SQLite compound SELECT limit: 500)
GONE_REASON = "the endpoint answered 410 Gone"

PENDING = DeliveryState.PENDING.value
LEASED = DeliveryState.LEASED.value
SUCCEEDED = DeliveryState.SUCCEEDED.value
FAILED = DeliveryState.FAILED.value

Action = Literal["succeed", "retry", "exhaust", "disable"]
#: ``quota(endpoint_id, rate_limit)``: how many more requests the caller may send it now.
Quota = Callable[[str, float | None], int]

_d = t.deliveries
_e = t.endpoints


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A leased delivery with what its attempt needs: the endpoint and the payload bytes."""

    delivery: Delivery
    endpoint: Endpoint
    payload: bytes

    @property
    def lease_id(self) -> str:
        assert self.delivery.lease_id is not None
        return self.delivery.lease_id


@dataclass(frozen=True, kw_only=True)
class Completion:
    """The result of one attempt, to be written under the lease it was made with."""

    delivery_id: str
    lease_id: str
    endpoint_id: str
    attempt: Attempt
    action: Action
    #: When to try again (``retry`` only).
    retry_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.action == "succeed"


@dataclass(frozen=True, kw_only=True)
class CompletionReport:
    """What a batch of completions changed."""

    applied: int
    #: Deliveries whose lease had been lost: nothing was written for them.
    stale: tuple[str, ...] = ()
    #: Endpoints disabled by this batch (410 Gone, or failing for too long).
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _EndpointRoom:
    id: str
    ordered: bool
    room: int


class Queue:
    """Claims, completions and releases of deliveries for one worker."""

    def __init__(
        self,
        store: Store,
        *,
        worker_id: str,
        lease_seconds: float,
        auto_disable_after: float,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        #: Seconds an endpoint must have failed every attempt before it is disabled.
        self.auto_disable_after = auto_disable_after
        self._reclaimed_at: datetime | None = None

    # -- claiming --------------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        now: datetime,
        quota: Quota | None = None,
        finished: Mapping[str, int] | None = None,
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries, fairly spread over the endpoints with work.

        ``finished`` counts, per endpoint, leases of this worker whose attempt is over but whose
        result is not written yet: they hold no request open, so they do not use up the
        endpoint's ``max_in_flight`` room.
        """
        if limit <= 0:
            return []
        async with self.store.write() as tx:
            if tx.is_postgres:
                await tx.conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_ID}
                )
            if self._reclaim_due(now):
                await _reclaim(tx, now)
            rooms = await _endpoints_with_room(tx, now, quota, finished)
            shares = allocate(rooms, limit)
            chosen = await _choose(tx, shares, now)
            leased = await self._lease(tx, chosen, now)
            return await _load_claims(tx, leased)

    def _reclaim_due(self, now: datetime) -> bool:
        """Whether this claim also reclaims expired leases: at most once per
        ``RECLAIM_INTERVAL`` of ``now`` (the scan of leased rows is not free)."""
        last = self._reclaimed_at
        if last is not None and last <= now < last + RECLAIM_INTERVAL:
            return False
        self._reclaimed_at = now
        return True

    async def reclaim_expired(self, *, now: datetime) -> int:
        """Put every delivery whose lease expired back to ``pending``; how many."""
        async with self.store.write() as tx:
            return await _reclaim(tx, now)

    async def _lease(self, tx: Transaction, chosen: Sequence[str], now: datetime) -> list[Delivery]:
        if not chosen:
            return []
        if tx.is_postgres:
            locked = await tx.conn.execute(_LOCK_PENDING, {"b_ids": list(chosen)})
            chosen = [row.id for row in locked]
        db = tx.driver
        lease_id = ids.new_id("lse", now.timestamp())
        expires = now + self.lease
        params = (self.worker_id, lease_id, db.when(expires), db.when(now), db.ids(chosen))
        result = await db.execute(tx.conn, _LEASE, params)
        return [
            Delivery(
                id=row[0],
                account_id=row[1],
                event_id=row[2],
                endpoint_id=row[3],
                message_id=row[4],
                event_type=row[5],
                sequence=row[6],
                state=DeliveryState.LEASED,
                attempts=row[7],
                next_attempt_at=db.datetime_of(row[8]),
                lease_owner=self.worker_id,
                lease_id=lease_id,
                lease_expires_at=expires,
                last_response_status=row[9],
                last_error=row[10],
                created_at=db.datetime_of(row[11]),  # type: ignore[arg-type]
                updated_at=now,
            )
            for row in result
        ]

    # -- completing ------------------------------------------------------------------------

    async def complete(
        self,
        completions: Sequence[Completion],
        *,
        now: datetime,
        before_commit: Callable[[], None] | None = None,
    ) -> CompletionReport:
        """Record a batch of attempts; each one only if its lease is still held.

        ``before_commit`` is called inside the transaction, after its last statement.
        """
        if not completions:
            return CompletionReport(applied=0)
        async with self.store.write() as tx:
            held = await _held(tx, completions)
            valid = _dedupe(c for c in completions if (c.delivery_id, c.lease_id) in held)
            stale = tuple(
                c.delivery_id for c in completions if (c.delivery_id, c.lease_id) not in held
            )
            if not valid:
                if before_commit is not None:
                    before_commit()
                return CompletionReport(applied=0, stale=stale)
            db = tx.driver
            await db.execute_many(tx.conn, _INSERT_ATTEMPT, [_attempt_row(db, c) for c in valid])
            await db.execute_many(tx.conn, _COMPLETE, [_completion_row(db, c, now) for c in valid])
            await _update_failure_clocks(tx, valid)
            disabled = await self._disable_endpoints(tx, valid, now)
            if before_commit is not None:
                before_commit()
        return CompletionReport(applied=len(valid), stale=stale, disabled=disabled)

    async def _disable_endpoints(
        self, tx: Transaction, valid: Sequence[Completion], now: datetime
    ) -> tuple[str, ...]:
        gone = sorted({c.endpoint_id for c in valid if c.action == "disable"})
        disabled: list[str] = []
        if gone:
            disabled += await _disable(tx, gone, GONE_REASON + f" at {now.isoformat()}", now)
        failing = sorted({c.endpoint_id for c in valid if not c.succeeded} - set(gone))
        if failing:
            cutoff = now - timedelta(seconds=self.auto_disable_after)
            reason = (
                "every attempt failed for "
                f"{durations.format_duration(self.auto_disable_after)} (auto-disabled)"
            )
            disabled += await _disable(
                tx,
                failing,
                reason,
                now,
                _e.c.failing_since.is_not(None),
                _e.c.failing_since <= cutoff,
            )
        return tuple(disabled)

    # -- releasing -------------------------------------------------------------------------

    async def release(self, leases: Iterable[tuple[str, str]], *, now: datetime) -> int:
        """Give back ``(delivery_id, lease_id)`` leases unattempted: pending again, at once."""
        by_lease: dict[str, list[str]] = defaultdict(list)
        for delivery_id, lease_id in leases:
            by_lease[lease_id].append(delivery_id)
        if not by_lease:
            return 0
        released = 0
        async with self.store.write() as tx:
            for lease_id, delivery_ids in by_lease.items():
                result = await tx.conn.execute(
                    sa.update(_d)
                    .where(_d.c.id.in_(delivery_ids), _d.c.lease_id == lease_id)
                    .values(**_unleased(now))
                )
                released += int(result.rowcount)
            tx.queued_deliveries += released
        return released


# -- claim steps ---------------------------------------------------------------------------


def _unleased(now: datetime) -> dict[str, Any]:
    return {
        "state": PENDING,
        "lease_owner": None,
        "lease_id": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


def _datetime_param(name: str) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, type_=t.UTCDateTime())


# Statements are built once: SQLAlchemy then only binds parameters (and hits its compiled cache).
_RECLAIM = (
    sa.update(_d)
    .where(_d.c.state == LEASED, _d.c.lease_expires_at <= _datetime_param("b_now"))
    .values(
        state=PENDING,
        lease_owner=None,
        lease_id=None,
        lease_expires_at=None,
        updated_at=_datetime_param("b_now"),
    )
)


def _rooms_query() -> sa.Select[Any]:
    inner = _d.alias("inner_deliveries")
    in_flight = (
        sa.select(sa.func.count())
        .select_from(inner)
        .where(inner.c.endpoint_id == _e.c.id, inner.c.state == LEASED)
        .scalar_subquery()
    )
    has_due = sa.exists().where(
        inner.c.endpoint_id == _e.c.id,
        inner.c.state == PENDING,
        inner.c.next_attempt_at <= _datetime_param("b_now"),
    )
    return sa.select(
        _e.c.id, _e.c.ordered, _e.c.max_in_flight, _e.c.rate_limit, in_flight.label("in_flight")
    ).where(_e.c.state == EndpointState.ACTIVE.value, has_due)


_ROOMS = _rooms_query()
_LOCK_PENDING = (
    sa.select(_d.c.id)
    .where(_d.c.id.in_(sa.bindparam("b_ids", expanding=True)), _d.c.state == PENDING)
    .with_for_update(skip_locked=True)
)
# ``state || ''``: the same test, but one SQLite cannot answer from ix_deliveries_due, which it
# preferred to the primary key for ``id IN (…) AND state = ?``: a scan of every pending row per
# claim (13 ms a claim with 100,000 queued, 2 ms with 20,000).
_LEASE = driver.Statement.of(
    f"UPDATE deliveries SET state = '{LEASED}', lease_owner = ?, lease_id = ?,"
    " lease_expires_at = ?, updated_at = ?"
    f" WHERE id {{in_ids}} AND state || '' = '{PENDING}'"
    " RETURNING id, account_id, event_id, endpoint_id, message_id, event_type, sequence,"
    " attempts, next_attempt_at, last_response_status, last_error, created_at"
)
_PAYLOADS = driver.Statement.of("SELECT id, payload FROM events WHERE id {in_ids}")
_ENDPOINTS = sa.select(_e).where(_e.c.id.in_(sa.bindparam("b_ids", expanding=True)))


async def _reclaim(tx: Transaction, now: datetime) -> int:
    result = await tx.conn.execute(_RECLAIM, {"b_now": now})
    return int(result.rowcount)


async def _endpoints_with_room(
    tx: Transaction,
    now: datetime,
    quota: Quota | None,
    finished: Mapping[str, int] | None = None,
) -> list[_EndpointRoom]:
    rooms: list[_EndpointRoom] = []
    for row in await tx.conn.execute(_ROOMS, {"b_now": now}):
        room = int(row.max_in_flight) - int(row.in_flight)
        if finished:
            room += finished.get(row.id, 0)
        if quota is not None and room > 0:
            room = min(room, quota(row.id, row.rate_limit))
        if room > 0:
            rooms.append(_EndpointRoom(id=row.id, ordered=bool(row.ordered), room=room))
    return rooms


def allocate(rooms: Sequence[_EndpointRoom], limit: int) -> dict[_EndpointRoom, int]:
    """Split ``limit`` claims between endpoints: equal shares, each capped by its room."""
    candidates = list(rooms)
    random.shuffle(candidates)
    left = {room: room.room for room in candidates[:MAX_ENDPOINTS_PER_CLAIM]}
    shares: dict[_EndpointRoom, int] = defaultdict(int)
    remaining = limit
    while remaining > 0 and left:
        share = max(1, remaining // len(left))
        for room in list(left):
            take = min(share, left[room], remaining)
            shares[room] += take
            remaining -= take
            left[room] -= take
            if left[room] == 0:
                del left[room]
            if remaining == 0:
                break
    return dict(shares)


def _due_of(index: int, ordered: bool) -> sa.Select[Any]:
    query = sa.select(_d.c.id).where(
        _d.c.endpoint_id == sa.bindparam(f"b_ep{index}", type_=sa.String()),
        _d.c.state == PENDING,
        _d.c.next_attempt_at <= _datetime_param("b_now"),
    )
    if ordered:
        earlier = _d.alias("earlier")
        open_earlier = (
            sa.select(sa.literal(1))
            .where(
                earlier.c.endpoint_id == _d.c.endpoint_id,
                earlier.c.message_id == _d.c.message_id,
                earlier.c.sequence < _d.c.sequence,
                # Literal states: the planners then see that ix_deliveries_open_order applies.
                earlier.c.state.in_(
                    (sa.literal_column(f"'{PENDING}'"), sa.literal_column(f"'{LEASED}'"))
                ),
            )
            # OFFSET 0 keeps PostgreSQL from turning the check into an anti-join: with stale
            # statistics (a burst of new rows) that join read every open row of the endpoint
            # per candidate. As a per-row probe it is one index lookup, whatever the statistics.
            .offset(0)
        )
        query = query.where(~sa.exists(open_earlier))
    limit = sa.bindparam(f"b_n{index}", type_=sa.Integer())
    return query.order_by(_d.c.next_attempt_at).limit(limit)


@functools.lru_cache(maxsize=512)
def _choose_query(ordered: tuple[bool, ...]) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The claim's pick: one ``LIMIT`` part per endpoint, built once per shape."""
    parts = [_due_of(index, flag).subquery() for index, flag in enumerate(ordered)]
    if len(parts) == 1:
        return sa.select(parts[0].c.id)
    return sa.union_all(*(sa.select(part.c.id) for part in parts))


async def _choose(tx: Transaction, shares: Mapping[_EndpointRoom, int], now: datetime) -> list[str]:
    if not shares:
        return []
    # Unordered endpoints first: the statement's shape then only depends on two counts.
    items = sorted(shares.items(), key=lambda item: item[0].ordered)
    params: dict[str, Any] = {"b_now": now}
    for index, (room, count) in enumerate(items):
        params[f"b_ep{index}"] = room.id
        params[f"b_n{index}"] = count
    query = _choose_query(tuple(room.ordered for room, _ in items))
    return [row.id for row in await tx.conn.execute(query, params)]


async def _load_claims(tx: Transaction, leased: Sequence[Delivery]) -> list[Claim]:
    if not leased:
        return []
    event_ids = {delivery.event_id for delivery in leased}
    endpoint_ids = {delivery.endpoint_id for delivery in leased}
    db = tx.driver
    payloads = {
        row[0]: bytes(row[1])
        for row in await db.execute(tx.conn, _PAYLOADS, (db.ids(list(event_ids)),))
    }
    endpoints = {
        row.id: sql._endpoint_from_row(row)
        for row in await tx.conn.execute(_ENDPOINTS, {"b_ids": list(endpoint_ids)})
    }
    return [
        Claim(
            delivery=delivery,
            endpoint=endpoints[delivery.endpoint_id],
            payload=payloads[delivery.event_id],
        )
        for delivery in sorted(
            leased, key=lambda d: (d.endpoint_id, d.message_id or "", d.sequence)
        )
    ]


# -- completion steps ----------------------------------------------------------------------


_INSERT_ATTEMPT = driver.Statement.of(
    "INSERT INTO attempts (id, delivery_id, endpoint_id, number, started_at, duration_ms,"
    " request_headers, response_status, response_body, error_kind, error_message)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COMPLETE = driver.Statement.of(
    "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
    " lease_id = NULL, lease_expires_at = NULL, last_response_status = ?, last_error = ?,"
    " updated_at = ?, completed_at = ?"
    " WHERE id = ? AND lease_id = ?"
)


def _completion_row(db: driver.Dialect, completion: Completion, now: datetime) -> tuple[Any, ...]:
    attempt = completion.attempt
    retrying = completion.action == "retry"
    state = SUCCEEDED if completion.succeeded else PENDING if retrying else FAILED
    return (
        state,
        db.when(completion.retry_at if retrying else None),
        attempt.response_status,
        None if completion.succeeded else _error_text(attempt),
        db.when(now),
        db.when(None if retrying else now),
        completion.delivery_id,
        completion.lease_id,
    )


def _error_text(attempt: Attempt) -> str:
    if attempt.error_message:
        return attempt.error_message
    return f"{attempt.error_kind or 'error'}: HTTP {attempt.response_status}"


def _attempt_row(db: driver.Dialect, completion: Completion) -> tuple[Any, ...]:
    attempt = completion.attempt
    return (
        attempt.id,
        attempt.delivery_id,
        attempt.endpoint_id,
        attempt.number,
        db.when(attempt.started_at),
        attempt.duration_ms,
        db.json(dict(attempt.request_headers)),
        attempt.response_status,
        attempt.response_body,
        attempt.error_kind,
        attempt.error_message,
    )


async def _held(tx: Transaction, completions: Sequence[Completion]) -> set[tuple[str, str]]:
    """The ``(delivery_id, lease_id)`` pairs still leased as the completions say."""
    query = _HELD_FOR_UPDATE if tx.is_postgres else _HELD
    params = {"b_ids": list({c.delivery_id for c in completions})}
    return {(row.id, row.lease_id) for row in await tx.conn.execute(query, params)}


_HELD = sa.select(_d.c.id, _d.c.lease_id).where(
    _d.c.id.in_(sa.bindparam("b_ids", expanding=True)), _d.c.state == LEASED
)
_HELD_FOR_UPDATE = _HELD.with_for_update()


def _dedupe(completions: Iterable[Completion]) -> list[Completion]:
    seen: dict[str, Completion] = {}
    for completion in completions:
        seen.setdefault(completion.delivery_id, completion)
    return list(seen.values())


def failure_clocks(
    completions: Sequence[Completion],
) -> tuple[dict[str, datetime | None], dict[str, datetime]]:
    """The endpoints' failure clocks after a batch, in attempt order.

    Returns:
        ``(reset, started)``: ``reset`` endpoints had a success, their clock becomes the first
        failure after their last success (or None); ``started`` endpoints only failed, their
        clock starts at their first failure unless it is already running.
    """
    by_endpoint: dict[str, list[Completion]] = defaultdict(list)
    for completion in sorted(completions, key=lambda c: c.attempt.started_at):
        by_endpoint[completion.endpoint_id].append(completion)
    reset: dict[str, datetime | None] = {}
    started: dict[str, datetime] = {}
    for endpoint_id, items in by_endpoint.items():
        last_success = max((i for i, c in enumerate(items) if c.succeeded), default=None)
        tail = items if last_success is None else items[last_success + 1 :]
        first_failure = tail[0].attempt.started_at if tail else None
        if last_success is not None:
            reset[endpoint_id] = first_failure
        elif first_failure is not None:
            started[endpoint_id] = first_failure
    return reset, started


async def _update_failure_clocks(tx: Transaction, valid: Sequence[Completion]) -> None:
    reset, started = failure_clocks(valid)
    if reset:
        await tx.conn.execute(
            _RESET_CLOCK, [{"b_id": key, "b_since": value} for key, value in reset.items()]
        )
    if started:
        await tx.conn.execute(
            _START_CLOCK, [{"b_id": key, "b_since": value} for key, value in started.items()]
        )


_RESET_CLOCK = (
    sa.update(_e)
    .where(_e.c.id == sa.bindparam("b_id"))
    .values(failing_since=_datetime_param("b_since"))
)
_START_CLOCK = (
    sa.update(_e)
    .where(_e.c.id == sa.bindparam("b_id"), _e.c.failing_since.is_(None))
    .values(failing_since=_datetime_param("b_since"))
)


async def _disable(
    tx: Transaction,
    endpoint_ids: Sequence[str],
    reason: str,
    now: datetime,
    *conditions: sa.ColumnElement[bool],
) -> list[str]:
    result = await tx.conn.execute(
        sa.update(_e)
        .where(_e.c.id.in_(endpoint_ids), _e.c.state != EndpointState.DISABLED.value, *conditions)
        .values(state=EndpointState.DISABLED.value, disabled_reason=reason, updated_at=now)
        .returning(_e.c.id)
    )
    return [row.id for row in result]
