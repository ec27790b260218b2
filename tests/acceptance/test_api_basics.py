"""The API's own surface: health, metrics, OpenAPI, unknown routes."""

from __future__ import annotations

from acceptance_support import Server


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
    """/metrics is Prometheus text with every family the issue lists."""
    response = await server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for family in (
        "statushooks_deliveries",
        "statushooks_attempts_total",
        "statushooks_attempt_duration_seconds",
        "statushooks_queue_depth",
        "statushooks_endpoints",
    ):
        assert f"# TYPE {family} " in text
    assert 'statushooks_attempt_duration_seconds_bucket{le="+Inf"} 0' in text
    assert 'statushooks_endpoints{state="active"} 0' in text


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
