"""The delivery queue: claim due deliveries under leases, record their attempts in batches.

The queue lives in the ``deliveries`` table; a delivery moves ``pending`` → ``leased`` →
``succeeded`` / ``failed`` (or back to ``pending`` for a retry).

**Leases are heap-only.** A lease writes only the lease columns (``lease_owner``, ``lease_id``,
``lease_expires_at``), which no index holds, and leaves the stored ``state`` at ``pending``:
``leased`` is derived, a pending delivery whose lease has not expired
(``deliveries.shown_state``). So on PostgreSQL a lease is a HOT update (``deliveries`` keeps
room on each page for it: ``fillfactor``) and adds no index entry, on SQLite it rewrites no
index. An expired lease needs no reclaim: the pick takes a pending delivery whose lease has
expired like any other.

**Worker shares.** Each worker serves its share of every endpoint's ``max_in_flight``: the
live workers (the ``workers`` table, renewed by each at most once a second) split the cap by
rank, so the shares add up to it (``share``). A worker counts its own leases in memory: no
claim reads or locks a counter another worker changes, and one worker's finished attempts
whose results it has not written yet never take room from another. While a worker joins or
leaves, the others learn of it within ``RENEW_INTERVAL``; until then, and while requests
started under a larger share are still open, an endpoint can have more requests open than its
cap.

**Leasing ahead** (``lease_ahead``): a worker may lease more of an endpoint's deliveries
than its share lets it send at once. The dispatcher keeps the extra claims waiting and sends
each as soon as one of its requests to that endpoint finishes, so a request slot freed in the
middle of an exchange does not stay empty until the next claim. The cap is on requests open,
as before; ``held`` counts leases, sent or waiting.

A claim:

1. **Renews** this worker's row (at most once a second per worker, in a transaction of its
   own) and learns the live workers. A worker is dead once its row expires (``WORKER_TTL``),
   or at once when it ran on this host and its process is gone (``is_gone``: a restart after
   a ``kill -9`` sees it at its first claim); the first live worker to see it removes its row
   and releases its leases, so its deliveries and its share of every endpoint's cap are
   claimable again without waiting for the leases to expire.
2. **Picks endpoints** from a window of the *ring* (``Ring``): the endpoints with pending
   deliveries in id order, walked from where this worker's last claim stopped (a loose index
   scan of ``ix_deliveries_pending``: an endpoint without pending deliveries costs nothing).
   The window is as long as the last claims' yield says this claim needs, between
   ``MIN_WINDOW`` and ``RING_WINDOW`` endpoints: a claim of 200 looks at ~40 endpoints that
   hold 6 due deliveries each, at ~10 that hold thousands. Of those, the active ones with due
   work and room in this worker's share are served in ring order (``MAX_ENDPOINTS_PER_CLAIM``
   at most), each up to its room, until the claim's limit: one slow or dead endpoint with a
   huge backlog cannot starve the others, and a claim's cost follows the deliveries it
   leases, with 10 endpoints or 10,000. The next claim starts after the last endpoint served;
   while a run of claims that found less than they asked for has not gone all round the ring,
   ``more_due`` tells the dispatcher to claim again rather than sleep.
3. **Picks deliveries** per endpoint, oldest due first, skipping those under a live lease (on
   PostgreSQL rows locked by another
   worker's claim are skipped: ``FOR UPDATE SKIP LOCKED``). On an ``ordered`` endpoint a
   delivery is not claimable while an earlier-sequence delivery of the same message is pending
   or leased: a message's events go out one at a time, in order (test events have no message:
   never held).
4. **Leases** them (the lease columns only) and returns them with their payloads.

Each claim gets a fresh ``lease_id``. Completion is fenced on it: a worker whose lease expired
and was taken over by another writes nothing (its late result is reported as ``stale``). A
late result whose lease expired but was not taken over is written: the attempt was made, and
nobody else is making it.
Completions are written many per transaction (attempt rows, delivery updates, the endpoints'
failure clocks when they move, 410 and auto-disable). The dispatcher calls ``exchange``
once per cycle: its completions, then a claim, in one transaction.

The per-delivery statements are driver SQL (``storage.driver``), a batch as one JSON parameter;
the rest is SQLAlchemy Core.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from statushooks import durations, ids, notices, suspension
from statushooks.deliveries import Attempt, Delivery, DeliveryState
from statushooks.endpoints import Endpoint, EndpointState
from statushooks.events import operational
from statushooks.storage import driver, records, transaction
from statushooks.storage import tables as t
from statushooks.storage.sql import Store

RENEW_INTERVAL = timedelta(seconds=1)  # a worker renews its row at most this often
#: A worker's row expires this long after its last renewal (renewed every RENEW_INTERVAL
#: while it claims; the dispatcher claims at least every ``poll_interval``): a worker that
#: missed about four beats is dead, its share goes back to the others and its leases are
#: released (``_renew``).
WORKER_TTL = timedelta(seconds=5)
MAX_ENDPOINTS_PER_CLAIM = 100  # endpoints served by one claim (SQLite compound SELECT limit: 500)
#: Endpoints with pending deliveries one claim looks at, at most (``Ring``): a claim's cost is
#: bounded by this, whatever the number of endpoints with due work.
RING_WINDOW = 3 * MAX_ENDPOINTS_PER_CLAIM
#: The fewest endpoints a claim looks at (``Ring.budget``), and how many more than the last
#: claims' yield says it needs.
MIN_WINDOW = 16
WINDOW_MARGIN = 1.25
GONE_REASON = "the endpoint answered 410 Gone"

PENDING = DeliveryState.PENDING.value
#: Not stored since migration 0007 (leases are heap-only), but still named by the predicate of
#: ix_deliveries_open_order, which a query must repeat for the planners to use that index.
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
    #: Why to disable the endpoint when the receiver asked for it (``webhook-delivery:
    #: disable``, on any answer); a ``disable`` action without one is a 410 (``GONE_REASON``).
    disable_reason: str | None = None
    #: The delivery's event (for ``delivery.exhausted``: ``events.operational``).
    event_id: str = ""
    event_type: str = ""
    message_id: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.action == "succeed"

    @property
    def disables(self) -> str | None:
        """The reason this result disables its endpoint, or None."""
        if self.disable_reason is not None:
            return self.disable_reason
        return GONE_REASON if self.action == "disable" else None


@dataclass(frozen=True, kw_only=True)
class CompletionReport:
    """What a batch of completions changed."""

    applied: int
    #: Deliveries whose lease had been lost: nothing was written for them.
    stale: tuple[str, ...] = ()
    #: Endpoints disabled by this batch (410 Gone, the receiver's ``webhook-delivery:
    #: disable``, or failing for too long).
    disabled: tuple[str, ...] = ()
    #: Endpoints suspended by this batch (a burst of failures: ``statushooks.suspension``).
    suspended: tuple[str, ...] = ()


def share(max_in_flight: int, workers: int, rank: int) -> int:
    """The worker of ``rank`` (0-based, among ``workers`` live ones)'s part of
    ``max_in_flight``: equal parts, the remainder to the first ranks; the parts add up to it."""
    part, extra = divmod(max_in_flight, max(workers, 1))
    return part + (1 if rank < extra else 0)


@dataclass(frozen=True, kw_only=True)
class Membership:
    """The live workers as one worker saw them: how many, and its rank among them by id."""

    workers: int = 1
    rank: int = 0


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
        lease_ahead: int = 0,
        is_gone: Callable[[str], bool] | None = None,
        suspension_policy: suspension.SuspensionPolicy | None = None,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        #: ``is_gone(worker_id)``: whether another worker is known dead before its row
        #: expires (``dispatcher.worker_is_gone``: its process on this host is gone).
        self.is_gone = is_gone or _not_known_gone
        self.lease = timedelta(seconds=lease_seconds)
        #: Seconds an endpoint must have failed every attempt before it is disabled.
        self.auto_disable_after = auto_disable_after
        #: When a burst of failures suspends an endpoint (none by default).
        self.suspension = suspension_policy or suspension.SuspensionPolicy(threshold=0)
        self._renewed_at: datetime | None = None
        self.membership = Membership()
        #: This worker's leases per endpoint: claimed, not yet completed, released or forgotten.
        self.held: Counter[str] = Counter()
        #: Shares of an endpoint's cap this worker may hold as leases beyond the one it sends
        #: (``Settings.lease_ahead``): the caller keeps those attempts waiting until one of its
        #: requests to the endpoint finishes. Rate-limited endpoints get none.
        self.lease_ahead = lease_ahead
        #: Where this worker's claims are in the ring of endpoints with pending deliveries.
        self.ring = Ring()

    @property
    def more_due(self) -> bool:
        """Whether the last claim may have left due work it did not look at: it filled its
        limit or its endpoints, or its lap of the ring is not over (``Ring``)."""
        return self.ring.more

    def share_of(self, endpoint: Endpoint) -> int:
        """How many requests this worker may have open to ``endpoint`` at once."""
        return share(endpoint.max_in_flight, self.membership.workers, self.membership.rank)

    # -- claiming --------------------------------------------------------------------------

    async def claim(self, *, limit: int, now: datetime, quota: Quota | None = None) -> list[Claim]:
        """Lease up to ``limit`` due deliveries, fairly spread over the endpoints with work.

        ``quota`` is called inside the transaction (on SQLite in the store's thread: see
        ``Store.run_write``).
        """
        if limit <= 0:
            return []
        if self._renewal_due(now):
            await self.renew(now=now)
        open_here = self._open_here((), None)
        claim = functools.partial(
            self._claim, limit=limit, now=now, quota=quota, open_here=open_here
        )
        claims = await self.store.run_write(claim)
        self._count_claims(claims)
        return claims

    async def exchange(
        self,
        completions: Sequence[Completion],
        *,
        limit: int,
        now: datetime,
        quota: Quota | None = None,
        finished: Mapping[str, int] | None = None,
        leased: Callable[[list[Claim]], None] | None = None,
    ) -> tuple[CompletionReport, list[Claim]]:
        """Record ``completions``, then lease up to ``limit`` due deliveries, in one transaction
        (the dispatcher's one call per cycle): the leases the completions give back are room
        for the claim.

        ``finished`` counts, per endpoint, leases of this worker whose attempt is over but whose
        result is not among ``completions`` (a later call writes it): they hold no request
        open, so they do not use up the endpoint's ``max_in_flight`` room. The caller keeps
        counting into it meanwhile; the claim reads it inside the transaction.

        ``leased(claims)``, if given, is called with the claims as soon as they are leased, in
        the transaction's thread, before the commit: the caller may start their attempts while
        the commit is written. If the commit then fails, the leases were never taken: those
        attempts' results come back ``stale``, and the deliveries, still pending, are attempted
        again (webhooks are at-least-once; receivers deduplicate on ``webhook-id``).

        No endpoint row is locked unless a failure clock moves or an endpoint is disabled:
        two workers' exchanges run side by side.
        """
        if limit > 0 and self._renewal_due(now):
            await self.renew(now=now)
        exchange = functools.partial(
            self._exchange,
            completions=completions,
            limit=limit,
            now=now,
            quota=quota,
            finished=finished,
            leased=leased,
        )
        report, claims = await self.store.run_write(exchange)
        self.forget(completions)
        self._count_claims(claims)
        return report, claims

    def forget(self, completions: Iterable[Completion]) -> None:
        """No longer count these leases as this worker's: written, stale, or left to expire."""
        for completion in completions:
            self._uncount(completion.endpoint_id)

    def let_expire(self, claim: Claim) -> None:
        """No longer count an unattempted lease as this worker's: the delivery can be claimed
        again once the lease expires."""
        self._uncount(claim.endpoint.id)

    def _uncount(self, endpoint_id: str) -> None:
        left = self.held[endpoint_id] - 1
        if left > 0:
            self.held[endpoint_id] = left
        else:
            self.held.pop(endpoint_id, None)

    def _count_claims(self, claims: Sequence[Claim]) -> None:
        self.held.update(claim.endpoint.id for claim in claims)

    def _open_here(
        self, completions: Iterable[Completion], finished: Mapping[str, int] | None
    ) -> Counter[str]:
        """Per endpoint, this worker's requests still open: its leases, less those whose
        results are being written (``completions``) or wait to be (``finished``)."""
        open_here = self.held.copy()
        open_here.subtract(c.endpoint_id for c in completions)
        # A copy: the event loop keeps counting into ``finished`` meanwhile.
        open_here.subtract(dict(finished) if finished else {})
        return open_here

    def _exchange(
        self,
        conn: Connection,
        *,
        completions: Sequence[Completion],
        limit: int,
        now: datetime,
        quota: Quota | None,
        finished: Mapping[str, int] | None,
        leased: Callable[[list[Claim]], None] | None,
    ) -> tuple[CompletionReport, list[Claim]]:
        valid, stale = _record(conn, completions, now)
        report = self._settle(conn, valid, stale, now)
        open_here = self._open_here(completions, finished)
        claims = (
            self._claim(conn, limit=limit, now=now, quota=quota, open_here=open_here)
            if limit > 0
            else []
        )
        if claims and leased is not None:
            leased(claims)
        return report, claims

    def _claim(
        self,
        conn: Connection,
        *,
        limit: int,
        now: datetime,
        quota: Quota | None,
        open_here: Mapping[str, int],
    ) -> list[Claim]:
        window = self.ring.look(conn, now, self.ring.budget(limit))
        rooms = _rooms(window.due, self.membership, open_here, quota, self.lease_ahead)
        asked = rooms[:MAX_ENDPOINTS_PER_CLAIM]
        claims = self._lease(conn, asked, limit, {e.id: e for e in window.due}, now)
        served = {claim.endpoint.id for claim in claims}
        reached = [room.id for room in asked if room.id in served]
        if len(claims) >= limit:  # the limit cut the pick short at the last endpoint served
            last_served: str | None = reached[-1]
        elif len(rooms) > len(asked):  # every endpoint asked was served what it had
            last_served = asked[-1].id
        else:
            last_served = None
        self.ring.moved(window, last_served=last_served)
        due_reached = len(window.due) if last_served is None else _position(window, last_served)
        self.ring.learn(window, claimed=len(claims), due_reached=due_reached)
        return claims

    def _renewal_due(self, now: datetime) -> bool:
        """Whether this claim also renews the worker's row: at most once per
        ``RENEW_INTERVAL`` of ``now``."""
        last = self._renewed_at
        if last is not None and last <= now < last + RENEW_INTERVAL:
            return False
        self._renewed_at = now
        return True

    async def heartbeat(self, *, now: datetime) -> None:
        """Renew this worker's row unless a claim did within ``RENEW_INTERVAL``."""
        if self._renewal_due(now):
            await self.renew(now=now)

    async def renew(self, *, now: datetime) -> Membership:
        """Renew this worker's row and learn the live workers (its share of the endpoints'
        caps follows them)."""
        renew = functools.partial(_renew, now=now, worker_id=self.worker_id, is_gone=self.is_gone)
        self.membership = await self.store.run_write(renew)
        return self.membership

    async def leave(self) -> None:
        """Give this worker's share back to the others at once (when it stops)."""
        await self.store.run_write(functools.partial(_leave, worker_id=self.worker_id))

    def _lease(
        self,
        conn: Connection,
        rooms: Sequence[_EndpointRoom],
        limit: int,
        endpoints: Mapping[str, Endpoint],
        now: datetime,
    ) -> list[Claim]:
        """Pick due deliveries of ``rooms``' endpoints, in their order, each up to its room,
        ``limit`` in all, and lease them: one statement."""
        if not rooms:
            return []
        db = driver.of(conn)
        lease_id = ids.new_id("lse", now.timestamp())
        expires = now + self.lease
        stamp = db.when(now)
        lease = (self.worker_id, lease_id, db.when(expires), stamp)
        pick: list[Any] = []
        for room in rooms:
            pick += (room.id, stamp, stamp, int(room.ordered), min(room.room, limit))
        # The statement's shape only depends on the count of parts, rounded up (``_parts``)
        # with parts that pick nothing.
        parts = _parts(len(rooms))
        pick += ("", stamp, stamp, 0, 0) * (parts - len(rooms))
        pick.append(limit)
        params = (*pick, *lease) if db.picks_before_lease else (*lease, *pick)
        rows = db.execute(conn, _lease_statement(parts), params)
        # Rows share timestamps: a delivery's first attempt is due when it is created, and a
        # batch of deliveries is created at once.
        when = driver.memoized(db.datetime_of)
        # Claims go out by endpoint, then message, in sequence order.
        rows = sorted(rows, key=lambda row: (row[3], row[4] or "", row[6]))
        return [
            Claim(
                delivery=Delivery(
                    id=row[0],
                    account_id=row[1],
                    event_id=row[2],
                    endpoint_id=row[3],
                    message_id=row[4],
                    event_type=row[5],
                    sequence=row[6],
                    state=DeliveryState.LEASED,
                    attempts=row[7],
                    next_attempt_at=when(row[8]),
                    lease_owner=self.worker_id,
                    lease_id=lease_id,
                    lease_expires_at=expires,
                    last_response_status=row[9],
                    last_error=row[10],
                    created_at=when(row[11]),  # type: ignore[arg-type]
                    updated_at=now,
                    traceparent=row[12],
                ),
                endpoint=endpoints[row[3]],
                payload=bytes(row[13]),
            )
            for row in rows
        ]

    # -- completing ------------------------------------------------------------------------

    async def complete(
        self, completions: Sequence[Completion], *, now: datetime
    ) -> CompletionReport:
        """Record a batch of attempts; each one only if its lease is still held."""
        if not completions:
            return CompletionReport(applied=0)
        complete = functools.partial(self._complete, completions=completions, now=now)
        report = await self.store.run_write(complete)
        self.forget(completions)
        return report

    def _complete(
        self, conn: Connection, *, completions: Sequence[Completion], now: datetime
    ) -> CompletionReport:
        valid, stale = _record(conn, completions, now)
        return self._settle(conn, valid, stale, now)

    def _settle(
        self, conn: Connection, valid: Sequence[Completion], stale: tuple[str, ...], now: datetime
    ) -> CompletionReport:
        """The endpoints' side of recorded completions: failure clocks, disabling."""
        if not valid:
            return CompletionReport(applied=0, stale=stale)
        moved = _move_failure_clocks(conn, valid)
        suspended = _suspend_bursts(conn, valid, self.suspension, now)
        disabled = self._disable_endpoints(conn, valid, now)
        _emit_notices(conn, valid, moved, disabled, now)
        return CompletionReport(
            applied=len(valid),
            stale=stale,
            disabled=tuple(endpoint_id for endpoint_id, _ in disabled),
            suspended=suspended,
        )

    def _disable_endpoints(
        self, conn: Connection, valid: Sequence[Completion], now: datetime
    ) -> list[tuple[str, str]]:
        """Disable the endpoints the batch disables (410, the receiver's request, failing for
        too long): ``(endpoint id, reason)`` of each."""
        by_reason: dict[str, set[str]] = defaultdict(set)
        for completion in valid:
            reason = completion.disables
            if reason is not None:
                by_reason[reason].add(completion.endpoint_id)
        disabled: list[tuple[str, str]] = []
        gone: set[str] = set()
        for reason, endpoint_ids in sorted(by_reason.items()):
            newly = sorted(endpoint_ids - gone)
            if newly:
                stated = reason + f" at {now.isoformat()}"
                disabled += [(i, stated) for i in _disable(conn, newly, stated, now)]
            gone |= endpoint_ids
        failing = sorted({c.endpoint_id for c in valid if not c.succeeded} - gone)
        if failing:
            cutoff = now - timedelta(seconds=self.auto_disable_after)
            reason = (
                "every attempt failed for "
                f"{durations.format_duration(self.auto_disable_after)} (auto-disabled)"
            )
            auto = _disable(
                conn,
                failing,
                reason,
                now,
                _e.c.failing_since.is_not(None),
                _e.c.failing_since <= cutoff,
            )
            disabled += [(endpoint_id, reason) for endpoint_id in auto]
        return disabled

    # -- releasing -------------------------------------------------------------------------

    async def release(self, leases: Iterable[tuple[str, str]], *, now: datetime) -> int:
        """Give back ``(delivery_id, lease_id)`` leases unattempted: pending again, at once."""
        by_lease: dict[str, list[str]] = defaultdict(list)
        for delivery_id, lease_id in leases:
            by_lease[lease_id].append(delivery_id)
        if not by_lease:
            return 0
        released = await self.store.run_write(
            functools.partial(_release, by_lease=by_lease, now=now)
        )
        for endpoint_id in released.elements():
            self._uncount(endpoint_id)
        if released:
            self.store.new_work.set()
        return released.total()


# -- claim steps ---------------------------------------------------------------------------


#: A delivery not under a live lease (never leased, released, completed or expired).
_UNLEASED = " AND (lease_expires_at IS NULL OR lease_expires_at <= ?{timestamp})"
# The ring: the endpoints with pending deliveries, in id order, walked from ``after`` (and up to
# ``upto``) one probe of ix_deliveries_pending each (a loose index scan: endpoints without
# pending rows are not in that index, and one with many costs one probe), ``?`` of them at most.
# Of those, the active ones not suspended (``statushooks.suspension``) whose earliest pending
# delivery not under a live lease is due are
# returned with their columns (one probe each, in due order), and whether they come after the
# cursor (in the database's own order of ids), with two markers: the walk's last row (``n`` =
# the window) and, if the ring ended first, a row without an id. Leased rows are
# skipped in the heap, here and in the pick: at most the endpoint's leases, which
# ``dispatch_concurrency`` bounds per worker.
_RING_NEXT = (
    "SELECT endpoint_id FROM deliveries{indexed} WHERE state = 'pending'"
    " AND endpoint_id > {after}{upto} ORDER BY endpoint_id LIMIT 1"
)
_RING_WALK = (
    "WITH RECURSIVE ring(id, n) AS ("
    f"SELECT ({_RING_NEXT.replace('{after}', '?')}), 1"
    f" UNION ALL SELECT ({_RING_NEXT.replace('{after}', 'ring.id')}), ring.n + 1 FROM ring"
    " WHERE ring.id IS NOT NULL AND ring.n < ?)"
)
_RING_DUE = (
    f"endpoints.id = ring.id AND endpoints.state = '{EndpointState.ACTIVE.value}'"
    " AND (endpoints.suspended_until IS NULL OR endpoints.suspended_until <= ?{timestamp})"
    " AND (SELECT next_attempt_at FROM deliveries WHERE deliveries.endpoint_id = ring.id"
    f" AND deliveries.state = '{PENDING}'{_UNLEASED} ORDER BY next_attempt_at LIMIT 1)"
    " <= ?{timestamp}"
)
_RING_SQLITE = (
    f"{_RING_WALK} SELECT ring.n, ring.id, ring.id > ?, {{columns}} FROM ring"
    f" LEFT JOIN endpoints ON {_RING_DUE}"
    " WHERE endpoints.id IS NOT NULL OR ring.id IS NULL OR ring.n = ? ORDER BY ring.n"
)
# PostgreSQL: the endpoint of each ring row as a ``LATERAL`` probe by primary key (``LIMIT 1``
# keeps the planner from pulling it up into a join). As a join, a generic plan made with 1,000
# endpoints hashed every row of ``endpoints`` on every claim (~1 ms a claim there).
_RING_POSTGRES = (
    f"{_RING_WALK} SELECT ring.n, ring.id, ring.id > ?, e.* FROM ring LEFT JOIN LATERAL"
    f" (SELECT {{columns}} FROM endpoints WHERE {_RING_DUE} LIMIT 1) AS e ON true"
    " WHERE e.id IS NOT NULL OR ring.id IS NULL OR ring.n = ? ORDER BY ring.n"
)


@functools.cache
def _ring_statement(bounded: bool) -> driver.Statement:
    """The ring's walk after an id, to another (``bounded``) or to the end of the ring.
    SQLite is told which index answers the walk: ix_deliveries_endpoint_due would answer it
    too, reading past every finished delivery of the next endpoints."""
    upto = " AND endpoint_id <= ?" if bounded else ""
    sqlite = records.endpoint_select(_RING_SQLITE.replace("{upto}", upto)).sqlite
    postgresql = records.endpoint_select(_RING_POSTGRES.replace("{upto}", upto)).postgresql
    return driver.Statement(
        sqlite=sqlite.replace("{indexed}", " INDEXED BY ix_deliveries_pending"),
        postgresql=postgresql.replace("{indexed}", ""),
    )


_LEASED_COLUMNS = (
    "id, account_id, event_id, endpoint_id, message_id, event_type, sequence, attempts,"
    " next_attempt_at, last_response_status, last_error, created_at, traceparent"
)
# Only columns no index holds (``tables.deliveries``): the lease is heap-only.
_LEASE_SET = "SET lease_owner = ?, lease_id = ?, lease_expires_at = ?, updated_at = ?"
# The claim's pick, one part per endpoint, in ring order: its pending deliveries due at ``now``
# and not under a live lease, oldest first, up to its room; the parts run in turn until the
# claim's limit (``LIMIT`` of the whole pick: the parts after it are not run). On an ``ordered``
# endpoint (its part's ``? = 1``) a delivery waits while an earlier one of its message is open
# (``_HELD_BACK``; the literal states let the planners use ix_deliveries_open_order). For the
# other endpoints the check's ``? = 1`` is false before any row is read (SQLite's constant
# term, PostgreSQL's one-time filter): every part has the same text, so the statement's shape
# depends on the count of parts alone, whatever the mix of ordered and unordered endpoints.
_HELD_BACK = (
    " AND NOT EXISTS (SELECT 1 FROM deliveries AS earlier WHERE ? = 1"
    " AND earlier.endpoint_id = deliveries.endpoint_id"
    " AND earlier.message_id = deliveries.message_id AND earlier.sequence < deliveries.sequence"
    f" AND earlier.state IN ('{PENDING}', '{LEASED}'){{probe}})"
)
_DUE_PART = (
    "SELECT id FROM (SELECT id FROM deliveries WHERE endpoint_id = ?"
    f" AND state = '{PENDING}' AND next_attempt_at <= ?{{timestamp}}{_UNLEASED}{_HELD_BACK}"
    " ORDER BY next_attempt_at LIMIT ?{lock}) AS due"
)
# The lease of the picked deliveries. ``state || ''``: the same test, but one neither planner can
# answer from an index on ``state``. They preferred ix_deliveries_due (since dropped) to the
# primary key for ``id IN (…) AND state = ?``: a scan of every pending row per claim (SQLite:
# 13 ms a claim with 100,000 queued, 2 ms with 20,000; PostgreSQL, before its statistics catch
# up with a burst: a bitmap of every pending row, 2 ms a claim with 40,000).
_LEASE_SQLITE = (
    f"UPDATE deliveries {_LEASE_SET} WHERE id IN ({{pick}}) AND state || '' = '{PENDING}'"
    f" RETURNING {_LEASED_COLUMNS},"
    " (SELECT payload FROM events WHERE events.id = deliveries.event_id)"
)
# One statement: pick (each part locks its rows, skipping those another worker's claim has
# locked, so two claims at once each get their full share), lease, return them with their
# payloads. The pick is MATERIALIZED: run once, whatever the plan (a part run again while the
# update moves its rows could skip the leased ones and pick past its LIMIT). The lease and
# the payloads are probes by primary key as written (``= ANY(ARRAY(…))``, a subquery per
# row), not joins: the queue's connections keep one plan per statement (``engine``), and a
# join planned while the tables were small could scan them whole.
_LEASE_POSTGRES = (
    "WITH picked AS MATERIALIZED ({pick}),"
    f" leased AS (UPDATE deliveries {_LEASE_SET} WHERE id = ANY(ARRAY(SELECT id FROM picked))"
    f" AND state || '' = '{PENDING}' RETURNING {_LEASED_COLUMNS})"
    " SELECT leased.*, (SELECT payload FROM events WHERE events.id = leased.event_id)"
    " FROM leased"
)


#: The counts of parts a lease statement is built with (``_parts``): with one part per
#: endpoint, a claim over 100 endpoints had up to 100 shapes of each kind, more than the
#: drivers' statement caches hold (SQLite's 128, asyncpg's 100 through SQLAlchemy), so they
#: were parsed and planned again and again. A part that picks nothing is one index probe.
LEASE_PARTS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 80, MAX_ENDPOINTS_PER_CLAIM)


