"""The backlog chart's pure parts: when rounds fall, and samples into buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statushooks import backlog
from statushooks.storage.tables import TOTAL_ACCOUNT
from statushooks.storage.transaction import BacklogSample

NOW = datetime(2026, 12, 7, 12, 30, 15, tzinfo=UTC)
START = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def rounds(*values: tuple[int, int | None]) -> list[BacklogSample]:
    """A round at START's minute + ``minute`` (and 0 s) per value: the total's row, and the
    account's unless None (it had no backlog then)."""
    samples = []
    for minute, mine in values:
        at = START.replace(second=0) + (minute + 1) * MINUTE
        samples.append(BacklogSample(account_id=TOTAL_ACCOUNT, sampled_at=at, backlog=100))
        if mine is not None:
            samples.append(BacklogSample(account_id="acc_1", sampled_at=at, backlog=mine))
    return samples


def test_rounds_fall_on_the_start_of_each_minute() -> None:
    """A round records the start of its minute, and the next waits for the next minute."""
    assert backlog.round_start(NOW) == datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    assert backlog.until_next_round(NOW) == 45.0
    assert backlog.until_next_round(NOW.replace(second=0)) == 60.0


@pytest.mark.parametrize(
    ("samples", "bucket", "expected"),
    [
        # No round taken: every bucket is a gap, not a zero.
        ([], MINUTE, [None, None, None, None]),
        # A round without the account's row: it had no backlog.
        (rounds((0, None)), MINUTE, [0, None, None, None]),
        # One round a minute, each in its own bucket; a missed minute stays a gap.
        (rounds((0, 5), (1, 7), (3, 2)), MINUTE, [5, 7, None, 2]),
        # Wider buckets hold several rounds: the highest is plotted.
        (rounds((0, 5), (1, 9), (2, None), (3, 4)), 2 * MINUTE, [9, 4, None, None]),
        # Rounds before the window or after its end are left out.
        (rounds((-3, 8), (0, 1), (9, 6)), MINUTE, [1, None, None, None]),
    ],
)
def test_series_plots_the_highest_sample_per_bucket(
    samples: list[BacklogSample], bucket: timedelta, expected: list[int | None]
) -> None:
    """Each bucket holds its highest sample; a round without the account's row counts 0."""
    assert backlog.series(samples, "acc_1", start=START, bucket=bucket, buckets=4) == expected


def test_the_total_series_reads_the_rounds_own_rows() -> None:
    """Without an account, the series is the total of every account."""
    samples = rounds((0, 5), (2, None))
    assert backlog.series(samples, None, start=START, bucket=MINUTE, buckets=3) == [100, None, 100]
