"""The dialects' timestamp shapes: four digits of year, whatever the year."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from statushooks.events import timestamps


@pytest.mark.parametrize(
    ("moment", "seconds", "millis"),
    [
        (
            datetime(2025, 6, 25, 12, 10, 47, 123456, tzinfo=UTC),
            "2025-06-25T12:10:47Z",
            "2025-06-25T12:10:47.123Z",
        ),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000Z"),
        (
            datetime(1, 1, 1, 0, 0, 0, 999, tzinfo=UTC),
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00.000Z",
        ),
        (
            datetime(2025, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            "2024-12-31T23:30:00Z",
            "2024-12-31T23:30:00.000Z",
        ),
        (datetime(2025, 1, 1, 9, 0, 0, 999999), "2025-01-01T09:00:00Z", "2025-01-01T09:00:00.999Z"),
    ],
)
def test_timestamps_keep_their_shape(moment: datetime, seconds: str, millis: str) -> None:
    """Seconds (Interact) and milliseconds (YCloud), UTC, truncated; a year before 1000 is
    written with four digits, as both patterns require (it was ``999-01-01T…``)."""
    assert timestamps.seconds(moment) == seconds
    assert timestamps.millis(moment) == millis
    assert re.match(timestamps.SECONDS_PATTERN, seconds)
    assert re.match(timestamps.MILLIS_PATTERN, millis)