def _parts(count: int) -> int:
    """The parts of a lease statement for ``count`` endpoints of one kind: rounded up."""
    return LEASE_PARTS[bisect.bisect_left(LEASE_PARTS, count)]


@functools.cache
def _lease_statement(parts: int) -> driver.Statement:
    """The claim's pick and lease, with ``parts`` endpoints' parts: built once per count.

    Picking in the lease's own statement, rather than in one before it, spares the ids a
    round trip: on SQLite ~100 rows stepped out one by one, each handing the GIL to the busy
    event loop and waiting to get it back.
    """

    def pick(probe: str, lock: str) -> str:
        part = _DUE_PART.replace("{probe}", probe).replace("{lock}", lock)
        return " UNION ALL ".join([part] * parts) + " LIMIT ?"

    # OFFSET 0 keeps PostgreSQL from turning the check into an anti-join: with stale
    # statistics (a burst of new rows) that join read every open row of the endpoint per
    # candidate. As a per-row probe it is one index lookup, whatever the statistics.
    return driver.Statement.each(
        sqlite=_LEASE_SQLITE.replace("{pick}", pick("", "")),
        postgresql=_LEASE_POSTGRES.replace("{pick}", pick(" OFFSET 0", " FOR UPDATE SKIP LOCKED")),
    )


