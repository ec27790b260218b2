"""Read-only aggregate queries: per-endpoint stats and the Prometheus metrics, from the DB.

Everything here is computed at request (scrape) time from the ``deliveries``, ``attempts`` and
``endpoints`` tables, so every API process reports the same numbers; each query reads a bounded
part of them (a window of attempts, the open deliveries), never a whole table's history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from statushooks.deliveries import DeliveryState
from statushooks.endpoints import EndpointState
from statushooks.storage import tables as t
from statushooks.storage.records import delivery_state_is, shown_delivery_state, utcnow
from statushooks.storage.transaction import Transaction

#: Percentiles are computed over at most this many of the newest attempts in the window.
LATENCY_SAMPLE = 10_000
#: ``/metrics``: the attempts counted are those of the last ``METRICS_WINDOW`` seconds, at
#: most the ``METRICS_SAMPLE`` newest: a scrape reads a bounded number of rows.
METRICS_WINDOW = 60  # seconds
METRICS_SAMPLE = 50_000
#: Attempt duration quantiles ``/metrics`` shows.
LATENCY_QUANTILES = (0.5, 0.95, 0.99)


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
    #: Open deliveries: ``pending`` and ``leased`` (the finished ones are not counted).
    deliveries_by_state: dict[str, int]
    #: Attempts of the window (``METRICS_WINDOW``, at most ``METRICS_SAMPLE``) by outcome.
    attempts_by_outcome: dict[str, int]
    #: Duration quantiles (seconds) of the window's attempts; None without attempts.
    latency_quantiles: list[tuple[float, float | None]]
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
    """Every number ``/metrics`` exposes, across all accounts, at a cost that does not grow
    with the history kept: open deliveries (the partial index of pending rows), endpoints,
    and the newest attempts of the last ``METRICS_WINDOW`` seconds (at most
    ``METRICS_SAMPLE``, read newest first by primary key: ids sort by time)."""
    open_rows = t.deliveries.c.state == DeliveryState.PENDING.value
    deliveries = _count_by(tx, shown_delivery_state(now), open_rows)
    endpoints = _count_by(tx, t.endpoints.c.state, sa.true())
    outcomes: dict[str, int] = {}
    durations: list[float] = []
    for status, error_kind, duration_ms in tx.conn.execute(_recent_attempts(now)).all():
        outcome = "success" if status is not None and 200 <= status < 300 else error_kind
        outcomes[outcome or "error"] = outcomes.get(outcome or "error", 0) + 1
        durations.append(float(duration_ms) / 1000.0)
    durations.sort()
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
        deliveries_by_state={
            state.value: deliveries.get(state.value, 0)
            for state in (DeliveryState.PENDING, DeliveryState.LEASED)
        },
        attempts_by_outcome=outcomes,
        latency_quantiles=[(q, percentile(durations, q)) for q in LATENCY_QUANTILES],
        queue_depth=deliveries.get(DeliveryState.PENDING.value, 0),
        queue_due=int(due),
        endpoints_by_state={s.value: endpoints.get(s.value, 0) for s in EndpointState},
    )


def _recent_attempts(now: datetime) -> sa.Select[Any]:
    """Status, error kind and duration of the newest attempts started in the window."""
    a = t.attempts.c
    newest = (
        sa.select(a.response_status, a.error_kind, a.duration_ms, a.started_at)
        .order_by(a.id.desc())
        .limit(METRICS_SAMPLE)
        .subquery()
    )
    since = now - timedelta(seconds=METRICS_WINDOW)
    return sa.select(newest.c.response_status, newest.c.error_kind, newest.c.duration_ms).where(
        newest.c.started_at >= since
    )
