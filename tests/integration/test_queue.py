"""The delivery queue: claims, leases, ordering, caps, fencing — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from statushooks import ids, service
from statushooks.deliveries import Attempt, Delivery, DeliveryState
from statushooks.endpoints import Endpoint, EndpointSecret, EndpointState, new_secret
from statushooks.events import interact
from statushooks.messages import MessageStatus
from statushooks.storage import queue, records, stats
from statushooks.storage import tables as t
from statushooks.storage.sql import Store
from statushooks.storage.transaction import Transaction

PHONE = "+14155552671"
LEASE = 30.0  # seconds
URL = "http://127.0.0.1:9/hook"  # never called: these tests do not send


def now() -> datetime:
    return datetime.now(UTC)


def make_queue(store: Store, worker: str = "worker-a", **kw: Any) -> queue.Queue:
    return queue.Queue(
        store,
        worker_id=worker,
        lease_seconds=LEASE,
        auto_disable_after=kw.get("after", 3600.0),
        lease_ahead=kw.get("lease_ahead", 0),
    )


@pytest.fixture
async def account_id(svc: service.Service) -> str:
    return (await svc.create_account("acme")).account.id


async def endpoint_id(svc: service.Service, account_id: str, **spec: Any) -> str:
    spec.setdefault("enabled_events", (interact.NAME,))
    created = await svc.create_endpoint(account_id, service.EndpointSpec(url=URL, **spec))
    return created.id


async def submit(svc: service.Service, account_id: str, *statuses: MessageStatus) -> str:
    message = await svc.submit_sms(account_id, to=PHONE, sender="Acme", text="hi")
    for status in statuses:
        await svc.report_status(account_id, message.id, status=status)
    return message.id


async def all_deliveries(store: Store, account_id: str) -> list[Delivery]:
    page = await store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
    return page.data


def completion(claim: queue.Claim, action: queue.Action = "succeed", **kw: Any) -> queue.Completion:
    started = kw.pop("started_at", now())
    attempt = Attempt(
        id=ids.new_id("att"),
        delivery_id=claim.delivery.id,
        endpoint_id=claim.endpoint.id,
        number=claim.delivery.attempts + 1,
        started_at=started,
        duration_ms=1.0,
        response_status=200 if action == "succeed" else 500,
        error_kind=None if action == "succeed" else "status",
    )
    return queue.Completion(
        delivery_id=claim.delivery.id,
        lease_id=claim.lease_id,
        endpoint_id=claim.endpoint.id,
        attempt=attempt,
        action=action,
        **kw,
    )


async def test_claim_leases_each_due_delivery_once(svc, store, account_id):
    """A claim leases the due deliveries with their payloads; a second claim finds none."""
    await endpoint_id(svc, account_id)
    for _ in range(3):
        await submit(svc, account_id)
    q = make_queue(store)
    claims = await q.claim(limit=10, now=now())
    assert len(claims) == 3
    assert all(c.payload.startswith(b"{") and c.endpoint.url == URL for c in claims)
    assert await q.claim(limit=10, now=now()) == []
    for delivery in await all_deliveries(store, account_id):
        assert delivery.state is DeliveryState.LEASED and delivery.lease_owner == "worker-a"
        assert delivery.lease_expires_at is not None


def test_a_lease_writes_only_columns_no_index_holds():
    """What makes a lease heap-only: it sets no column any index of ``deliveries`` holds, in
    its key or its predicate (``state`` stays ``pending``)."""
    leased = {part.split("=")[0].strip() for part in queue._LEASE_SET[4:].split(",")}
    released = set(queue._RELEASE.sqlite.split(" SET ")[1].split(" WHERE ")[0].split(", "))
    released = {part.split("=")[0].strip() for part in released}
    indexed = {column.name for index in t.deliveries.indexes for column in index.columns}
    indexed |= {"id", "state"}  # the primary key; the partial index's predicate
    assert leased == {"lease_owner", "lease_id", "lease_expires_at", "updated_at"}
    assert released == leased
    assert not leased & indexed


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_leases_are_heap_only_updates(svc, store, account_id):
    """On PostgreSQL every lease of a claim is a HOT update: no index entry is written."""
    await endpoint_id(svc, account_id)
    for _ in range(10):  # the endpoint's max_in_flight
        await submit(svc, account_id)
    q = make_queue(store)

    def claim_and_count(conn: sa.Connection) -> tuple[int, tuple[Any, ...]]:
        claims = q._claim(conn, limit=10, now=now(), quota=None, open_here={})
        counts = conn.exec_driver_sql(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
            " WHERE relname = 'deliveries'"
        ).one()
        return len(claims), tuple(counts)

    claimed, (updated, hot) = await store.run_write(claim_and_count)
    assert claimed == updated == hot == 10
    options = await store.read(
        lambda tx: tx.conn.execute(
            sa.text("SELECT reloptions FROM pg_class WHERE relname = 'deliveries'")
        ).scalar_one()
    )
    assert f"fillfactor={t.DELIVERIES_FILLFACTOR}" in options


async def test_a_lease_shows_as_leased_until_it_expires(svc, store, account_id):
    """The API derives ``leased``: a pending delivery under a live lease. An expired lease
    shows, filters and counts as pending again, with no reclaim."""
    await endpoint_id(svc, account_id)
    for _ in range(2):
        await submit(svc, account_id)
    [live] = await make_queue(store).claim(limit=1, now=now())
    brief = queue.Queue(store, worker_id="brief", lease_seconds=0.001, auto_disable_after=60.0)
    [lapsed] = await brief.claim(limit=1, now=now())
    await asyncio.sleep(0.01)
    states = {d.id: d.state for d in await all_deliveries(store, account_id)}
    assert states == {
        live.delivery.id: DeliveryState.LEASED,
        lapsed.delivery.id: DeliveryState.PENDING,
    }

    def filtered_and_counted(tx: Transaction) -> tuple[dict[DeliveryState, list[Delivery]], Any]:
        by_state = {
            state: tx.list_deliveries(account_id, state=state).data
            for state in (DeliveryState.LEASED, DeliveryState.PENDING)
        }
        return by_state, stats.metrics(tx, now=now())

    by_state, counted = await store.read(filtered_and_counted)
    for state, expected in ((DeliveryState.LEASED, live), (DeliveryState.PENDING, lapsed)):
        [found] = by_state[state]
        assert found.id == expected.delivery.id and found.state is state
    assert counted.deliveries_by_state["leased"] == counted.deliveries_by_state["pending"] == 1
    assert counted.queue_depth == counted.queue_due == 1
    [again] = await make_queue(store, "other").claim(limit=10, now=now())
    assert again.delivery.id == lapsed.delivery.id


async def test_claim_respects_the_limit(svc, store, account_id):
    """No more than ``limit`` deliveries are leased per claim."""
    await endpoint_id(svc, account_id, max_in_flight=50)
    for _ in range(5):
        await submit(svc, account_id)
    q = make_queue(store)
    assert len(await q.claim(limit=2, now=now())) == 2
    assert len(await q.claim(limit=10, now=now())) == 3


async def test_a_retry_is_claimed_only_once_due(svc, store, account_id):
    """A delivery scheduled for retry is not claimable before its time, and is after."""
    await endpoint_id(svc, account_id)
    await submit(svc, account_id)
    q = make_queue(store)
    [claim] = await q.claim(limit=10, now=now())
    retry_at = now() + timedelta(seconds=60)
    report = await q.complete([completion(claim, "retry", retry_at=retry_at)], now=now())
    assert report.applied == 1
    assert await q.claim(limit=10, now=now()) == []
    [again] = await q.claim(limit=10, now=retry_at)
    assert again.delivery.attempts == 1


async def test_ordered_endpoint_holds_later_events(svc, store, account_id):
    """A message's later event waits until its earlier one succeeds; other messages do not."""
    await endpoint_id(svc, account_id)
    first = await submit(svc, account_id, MessageStatus.DELIVERED, MessageStatus.CLICKED)
    q = make_queue(store)
    [claim] = await q.claim(limit=10, now=now())
    assert claim.delivery.message_id == first and claim.delivery.sequence == 1
    await q.complete([completion(claim, "retry", retry_at=now() + timedelta(hours=1))], now=now())
    assert await q.claim(limit=10, now=now()) == []  # sequence 2 is held behind the retry
    other = await submit(svc, account_id)
    [unrelated] = await q.claim(limit=10, now=now())
    assert unrelated.delivery.message_id == other
    await q.complete([completion(unrelated)], now=now())
    [retried] = await q.claim(limit=10, now=now() + timedelta(hours=2))
    assert retried.delivery.sequence == 1
    await q.complete([completion(retried)], now=now())
    [second] = await q.claim(limit=10, now=now())
    assert second.delivery.sequence == 2
    await q.complete([completion(second, "exhaust")], now=now())
    [third] = await q.claim(limit=10, now=now())
    assert third.delivery.sequence > second.delivery.sequence  # exhausted: no longer holds