# A release, like a lease, is heap-only.
_RELEASE = driver.Statement.of(
    "UPDATE deliveries SET lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,"
    " updated_at = ? WHERE id {in_ids} AND lease_id = ? RETURNING endpoint_id"
)
# The worker's row: renewed (or added back); rows of workers gone quiet are removed; the live
# ones' ids, in order, give the worker its rank.
_RENEW_WORKER = driver.Statement.of(
    "INSERT INTO workers (id, seen_at, expires_at) VALUES (?, ?{timestamp}, ?{timestamp})"
    " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at"
)
_OTHER_WORKERS = driver.Statement.of(
    "SELECT id, CASE WHEN expires_at <= ?{timestamp} THEN 1 ELSE 0 END FROM workers WHERE id <> ?"
)
_FORGET_WORKERS = driver.Statement.of("DELETE FROM workers WHERE id {in_ids}")
# The dead workers' leases, released: a scan of the pending deliveries (the partial index
# ix_deliveries_pending), run only when a worker was found dead.
_RELEASE_DEAD = driver.Statement.of(
    "UPDATE deliveries SET lease_owner = NULL, lease_id = NULL, lease_expires_at = NULL,"
    " updated_at = ? WHERE state = 'pending' AND lease_owner {in_ids}"
    " AND lease_expires_at > ?{timestamp} RETURNING endpoint_id"
)
_LIVE_WORKERS = driver.Statement.of("SELECT id FROM workers ORDER BY id")
_LEAVE = driver.Statement.of("DELETE FROM workers WHERE id = ?")


