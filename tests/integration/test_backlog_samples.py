"""The backlog sampled once a minute, charted, and pruned: on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from statushooks import backlog, retention, service, testing
from statushooks.dashboard import views
from statushooks.dispatcher import Dispatcher
from statushooks.storage import tables as t
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

NOW = datetime(2026, 12, 7, 12, 30, 15, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
UNREACHABLE = "http://127.0.0.1:9/hook"  # no dispatcher runs: deliveries stay pending


async def account_with_backlog(svc: service.Service, name: str, pending: int) -> str:
    """An account with one endpoint and ``pending`` test deliveries waiting."""
    account_id = (await svc.create_account(name)).account.id
    endpoint = await svc.create_endpoint(account_id, service.EndpointSpec(url=UNREACHABLE))
    for _ in range(pending):
        await svc.send_test(account_id, endpoint.id, "sms.message.updated")
    return account_id


async def sample_rows(store: Store) -> int:
    def count(tx: Transaction) -> int:
        return int(tx.conn.execute(sa.text("SELECT count(*) FROM backlog_samples")).scalar_one())

    return await store.read(count)


async def test_a_round_records_each_backlog_once_per_minute(svc, store):
    """A round writes the total and each account with a backlog; a second round in the same
    minute (another worker's) writes nothing; an account without a row had none."""
    busy = await account_with_backlog(svc, "busy", 3)
    idle = await account_with_backlog(svc, "idle", 0)
    assert await backlog.sample(store, NOW) is True
    assert await backlog.sample(store, NOW + timedelta(seconds=30)) is False
    assert await sample_rows(store) == 2

    def rows(tx: Transaction) -> set[tuple[str, int, int]]:
        b = t.backlog_samples.c
        found = tx.conn.execute(sa.select(b.account_id, b.minute, b.backlog)).all()
        return {(str(a), int(m), int(n)) for a, m, n in found}

    minute = backlog.minute_of(NOW)
    assert await store.read(rows) == {(t.TOTAL_ACCOUNT, minute, 3), (busy, minute, 3)}
    first = minute - 1
    assert await store.read(lambda tx: tx.backlog_peaks(busy, first=first, width=1)) == {1: 3}
    assert await store.read(lambda tx: tx.backlog_peaks(idle, first=first, width=1)) == {1: 0}
    assert await store.read(lambda tx: tx.backlog_peaks(None, first=first, width=1)) == {1: 3}


async def test_a_bucket_holds_its_rounds_highest_sample(svc, store):
    """Rounds of one bucket: the highest is the account's peak there, and a round without
    the account's row counts 0."""
    account_id = await account_with_backlog(svc, "acme", 2)
    start = backlog.minute_of(NOW)
    await backlog.sample(store, NOW)
    await account_with_backlog(svc, "other", 1)
    await backlog.sample(store, NOW + MINUTE)
    await svc.send_test(
        account_id,
        (await store.read(lambda tx: tx.list_endpoints(account_id))).data[0].id,
        "sms.message.updated",
    )
    await backlog.sample(store, NOW + 3 * MINUTE)
    peaks = await store.read(lambda tx: tx.backlog_peaks(account_id, first=start, width=2))
    assert peaks == {0: 2, 1: 3}
    totals = await store.read(lambda tx: tx.backlog_peaks(None, first=start, width=2))
    assert totals == {0: 3, 1: 4}
    other = (await store.read(lambda tx: tx.list_accounts(limit=10))).data
    [other_id] = [a.id for a in other if a.id != account_id]
    assert await store.read(lambda tx: tx.backlog_peaks(other_id, first=start, width=1)) == {
        0: 0,
        1: 1,
        3: 1,
    }


async def test_the_overview_charts_the_backlog_per_minute(svc, store):
    """The overview's backlog series has each minute's sample in its bucket and gaps
    (None) where no round was taken; samples of the last day go into hourly buckets. The
    operators' queue charts every account's."""
    account_id = await account_with_backlog(svc, "acme", 2)
    now = datetime.now(UTC)
    for minutes_ago in (30, 2):
        await backlog.sample(store, now - timedelta(minutes=minutes_ago))
    await account_with_backlog(svc, "other", 1)
    await svc.send_test(
        account_id,
        (await store.read(lambda tx: tx.list_endpoints(account_id))).data[0].id,
        "sms.message.updated",
    )
    await backlog.sample(store, now - timedelta(minutes=1))

    hour = await views.overview(store, account_id, views.WINDOWS["1h"], now)
    series = hour.backlog_series
    assert len(series) == 60
    assert [value for value in series if value is not None] == [2, 2, 3]
    start = now - views.WINDOWS["1h"].span

    def bucket_of(minutes_ago: int) -> int:
        at = datetime.fromtimestamp(backlog.minute_of(now) * 60, UTC)
        return (at - timedelta(minutes=minutes_ago) - start) // MINUTE

    assert series[bucket_of(1)] == 3 and series[bucket_of(2)] == 2
    assert series[bucket_of(30)] == 2 and series[0] is None
    everyone = (await views.queue_health(store, now)).backlog_series
    assert [value for value in everyone if value is not None] == [2, 2, 4]
    day = await views.overview(store, account_id, views.WINDOWS["24h"], now)
    assert len(day.backlog_series) == 24
    assert day.backlog_series[-1] == 3 and day.backlog_series[0] is None


async def test_retention_prunes_old_samples(svc, store):
    """Samples go once older than ``backlog.SAMPLE_LIFETIME``, or than the retention period
    when that is shorter; a batch at a time."""
    await account_with_backlog(svc, "acme", 1)
    now = datetime.now(UTC)
    for age in (timedelta(hours=30), timedelta(hours=26), timedelta(hours=2)):
        await backlog.sample(store, now - age)
    assert await sample_rows(store) == 6

    pruned = await retention.prune(store, older_than=timedelta(days=30), now=now, batch=1)
    assert pruned.backlog_samples == 4
    assert dataclasses.replace(pruned, backlog_samples=0).total == 0
    assert await sample_rows(store) == 2
    shorter = await retention.prune(store, older_than=timedelta(hours=1), now=now)
    assert shorter.backlog_samples == 2


async def test_the_running_dispatcher_samples_the_backlog(store, settings):
    """A dispatcher takes a round as it starts (and then every minute)."""

    async def sampled() -> bool:
        return await sample_rows(store) >= 1

    async with testing.running(Dispatcher(store, settings)):
        await testing.wait_until(sampled, timeout=10.0)
