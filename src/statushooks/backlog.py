"""The backlog over time: sampled once a minute by the running service, charted by the dashboard.

The backlog (deliveries stored ``pending``: waiting for an attempt or in flight) is a level, not
a flow: counts of deliveries made and finished per minute cannot rebuild it (a recovered
delivery opens again; retention deletes rows; the live count is capped). So each dispatcher
samples it every ``SAMPLE_INTERVAL`` into ``backlog_samples``, at the start of each minute: one
row per account with a backlog, and the total (``tables.TOTAL_ACCOUNT``), whose primary key
makes the round happen once whatever the number of workers. A chart reads at most two rows a
minute of its window; retention deletes samples older than ``SAMPLE_LIFETIME``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from statushooks import exceptions
from statushooks.storage import tables
from statushooks.storage.sql import Store
from statushooks.storage.transaction import BacklogSample

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL = timedelta(minutes=1)
#: Samples are kept this long (the longest chart is a day; retention prunes them sooner if
#: its period is shorter).
SAMPLE_LIFETIME = timedelta(hours=25)


def round_start(now: datetime) -> datetime:
    """The time a round at ``now`` is recorded under: the start of its minute."""
    return now.replace(second=0, microsecond=0)


def until_next_round(now: datetime) -> float:
    """Seconds from ``now`` to the start of the next minute."""
    return (round_start(now) + SAMPLE_INTERVAL - now).total_seconds()


async def sample(store: Store, now: datetime) -> bool:
    """Record the backlog of every account as of ``now``'s minute; False when another worker
    had recorded that minute already."""
    at = round_start(now)
    return await store.write(lambda tx: tx.record_backlog(at))


async def sample_periodically(store: Store, *, clock: Callable[[], datetime]) -> None:
    """A round now, then one at the start of every minute, until cancelled. A round that
    fails (the database is down) is logged, and leaves a gap in the chart."""
    while True:
        try:
            await sample(store, clock())
        except exceptions.StorageError as exc:
            logger.warning("sampling the backlog failed: %s", exc)
        await asyncio.sleep(until_next_round(clock()))


def series(
    samples: Sequence[BacklogSample],
    account_id: str | None,
    *,
    start: datetime,
    bucket: timedelta,
    buckets: int,
) -> list[int | None]:
    """The highest backlog of ``account_id`` (None: of all accounts) sampled in each of
    ``buckets`` buckets from ``start``, oldest first; None where no round was taken."""
    rounds: dict[datetime, int] = {}
    mine: dict[datetime, int] = {}
    for row in samples:
        if row.account_id == tables.TOTAL_ACCOUNT:
            rounds[row.sampled_at] = row.backlog
        if row.account_id == (account_id or tables.TOTAL_ACCOUNT):
            mine[row.sampled_at] = row.backlog
    peaks: list[int | None] = [None] * buckets
    for sampled_at in rounds:
        index = (sampled_at - start) // bucket
        if 0 <= index < buckets:
            value = mine.get(sampled_at, 0)
            current = peaks[index]
            peaks[index] = value if current is None else max(current, value)
    return peaks