def _not_known_gone(_worker_id: str) -> bool:
    return False


def _renew(
    conn: Connection, *, now: datetime, worker_id: str, is_gone: Callable[[str], bool]
) -> Membership:
    db = driver.of(conn)
    stamp = db.when(now)
    _forget_dead_workers(conn, now=now, worker_id=worker_id, is_gone=is_gone)
    db.execute(conn, _RENEW_WORKER, (worker_id, stamp, db.when(now + WORKER_TTL)))
    live = [row[0] for row in db.execute(conn, _LIVE_WORKERS, ())]
    return Membership(workers=len(live), rank=live.index(worker_id))


def _forget_dead_workers(
    conn: Connection, *, now: datetime, worker_id: str, is_gone: Callable[[str], bool]
) -> list[str]:
    """Remove the rows of the other workers that are dead (expired, or ``is_gone``) and
    release their leases; the dead workers' ids."""
    db = driver.of(conn)
    stamp = db.when(now)
    others = db.execute(conn, _OTHER_WORKERS, (stamp, worker_id))
    dead = [str(row[0]) for row in others if row[1] or is_gone(str(row[0]))]
    if dead:
        db.execute(conn, _FORGET_WORKERS, (db.ids(dead),))
        db.execute(conn, _RELEASE_DEAD, (stamp, db.ids(dead), stamp))
    return dead


