"""Retention: rows older than the period are deleted in small batches; nothing open is."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from statushooks import ids, retention, service
from statushooks.deliveries import Attempt, DeliveryState
from statushooks.events import interact
from statushooks.messages import MessageStatus
from statushooks.storage import idempotency
from statushooks.storage import tables as t
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

PHONE = "+14155552671"
PERIOD = timedelta(days=30)
TABLES = ("attempts", "deliveries", "events", "messages", "status_history", "links")


async def counts(store: Store) -> dict[str, int]:
    def count(tx: Transaction) -> dict[str, int]:
        return {
            name: int(tx.conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in (*TABLES, "idempotency_keys")
        }

    return await store.read(count)


async def sent_message(svc: service.Service, account_id: str, *, finished: bool) -> str:
    """A tracked-link SMS, delivered; its deliveries finished (with an attempt) or left open."""
    message = await svc.submit_sms(
        account_id, to=PHONE, sender="Acme", text="see https://example.com/a", track_links=True
    )
    await svc.report_status(account_id, message.id, status=MessageStatus.DELIVERED)
    if finished:
        at = svc.clock()

        def finish(tx: Transaction) -> None:
            d = t.deliveries.c
            rows = tx.conn.execute(sa.select(d.id, d.endpoint_id).where(d.message_id == message.id))
            for delivery_id, endpoint_id in rows.all():
                attempt = Attempt(
                    id=ids.new_id("att", at.timestamp()),
                    delivery_id=delivery_id,
                    endpoint_id=endpoint_id,
                    number=1,
                    started_at=at,
                    duration_ms=3.0,
                    response_status=200,
                )
                tx.conn.execute(sa.insert(t.attempts), [_attempt_row(attempt)])
            tx.conn.execute(
                sa.update(t.deliveries)
                .where(d.message_id == message.id)
                .values(state=DeliveryState.SUCCEEDED.value, completed_at=at)
            )

        await svc.store.write(finish)
    return message.id


async def account_with_endpoint(svc: service.Service) -> str:
    """A new account with one endpoint for the Interact event; its id."""
    account_id = (await svc.create_account("acme")).account.id
    await svc.create_endpoint(
        account_id,
        service.EndpointSpec(url="http://127.0.0.1:9/hook", enabled_events=(interact.NAME,)),
    )
    return account_id


async def old_finished_messages(svc: service.Service, count: int) -> datetime:
    """``count`` finished messages of a new account, made a day more than ``PERIOD`` before
    the time returned."""
    now = datetime.now(UTC)
    old = dataclasses.replace(svc, clock=lambda: now - PERIOD - timedelta(days=1))
    account_id = await account_with_endpoint(svc)
    for _ in range(count):
        await sent_message(old, account_id, finished=True)
    return now


def key(name: str) -> idempotency.Key:
    return idempotency.Key(
        scope="__admin__",
        key=name,
        request_hash="hash",
        status_code=201,
        answer=lambda made: made.account.id.encode(),
    )


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {field.name: getattr(attempt, field.name) for field in dataclasses.fields(attempt)}


async def test_prune_deletes_what_is_old_and_finished_only(svc, store):
    """Of messages 40 days old, the finished ones go whole (attempts, deliveries, events,
    history, links, the message); one with an open delivery keeps everything; recent ones and
    their rows stay. Expired idempotency keys go; a key of today stays. Batches are small:
    the same result with batch=1, and a second run deletes nothing."""
    now = datetime.now(UTC)
    old = dataclasses.replace(svc, clock=lambda: now - PERIOD - timedelta(days=10))
    account_id = await account_with_endpoint(svc)
    old_done = [await sent_message(old, account_id, finished=True) for _ in range(3)]
    old_open = await sent_message(old, account_id, finished=False)
    recent = await sent_message(svc, account_id, finished=True)
    await old.create_account("old key", idempotency=key("k-old"))
    await svc.create_account("new key", idempotency=key("k-new"))
    before = await counts(store)

    pruned = await retention.prune(store, older_than=PERIOD, now=now, batch=1)

    after = await counts(store)
    # Each message: 2 deliveries (submitted, delivered), 2 history rows, 1 link.
    assert dataclasses.replace(pruned, events=0) == retention.Pruned(
        attempts=6, deliveries=6, messages=3, idempotency_keys=1
    )
    assert pruned.events == before["events"] - after["events"] >= 6

    def events_of(tx: Transaction) -> dict[str, int]:
        e = t.events.c
        rows = tx.conn.execute(sa.select(e.message_id, sa.func.count()).group_by(e.message_id))
        return {str(message_id): int(count) for message_id, count in rows.all()}

    kept_events = await store.read(events_of)
    assert set(kept_events) == {old_open, recent}
    assert kept_events[old_open] == 2  # those its open deliveries refer to
    assert before["messages"] - after["messages"] == 3
    assert before["status_history"] - after["status_history"] == 3 * 2
    assert before["links"] - after["links"] == 3
    assert after["idempotency_keys"] == 1

    def kept(tx: Transaction) -> set[str]:
        return set(tx.conn.execute(sa.select(t.messages.c.id)).scalars())

    assert await store.read(kept) == {old_open, recent}
    assert not set(old_done) & await store.read(kept)
    _, history, events = await svc.get_message(account_id, old_open)
    assert len(events) == 2 and len(history) == 2
    again = await retention.prune(store, older_than=PERIOD, now=now)
    assert again.total == 0


async def test_prune_stops_at_max_batches(svc, store):
    """A round of the running service deletes at most ``max_batches`` batches per kind; the
    next round goes on where it stopped."""
    now = await old_finished_messages(svc, 3)
    first = await retention.prune(store, older_than=PERIOD, now=now, batch=2, max_batches=1)
    assert first.attempts == first.deliveries == 2
    second = await retention.prune(store, older_than=PERIOD, now=now, batch=2)
    assert second.attempts == second.deliveries == 4
    assert (await counts(store))["messages"] == 0


async def test_the_running_dispatcher_prunes(svc, store, settings):
    """The dispatcher prunes on its own, every Settings.prune_interval (shortened here)."""
    from statushooks import testing
    from statushooks.dispatcher import Dispatcher

    settings = settings.model_copy(update={"prune_interval": "50ms"})
    await old_finished_messages(svc, 1)
    assert (await counts(store))["messages"] == 1

    async def pruned() -> bool:
        return (await counts(store))["messages"] == 0

    async with testing.running(Dispatcher(store, settings)):
        await testing.wait_until(pruned, timeout=10.0)
    assert (await counts(store))["attempts"] == 0


async def test_a_round_cut_off_at_its_cap_is_followed_by_the_next_at_once(svc, store):
    """Rows come of age faster than one round a period deletes (a round's cap is
    max_batches × batch of each kind): the next round starts after a short pause instead
    of the interval, until a round is no longer cut off; then the interval again."""
    import asyncio

    now = await old_finished_messages(svc, 3)
    delays: list[float] = []
    caught_up = asyncio.Event()

    async def sleep(delay: float) -> None:  # the first interval passes at once
        delays.append(delay)
        if delay == retention.PAUSE:
            await asyncio.sleep(delay)
        elif len(delays) > 1:
            caught_up.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(
        retention.prune_periodically(
            store,
            older_than=PERIOD,
            clock=lambda: now,
            interval=3600,
            batch=1,
            max_batches=1,
            sleep=sleep,
        )
    )
    try:
        await asyncio.wait_for(caught_up.wait(), timeout=30.0)
    finally:
        task.cancel()
    assert await counts(store) == dict.fromkeys((*TABLES, "idempotency_keys"), 0)
    first, *between, last = delays
    assert first == last == 3600
    assert len(between) >= 3 and set(between) == {retention.PAUSE}


async def test_pruning_warns_at_start_when_postgres_autovacuum_is_off(store, caplog):
    """Pruned rows' space comes back on PostgreSQL only after VACUUM: with autovacuum off the
    running service says so once, at the start of its pruning; SQLite has nothing to say."""
    import asyncio
    import logging

    if store.dialect.name == "sqlite":
        expected: list[str] = []
    else:
        setting = await store.read(
            lambda tx: tx.conn.exec_driver_sql("SHOW autovacuum").scalar_one()
        )
        expected = ["autovacuum = off"] if setting == "off" else []
    caplog.set_level(logging.WARNING, logger="statushooks.retention")
    first_round = asyncio.Event()

    def clock() -> datetime:  # read by the first round, once the start is behind it
        first_round.set()
        return datetime.now(UTC)

    task = asyncio.create_task(
        retention.prune_periodically(store, older_than=PERIOD, clock=clock, interval=0.01)
    )
    await asyncio.wait_for(first_round.wait(), timeout=10.0)
    task.cancel()
    warned = [r.getMessage() for r in caplog.records if "VACUUM (ANALYZE)" in r.getMessage()]
    assert len(warned) == len(expected)
    for text, setting in zip(warned, expected, strict=True):
        assert setting in text and "docs/api.md" in text
