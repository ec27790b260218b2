"""The API's own surface: health, metrics, OpenAPI, unknown routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from acceptance_support import Server

from statushooks import config
from statushooks.api.app import create_app

PROBLEM = "application/problem+json"


@asynccontextmanager
async def api_client(settings: config.Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API (no dispatcher) with ``settings``, on the same database."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


def assert_status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM


async def test_healthz(server: Server) -> None:
    """/healthz answers ok without credentials."""
    response = await server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz(server: Server) -> None:
    """/readyz answers ok while the database is reachable."""
    response = await server.client.get("/readyz")
    assert response.status_code == 200


async def test_metrics_text_format(server: Server) -> None:
    """/metrics is Prometheus text with every family the issue lists (admin token)."""
    response = await server.admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for family in (
        "statushooks_deliveries",
        "statushooks_attempts_recent",
        "statushooks_attempt_duration_recent_seconds",
        "statushooks_queue_depth",
        "statushooks_queue_due",
        "statushooks_endpoints",
    ):
        assert f"# TYPE {family} gauge" in text
    assert 'statushooks_attempt_duration_recent_seconds{quantile="0.99"} NaN' in text
    assert 'statushooks_endpoints{state="active"} 0' in text
    assert 'statushooks_deliveries{state="leased"} 0' in text


async def test_metrics_need_the_metrics_or_the_admin_token(server: Server) -> None:
    """/metrics answers 401 without a token or with a wrong one, 200 with the admin token or
    the metrics token, and 403 when neither token is set."""
    wrong = {"Authorization": "Bearer not-the-token"}
    assert_status(await server.client.get("/metrics"), 401)
    assert_status(await server.client.get("/metrics", headers=wrong), 401)
    assert_status(await server.admin.get("/metrics"), 200)
    metrics_token = "m" * 32
    async with api_client(server.settings.model_copy(update={"metrics_token": metrics_token})) as c:
        assert_status(
            await c.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"}), 200
        )
        assert_status(await c.get("/metrics", headers=wrong), 401)
    async with api_client(server.settings.model_copy(update={"admin_token": None})) as c:
        assert_status(await c.get("/metrics", headers=wrong), 403)


async def test_openapi_and_docs(server: Server) -> None:
    """/openapi.json lists the contract's routes and /docs serves the explorer."""
    spec = (await server.client.get("/openapi.json")).json()
    for path in (
        "/v1/accounts",
        "/v1/endpoints/{endpoint_id}/rotate-secret",
        "/v1/sms",
        "/v1/status-reports",
        "/v1/deliveries/{delivery_id}/attempts",
        "/l/{code}",
    ):
        assert path in spec["paths"]
    docs = await server.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_unknown_route_is_problem(server: Server) -> None:
    """An unknown route answers a 404 problem document."""
    response = await server.client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert set(body) == {"type", "title", "status", "detail", "errors"}