def _leave(conn: Connection, *, worker_id: str) -> None:
    driver.of(conn).execute(conn, _LEAVE, (worker_id,))


def _release(
    conn: Connection, *, by_lease: Mapping[str, Sequence[str]], now: datetime
) -> Counter[str]:
    """Released leases per endpoint."""
    db = driver.of(conn)
    released: Counter[str] = Counter()
    for lease_id, delivery_ids in by_lease.items():
        rows = db.execute(conn, _RELEASE, (db.when(now), db.ids(delivery_ids), lease_id))
        released.update(row[0] for row in rows)
    return released


@dataclass(frozen=True, kw_only=True)
class Window:
    """What one claim saw of the ring: the due endpoints, in ring order, and where it stopped."""

    due: list[Endpoint]
    #: The last endpoint looked at (None: the walk reached the end of its part of the ring).
    last: str | None
    #: Where the lap this window belongs to began, and whether the walk went past the end of
    #: the ring to its start.
    lap_start: str
    wrapped: bool
    #: Whether the walk reached the start of its lap: every endpoint has been looked at since.
    lap_over: bool
    #: Endpoints with pending deliveries looked at.
    looked: int


class Ring:
    """A worker's round-robin walk over the endpoints with pending deliveries, in id order.

    Each claim looks at a window of ``budget`` endpoints at most, from where the last one
    stopped, going round from the end to the start: its cost is bounded by the window, not by
    the number of endpoints with work; the window follows what the claims need (``budget``,
    ``learn``), up to ``RING_WINDOW``. A claim that fills its limit (or has more endpoints with
    room than it serves) leaves the cursor on the last endpoint it served: the next claim
    starts after it. A run of claims that do not fill their limit is a *lap*: it is over when
    the walk comes back to where the run began, and until then ``more`` says that due work may
    be waiting in a part of the ring not looked at yet (the dispatcher claims again at once
    instead of sleeping).

    While the whole ring fits in one window (``small``), a claim walks it from its start in
    one statement and serves the endpoints after the cursor first: the same order, one
    statement instead of two (the walk after the cursor, then the one from the start).
    """

    def __init__(self) -> None:
        #: The last endpoint served or looked at ("" before the first).
        self.cursor = ""
        #: Where the current lap began (None: no lap under way), and whether it went past the
        #: end of the ring (the cursor is then on the lap's second pass, before its start).
        self.lap_start: str | None = None
        self.wrapped = False
        #: Whether the ring fitted in one window when last seen whole.
        self.small = True
        #: Whether more may be due than the last claim found (``Queue.more_due``).
        self.more = True
        #: Deliveries the last claims leased per endpoint they looked at (``learn``; None
        #: before the first): what the next claim's window is sized by (``budget``).
        self.yield_: float | None = None

    def budget(self, limit: int) -> int:
        """How many endpoints a claim of ``limit`` deliveries looks at: enough to fill it at
        the yield of the last claims, with a margin, between ``MIN_WINDOW`` and
        ``RING_WINDOW``."""
        if not self.yield_:
            return RING_WINDOW
        wanted = math.ceil(limit / self.yield_ * WINDOW_MARGIN) + MIN_WINDOW // 2
        return max(MIN_WINDOW, min(RING_WINDOW, wanted))

    def learn(self, window: Window, *, claimed: int, due_reached: int) -> None:
        """Update the yield with a claim's: the deliveries it leased per endpoint it looked
        at, counting only the looked-at endpoints up to where the claim stopped (the first
        ``due_reached`` due ones, and their share of the others)."""
        if not window.looked:
            return
        looked = window.looked if not window.due else due_reached * window.looked / len(window.due)
        sample = claimed / max(looked, 1.0)
        self.yield_ = sample if self.yield_ is None else (self.yield_ + sample) / 2

    def look(self, conn: Connection, now: datetime, budget: int = RING_WINDOW) -> Window:
        """Walk the next window of the ring (at most ``budget`` endpoints)."""
        if self.small and self.lap_start is None:
            return self._look_whole(conn, now, budget)
        start = self.cursor if self.lap_start is None else self.lap_start
        if self.lap_start is not None and self.wrapped:
            due: list[Endpoint] = []
            after, left, looked = self.cursor, budget, 0
        else:
            due, last, looked = _walk(conn, now, after=self.cursor, upto=None, budget=budget)
            if last is not None:
                return Window(
                    due=due,
                    last=last,
                    lap_start=start,
                    wrapped=False,
                    lap_over=False,
                    looked=looked,
                )
            if start == "":  # the lap began at the start of the ring: it has been seen whole
                return Window(
                    due=due, last=None, lap_start=start, wrapped=True, lap_over=True, looked=looked
                )
            after, left = "", budget - looked
        if left <= 0:
            return Window(
                due=due, last="", lap_start=start, wrapped=True, lap_over=False, looked=looked
            )
        part, last, more = _walk(conn, now, after=after, upto=start, budget=left)
        return Window(
            due=due + part,
            last=last,
            lap_start=start,
            wrapped=True,
            lap_over=last is None,
            looked=looked + more,
        )

    def _look_whole(self, conn: Connection, now: datetime, budget: int) -> Window:
        """The ring from its start, the endpoints after the cursor first (``small``)."""
        due, last, looked = _walk(conn, now, after="", upto=None, budget=budget, cursor=self.cursor)
        if last is not None:  # the ring has grown past a window: a lap from its start
            return Window(
                due=due, last=last, lap_start="", wrapped=False, lap_over=False, looked=looked
            )
        return Window(due=due, last=None, lap_start="", wrapped=True, lap_over=True, looked=looked)

    def moved(self, window: Window, *, last_served: str | None) -> None:
        """Move the cursor after a claim: to ``last_served`` if the claim was full, else to
        the end of the window."""
        # The ring fits in a window if one claim's walk went all round it.
        whole = window.lap_over and self.lap_start is None
        self.small = whole and window.looked < RING_WINDOW
        if last_served is not None:
            self.cursor, self.lap_start, self.wrapped, self.more = last_served, None, False, True
        elif window.lap_over:
            self.lap_start, self.wrapped, self.more = None, False, False
        else:
            assert window.last is not None
            self.lap_start = window.lap_start
            self.cursor, self.wrapped, self.more = window.last, window.wrapped, True


