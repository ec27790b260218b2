"""OpenTelemetry traces (the ``otel`` extra): API request → outbox write → each attempt, one
trace, checked with the SDK's in-memory exporter against a real receiver, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from statushooks import config, testing, tracing
from statushooks.api import create_app
from statushooks.dispatcher import Dispatcher
from statushooks.storage.sql import Store

ADMIN = "tracing-admin-token-0123456789"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(exporter: InMemorySpanExporter) -> tracing.Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracing.Tracing(provider.get_tracer("test"))


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    async with testing.WebhookSink() as running:
        yield running


@pytest.fixture
async def api(
    store: Store, settings: config.Settings, traced: tracing.Tracing
) -> AsyncIterator[httpx.AsyncClient]:
    """The API under uvicorn on 127.0.0.1, traced; a client with the admin token."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(tune(settings, admin_token=ADMIN), store, tracing=traced)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


def tune(settings: config.Settings, **changes: Any) -> config.Settings:
    return config.load_settings(**{**settings.model_dump(), **changes})


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def test_one_trace_from_request_to_attempt(store, settings, sink, api, exporter, traced):
    """The request's traceparent is continued by its server span, the outbox write and, in
    the dispatcher, the attempt's span; an endpoint that opted in gets the attempt's
    traceparent header, another none."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    account = (await api.post("/v1/accounts", json={"name": "acme"}, headers=admin)).json()
    auth = {"Authorization": f"Bearer {account['api_key']}"}
    endpoint_ids = {}
    for path, opted_in in (("/traced", True), ("/plain", False)):
        response = await api.post(
            "/v1/endpoints",
            json={"url": sink.url(path), "send_traceparent": opted_in},
            headers=auth,
        )
        assert response.status_code == 201, response.text
        assert response.json()["send_traceparent"] is opted_in
        endpoint_ids[path] = response.json()["id"]
    sms = {"to": "+447810000001", "from": "Acme", "text": "hi"}
    response = await api.post("/v1/sms", json=sms, headers={**auth, "traceparent": TRACEPARENT})
    assert response.status_code == 201, response.text
    [request_span] = [
        s
        for s in spans_named(exporter, "HTTP POST /v1/sms")
        if s.context.trace_id == int(TRACE_ID, 16)
    ]
    assert request_span.kind is SpanKind.SERVER
    assert request_span.parent is not None and request_span.parent.span_id == int(CALLER_SPAN, 16)
    assert request_span.attributes["http.response.status_code"] == 201
    [write] = [
        s
        for s in spans_named(exporter, "statushooks.outbox.write")
        if s.context.trace_id == int(TRACE_ID, 16)
    ]
    assert write.parent is not None and write.parent.span_id == request_span.context.span_id

    async with testing.running(
        Dispatcher(store, tune(settings, poll_interval=0.05), tracing=traced)
    ):
        [traced_request] = await sink.wait_for(1, path="/traced")
        [plain_request] = await sink.wait_for(1, path="/plain")
    attempts = spans_named(exporter, "statushooks.attempt")
    assert len(attempts) == 2
    for span in attempts:
        assert span.kind is SpanKind.CLIENT
        assert span.context.trace_id == int(TRACE_ID, 16)
        assert span.parent is not None and span.parent.span_id == request_span.context.span_id
        assert span.attributes["statushooks.event.type"] == "com.interact.messages.sms.status"
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["statushooks.attempt.duration_ms"] >= 0
    header = traced_request.headers["traceparent"]
    version, trace_id, span_id, _flags = header.split("-")
    assert (version, trace_id) == ("00", TRACE_ID)
    [sent_by] = [s for s in attempts if s.context.span_id == int(span_id, 16)]
    assert sent_by.attributes["statushooks.endpoint.id"] == endpoint_ids["/traced"]
    assert "traceparent" not in plain_request.headers


def test_no_tracing_without_an_exporter(monkeypatch):
    """Without OTEL_TRACES_EXPORTER (or with none, or OTEL_SDK_DISABLED) there is no
    Tracing: no span, no header, no traceparent read by the claim."""
    for value in (None, "none"):
        if value is None:
            monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
        else:
            monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
        assert tracing.Tracing.from_environment() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.Tracing.from_environment() is None


def test_exporters_from_the_environment(monkeypatch):
    """OTEL_TRACES_EXPORTER=console makes a provider with OTEL_SERVICE_NAME as its resource;
    an unknown exporter is a ConfigurationError."""
    from statushooks import exceptions

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "statushooks-test")
    provider = tracing._provider_from_environment()
    assert provider.resource.attributes["service.name"] == "statushooks-test"
    provider.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
    with pytest.raises(exceptions.ConfigurationError, match="carrier-pigeon"):
        tracing._provider_from_environment()