async def test_unordered_endpoint_and_test_events_are_not_held(svc, store, account_id):
    """With ordering off, a message's events are claimable together; test events never wait."""
    unordered = await endpoint_id(svc, account_id, ordered=False)
    ordered = await endpoint_id(svc, account_id, enabled_events=("sms.message.updated",))
    await submit(svc, account_id, MessageStatus.DELIVERED, MessageStatus.CLICKED)
    await svc.send_test(account_id, ordered, "sms.message.updated")
    await svc.send_test(account_id, ordered, "sms.message.updated")
    claims = await make_queue(store).claim(limit=20, now=now())
    by_endpoint = [c.endpoint.id for c in claims]
    assert by_endpoint.count(unordered) == 3
    assert by_endpoint.count(ordered) == 3  # the message's delivered event and two tests


async def test_only_active_endpoints_are_dispatched(svc, store, account_id):
    """Deliveries of a paused endpoint stay queued until it is resumed."""
    paused = await endpoint_id(svc, account_id, state=EndpointState.PAUSED)
    await submit(svc, account_id)
    q = make_queue(store)
    assert await q.claim(limit=10, now=now()) == []
    await svc.update_endpoint(account_id, paused, {"state": EndpointState.ACTIVE})
    assert len(await q.claim(limit=10, now=now())) == 1


async def live_queues(store: Store, *workers: str) -> list[queue.Queue]:
    """Queues of workers that have all registered: each sees every other."""
    queues = [make_queue(store, worker) for worker in workers]
    for q in [*queues, *queues]:
        await q.renew(now=now())
    return queues


