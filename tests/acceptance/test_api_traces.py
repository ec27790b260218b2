"""Traces (``statushooks.tracing``) over real HTTP: the API request that caused an event, the
outbox write, and each attempt, one trace; the receiver gets it when its endpoint opts in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from statushooks import testing, tracing
from statushooks.events import interact

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
SMS = {"to": "+14155552671", "from": "Acme", "text": "hello"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, every span kept in memory (set up before the server: listed first)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


async def attempt_recorded(spans: InMemorySpanExporter) -> None:
    async def recorded() -> bool:
        return bool(named(spans, "statushooks.attempt"))

    await testing.wait_until(recorded, timeout=10.0)


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


async def create_endpoint(account: Any, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "enabled_events": [interact.NAME], **fields}
    response = await account.client.post("/v1/endpoints", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_one_trace_from_the_request_to_the_receiver(spans, server, sink):
    """An SMS submitted with a ``traceparent``: its server span continues that trace, the
    outbox write is its child, the attempt is a span of that request, and the receiver gets
    the attempt's ``traceparent``."""
    account = await server.account()
    endpoint = await create_endpoint(account, sink.url("/traced"), send_traceparent=True)
    assert endpoint["send_traceparent"] is True
    response = await account.client.post("/v1/sms", json=SMS, headers={"traceparent": INCOMING})
    assert response.status_code == 201, response.text
    [request] = await sink.wait_for(1, path="/traced")
    await attempt_recorded(spans)

    [submit] = named(spans, "POST /v1/sms")
    assert trace_id(submit) == TRACE_ID and submit.parent is not None
    assert f"{submit.parent.span_id:016x}" == INCOMING.split("-")[2]
    assert submit.attributes is not None
    assert submit.attributes["http.response.status_code"] == 201
    writes = [s for s in named(spans, "statushooks.outbox.write") if trace_id(s) == TRACE_ID]
    [write] = [
        w for w in writes if w.parent is not None and w.parent.span_id == submit.context.span_id
    ]  # type: ignore[union-attr]
    [attempt] = named(spans, "statushooks.attempt")
    assert trace_id(attempt) == TRACE_ID
    # The events are rendered in the request, before the write: the attempt is a span of it.
    assert attempt.parent is not None
    assert f"{attempt.parent.span_id:016x}" in (span_id(submit), span_id(write))
    assert attempt.attributes is not None
    assert attempt.attributes["statushooks.endpoint.id"] == endpoint["id"]
    assert attempt.attributes["statushooks.event.type"] == interact.NAME
    assert attempt.attributes["http.response.status_code"] == 200
    assert request.headers["traceparent"] == f"00-{TRACE_ID}-{span_id(attempt)}-01"


async def test_an_endpoint_that_did_not_opt_in_gets_no_traceparent(spans, server, sink):
    """The attempt is traced all the same; only the header is left out."""
    account = await server.account()
    await create_endpoint(account, sink.url("/plain"))
    response = await account.client.post("/v1/sms", json=SMS, headers={"traceparent": INCOMING})
    assert response.status_code == 201, response.text
    [request] = await sink.wait_for(1, path="/plain")
    await attempt_recorded(spans)
    assert "traceparent" not in request.headers
    assert trace_id(named(spans, "statushooks.attempt")[0]) == TRACE_ID


async def test_without_tracing_nothing_is_stored_or_sent(server, sink):
    """Tracing off (the default): deliveries keep no traceparent and none is sent, even to an
    endpoint that opted in."""
    assert not tracing.active()
    account = await server.account()
    await create_endpoint(account, sink.url("/off"), send_traceparent=True)
    response = await account.client.post("/v1/sms", json=SMS, headers={"traceparent": INCOMING})
    assert response.status_code == 201, response.text
    [request] = await sink.wait_for(1, path="/off")
    assert "traceparent" not in request.headers


async def test_a_status_report_is_traced_through_the_store_thread(spans, server, sink):
    """A report's events are rendered inside the write (in the store's thread on SQLite):
    the delivery still keeps the request's trace, and its attempt is the write's child."""
    account = await server.account()
    await create_endpoint(account, sink.url("/reports"), statuses=["delivered"])
    submitted = await account.client.post("/v1/sms", json=SMS)
    assert submitted.status_code == 201, submitted.text
    report_trace = "0af7651916cd43dd8448eb211c80319c"
    response = await account.client.post(
        f"/v1/messages/{submitted.json()['id']}/status",
        json={"status": "delivered"},
        headers={"traceparent": f"00-{report_trace}-b7ad6b7169203331-01"},
    )
    assert response.status_code == 200, response.text
    await sink.wait_for(1, path="/reports")
    await attempt_recorded(spans)
    [attempt] = named(spans, "statushooks.attempt")
    [write] = [s for s in named(spans, "statushooks.outbox.write") if trace_id(s) == report_trace]
    assert trace_id(attempt) == report_trace
    assert attempt.parent is not None and f"{attempt.parent.span_id:016x}" == span_id(write)
