"""Retention: what is older than the retention period is deleted, a small batch at a time.

Once older than ``Settings.retention`` (default 30 days), these go, oldest first:

* attempts;
* finished deliveries (``succeeded`` or ``failed``; an open one is kept, however old);
* events no delivery refers to any more;
* messages no event refers to any more and unchanged for the period, with their status
  history and tracked links;
* idempotency keys past their 24 h lifetime (``storage.idempotency.KEY_LIFETIME``: they can
  never be replayed again), whatever the period;
* backlog samples older than the period or than ``backlog.SAMPLE_LIFETIME`` (the charts read
  a day at most), whichever is shorter.

"Older" is read from the ids, which sort by the time they were made (``ids``): each batch is
a range of a primary key, so its cost does not grow with what is kept. Each batch is one
short write transaction of at most ``BATCH`` rows (on SQLite every other write waits for it),
and a pause between batches lets the other writers in. The dispatcher prunes every
``Settings.prune_interval`` (default ``PRUNE_INTERVAL``), and again at once after a round
that stopped at its cap (``prune_periodically``);
``statushooks prune`` prunes once, at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from statushooks import backlog, exceptions, ids
from statushooks.storage.idempotency import KEY_LIFETIME
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

logger = logging.getLogger(__name__)

BATCH = 500  # rows deleted per transaction, at most
PAUSE = 0.05  # seconds between two batches of the running service
PRUNE_INTERVAL = 60.0  # seconds between the dispatcher's pruning rounds, by default
#: Batches of one kind a pruning round of the running service deletes at most: a backlog of
#: old rows is worked off over several rounds.
MAX_BATCHES = 200


@dataclass(frozen=True, kw_only=True)
class Pruned:
    """Rows deleted, per kind."""

    attempts: int = 0
    deliveries: int = 0
    events: int = 0
    messages: int = 0
    idempotency_keys: int = 0
    backlog_samples: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name) for field in fields(self))

    @property
    def most(self) -> int:
        """The most rows of one kind."""
        return max(int(getattr(self, field.name)) for field in fields(self))


Step = Callable[[Transaction], int]


def _steps(now: datetime, older_than: timedelta, batch: int) -> dict[str, Step]:
    """Each kind's batch, in the order their references allow."""
    cutoff = now - older_than
    at = cutoff.timestamp()
    return {
        "attempts": lambda tx: tx.prune_attempts(made_before=ids.first_id("att", at), limit=batch),
        "deliveries": lambda tx: tx.prune_deliveries(
            made_before=ids.first_id("dlv", at), limit=batch
        ),
        "events": lambda tx: tx.prune_events(made_before=ids.first_id("evt", at), limit=batch),
        "messages": lambda tx: tx.prune_messages(
            made_before=ids.first_id("msg", at), updated_before=cutoff, limit=batch
        ),
        "idempotency_keys": lambda tx: tx.prune_idempotency_keys(
            created_before=now - KEY_LIFETIME, limit=batch
        ),
        "backlog_samples": lambda tx: tx.prune_backlog_samples(
            before=backlog.minute_of(now - min(older_than, backlog.SAMPLE_LIFETIME)), limit=batch
        ),
    }


async def prune(
    store: Store,
    *,
    older_than: timedelta,
    now: datetime,
    batch: int = BATCH,
    pause: float = 0.0,
    max_batches: int | None = None,
) -> Pruned:
    """Delete what is older than ``older_than`` at ``now``, ``batch`` rows per transaction,
    ``pause`` seconds between transactions; at most ``max_batches`` per kind (None: until
    none is left)."""
    if older_than <= timedelta(0):
        raise exceptions.ConfigurationError("the retention period must be positive")
    counts: dict[str, int] = {}
    for kind, step in _steps(now, older_than, batch).items():
        counts[kind] = await _drain(store, step, batch, pause, max_batches)
    return Pruned(**counts)


async def _drain(
    store: Store, step: Step, batch: int, pause: float, max_batches: int | None
) -> int:
    """Run ``step`` until a batch comes back short (or ``max_batches``); the rows deleted."""
    deleted = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        count = await store.write(step)
        deleted += count
        batches += 1
        if count < batch:
            break
        if pause:
            await asyncio.sleep(pause)
    return deleted


async def prune_periodically(
    store: Store,
    *,
    older_than: timedelta,
    clock: Callable[[], datetime],
    interval: float = PRUNE_INTERVAL,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The running service's pruning: a round every ``interval`` seconds, until cancelled.

    A round deletes at most ``max_batches`` batches of each kind, so a backlog of old rows is
    worked off kind after kind, a share at a time. A round that stopped at that cap is followed
    by the next one after ``PAUSE``, not ``interval``: the pruning keeps up with whatever rate
    rows come of age at, as long as the database deletes faster than it is written to. A round
    that fails (the database is down) is logged; the next one tries again. What the database
    leaves undone that pruning relies on (autovacuum off) is logged at the start."""
    await _warn_of_maintenance(store)
    delay = interval
    while True:
        await sleep(delay)
        delay = interval
        try:
            pruned = await prune(
                store,
                older_than=older_than,
                now=clock(),
                batch=batch,
                pause=PAUSE,
                max_batches=max_batches,
            )
        except exceptions.StorageError as exc:
            logger.warning("pruning old rows failed: %s", exc)
            continue
        if pruned.total:
            logger.info("pruned rows older than %s: %s", older_than, pruned)
        if pruned.most >= batch * max_batches:
            delay = PAUSE  # cut off at the cap: more of that kind is old already


async def _warn_of_maintenance(store: Store) -> None:
    try:
        warnings = await store.maintenance_warnings()
    except exceptions.StorageError as exc:
        logger.warning("reading the database's maintenance settings failed: %s", exc)
        return
    for warning in warnings:
        logger.warning("%s", warning)