async def test_workers_split_the_in_flight_cap(svc, store, account_id):
    """Live workers each lease at most their share of max_in_flight, the shares adding up to
    it; a worker's own open leases count against its share only."""
    capped = await endpoint_id(svc, account_id, max_in_flight=3)
    free = await endpoint_id(svc, account_id, max_in_flight=10)
    for _ in range(8):
        await submit(svc, account_id)
    a, b = await live_queues(store, "a", "b")
    assert (a.membership, b.membership) == (
        queue.Membership(workers=2, rank=0),
        queue.Membership(workers=2, rank=1),
    )
    first = [c.endpoint.id for c in await a.claim(limit=100, now=now())]
    second = [c.endpoint.id for c in await b.claim(limit=100, now=now())]
    assert (first.count(capped), second.count(capped)) == (2, 1)
    assert (first.count(free), second.count(free)) == (5, 3)
    assert await a.claim(limit=100, now=now()) == []
    assert a.held == {capped: 2, free: 5} and b.held == {capped: 1, free: 3}


async def test_leasing_ahead_leases_more_than_the_share_unless_rate_limited(svc, store, account_id):
    """With ``lease_ahead`` a worker leases its share that many times over (the dispatcher
    sends only the share at once); a rate-limited endpoint is leased no further than its share."""
    plain = await endpoint_id(svc, account_id, max_in_flight=3)
    limited = await endpoint_id(svc, account_id, max_in_flight=3, rate_limit=100.0)
    for _ in range(10):
        await submit(svc, account_id)
    q = make_queue(store, lease_ahead=1)
    claims = await q.claim(limit=100, now=now())
    claimed = [c.endpoint.id for c in claims]
    assert (claimed.count(plain), claimed.count(limited)) == (6, 3)
    assert {q.share_of(c.endpoint) for c in claims} == {3}
    assert await q.claim(limit=100, now=now()) == []
    assert q.held == {plain: 6, limited: 3}


async def test_a_leaving_worker_gives_its_share_back(svc, store, account_id):
    """When a worker leaves (or its row expires), the others' shares grow back to the cap."""
    ep = await endpoint_id(svc, account_id, max_in_flight=4)
    for _ in range(6):
        await submit(svc, account_id)
    a, b, _ = await live_queues(store, "a", "b", "c")
    assert len(await a.claim(limit=10, now=now())) == 2  # 4 split 2, 1, 1
    await b.leave()
    await a.renew(now=now() + timedelta(seconds=2))
    assert a.membership == queue.Membership(workers=2, rank=0)
    assert len(await a.claim(limit=10, now=now())) == 0  # its share is still 2
    expired = now() + queue.WORKER_TTL + timedelta(seconds=1)
    await a.renew(now=expired)  # c went quiet: its row expired
    assert a.membership == queue.Membership(workers=1, rank=0)
    assert len(await a.claim(limit=10, now=expired)) == 2
    assert a.held == {ep: 4}


async def test_a_dead_workers_leases_and_share_are_taken_back_at_once(svc, store, account_id):
    """A worker found dead (its process gone: ``is_gone``) loses its row, its share and its
    leases at the next renewal of a live worker, long before its leases would expire; a live
    one keeps them, and a worker never takes itself for dead."""
    ep = await endpoint_id(svc, account_id, max_in_flight=4)
    for _ in range(6):
        await submit(svc, account_id)
    dead: set[str] = set()
    a, b = await live_queues(store, "a", "b")
    b.is_gone = dead.__contains__
    held = await a.claim(limit=10, now=now())
    assert len(held) == 2  # a's share of 4
    await b.renew(now=now())
    assert b.membership.workers == 2  # a is alive: nothing taken
    assert len(await b.claim(limit=10, now=now())) == 2
    dead.update({"a", "b"})  # b is not gone to itself
    await b.renew(now=now())
    assert b.membership == queue.Membership(workers=1, rank=0)
    retaken = await b.claim(limit=10, now=now())
    # Its share is now the whole cap: 2 more, a's 2 (the oldest, released) first.
    assert {c.delivery.id for c in retaken} == {c.delivery.id for c in held}
    assert b.held == {ep: 4}
    stale = await a.complete([completion(c) for c in held], now=now())
    assert set(stale.stale) == {c.delivery.id for c in held}  # fenced: b holds them now


async def test_an_expired_workers_leases_are_released(svc, store, account_id):
    """A worker whose row expired (no heartbeat for WORKER_TTL) is dead: the next renewal of a
    live worker releases its leases, which had a long while to run."""
    await endpoint_id(svc, account_id, max_in_flight=4)
    for _ in range(4):
        await submit(svc, account_id)
    a, b = await live_queues(store, "a", "b")
    held = await a.claim(limit=10, now=now())
    assert len(held) == 2
    later = now() + queue.WORKER_TTL + timedelta(seconds=1)
    assert held[0].delivery.lease_expires_at is not None
    assert held[0].delivery.lease_expires_at > later  # the lease alone would hold them
    await b.renew(now=later)
    assert b.membership.workers == 1
    assert len(await b.claim(limit=10, now=later)) == 4


def test_shares_add_up_to_the_cap():
    for cap in (1, 2, 3, 10, 17):
        for workers in (1, 2, 3, 5):
            parts = [queue.share(cap, workers, rank) for rank in range(workers)]
            assert sum(parts) == cap and max(parts) - min(parts) <= 1


