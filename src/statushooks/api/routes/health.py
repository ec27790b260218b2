"""Health and metrics: ``/healthz`` and ``/readyz`` (no auth), Prometheus ``/metrics`` (the
metrics token or the admin token)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from statushooks import service
from statushooks.api import queries, schemas
from statushooks.api.deps import MetricsReader, StoreDep
from statushooks.storage import stats

router = APIRouter(tags=["health"])
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PID_HEADER = "Statushooks-Pid"  # /healthz: which process answered (``serve --workers N``)


@router.get("/healthz", response_model=schemas.Health)
async def read_health(response: Response) -> schemas.Health:
    """The process is up; the ``Statushooks-Pid`` header names it."""
    response.headers[PID_HEADER] = str(os.getpid())
    return schemas.Health(status="ok")


@router.get("/readyz", response_model=schemas.Health)
async def read_readiness(store: StoreDep) -> schemas.Health:
    """The database answers (503 problem otherwise)."""
    await store.ping()
    return schemas.Health(status="ok")


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[MetricsReader])
async def read_metrics(store: StoreDep) -> PlainTextResponse:
    """Prometheus text format, computed from the database at scrape time (bounded reads: open
    deliveries, endpoints, the last minute's attempts). Needs the metrics token
    (``STATUSHOOKS_METRICS_TOKEN``) or the admin token."""
    metrics = await queries.metrics(store, now=service.utcnow())
    return PlainTextResponse(render_metrics(metrics), media_type=PROMETHEUS_MEDIA_TYPE)


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _labelled(name: str, label: str, values: dict[str, int]) -> list[str]:
    return [f'{name}{{{label}="{key}"}} {value}' for key, value in sorted(values.items())]


def _quantile(value: float | None) -> str:
    return "NaN" if value is None else f"{value:.6f}"


def render_metrics(metrics: stats.Metrics) -> str:
    """The Prometheus text exposition (format 0.0.4)."""
    lines = _family("statushooks_deliveries", "gauge", "Open deliveries by state.")
    lines += _labelled("statushooks_deliveries", "state", metrics.deliveries_by_state)
    window = f"the last {stats.METRICS_WINDOW} s (at most {stats.METRICS_SAMPLE:,} newest)"
    lines += _family(
        "statushooks_attempts_recent",
        "gauge",
        f"Delivery attempts of {window} by outcome (success or error kind).",
    )
    lines += _labelled("statushooks_attempts_recent", "outcome", metrics.attempts_by_outcome)
    name = "statushooks_attempt_duration_recent_seconds"
    lines += _family(name, "gauge", f"Duration quantiles of the delivery attempts of {window}.")
    lines += [f'{name}{{quantile="{q:g}"}} {_quantile(v)}' for q, v in metrics.latency_quantiles]
    lines += _family("statushooks_queue_depth", "gauge", "Deliveries waiting for an attempt.")
    lines += [f"statushooks_queue_depth {metrics.queue_depth}"]
    lines += _family("statushooks_queue_due", "gauge", "Waiting deliveries already due.")
    lines += [f"statushooks_queue_due {metrics.queue_due}"]
    lines += _family("statushooks_endpoints", "gauge", "Endpoints by state.")
    lines += _labelled("statushooks_endpoints", "state", metrics.endpoints_by_state)
    lines += _family(
        "statushooks_endpoints_suspended",
        "gauge",
        "Endpoints paused for a short while after a burst of failures.",
    )
    lines += [f"statushooks_endpoints_suspended {metrics.endpoints_suspended}"]
    return "\n".join(lines) + "\n"
