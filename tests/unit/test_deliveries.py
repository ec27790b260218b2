"""The delivery records' own rules (``deliveries``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks.deliveries import DeliveryState, shown_state

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