async def test_quota_limits_a_claim(svc, store, account_id):
    """The caller's quota (its rate limiter) bounds what is claimed per endpoint."""
    await endpoint_id(svc, account_id, rate_limit=1.0)
    for _ in range(3):
        await submit(svc, account_id)
    seen: list[float | None] = []

    def quota(_endpoint_id: str, rate_limit: float | None) -> int:
        seen.append(rate_limit)
        return 1

    assert len(await make_queue(store).claim(limit=10, now=now(), quota=quota)) == 1
    assert seen == [1.0]


async def test_expired_leases_are_claimed_again(svc, store, account_id):
    """A dead worker's expired lease is taken over by another worker, with no reclaim: the
    pick takes a pending delivery whose lease has expired."""
    await endpoint_id(svc, account_id)
    await submit(svc, account_id)
    [lost] = await make_queue(store, "dead").claim(limit=10, now=now())
    later = now() + timedelta(seconds=LEASE + 1)
    [taken] = await make_queue(store, "alive").claim(limit=10, now=later)
    assert taken.delivery.id == lost.delivery.id and taken.lease_id != lost.lease_id
    assert taken.delivery.lease_owner == "alive"


async def test_stale_worker_write_is_fenced(svc, store, account_id):
    """A completion under a lost lease changes nothing; the new holder's completion counts."""
    await endpoint_id(svc, account_id)
    await submit(svc, account_id)
    stale_queue = make_queue(store, "stale")
    [stale] = await stale_queue.claim(limit=10, now=now())
    fresh_queue = make_queue(store, "fresh")
    [fresh] = await fresh_queue.claim(limit=10, now=now() + timedelta(seconds=LEASE + 1))
    report = await stale_queue.complete([completion(stale)], now=now())
    assert report.applied == 0 and report.stale == (stale.delivery.id,)
    [delivery] = await all_deliveries(store, account_id)
    assert delivery.state is DeliveryState.LEASED and delivery.lease_id == fresh.lease_id
    assert delivery.attempts == 0
    assert (await store.read(lambda tx: tx.list_attempts(delivery.id))).data == []
    assert (await fresh_queue.complete([completion(fresh)], now=now())).applied == 1
    [delivery] = await all_deliveries(store, account_id)
    assert delivery.state is DeliveryState.SUCCEEDED and delivery.attempts == 1


async def test_release_puts_deliveries_back(svc, store, account_id):
    """Released leases are pending again at once, with no attempt counted."""
    await endpoint_id(svc, account_id)
    await submit(svc, account_id)
    q = make_queue(store)
    [claim] = await q.claim(limit=10, now=now())
    assert await q.release([(claim.delivery.id, claim.lease_id)], now=now()) == 1
    [delivery] = await all_deliveries(store, account_id)
    assert delivery.state is DeliveryState.PENDING and delivery.lease_id is None
    assert len(await q.claim(limit=10, now=now())) == 1


async def test_completions_are_written_in_one_batch(svc, store, account_id):
    """Many completions go in one call: attempts, states and counts all recorded."""
    await endpoint_id(svc, account_id, max_in_flight=100)
    for _ in range(40):
        await submit(svc, account_id)
    q = make_queue(store)
    claims = await q.claim(limit=100, now=now())
    assert len(claims) == 40
    half = len(claims) // 2
    done = [completion(c) for c in claims[:half]]
    done += [completion(c, "exhaust") for c in claims[half:]]
    assert (await q.complete(done, now=now())).applied == 40
    states = [d.state for d in await all_deliveries(store, account_id)]
    assert states.count(DeliveryState.SUCCEEDED) == 20 and states.count(DeliveryState.FAILED) == 20


async def test_exchange_hands_its_claims_over_before_the_commit(svc, store, account_id):
    """``leased`` gets the claims the exchange returns; if the transaction then fails, the
    leases were never taken: the deliveries stay pending and those claims' results are stale."""
    await endpoint_id(svc, account_id, max_in_flight=100)
    for _ in range(4):
        await submit(svc, account_id)
    q = make_queue(store)
    handed: list[list[queue.Claim]] = []
    _, claims = await q.exchange([], limit=2, now=now(), leased=handed.append)
    assert handed == [claims] and len(claims) == 2

    def fail(claims: list[queue.Claim]) -> None:
        handed.append(claims)
        raise RuntimeError("the commit did not happen")

    with pytest.raises(RuntimeError):
        await q.exchange([], limit=2, now=now(), leased=fail)
    lost = handed[-1]
    assert len(lost) == 2 and not {c.delivery.id for c in lost} & {c.delivery.id for c in claims}
    states = {d.id: d.state for d in await all_deliveries(store, account_id)}
    assert all(states[c.delivery.id] is DeliveryState.PENDING for c in lost)
    report = await q.complete([completion(c) for c in lost], now=now())
    assert report.applied == 0 and set(report.stale) == {c.delivery.id for c in lost}


async def test_failure_clock_and_auto_disable(svc, store, account_id):
    """Failures start the endpoint's clock, a success clears it, a long run disables it."""
    ep = await endpoint_id(svc, account_id, max_in_flight=10)
    for _ in range(3):
        await submit(svc, account_id)
    q = make_queue(store, after=3600.0)
    first, second, third = await q.claim(limit=10, now=now())
    started = now()
    await q.complete([completion(first, "exhaust", started_at=started)], now=now())
    assert (await svc.get_endpoint(account_id, ep)).failing_since == started
    await q.complete([completion(second)], now=now())
    assert (await svc.get_endpoint(account_id, ep)).failing_since is None
    failed_at = now() - timedelta(hours=2)
    report = await q.complete([completion(third, "exhaust", started_at=failed_at)], now=now())
    assert report.disabled == (ep,)
    disabled = await svc.get_endpoint(account_id, ep)
    assert disabled.state is EndpointState.DISABLED and "auto-disabled" in (
        disabled.disabled_reason or ""
    )


