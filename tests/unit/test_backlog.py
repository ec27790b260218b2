"""The backlog chart's pure parts: when rounds fall, and which bucket holds each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks import backlog

NOW = datetime(2026, 12, 7, 12, 30, 15, tzinfo=UTC)
ROUND = backlog.minute_of(datetime(2026, 12, 7, 12, 30, tzinfo=UTC))


def test_rounds_fall_on_the_start_of_each_minute() -> None:
    """A round is keyed by its minute since the epoch, and the next waits for the next one."""
    assert backlog.minute_of(NOW) == ROUND == int(NOW.timestamp()) // 60
    assert backlog.minute_of(NOW.replace(second=59, microsecond=999_999)) == ROUND
    assert backlog.until_next_round(NOW) == 45.0
    assert backlog.until_next_round(NOW.replace(second=0)) == 60.0


@pytest.mark.parametrize(
    ("start", "first"),
    [
        (NOW.replace(second=0), ROUND),  # on a whole minute: that minute's round is in
        (NOW, ROUND + 1),  # within a minute: its round (at :00) was before the window
    ],
)
def test_a_window_starts_at_its_first_whole_minute(start: datetime, first: int) -> None:
    """A window's first round is the first whole minute at or after its start."""
    assert backlog.first_minute(start) == first


@pytest.mark.parametrize("seconds", [0, 1, 29, 30, 59])
@pytest.mark.parametrize("width", [1, 2, 60])
def test_counting_from_the_first_minute_puts_each_round_in_its_buckets_time(
    seconds: int, width: int
) -> None:
    """Numbering buckets from the window's first whole minute (what the database does, with
    integers) gives each round the bucket its time falls in, whatever the window's second."""
    start = datetime(2026, 12, 7, 11, 30, seconds, tzinfo=UTC)
    first = backlog.first_minute(start)
    bucket = timedelta(minutes=width)
    for minute in range(first, first + 3 * width + 1):
        at = datetime.fromtimestamp(minute * 60, UTC)
        assert (minute - first) // width == (at - start) // bucket


@pytest.mark.parametrize(
    ("peaks", "expected"),
    [
        ({}, [None, None, None, None]),  # no round taken: gaps, not zeros
        ({0: 0}, [0, None, None, None]),  # a round without the account's row: none then
        ({0: 5, 1: 7, 3: 2}, [5, 7, None, 2]),  # a missed bucket stays a gap
        ({1: 4, 9: 6}, [None, 4, None, None]),  # past the window's end: left out
    ],
)
def test_series_lists_each_buckets_peak(peaks: dict[int, int], expected: list[int | None]) -> None:
    """The peaks by bucket number become the chart's values, oldest first."""
    assert backlog.series(peaks, 4) == expected


def test_buckets_are_whole_minutes() -> None:
    """A bucket that is no whole number of minutes cannot hold whole rounds."""
    with pytest.raises(ValueError, match="whole minutes"):
        backlog.read_series(
            None,  # type: ignore[arg-type]
            None,
            start=NOW,
            bucket=timedelta(seconds=90),
            buckets=4,
        )
