"""The backlog over time: sampled once a minute by the running service, charted by the dashboard.

The backlog (deliveries stored ``pending``: waiting for an attempt or in flight) is a level, not
a flow: counts of deliveries made and finished per minute cannot rebuild it (a recovered
delivery opens again, retention deletes rows, the live count is capped, and counting a day of
deliveries would read up to the whole table). So each dispatcher samples it at the start of
every minute into ``backlog_samples``: one row per account with a backlog, and the total
(``tables.TOTAL_ACCOUNT``), whose primary key makes the round happen once whatever the number of
workers. A chart reads at most two rows a minute of its window, grouped into its buckets by the
database; retention deletes samples older than ``SAMPLE_LIFETIME``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from statushooks import exceptions
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
#: Samples are kept this long (the longest chart is a day; retention prunes them sooner if
#: its period is shorter).
SAMPLE_LIFETIME = timedelta(hours=25)


def minute_of(when: datetime) -> int:
    """The minute (since the Unix epoch) that ``when`` falls in: a round's key."""
    return math.floor(when.timestamp() / 60)


def first_minute(start: datetime) -> int:
    """The first whole minute at or after ``start``: the first round a window holds."""
    return math.ceil(start.timestamp() / 60)


def until_next_round(now: datetime) -> float:
    """Seconds from ``now`` to the start of the next minute."""
    return (minute_of(now) + 1) * 60 - now.timestamp()


async def sample(store: Store, now: datetime) -> bool:
    """Record the backlog of every account in ``now``'s minute; False when another worker
    had recorded that minute already."""
    minute = minute_of(now)
    # Counted in a read transaction: on SQLite a write holds the one writer lock, and the
    # count takes as long as the backlog is large.
    backlogs = await store.read(lambda tx: tx.backlog_by_account())
    return await store.write(lambda tx: tx.record_backlog(minute, backlogs))


async def sample_periodically(store: Store, *, clock: Callable[[], datetime]) -> None:
    """A round now, then one at the start of every minute, until cancelled. A round that
    fails (the database is down) is logged, and leaves a gap in the chart."""
    while True:
        try:
            await sample(store, clock())
        except exceptions.StorageError as exc:
            logger.warning("sampling the backlog failed: %s", exc)
        await asyncio.sleep(until_next_round(clock()))


def series(peaks: Mapping[int, int], buckets: int) -> list[int | None]:
    """``peaks`` by bucket number as a list of ``buckets``, oldest first; None where no
    round was taken (a gap, not a zero)."""
    return [peaks.get(index) for index in range(buckets)]


def read_series(
    tx: Transaction,
    account_id: str | None,
    *,
    start: datetime,
    bucket: timedelta,
    buckets: int,
) -> list[int | None]:
    """The highest backlog of ``account_id`` (None: of all accounts) sampled in each of
    ``buckets`` buckets from ``start``. Rounds fall on whole minutes, so counting buckets
    from the window's first whole minute puts each round in the bucket its time is in."""
    width = bucket // MINUTE
    if width < 1 or bucket % MINUTE:
        raise ValueError(f"a bucket of whole minutes, not {bucket}")
    return series(tx.backlog_peaks(account_id, first=first_minute(start), width=width), buckets)
