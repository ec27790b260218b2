"""Read-only aggregate queries: per-endpoint stats and the Prometheus metrics, from the DB.

Everything here is computed at request (scrape) time from the ``deliveries``, ``attempts`` and
``endpoints`` tables, so every API process reports the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from statushooks.deliveries import DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.storage import tables as t
from statushooks.storage.records import delivery_state_is, shown_delivery_state, utcnow
from statushooks.storage.transaction import Transaction

#: Percentiles are computed over at most this many of the newest attempts in the window.
LATENCY_SAMPLE = 10_000
#: Attempt latency histogram buckets, in seconds (Prometheus ``le``).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, kw_only=True)
class EndpointStats:
    endpoint_id: str
    since: datetime
    attempts: int
    successful_attempts: int
    #: Successful attempts / attempts in the window; None without attempts.
    success_rate: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    #: Deliveries waiting (pending) or in flight (leased), whatever their age.
    backlog: int
    deliveries: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class Metrics:
    deliveries_by_state: dict[str, int]
    attempts_by_outcome: dict[str, int]
    #: Cumulative counts per bucket upper bound (seconds), then ``+Inf``.
    latency_buckets: list[tuple[float, int]]
    latency_count: int
    latency_sum_seconds: float
    queue_depth: int
    queue_due: int
    endpoints_by_state: dict[str, int]
    #: Endpoints suspended now after a burst of failures (``statushooks.suspension``).
    endpoints_suspended: int = 0


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


def _is_success() -> sa.ColumnElement[bool]:
    return sa.and_(t.attempts.c.response_status >= 200, t.attempts.c.response_status < 300)


def endpoint_stats(tx: Transaction, endpoint_id: str, *, since: datetime) -> EndpointStats:
    """Success rate and latency of the endpoint's attempts since ``since``, and its backlog."""
    window = sa.and_(t.attempts.c.endpoint_id == endpoint_id, t.attempts.c.started_at >= since)
    success = sa.func.sum(sa.case((_is_success(), 1), else_=0))
    row = (
        tx.conn.execute(sa.select(sa.func.count(), success).select_from(t.attempts).where(window))
    ).one()
    total, successful = int(row[0]), int(row[1] or 0)
    sample = (
        sa.select(t.attempts.c.duration_ms)
        .where(window)
        .order_by(t.attempts.c.started_at.desc())
        .limit(LATENCY_SAMPLE)
    )
    durations = sorted(float(value) for value in tx.conn.execute(sample).scalars())
    by_state = _count_by(
        tx, shown_delivery_state(utcnow()), t.deliveries.c.endpoint_id == endpoint_id
    )
    deliveries = {state.value: by_state.get(state.value, 0) for state in DeliveryState}
    return EndpointStats(
        endpoint_id=endpoint_id,
        since=since,
        attempts=total,
        successful_attempts=successful,
        success_rate=successful / total if total else None,
        p50_latency_ms=percentile(durations, 0.50),
        p95_latency_ms=percentile(durations, 0.95),
        backlog=deliveries["pending"] + deliveries["leased"],
        deliveries=deliveries,
    )


def _count_by(
    tx: Transaction, column: sa.ColumnElement[str], *where: sa.ColumnElement[bool]
) -> dict[str, int]:
    query = sa.select(column, sa.func.count()).where(*where).group_by(column)
    return {str(key): int(count) for key, count in tx.conn.execute(query).all()}


def metrics(tx: Transaction, *, now: datetime) -> Metrics:
    """Every number ``/metrics`` exposes, across all accounts."""
    deliveries = _count_by(tx, shown_delivery_state(now), sa.true())
    endpoints = _count_by(tx, t.endpoints.c.state, sa.true())
    outcome = sa.case(
        (_is_success(), "success"),
        else_=sa.func.coalesce(t.attempts.c.error_kind, "error"),
    )
    attempts = _count_by(tx, outcome, sa.true())
    seconds = t.attempts.c.duration_ms / 1000.0
    columns = [sa.func.sum(sa.case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
    row = (
        tx.conn.execute(
            sa.select(sa.func.count(), sa.func.sum(seconds), *columns).select_from(t.attempts)
        )
    ).one()
    count = int(row[0])
    buckets = [
        (bound, int(value or 0)) for bound, value in zip(LATENCY_BUCKETS, row[2:], strict=True)
    ]
    due = (
        tx.conn.execute(
            sa.select(sa.func.count())
            .select_from(t.deliveries)
            .where(
                delivery_state_is(DeliveryState.PENDING, now),
                t.deliveries.c.next_attempt_at <= now,
            )
        )
    ).scalar_one()
    suspended = tx.conn.execute(
        sa.select(sa.func.count())
        .select_from(t.endpoints)
        .where(t.endpoints.c.suspended_until > now)
    ).scalar_one()
    return Metrics(
        endpoints_suspended=int(suspended),
        deliveries_by_state={s.value: deliveries.get(s.value, 0) for s in DeliveryState},
        attempts_by_outcome=attempts,
        latency_buckets=[*buckets, (math.inf, count)],
        latency_count=count,
        latency_sum_seconds=float(row[1] or 0.0),
        queue_depth=deliveries.get(DeliveryState.PENDING.value, 0),
        queue_due=int(due),
        endpoints_by_state={s.value: endpoints.get(s.value, 0) for s in EndpointState},
    )
