"""The delivery records' own rules (``deliveries``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks.deliveries import Attempt, DeliveryState, shown_state, storable_text

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_a_pending_delivery_under_a_live_lease_shows_leased() -> None:
    assert shown_state(DeliveryState.PENDING, NOW + SECOND, NOW) is DeliveryState.LEASED


@pytest.mark.parametrize("expires", [None, NOW, NOW - SECOND])
def test_a_pending_delivery_without_a_live_lease_shows_pending(expires: datetime | None) -> None:
    assert shown_state(DeliveryState.PENDING, expires, NOW) is DeliveryState.PENDING


@pytest.mark.parametrize("stored", [DeliveryState.SUCCEEDED, DeliveryState.FAILED])
def test_a_finished_delivery_shows_its_stored_state(stored: DeliveryState) -> None:
    assert shown_state(stored, NOW + SECOND, NOW) is stored


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("", ""),
        ('{"ok":true}', '{"ok":true}'),
        ("a\x00b", "a\ufffdb"),
        ("\x00\x00", "\ufffd\ufffd"),
        ("caf\u00e9 \u4e2d \U0001f600", "caf\u00e9 \u4e2d \U0001f600"),
        ("lone \ud800 and \udfff", "lone \ufffd and \ufffd"),
        ("\x00\u00e9\udc80", "\ufffd\u00e9\ufffd"),
        ("tab\tand\x01control", "tab\tand\x01control"),
    ],
    ids=["empty", "ascii", "nul", "nuls", "not-ascii", "surrogates", "both", "controls"],
)
def test_storable_text_replaces_what_a_database_cannot_store(text: str, stored: str) -> None:
    """NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8) become U+FFFD; the rest,
    other control characters included, is kept."""
    assert storable_text(text) == stored
    stored.encode("utf-8")


def test_text_that_is_storable_is_returned_as_it_is() -> None:
    text = "caf\u00e9 " * 100
    assert storable_text(text) is text


def test_an_attempt_makes_its_outside_text_storable() -> None:
    """Whoever records an attempt, its response body and error message are storable."""
    attempt = Attempt(
        id="att_1",
        delivery_id="dlv_1",
        endpoint_id="ep_1",
        number=1,
        started_at=NOW,
        duration_ms=1.0,
        response_body="a\x00b",
        error_message="internal error: \ud800\x00",
    )
    assert attempt.response_body == "a\ufffdb"
    assert attempt.error_message == "internal error: \ufffd\ufffd"