def _walk(
    conn: Connection,
    now: datetime,
    *,
    after: str,
    upto: str | None,
    budget: int,
    cursor: str | None = None,
) -> tuple[list[Endpoint], str | None, int]:
    """Up to ``budget`` endpoints of the ring after ``after`` (up to ``upto``): the due ones
    (those after ``cursor``, if given, first), the last one looked at (None if the part
    ended first), and how many were looked at."""
    db = driver.of(conn)
    stamp = db.when(now)
    bounds = (after,) if upto is None else (after, upto, upto)
    params = (*bounds, budget, cursor or "", stamp, stamp, stamp, budget)
    rows = db.execute(conn, _ring_statement(upto is not None), params)
    later: list[Endpoint] = []
    earlier: list[Endpoint] = []
    last: str | None = None
    looked = budget
    for row in rows:
        values = tuple(row)
        if values[1] is None:
            looked = values[0] - 1
            continue
        if values[3] is not None:
            (later if values[2] else earlier).append(records.endpoint_of_row(values[3:]))
        if values[0] == budget:
            last = values[1]
    return later + earlier, last, looked


def _rooms(
    endpoints: Sequence[Endpoint],
    membership: Membership,
    open_here: Mapping[str, int],
    quota: Quota | None,
    lease_ahead: int,
) -> list[_EndpointRoom]:
    """Each endpoint's room in this worker's share: its share (times ``1 + lease_ahead``
    unless it is rate-limited) less the leases it holds without a result."""
    rooms: list[_EndpointRoom] = []
    for endpoint in endpoints:
        mine = share(endpoint.max_in_flight, membership.workers, membership.rank)
        if endpoint.rate_limit is None:
            mine *= 1 + lease_ahead
        room = mine - open_here.get(endpoint.id, 0)
        if quota is not None and room > 0:
            room = min(room, quota(endpoint.id, endpoint.rate_limit))
        if room > 0:
            rooms.append(_EndpointRoom(id=endpoint.id, ordered=endpoint.ordered, room=room))
    return rooms


def _position(window: Window, endpoint_id: str) -> int:
    """How many of the window's due endpoints come before ``endpoint_id``, and it."""
    return next(i for i, endpoint in enumerate(window.due, 1) if endpoint.id == endpoint_id)


# -- completion steps ----------------------------------------------------------------------


