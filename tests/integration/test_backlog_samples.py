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

    since = NOW - timedelta(minutes=5)
    rows = await store.read(lambda tx: tx.backlog_samples(busy, since=since))
    assert {(row.account_id, row.sampled_at, row.backlog) for row in rows} == {
        (t.TOTAL_ACCOUNT, NOW.replace(second=0), 3),
        (busy, NOW.replace(second=0), 3),
    }
    idle_rows = await store.read(lambda tx: tx.backlog_samples(idle, since=since))
    series = backlog.series(idle_rows, idle, start=NOW - MINUTE, bucket=MINUTE, buckets=1)
    assert series == [0]
    totals = await store.read(lambda tx: tx.backlog_samples(None, since=since))
    assert [row.account_id for row in totals] == [t.TOTAL_ACCOUNT]


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
        return (backlog.round_start(now - timedelta(minutes=minutes_ago)) - start) // MINUTE

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
