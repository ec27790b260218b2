"""``statushooks.tracing``: configured by the standard ``OTEL_*`` variables, free when off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from statushooks import tracing

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.disable()


def test_off_without_configuration():
    assert tracing.configure() is False
    assert not tracing.active()
    assert tracing.current_traceparent() is None
    with tracing.span("nothing") as current:
        assert current is None
    work = lambda value: value
    assert tracing.in_current_context(work) is work


def test_the_console_exporter_turns_it_on(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.configure() is True and tracing.active()
    with tracing.span("outer") as current:
        assert current is not None
        traceparent = tracing.current_traceparent()
    assert traceparent is not None and traceparent.startswith("00-")


def test_sdk_disabled_wins(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.configure() is False


def test_an_unknown_exporter_is_refused_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    assert tracing.configure() is False
    assert "not supported" in caplog.text


def test_a_span_continues_a_given_traceparent():
    from opentelemetry.sdk.trace import TracerProvider

    tracing.enable(TracerProvider())
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with tracing.span("child", parent=parent):
        traceparent = tracing.current_traceparent()
    assert traceparent is not None
    assert traceparent.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert traceparent.split("-")[2] != "00f067aa0ba902b7"