_ATTEMPT_COLUMNS = (
    "id, delivery_id, endpoint_id, number, started_at, duration_ms, request_headers,"
    " response_status, response_body, error_kind, error_message"
)
# ``_record``'s statements; the completion is fenced on the lease id.
#
# SQLite: which leases are held (``_HELD``), then one statement for each table, their rows
# (``_attempt_row``, ``_completion_row``) as a ``VALUES`` list.
_INSERT_ATTEMPTS_SQLITE = driver.Values(
    f"INSERT INTO attempts ({_ATTEMPT_COLUMNS}) SELECT column1, column2, column3, column4,"
    " column5, column6, column7, column8, column9, column10, column11"
    " FROM ({values}) WHERE column1 IS NOT NULL",
    width=11,
)
_COMPLETE_SQLITE = driver.Values(
    "UPDATE deliveries SET state = j.column1, attempts = attempts + 1,"
    " next_attempt_at = j.column2, lease_id = NULL, lease_expires_at = NULL,"
    " last_response_status = j.column3, last_error = j.column4, updated_at = j.column5,"
    " completed_at = j.column6 FROM ({values}) AS j"
    " WHERE deliveries.id = j.column7 AND deliveries.lease_id = j.column8",
    width=8,
)
# PostgreSQL: one statement, its rows (``_completion_row``, ``_attempt_row``) each as one JSON
# parameter (``driver.Dialect.rows``), then the delivery ids again as an array: the update
# looks them up by primary key whatever plan it keeps (see ``_LEASE_POSTGRES``). The fenced
# update returns the leases it found held, the attempts of those are inserted, and those are
# returned (a JSON array of ``[delivery_id, lease_id]``).
# The rows are read as ``jsonb``, parsed once: as ``json``, every ``->>`` parsed the row's text
# again (12.4 → 9.5 ms a batch of ~100).
# A separate ``SELECT … FOR UPDATE`` of the held leases first took ~10 ms a batch of 100.
_RECORD_POSTGRES = (
    "WITH done AS (UPDATE deliveries SET state = v->>0, attempts = attempts + 1,"
    " next_attempt_at = (v->>1)::timestamptz, lease_id = NULL, lease_expires_at = NULL,"
    " last_response_status = (v->>2)::int, last_error = v->>3,"
    " updated_at = (v->>4)::timestamptz, completed_at = (v->>5)::timestamptz"
    " FROM jsonb_array_elements($1::jsonb) AS v"
    " WHERE deliveries.id = ANY($3::varchar[]) AND deliveries.id = v->>6"
    " AND deliveries.lease_id = v->>7"
    " RETURNING deliveries.id, v->>7 AS lease_id),"
    f" recorded AS (INSERT INTO attempts ({_ATTEMPT_COLUMNS})"
    " SELECT v->>0, v->>1, v->>2, (v->>3)::int, (v->>4)::timestamptz, (v->>5)::float8,"
    " (v->>6)::json, (v->>7)::int, v->>8, v->>9, v->>10"
    " FROM jsonb_array_elements($2::jsonb) AS v"
    " WHERE (v->>1, v->>11) IN (SELECT id, lease_id FROM done))"
    " SELECT coalesce(json_agg(json_build_array(id, lease_id)), '[]') FROM done"
)


def _completion_row(db: driver.Dialect, completion: Completion, now: Any) -> tuple[Any, ...]:
    """The ``_COMPLETE`` parameters of one completion; ``now`` already as ``db.when(now)``."""
    attempt = completion.attempt
    retrying = completion.action == "retry"
    state = SUCCEEDED if completion.succeeded else PENDING if retrying else FAILED
    return (
        state,
        db.when(completion.retry_at) if retrying else None,
        attempt.response_status,
        None if completion.succeeded else _error_text(attempt),
        now,
        None if retrying else now,
        completion.delivery_id,
        completion.lease_id,
    )


def _error_text(attempt: Attempt) -> str:
    if attempt.error_message:
        return attempt.error_message
    return f"{attempt.error_kind or 'error'}: HTTP {attempt.response_status}"


def _attempt_row(db: driver.Dialect, completion: Completion) -> tuple[Any, ...]:
    """The ``_ATTEMPT_COLUMNS`` values of a completion's attempt."""
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


def _record(
    conn: Connection, completions: Sequence[Completion], now: datetime
) -> tuple[list[Completion], tuple[str, ...]]:
    """Write the attempts and delivery updates of the completions whose lease is still held;
    returns those (``valid``) and the ids of the others (``stale``)."""
    if not completions:
        return [], ()
    db = driver.of(conn)
    # One per lease: a result given twice is recorded once.
    candidates = list({(c.delivery_id, c.lease_id): c for c in reversed(completions)}.values())
    if db.parses_json_once:
        done = conn.exec_driver_sql(_RECORD_POSTGRES, _record_params(db, candidates, now))
        held = {(delivery_id, lease_id) for delivery_id, lease_id in db.json_value(done.scalar())}
    else:
        held = _held(conn, candidates)
        held_ones = [c for c in candidates if (c.delivery_id, c.lease_id) in held]
        if held_ones:
            stamp = db.when(now)
            attempts = [_attempt_row(db, c) for c in held_ones]
            db.execute_values(conn, _INSERT_ATTEMPTS_SQLITE, attempts)
            updates = [_completion_row(db, c, stamp) for c in held_ones]
            db.execute_values(conn, _COMPLETE_SQLITE, updates)
    valid = _dedupe(c for c in completions if (c.delivery_id, c.lease_id) in held)
    stale = tuple(c.delivery_id for c in completions if (c.delivery_id, c.lease_id) not in held)
    return valid, stale


def _record_params(
    db: driver.Dialect, completions: Sequence[Completion], now: datetime
) -> tuple[str, str, list[str]]:
    """PostgreSQL: the parameters of ``_RECORD_POSTGRES``: updates and attempts (JSON), and
    the delivery ids."""
    stamp = db.when(now)
    updates = db.rows([_completion_row(db, c, stamp) for c in completions])
    # Each attempt row ends with its lease id: the statement inserts the attempts of held leases.
    attempts = db.rows([(*_attempt_row(db, c), c.lease_id) for c in completions])
    return updates, attempts, [c.delivery_id for c in completions]


def _held(conn: Connection, completions: Sequence[Completion]) -> set[tuple[str, str]]:
    """SQLite: the ``(delivery_id, lease_id)`` pairs still leased as the completions say."""
    pairs = conn.exec_driver_sql(
        _HELD, (driver.of(conn).ids([c.delivery_id for c in completions]),)
    )
    return {(delivery_id, lease_id) for delivery_id, lease_id in orjson.loads(pairs.scalar_one())}


# A lease id is set only while a delivery is pending (a completion or a requeue clears it).
_HELD = (
    "SELECT json_group_array(json_array(id, lease_id)) FROM deliveries"
    " WHERE id IN (SELECT value FROM json_each(?)) AND lease_id IS NOT NULL"
)


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


def tail_failures(completions: Sequence[Completion]) -> dict[str, int]:
    """Per endpoint, the failed attempts of a batch after its last success (all of them
    without one), in attempt order."""
    counts: dict[str, int] = defaultdict(int)
    for completion in sorted(completions, key=lambda c: c.attempt.started_at):
        if completion.succeeded:
            counts[completion.endpoint_id] = 0
        else:
            counts[completion.endpoint_id] += 1
    return counts


@dataclass(frozen=True, kw_only=True)
class ClockMoves:
    """Endpoints whose failure clock a batch stopped (a success after failures) and started
    (a first failure after a success)."""

    recovered: tuple[str, ...] = ()
    failing: tuple[str, ...] = ()


