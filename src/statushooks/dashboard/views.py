"""What each page shows, read from the store in one read transaction per page.

Every read is bounded (``Transaction``'s dashboard reads): the charts plot a sample of the
newest attempts in the window, counts stop at a cap, lists read at most a window of rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from statushooks import accounts, backlog, exceptions, ids
from statushooks.deliveries import Attempt, Delivery, DeliveryState, Event
from statushooks.endpoints import Endpoint
from statushooks.messages import Message
from statushooks.storage.sql import Store
from statushooks.storage.stats import percentile
from statushooks.storage.transaction import (
    AttemptPoint,
    Page,
    PendingSample,
    StatusRecord,
    Transaction,
)

#: Attempts an endpoint's charts plot, at most (the newest ones in the window).
CHART_SAMPLE = 1_000
#: Attempts the overview's charts plot, at most, shared among the account's endpoints.
OVERVIEW_SAMPLE = 1_500
#: Attempts an overview reads per endpoint at least, however many endpoints share the sample.
MIN_ENDPOINT_SAMPLE = 20
#: Attempts the endpoints list's sparkline and last error look at, per endpoint.
LIST_SAMPLE = 100
#: Attempts of every account the operators' queue health looks at (the newest).
QUEUE_SAMPLE = 500
#: Backlogs and queue counts stop counting here ("10,000+").
COUNT_CAP = 10_000
#: Endpoints an account page lists, at most.
MAX_ENDPOINTS = 250
#: Deliveries the event log reads per page, whatever its filters.
LOG_SCAN = 2_000
LOG_PAGE = 50
FAILURES_SHOWN = 10
ATTEMPTS_PER_DELIVERY = 50


@dataclass(frozen=True, kw_only=True)
class Window:
    """A chart's time range and its bucket size."""

    name: str
    span: timedelta
    bucket: timedelta

    @property
    def buckets(self) -> int:
        return int(self.span / self.bucket)


WINDOWS = {
    "1h": Window(name="1h", span=timedelta(hours=1), bucket=timedelta(minutes=1)),
    "24h": Window(name="24h", span=timedelta(hours=24), bucket=timedelta(hours=1)),
}


#: The operators' backlog chart.
QUEUE_WINDOW = WINDOWS["1h"]


@dataclass(frozen=True, kw_only=True)
class Bucket:
    start: datetime
    ok: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def total(self) -> int:
        return self.ok + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.total if self.total else None


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Totals of a set of attempts."""

    attempts: int
    succeeded: int
    p50_ms: float | None
    p95_ms: float | None
    #: Whether the sample stopped before the window's start (busy endpoints).
    sampled: bool

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.attempts if self.attempts else None


def bucketize(points: Sequence[AttemptPoint], window: Window, now: datetime) -> list[Bucket]:
    """The attempts per bucket of ``window`` ending at ``now``, oldest bucket first."""
    start = now - window.span
    groups: list[list[AttemptPoint]] = [[] for _ in range(window.buckets)]
    for point in points:
        index = int((point.started_at - start) / window.bucket)
        if 0 <= index < len(groups):
            groups[index].append(point)
    buckets = []
    for index, group in enumerate(groups):
        durations = sorted(point.duration_ms for point in group)
        ok = sum(1 for point in group if point.succeeded)
        buckets.append(
            Bucket(
                start=start + index * window.bucket,
                ok=ok,
                failed=len(group) - ok,
                p50_ms=percentile(durations, 0.5),
                p95_ms=percentile(durations, 0.95),
            )
        )
    return buckets


def summarize(points: Sequence[AttemptPoint], *, sampled: bool) -> Summary:
    durations = sorted(point.duration_ms for point in points)
    return Summary(
        attempts=len(points),
        succeeded=sum(1 for point in points if point.succeeded),
        p50_ms=percentile(durations, 0.5),
        p95_ms=percentile(durations, 0.95),
        sampled=sampled,
    )


def _points(
    tx: Transaction, endpoints: Sequence[Endpoint], since: datetime, limit: int
) -> tuple[list[AttemptPoint], bool]:
    """The endpoints' newest attempts since ``since``, and whether any sample was cut."""
    points: list[AttemptPoint] = []
    sampled = False
    for endpoint in endpoints:
        mine = tx.attempt_points(endpoint.id, since=since, limit=limit)
        sampled = sampled or len(mine) >= limit
        points.extend(mine)
    return points, sampled


# -- overview ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Overview:
    account: accounts.Account
    window: Window
    buckets: list[Bucket]
    summary: Summary
    backlog: int
    #: The highest backlog sampled in each bucket (None: none sampled: no service ran).
    backlog_series: list[int | None]
    endpoints: int
    troubled: list[Endpoint]