async def test_a_running_clock_keeps_its_start_and_healthy_endpoints_are_not_written(
    svc, store, account_id
):
    """A failure where a clock runs keeps the clock's start; successes where none runs write
    no endpoint row (on PostgreSQL, counted in the transaction's own statistics)."""
    failing = await endpoint_id(svc, account_id, max_in_flight=10)
    healthy = [await endpoint_id(svc, account_id, max_in_flight=10) for _ in range(3)]
    for _ in range(2):
        await submit(svc, account_id)
    q = make_queue(store, after=3600.0)
    claims = await q.claim(limit=20, now=now())
    on_failing = [c for c in claims if c.endpoint.id == failing]
    started = now() - timedelta(minutes=5)
    await q.complete([completion(on_failing[0], "exhaust", started_at=started)], now=now())
    later = [completion(on_failing[1], "exhaust", started_at=now())]
    later += [completion(c) for c in claims if c.endpoint.id in healthy]

    def complete_and_count(conn: sa.Connection) -> int | None:
        """Endpoint rows written by the batch (PostgreSQL's count; None on SQLite)."""
        if conn.dialect.name != "postgresql":
            q._complete(conn, completions=later, now=now())
            return None
        # The view may still hold the last transaction's counts (reported at most once a
        # second): the difference is this transaction's.
        updates = "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'endpoints'"
        before = int(conn.exec_driver_sql(updates).scalar_one())
        q._complete(conn, completions=later, now=now())
        return int(conn.exec_driver_sql(updates).scalar_one()) - before

    written = await store.run_write(complete_and_count)
    assert written is None or written <= 1  # the failing endpoint's at most, no healthy one
    assert (await svc.get_endpoint(account_id, failing)).failing_since == started
    for ep in healthy:
        assert (await svc.get_endpoint(account_id, ep)).failing_since is None


async def claim_concurrently(svc, database_url, account_id, workers=4, limit=40):
    """30 messages submitted, then ``workers`` queues on their own stores claim at once."""
    for _ in range(30):
        await submit(svc, account_id)
    stores = [await Store.open(database_url, upgrade=False) for _ in range(workers)]
    try:
        queues = [make_queue(s, f"worker-{n}") for n, s in enumerate(stores)]
        for q in [*queues, *queues]:  # every worker sees every other
            await q.renew(now=now())
        return await asyncio.gather(*(q.claim(limit=limit, now=now()) for q in queues))
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_claims_never_overlap(svc, database_url, account_id):
    """Workers claiming at the same time on separate connections get disjoint deliveries."""
    for _ in range(4):
        await endpoint_id(svc, account_id, max_in_flight=100)
    results = await claim_concurrently(svc, database_url, account_id)
    claimed = [c.delivery.id for claims in results for c in claims]
    assert len(claimed) == len(set(claimed)) == 120


async def test_concurrent_claims_keep_the_in_flight_cap(svc, database_url, account_id):
    """Live workers claiming at the same time never lease more than an endpoint's
    max_in_flight: each takes its share."""
    capped = await endpoint_id(svc, account_id, max_in_flight=5)
    results = await claim_concurrently(svc, database_url, account_id)
    assert [len(claims) for claims in results] == [2, 1, 1, 1]
    assert {c.endpoint.id for claims in results for c in claims} == {capped}


async def test_concurrent_exchanges_do_not_deadlock(svc, database_url, account_id):
    """Two workers' exchanges at once, each completing on its own endpoints (the first worker
    on the later ones by id, the second on the earlier ones) while claiming on all of them:
    endpoint row locks are taken in one order, so no transaction is aborted as a deadlock."""
    endpoints = sorted([await endpoint_id(svc, account_id, max_in_flight=1000) for _ in range(6)])
    halves = [set(endpoints[3:]), set(endpoints[:3])]
    for _ in range(300):
        await submit(svc, account_id)
    stores = [await Store.open(database_url, upgrade=False) for _ in range(2)]
    try:
        queues = [make_queue(s, f"worker-{n}") for n, s in enumerate(stores)]
        held = [await q.claim(limit=60, now=now()) for q in queues]
        given = applied = 0
        for _ in range(20):
            batches = [
                [completion(c) for c in claims if c.endpoint.id in half]
                for claims, half in zip(held, halves, strict=True)
            ]
            exchanged = await asyncio.gather(
                *(
                    q.exchange(batch, limit=len(batch), now=now())
                    for q, batch in zip(queues, batches, strict=True)
                )
            )
            given += sum(len(batch) for batch in batches)
            applied += sum(report.applied for report, _ in exchanged)
            held = [
                [c for c in claims if c.endpoint.id not in half] + new
                for claims, half, (_, new) in zip(held, halves, exchanged, strict=True)
            ]
    finally:
        for s in stores:
            await s.close()
    assert applied == given > 0