def _move_failure_clocks(conn: Connection, valid: Sequence[Completion]) -> ClockMoves:
    """Move the endpoints' failure clocks (``failure_clocks``) and their burst counts
    (``statushooks.suspension``), in endpoint id order (two exchanges lock clock rows in one
    order: no deadlock). A row is written, and locked, only where a success ends a run of
    failures or an attempt failed: a healthy endpoint's row is left alone, and a batch of
    successes costs one statement.

    A success ends the run (clock, counts and suspension); the failures after an endpoint's
    last success in the batch then start a clock if none is running, else add to the count."""
    reset, started = failure_clocks(valid)
    db = driver.of(conn)
    recovered: list[str] = []
    if reset:
        rows = db.execute(conn, _RESET_CLOCKS, (db.ids(sorted(reset)),))
        recovered = sorted(row[0] for row in rows)
    first_failures = {
        **{endpoint_id: at for endpoint_id, at in reset.items() if at is not None},
        **started,
    }
    tails = tail_failures(valid)
    failing: list[str] = []
    counted: list[tuple[Any, ...]] = []
    for endpoint_id in sorted(first_failures):
        first, tail = db.when(first_failures[endpoint_id]), tails[endpoint_id]
        if db.execute(conn, _START_CLOCK, (first, first, tail, endpoint_id)):
            failing.append(endpoint_id)
        else:
            counted.append((tail, first, endpoint_id))
    if counted:
        db.execute_many(conn, _COUNT_FAILURES, counted)
    return ClockMoves(recovered=tuple(recovered), failing=tuple(failing))


# A success ends a run of failures: its clock, its burst count and any suspension.
_RESET_CLOCKS = driver.Statement.of(
    "UPDATE endpoints SET failing_since = NULL, failures = 0, failures_since = NULL,"
    " suspensions = 0, suspended_until = NULL"
    " WHERE id {in_ids} AND failing_since IS NOT NULL RETURNING id"
)
# The first failure after a success starts the clock and the burst count …
_START_CLOCK = driver.Statement.of(
    "UPDATE endpoints SET failing_since = ?{timestamp}, failures_since = ?{timestamp},"
    " failures = ? WHERE id = ? AND failing_since IS NULL RETURNING id"
)
# … later ones add to the count (its start is gone after a suspension).
_COUNT_FAILURES = driver.Statement.of(
    "UPDATE endpoints SET failures = failures + ?,"
    " failures_since = COALESCE(failures_since, ?{timestamp}) WHERE id = ?"
)
# The endpoints of a batch whose burst count reached the suspension threshold.
# An endpoint suspended already is left alone: its failures then are attempts that were under
# way when the suspension began.
_BURSTS = driver.Statement.of(
    "SELECT id, failures, failures_since, suspensions FROM endpoints"
    " WHERE id {in_ids} AND failures >= ?"
    " AND (suspended_until IS NULL OR suspended_until <= ?{timestamp})"
)
# Suspend an endpoint (or, with a NULL pause, only count again), one per row.
_SUSPEND = driver.Statement.of(
    "UPDATE endpoints SET suspended_until = COALESCE(?{timestamp}, suspended_until),"
    " suspensions = suspensions + CASE WHEN ?{timestamp} IS NULL THEN 0 ELSE 1 END,"
    " failures = 0, failures_since = NULL WHERE id = ?"
)


def _suspend_bursts(
    conn: Connection,
    valid: Sequence[Completion],
    policy: suspension.SuspensionPolicy,
    now: datetime,
) -> tuple[str, ...]:
    """Suspend the endpoints of a batch whose failures make a burst (``suspension``); which.
    Only a batch with a failure reads anything."""
    failing = sorted({c.endpoint_id for c in valid if not c.succeeded})
    if not policy.enabled or not failing:
        return ()
    db = driver.of(conn)
    found = db.execute(conn, _BURSTS, (db.ids(failing), policy.threshold, db.when(now)))
    verdicts = [
        verdict
        for row in found
        if (
            verdict := policy.judge(
                suspension.Burst(
                    endpoint_id=row[0],
                    failures=row[1],
                    failures_since=db.datetime_of(row[2]),
                    suspensions=row[3],
                ),
                now,
            )
        )
        is not None
    ]
    if verdicts:
        rows = [
            (db.when(v.suspend_until), db.when(v.suspend_until), v.endpoint_id)
            for v in sorted(verdicts, key=lambda v: v.endpoint_id)
        ]
        db.execute_many(conn, _SUSPEND, rows)
    return tuple(v.endpoint_id for v in verdicts if v.suspend_until is not None)


def _emit_notices(
    conn: Connection,
    valid: Sequence[Completion],
    moved: ClockMoves,
    disabled: Sequence[tuple[str, str]],
    now: datetime,
) -> None:
    """Queue the operational events of a batch (``events.operational``): endpoints disabled,
    failing, recovered, and deliveries exhausted (not those of operational events: one dead
    operational endpoint must not feed another without end). A batch with none reads nothing."""
    exhausted = [
        c for c in valid if c.action == "exhaust" and not operational.is_operational(c.event_type)
    ]
    about = {*moved.recovered, *moved.failing, *(i for i, _ in disabled)}
    about |= {c.endpoint_id for c in exhausted}
    if not about:
        return
    tx = transaction.Transaction(conn)
    endpoints = {endpoint.id: endpoint for endpoint in tx.endpoints_by_ids(sorted(about))}
    last_failure = {c.endpoint_id: c.attempt for c in _by_start(valid) if not c.succeeded}
    last_success = {c.endpoint_id: c.attempt for c in _by_start(valid) if c.succeeded}
    items: list[notices.Notice] = []
    for endpoint_id in moved.recovered:
        if endpoint_id in endpoints:
            at = last_success[endpoint_id].started_at
            items.append(notices.recovered(endpoints[endpoint_id], at, now))
    for endpoint_id in moved.failing:
        if endpoint_id in endpoints:
            items.append(notices.failing(endpoints[endpoint_id], last_failure[endpoint_id], now))
    for endpoint_id, reason in disabled:
        if endpoint_id in endpoints:
            items.append(notices.disabled(endpoints[endpoint_id], reason, now))
    for c in exhausted:
        if c.endpoint_id in endpoints:
            items.append(
                notices.exhausted(
                    endpoints[c.endpoint_id],
                    event_id=c.event_id,
                    event_type=c.event_type,
                    message_id=c.message_id,
                    last=c.attempt,
                    now=now,
                )
            )
    tx.emit_notices(items)


def _by_start(completions: Sequence[Completion]) -> list[Completion]:
    return sorted(completions, key=lambda c: c.attempt.started_at)


def _disable(
    conn: Connection,
    endpoint_ids: Sequence[str],
    reason: str,
    now: datetime,
    *conditions: sa.ColumnElement[bool],
) -> list[str]:
    result = conn.execute(
        sa.update(_e)
        .where(_e.c.id.in_(endpoint_ids), _e.c.state != EndpointState.DISABLED.value, *conditions)
        .values(state=EndpointState.DISABLED.value, disabled_reason=reason, updated_at=now)
        .returning(_e.c.id)
    )
    return [row.id for row in result]
