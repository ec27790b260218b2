"""OpenTelemetry traces — the optional ``otel`` extra (``pip install 'statushooks[otel]'``).

Spans:

* ``HTTP <method> <route>`` (server) for each API request, continuing a W3C ``traceparent``
  the caller sent;
* ``statushooks.outbox.write`` for the transaction that stores a use case's work (a status
  change, its events and their deliveries);
* ``statushooks.attempt`` (client) for each webhook attempt: endpoint, event type, delivery,
  status, error kind, duration. Its parent is the request that caused the event: the event
  keeps that request's ``traceparent`` (``events.traceparent``) and the dispatcher continues
  it, in whichever process it runs. An endpoint with ``send_traceparent`` also gets the
  attempt's ``traceparent`` header.

Configured by the standard variables: with the SDK installed, ``OTEL_TRACES_EXPORTER``
(``console``, or ``otlp`` with ``opentelemetry-exporter-otlp`` installed; unset or ``none``:
no traces), ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SDK_DISABLED``; a
tracer provider the host application set up already is used as it is. Without the SDK, or
with no exporter, ``from_environment`` gives None and nothing here runs: no span, no header,
no ``traceparent`` read or stored.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statushooks.delivery import Result

TRACEPARENT = "traceparent"
TRACER_NAME = "statushooks"
#: Whether any ``Tracing`` exists in this process: ``current_traceparent`` is free without.
_active = False


class Tracing:
    """Makes statushooks' spans with one tracer (``from_environment``, or a test's)."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        global _active
        _active = True
        self.tracer = tracer
        self.propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_environment(cls) -> Tracing | None:
        """Tracing as the ``OTEL_*`` variables configure it, or None (see the module)."""
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
        except ImportError:
            return None
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            configured = _provider_from_environment()
            if configured is None:
                return None
            trace.set_tracer_provider(configured)
            provider = configured
        return cls(provider.get_tracer(TRACER_NAME))

    # -- API requests and the outbox ---------------------------------------------------------

    @contextlib.contextmanager
    def request(
        self, method: str, route: str, headers: Mapping[str, str]
    ) -> Iterator[Callable[[int, str | None], None]]:
        """A server span for one API request, continuing its ``traceparent``; yields a
        function that records the answer's status and the route template matched."""
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(headers)
        with self.tracer.start_as_current_span(
            f"HTTP {method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:

            def record(status: int, template: str | None) -> None:
                span.set_attribute("http.response.status_code", status)
                if template is not None:
                    span.set_attribute("http.route", template)
                    span.update_name(f"HTTP {method} {template}")

            yield record

    @contextlib.contextmanager
    def outbox_write(self) -> Iterator[None]:
        with self.tracer.start_as_current_span("statushooks.outbox.write"):
            yield

    # -- attempts ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def attempt(
        self, *, traceparent: str | None, endpoint_id: str, event_type: str, delivery_id: str
    ) -> Iterator[AttemptSpan]:
        """A client span for one attempt, child of the request that caused the event."""
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract({TRACEPARENT: traceparent} if traceparent else {})
        with self.tracer.start_as_current_span(
            "statushooks.attempt",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes={
                "statushooks.endpoint.id": endpoint_id,
                "statushooks.event.type": event_type,
                "statushooks.delivery.id": delivery_id,
            },
        ) as span:
            yield AttemptSpan(self, span)


class AttemptSpan:
    """The span of one attempt while it runs."""

    def __init__(self, tracing: Tracing, span: Any) -> None:
        self._tracing = tracing
        self._span = span
        self._start = time.perf_counter()

    def headers(self) -> dict[str, str]:
        """The W3C ``traceparent`` header of this span (for an endpoint that opted in)."""
        carrier: dict[str, str] = {}
        self._tracing.propagator.inject(carrier)
        return carrier

    def record(self, result: Result) -> None:
        from opentelemetry.trace import Status, StatusCode

        attempt = result.attempt
        self._span.set_attribute("statushooks.attempt.number", attempt.number)
        self._span.set_attribute("statushooks.attempt.duration_ms", attempt.duration_ms)
        if attempt.response_status is not None:
            self._span.set_attribute("http.response.status_code", attempt.response_status)
        if attempt.error_kind is not None:
            self._span.set_attribute("error.type", attempt.error_kind)
            self._span.set_status(Status(StatusCode.ERROR, attempt.error_message))


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the span running now (the API request that causes an
    event), or None: no ``Tracing`` in this process, or no span."""
    if not _active:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


def _provider_from_environment() -> Any:
    """An SDK tracer provider exporting to ``OTEL_TRACES_EXPORTER``, or None for none."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    names = [
        name.strip().lower()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip() and name.strip().lower() != "none"
    ]
    if not names:
        return None
    provider = TracerProvider(resource=Resource.create())
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def _exporter(name: str) -> Any:
    from statushooks import exceptions

    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise exceptions.ConfigurationError(
                "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http"
            ) from exc
        return OTLPSpanExporter()
    raise exceptions.ConfigurationError(f"unknown OTEL_TRACES_EXPORTER {name!r}")