async def leased_rows(store: Store, worker: str) -> dict[str, int]:
    """Per endpoint: the worker's leased rows counted."""
    query = sa.text(
        "SELECT endpoint_id, count(*) FROM deliveries WHERE state = 'pending'"
        " AND lease_expires_at > :now AND lease_owner = :worker GROUP BY endpoint_id"
    )
    rows = await store.read(
        lambda tx: tx.conn.execute(query, {"worker": worker, "now": now()}).all()
    )
    return {endpoint: int(n) for endpoint, n in rows}


async def test_held_counts_follow_every_lease_change(svc, store, account_id):
    """A worker's count of its own leases equals its leased rows after claims, completions of
    every kind, an exchange, a release and a stale completion (its lease taken over)."""
    first = await endpoint_id(svc, account_id, max_in_flight=6)
    second = await endpoint_id(svc, account_id, max_in_flight=6)
    for _ in range(8):
        await submit(svc, account_id)
    a = make_queue(store, "a")
    claims = await a.claim(limit=8, now=now())
    assert len(claims) == 8 and a.held == await leased_rows(store, "a")
    retry_at = now() + timedelta(hours=1)
    done = [completion(claims[0]), completion(claims[1], "exhaust")]
    done.append(completion(claims[2], "retry", retry_at=retry_at))
    assert (await a.complete(done, now=now())).applied == 3
    assert a.held == await leased_rows(store, "a") and a.held.total() == 5
    _, more = await a.exchange([completion(claims[3])], limit=10, now=now())
    assert a.held == await leased_rows(store, "a") and a.held.total() == 4 + len(more)
    assert await a.release([(claims[4].delivery.id, claims[4].lease_id)], now=now()) == 1
    assert a.held == await leased_rows(store, "a")
    later = now() + timedelta(seconds=LEASE + 1)
    taken = await make_queue(store, "b").claim(limit=20, now=later)
    assert taken and await leased_rows(store, "a") == {}
    rest = [completion(c) for c in claims[5:] + more]
    assert len((await a.complete(rest, now=later)).stale) == len(rest)
    assert a.held == {} and set(await leased_rows(store, "b")) <= {first, second}


