"""Health and metrics: ``/healthz``, ``/readyz`` and Prometheus ``/metrics`` (no auth)."""

from __future__ import annotations

import math
import os

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from statushooks import service
from statushooks.api import queries, schemas
from statushooks.api.deps import StoreDep
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


@router.get("/metrics", response_class=PlainTextResponse)
async def read_metrics(store: StoreDep) -> PlainTextResponse:
    """Prometheus text format, computed from the database at scrape time."""
    metrics = await queries.metrics(store, now=service.utcnow())
    return PlainTextResponse(render_metrics(metrics), media_type=PROMETHEUS_MEDIA_TYPE)


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _labelled(name: str, label: str, values: dict[str, int]) -> list[str]:
    return [f'{name}{{{label}="{key}"}} {value}' for key, value in sorted(values.items())]


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def render_metrics(metrics: stats.Metrics) -> str:
    """The Prometheus text exposition (format 0.0.4)."""
    lines = _family(
        "statushooks_deliveries", "gauge", "Deliveries by state (outcome when finished)."
    )
    lines += _labelled("statushooks_deliveries", "state", metrics.deliveries_by_state)
    lines += _family(
        "statushooks_attempts_total",
        "counter",
        "Delivery attempts by outcome (success or error kind).",
    )
    lines += _labelled("statushooks_attempts_total", "outcome", metrics.attempts_by_outcome)
    name = "statushooks_attempt_duration_seconds"
    lines += _family(name, "histogram", "Duration of delivery attempts.")
    lines += [f'{name}_bucket{{le="{_le(b)}"}} {count}' for b, count in metrics.latency_buckets]
    lines += [
        f"{name}_sum {metrics.latency_sum_seconds:.6f}",
        f"{name}_count {metrics.latency_count}",
    ]
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