async def overview(store: Store, account_id: str, window: Window, now: datetime) -> Overview:
    def work(tx: Transaction) -> Overview:
        account = tx.get_account(account_id)
        endpoints = tx.list_endpoints(account_id, limit=MAX_ENDPOINTS).data
        each = max(MIN_ENDPOINT_SAMPLE, OVERVIEW_SAMPLE // max(len(endpoints), 1))
        points, sampled = _points(tx, endpoints, now - window.span, each)
        pending = sum(tx.count_pending(endpoint_id=e.id, cap=COUNT_CAP) for e in endpoints)
        return Overview(
            account=account,
            window=window,
            buckets=bucketize(points, window, now),
            summary=summarize(points, sampled=sampled),
            backlog=pending,
            backlog_series=backlog_series(tx, account_id, window, now),
            endpoints=len(endpoints),
            troubled=tx.troubled_endpoints(account_id, limit=20),
        )

    return await store.read(work)


def backlog_series(
    tx: Transaction, account_id: str | None, window: Window, now: datetime
) -> list[int | None]:
    """The account's (None: every account's) backlog per bucket of ``window``, from the
    samples the service takes once a minute (``statushooks.backlog``)."""
    return backlog.read_series(
        tx, account_id, start=now - window.span, bucket=window.bucket, buckets=window.buckets
    )


# -- endpoints -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EndpointRow:
    endpoint: Endpoint
    #: Success rate per hour of the last 24 h (None: no attempts that hour).
    spark: list[float | None]
    summary: Summary
    last_failure: AttemptPoint | None
    last_error: str | None
    backlog: int


async def endpoint_rows(store: Store, account_id: str, now: datetime) -> list[EndpointRow]:
    window = WINDOWS["24h"]

    def work(tx: Transaction) -> list[EndpointRow]:
        rows = []
        for endpoint in tx.list_endpoints(account_id, limit=MAX_ENDPOINTS).data:
            points = tx.attempt_points(endpoint.id, since=now - window.span, limit=LIST_SAMPLE)
            failed = [point for point in points if not point.succeeded]
            last_error = None
            if failed:
                newest = tx.failed_attempts(endpoint.id, scan=LIST_SAMPLE, limit=1)
                last_error = describe_failure(newest[0]) if newest else None
            rows.append(
                EndpointRow(
                    endpoint=endpoint,
                    spark=[b.success_rate for b in bucketize(points, window, now)],
                    summary=summarize(points, sampled=len(points) >= LIST_SAMPLE),
                    last_failure=failed[0] if failed else None,
                    last_error=last_error,
                    backlog=tx.count_pending(endpoint_id=endpoint.id, cap=COUNT_CAP),
                )
            )
        return rows

    return await store.read(work)


@dataclass(frozen=True, kw_only=True)
class EndpointDetail:
    endpoint: Endpoint
    window: Window
    buckets: list[Bucket]
    summary: Summary
    backlog: int
    failures: list[Attempt]
    deliveries: list[Delivery]


async def endpoint_detail(
    store: Store, account_id: str, endpoint_id: str, window: Window, now: datetime
) -> EndpointDetail:
    def work(tx: Transaction) -> EndpointDetail:
        endpoint = tx.get_endpoint(account_id, endpoint_id)
        points, sampled = _points(tx, [endpoint], now - window.span, CHART_SAMPLE)
        recent = tx.scan_deliveries(
            account_id, before=None, scan=LOG_SCAN, limit=20, endpoint_id=endpoint_id
        )
        return EndpointDetail(
            endpoint=endpoint,
            window=window,
            buckets=bucketize(points, window, now),
            summary=summarize(points, sampled=sampled),
            backlog=tx.count_pending(endpoint_id=endpoint_id, cap=COUNT_CAP),
            failures=tx.failed_attempts(endpoint_id, scan=CHART_SAMPLE, limit=FAILURES_SHOWN),
            deliveries=recent.data,
        )

    return await store.read(work)


def describe_failure(attempt: Attempt) -> str:
    """One line: the status and the start of the answer, or the error."""
    if attempt.response_status is not None:
        body = " ".join(attempt.response_body.split())[:120]
        return f"HTTP {attempt.response_status}" + (f": {body}" if body else "")
    return f"{attempt.error_kind or 'error'}: {attempt.error_message or ''}".strip(": ")


# -- the event log -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LogFilters:
    event_type: str | None = None
    state: DeliveryState | None = None
    message_id: str | None = None
    endpoint_id: str | None = None
    before: datetime | None = None
    after: str | None = None


@dataclass(frozen=True, kw_only=True)
class EventLog:
    page: Page[Delivery]
    endpoints: dict[str, Endpoint]
    filters: LogFilters


async def event_log(store: Store, account_id: str, filters: LogFilters) -> EventLog:
    def work(tx: Transaction) -> EventLog:
        endpoints = {e.id: e for e in tx.list_endpoints(account_id, limit=MAX_ENDPOINTS).data}
        if filters.message_id is not None:
            tx.get_message(account_id, filters.message_id)
            events = [event.id for event in tx.message_events(filters.message_id)]
            found = [d for d in tx.deliveries_of_events(account_id, events) if _matches(d, filters)]
            page: Page[Delivery] = Page(data=found, next_cursor=None)
        else:
            before = filters.after
            if before is None and filters.before is not None:
                before = ids.first_id("dlv", filters.before.timestamp())
            page = tx.scan_deliveries(
                account_id,
                before=before,
                scan=LOG_SCAN,
                limit=LOG_PAGE,
                endpoint_id=filters.endpoint_id,
                event_type=filters.event_type,
                state=filters.state,
            )
        return EventLog(page=page, endpoints=endpoints, filters=filters)

    return await store.read(work)


def _matches(delivery: Delivery, filters: LogFilters) -> bool:
    return (
        (filters.endpoint_id is None or delivery.endpoint_id == filters.endpoint_id)
        and (filters.event_type is None or delivery.event_type == filters.event_type)
        and (filters.state is None or delivery.state is filters.state)
    )


@dataclass(frozen=True, kw_only=True)
class DeliveryView:
    delivery: Delivery
    endpoint: Endpoint | None
    attempts: list[Attempt]


@dataclass(frozen=True, kw_only=True)
class EventDetail:
    event: Event
    payload: str
    deliveries: list[DeliveryView]


async def event_detail(store: Store, account_id: str, event_id: str) -> EventDetail:
    def work(tx: Transaction) -> EventDetail:
        event = tx.get_event(account_id, event_id)
        return EventDetail(
            event=event,
            payload=pretty_json(event.payload),
            deliveries=_delivery_views(tx, account_id, [event.id]),
        )

    return await store.read(work)


def _delivery_views(tx: Transaction, account_id: str, event_ids: list[str]) -> list[DeliveryView]:
    endpoints: dict[str, Endpoint | None] = {}
    views = []
    for delivery in tx.deliveries_of_events(account_id, event_ids):
        if delivery.endpoint_id not in endpoints:
            endpoints[delivery.endpoint_id] = _endpoint_or_none(tx, account_id, delivery)
        attempts = tx.list_attempts(delivery.id, limit=ATTEMPTS_PER_DELIVERY).data
        views.append(
            DeliveryView(
                delivery=delivery,
                endpoint=endpoints[delivery.endpoint_id],
                attempts=sorted(attempts, key=lambda attempt: attempt.number),
            )
        )
    return views


def _endpoint_or_none(tx: Transaction, account_id: str, delivery: Delivery) -> Endpoint | None:
    try:
        return tx.get_endpoint(account_id, delivery.endpoint_id)
    except exceptions.NotFoundError:
        return None


def pretty_json(payload: bytes) -> str:
    """The payload indented for reading (the bytes as sent, if they are not JSON)."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload.decode("utf-8", "replace")


# -- message timeline ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EventWithDeliveries:
    event: Event
    deliveries: list[DeliveryView] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Timeline:
    message: Message
    history: list[StatusRecord]
    events: list[EventWithDeliveries]


async def message_timeline(store: Store, account_id: str, message_id: str) -> Timeline:
    def work(tx: Transaction) -> Timeline:
        message = tx.get_message(account_id, message_id)
        events = tx.message_events(message_id)
        views = _delivery_views(tx, account_id, [event.id for event in events])
        return Timeline(
            message=message,
            history=tx.status_history(message_id),
            events=[
                EventWithDeliveries(
                    event=event,
                    deliveries=[v for v in views if v.delivery.event_id == event.id],
                )
                for event in events
            ],
        )

    return await store.read(work)


# -- operators -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueHealth:
    #: ``pending`` counted up to ``COUNT_CAP + 1``; due and in flight among those read.
    queue: PendingSample
    workers: list[tuple[str, datetime, datetime]]
    recent: Summary
    troubled: list[Endpoint]
    #: Every account's backlog per minute of the last hour (``QUEUE_WINDOW``).
    backlog_series: list[int | None]


async def queue_health(store: Store, now: datetime) -> QueueHealth:
    def work(tx: Transaction) -> QueueHealth:
        points = tx.newest_attempt_points(limit=QUEUE_SAMPLE)
        return QueueHealth(
            queue=tx.pending_sample(now, cap=COUNT_CAP),
            workers=tx.list_workers(),
            recent=summarize(points, sampled=len(points) >= QUEUE_SAMPLE),
            troubled=tx.troubled_endpoints(None, limit=20),
            backlog_series=backlog_series(tx, None, QUEUE_WINDOW, now),
        )

    return await store.read(work)


async def account_page(
    store: Store, after: str | None, limit: int = LOG_PAGE
) -> Page[accounts.Account]:
    return await store.read(lambda tx: tx.list_accounts(limit=limit, after=after))