def test_failure_clocks_follow_attempt_order():
    """The clock restarts at the first failure after the last success of a batch."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def item(endpoint: str, action: queue.Action, minute: int) -> queue.Completion:
        attempt = Attempt(
            id=ids.new_id("att"),
            delivery_id=ids.new_id("dlv"),
            endpoint_id=endpoint,
            number=1,
            started_at=t0 + timedelta(minutes=minute),
            duration_ms=1.0,
        )
        return queue.Completion(
            delivery_id=attempt.delivery_id,
            lease_id="l",
            endpoint_id=endpoint,
            attempt=attempt,
            action=action,
        )

    reset, started = queue.failure_clocks(
        [
            item("a", "retry", 3),
            item("a", "succeed", 2),
            item("a", "retry", 1),
            item("b", "retry", 5),
            item("b", "exhaust", 4),
            item("c", "succeed", 1),
        ]
    )
    assert reset == {"a": t0 + timedelta(minutes=3), "c": None}
    assert started == {"b": t0 + timedelta(minutes=4)}


#: The first column of each index the queue's plans may read.
LEADING = {
    "pk_deliveries": "id",
    "pk_events": "id",
    "ix_deliveries_endpoint_due": "endpoint_id",
    "ix_deliveries_pending": "endpoint_id",
    "pk_endpoints": "id",
    "ix_deliveries_open_order": "endpoint_id",
}


def plan_scans(plan: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    """The scans of ``deliveries``, ``events`` and ``endpoints`` in an ``EXPLAIN (FORMAT JSON)``
    plan: node type, index, and whether it probes the index (a condition on its first
    column)."""
    scans = []
    read = ("deliveries", "events", "endpoints")
    if plan.get("Relation Name") in read and plan["Node Type"] != "ModifyTable":
        # A bitmap heap scan reads the rows its bitmap index scan (its child) found.
        source = plan["Plans"][0] if plan["Node Type"] == "Bitmap Heap Scan" else plan
        index, condition = source.get("Index Name"), source.get("Index Cond", "")
        leading = LEADING.get(index or "")
        probe = leading is not None and (f"({leading})" in condition or f"({leading} " in condition)
        scans.append((plan["Node Type"], index, probe))
    for child in plan.get("Plans", ()):
        scans += plan_scans(child)
    return scans


def explain(conn: sa.Connection, statement: str, arguments: str) -> dict[str, Any]:
    """``EXPLAIN (FORMAT JSON)`` of the plan this connection keeps for ``statement``."""
    conn.exec_driver_sql(f"PREPARE probe AS {statement}")
    try:
        call = f"probe({arguments})" if arguments else "probe"
        explained = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE {call}")
        result: dict[str, Any] = explained.scalar_one()[0]
        return result
    finally:
        conn.exec_driver_sql("DEALLOCATE probe")


def generic_plan(conn: sa.Connection, statement: str, arguments: str) -> list[Any]:
    """The ``deliveries`` scans of the plan this connection keeps for ``statement``."""
    return plan_scans(explain(conn, statement, arguments)["Plan"])


def queue_plans(conn: sa.Connection) -> tuple[str, list[list[Any]]]:
    """The plan mode of a queue connection, and the plans it keeps for the claim's lease (on
    an ordered and an unordered endpoint), the completion, the ring's walk (to the end of the
    ring, and to an endpoint) and the release."""
    lease = queue._lease_statement(2).postgresql
    stamp = "'2026-01-01T00:00:00Z'"
    pick = f"'e1', {stamp}, {stamp}, 1, 10, 'e2', {stamp}, {stamp}, 0, 10, 20"
    return conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one(), [
        generic_plan(conn, lease, f"{pick}, 'w', 'l', {stamp}, {stamp}"),
        generic_plan(conn, queue._RECORD_POSTGRES, "'[]', '[]', '{}'"),
        generic_plan(
            conn,
            queue._ring_statement(False).postgresql,
            f"'e', 9, 'c', {stamp}, {stamp}, {stamp}, 9",
        ),
        generic_plan(
            conn,
            queue._ring_statement(True).postgresql,
            f"'e', 'f', 'f', 9, 'c', {stamp}, {stamp}, {stamp}, 9",
        ),
        generic_plan(conn, queue._RELEASE.postgresql, f"{stamp}, '{{}}', 'l'"),
    ]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_queue_plans_are_generic_and_read_deliveries_by_index(svc, store, account_id):
    """The queue's own connections plan each statement once (a generic plan, not one per run):
    whatever the tables' size when it is planned, that plan reads ``deliveries``, ``events``
    and ``endpoints`` by probes of the index meant for each read, never every row. The API's
    connections keep PostgreSQL's default plan cache."""
    await endpoint_id(svc, account_id, ordered=True)
    await endpoint_id(svc, account_id)
    # Endpoints without work: a plan made with many of them must still probe their table.
    await many_endpoints(store, account_id, 1_000, events=("sms.message.updated",))
    mode = await store.read(
        lambda tx: tx.conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one()
    )
    assert mode == "auto"
    for messages in (1, 200):
        for _ in range(messages):
            await submit(svc, account_id)
        await store.write(lambda tx: tx.conn.execute(sa.text("ANALYZE deliveries")))
        mode, plans = await store.run_write(queue_plans)
        assert mode == "force_generic_plan"
        for scans in plans:
            assert scans and all(probe for _, _, probe in scans), scans
        assert [{index for _, index, _ in scans} for scans in plans] == [
            {
                "ix_deliveries_pending",
                "ix_deliveries_open_order",
                "pk_deliveries",
                "pk_events",
            },
            {"pk_deliveries"},
            {"ix_deliveries_pending", "pk_endpoints"},
            {"ix_deliveries_pending", "pk_endpoints"},
            {"pk_deliveries"},
        ]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_the_queue_runs_no_statement_through_jit(store):
    """The worker's renewal reads ``workers`` whole, a scan the queue's connections cost as
    disabled (10¹⁰, far above ``jit_above_cost``): with JIT on, LLVM compiled, inlined and
    optimized that plan on every run (~17 ms a renewal). Their plans are run without JIT."""
    stamp = "'2026-01-01T00:00:00Z'"

    def plans(conn: sa.Connection) -> list[dict[str, Any]]:
        return [
            explain(conn, queue._OTHER_WORKERS.postgresql, f"{stamp}, 'w'"),
            explain(conn, queue._RENEW_WORKER.postgresql, f"'w', {stamp}, {stamp}"),
            explain(conn, queue._LIVE_WORKERS.postgresql, ""),
        ]

    forget, renew, live = await store.run_write(plans)
    assert forget["Plan"]["Total Cost"] > 100_000  # the default jit_above_cost
    assert [plan.get("JIT") for plan in (forget, renew, live)] == [None, None, None]


# -- the ring: many endpoints ----------------------------------------------------------------


async def many_endpoints(
    store: Store, account_id: str, count: int, events: tuple[str, ...] = (interact.NAME,)
) -> list[str]:
    """``count`` endpoints of the account taking ``events`` (the interact events), written in
    bulk (as ``Service.create_endpoint`` writes them); their ids in order."""
    at = now()
    endpoints = [
        Endpoint(
            id=ids.new_id("ep", at.timestamp()),
            account_id=account_id,
            url=URL,
            enabled_events=events,
            secrets=(EndpointSecret(value=new_secret()),),
            created_at=at,
            updated_at=at,
        )
        for _ in range(count)
    ]
    for start in range(0, count, 1_000):
        rows = [records.endpoint_values(e) for e in endpoints[start : start + 1_000]]
        await store.write(lambda tx, rows=rows: tx.conn.execute(sa.insert(t.endpoints), rows))
    return sorted(e.id for e in endpoints)


async def test_a_claim_looks_at_one_window_of_the_ring(svc, store, account_id):
    """With 2,000 endpoints each having due work, a claim looks at ``RING_WINDOW`` of them,
    not at all of them, and serves ``MAX_ENDPOINTS_PER_CLAIM`` at most."""
    await many_endpoints(store, account_id, 2_000)
    await submit(svc, account_id)  # one delivery to each
    q = make_queue(store)
    window = await store.run_write(lambda conn: q.ring.look(conn, now()))
    assert window.looked == len(window.due) == queue.RING_WINDOW
    assert window.last is not None and not window.lap_over
    claims = await q.claim(limit=150, now=now())
    assert len(claims) == len({c.endpoint.id for c in claims}) == queue.MAX_ENDPOINTS_PER_CLAIM
    assert q.more_due


