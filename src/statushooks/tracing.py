"""OpenTelemetry traces: optional (the ``otel`` extra), and free when off.

With the extra installed and an exporter configured by the standard variables
(``OTEL_TRACES_EXPORTER=otlp|console``, or an ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``;
``OTEL_SDK_DISABLED=true`` turns it off; ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` are read by the SDK itself), statushooks records:

* a server span per API request (``TracingMiddleware``), continuing an incoming W3C
  ``traceparent``;
* ``statushooks.outbox.write`` around each write of the service's use cases;
* ``statushooks.attempt`` per delivery attempt (endpoint, event type, delivery, attempt number,
  answer status, error, duration), a child of the API request that caused the event: the
  request's ``traceparent`` is stored with each delivery it created. An endpoint with
  ``send_traceparent`` also gets the attempt's ``traceparent`` as a request header.

Off (the default), every entry point here is one check of a module flag: nothing is imported
from OpenTelemetry and nothing is stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

#: Whether spans are recorded (``configure`` or ``enable`` turned them on).
_active = False
_tracer: Any = None
_propagator: Any = None
#: The provider ``configure`` made (``disable`` shuts it down, flushing its spans).
_own_provider: Any = None

W = TypeVar("W")
R = TypeVar("R")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def active() -> bool:
    return _active


def configure() -> bool:
    """Turn tracing on from the ``OTEL_*`` variables, if the ``otel`` extra is installed and
    an exporter is configured; whether it is on."""
    if _active:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not exporter_name and endpoint:
        exporter_name = "otlp"
    if exporter_name in ("", "none"):
        return False
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        logger.warning("OTEL_* is set but the otel extra is not installed: no traces")
        return False
    exporter: Any
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            logger.warning("OTEL_TRACES_EXPORTER=otlp needs the otel extra's OTLP exporter")
            return False
        exporter = OTLPSpanExporter()
    else:
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported: no traces", exporter_name)
        return False
    global _own_provider
    _own_provider = TracerProvider()
    _own_provider.add_span_processor(BatchSpanProcessor(exporter))
    enable(_own_provider)
    return True


def enable(provider: Any) -> None:
    """Record spans with ``provider`` (an SDK ``TracerProvider``; tests pass one with an
    in-memory exporter)."""
    global _active, _tracer, _propagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _tracer = provider.get_tracer("statushooks")
    _propagator = TraceContextTextMapPropagator()
    _active = True


def disable() -> None:
    """Stop recording spans (and flush and shut down the provider ``configure`` made)."""
    global _active, _tracer, _propagator, _own_provider
    _active, _tracer, _propagator = False, None, None
    if _own_provider is not None:
        _own_provider.shutdown()
        _own_provider = None


def in_current_context(work: Callable[[W], R]) -> Callable[[W], R]:
    """``work``, to run in this task's context wherever it runs (the store runs work in a
    thread of its own, where the current span would otherwise be unknown). ``work`` itself
    when tracing is off."""
    if not _active:
        return work
    context = contextvars.copy_context()
    return lambda arg: context.run(work, arg)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None (tracing off, or no span)."""
    if not _active:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def span(
    name: str, *, parent: str | None = None, kind: str = "INTERNAL", **attributes: Any
) -> Iterator[Any]:
    """A span named ``name`` (None when tracing is off), the current span's child, or
    ``parent``'s (a ``traceparent``) when given."""
    if not _active:
        yield None
        return
    from opentelemetry.trace import SpanKind

    context = _propagator.extract({"traceparent": parent}) if parent else None
    with _tracer.start_as_current_span(
        name, context=context, kind=getattr(SpanKind, kind), attributes=attributes
    ) as current:
        yield current


def set_attributes(current: Any, **attributes: Any) -> None:
    """Set attributes on a span from ``span`` (None when tracing is off)."""
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


class TracingMiddleware:
    """A server span per HTTP request (ASGI), continuing the request's ``traceparent``. Added
    to the app only when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _active:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        status: dict[str, int] = {}

        async def send_recording_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        with span(
            f"{method} {path}",
            parent=headers.get("traceparent"),
            kind="SERVER",
            **{"http.request.method": method, "url.path": path},
        ) as current:
            try:
                await self.app(scope, receive, send_recording_status)
            finally:
                set_attributes(
                    current,
                    **{
                        "http.response.status_code": status.get("code"),
                        "statushooks.duration_ms": (time.perf_counter() - started) * 1000,
                    },
                )