async def test_every_endpoint_is_served_within_a_bounded_number_of_claims(svc, store, account_id):
    """2,000 endpoints with one due delivery each are all served, each once, in
    2,000 / ``MAX_ENDPOINTS_PER_CLAIM`` claims, going round the ring; then claims that find
    nothing due end their lap within 2,000 / ``RING_WINDOW`` claims and say so."""
    endpoints = await many_endpoints(store, account_id, 2_000)
    await submit(svc, account_id)
    q = make_queue(store)
    served: list[str] = []
    for _ in range(2_000 // queue.MAX_ENDPOINTS_PER_CLAIM):
        claims = await q.claim(limit=200, now=now())
        assert len(claims) == queue.MAX_ENDPOINTS_PER_CLAIM
        served += [c.endpoint.id for c in claims]
    assert sorted(served) == endpoints
    empty = 0
    while q.more_due:
        assert await q.claim(limit=200, now=now()) == []
        empty += 1
    assert 1 <= empty <= -(-2_000 // queue.RING_WINDOW) + 1


async def test_a_sparse_ring_finds_its_work_at_once(svc, store, account_id):
    """5,000 endpoints, only 3 of them with pending work (the others' deliveries are
    finished): the first claim finds all three, and says nothing more is due."""
    endpoints = await many_endpoints(store, account_id, 5_000)
    await submit(svc, account_id)
    busy = [endpoints[0], endpoints[2_500], endpoints[-1]]
    finished = sa.text(
        "UPDATE deliveries SET state = 'succeeded' WHERE endpoint_id NOT IN (:a, :b, :c)"
    )
    await store.write(lambda tx: tx.conn.execute(finished, dict(zip("abc", busy, strict=True))))
    q = make_queue(store)
    claims = await q.claim(limit=100, now=now())
    assert sorted(c.endpoint.id for c in claims) == busy
    assert not q.more_due
    assert await q.claim(limit=100, now=now()) == []


async def test_a_ring_within_one_window_is_served_in_turn(svc, store, account_id):
    """150 endpoints with due work fit in one window (walked whole in one statement): claims
    that can serve 100 endpoints serve the ones after the last served first, so two claims
    serve all 150."""
    endpoints = await many_endpoints(store, account_id, 150)
    await submit(svc, account_id)
    q = make_queue(store)
    first = {c.endpoint.id for c in await q.claim(limit=200, now=now())}
    second = {c.endpoint.id for c in await q.claim(limit=200, now=now())}
    assert len(first) == queue.MAX_ENDPOINTS_PER_CLAIM and len(second) == 50
    assert sorted(first | second) == endpoints
    assert q.ring.small


async def test_a_claim_serves_each_endpoint_what_it_has_and_sizes_its_window(
    svc, store, account_id
):
    """1,000 endpoints with 3 due deliveries each: a claim of 50 takes each endpoint's 3 in
    ring order until the limit (16 endpoints whole, 2 of the 17th), and the next claims look
    at a window sized by that yield, not at ``RING_WINDOW`` endpoints; every delivery is
    claimed once, in a bounded number of claims."""
    endpoints = await many_endpoints(store, account_id, 1_000)
    for _ in range(3):
        await submit(svc, account_id)
    q = make_queue(store, lease_ahead=1)
    first = await q.claim(limit=50, now=now())
    per_endpoint = Counter(c.endpoint.id for c in first)
    assert len(first) == 50
    assert [per_endpoint[e] for e in endpoints[:17]] == [3] * 16 + [2]
    assert q.ring.budget(50) < queue.RING_WINDOW // 2
    claimed = Counter(c.delivery.id for c in first)
    for _ in range(100):
        claims = await q.claim(limit=50, now=now())
        claimed.update(c.delivery.id for c in claims)
        if not claims and not q.more_due:
            break
    assert len(claimed) == 3_000 and set(claimed.values()) == {1}


async def test_metrics_count_the_attempts_of_their_window_only(store, monkeypatch):
    """/metrics counts the attempts started in the last METRICS_WINDOW seconds, at most the
    METRICS_SAMPLE newest: older ones, however many, are not read."""
    monkeypatch.setattr(stats, "METRICS_SAMPLE", 3)
    at = now()

    def attempt(age: float, status: int | None, error_kind: str | None) -> dict[str, Any]:
        started = at - timedelta(seconds=age)
        return {
            "id": ids.new_id("att", started.timestamp()),
            "delivery_id": "dlv_x",
            "endpoint_id": "ep_x",
            "number": 1,
            "started_at": started,
            "duration_ms": 250.0,
            "request_headers": {},
            "response_status": status,
            "response_body": "",
            "error_kind": error_kind,
            "error_message": None,
        }

    old = [attempt(stats.METRICS_WINDOW + 60, 200, None) for _ in range(5)]
    recent = [attempt(5, 200, None), attempt(4, None, "timeout")]

    def insert(tx: Transaction) -> None:
        tx.conn.execute(sa.insert(t.attempts), old + recent)

    await store.write(insert)
    counted = await store.read(lambda tx: stats.metrics(tx, now=at))
    assert counted.attempts_by_outcome == {"success": 1, "timeout": 1}
    assert dict(counted.latency_quantiles)[0.5] == 0.25
    newest = [attempt(1, 500, "status") for _ in range(3)]
    await store.write(lambda tx: tx.conn.execute(sa.insert(t.attempts), newest))
    counted = await store.read(lambda tx: stats.metrics(tx, now=at))
    assert counted.attempts_by_outcome == {"status": 3}
