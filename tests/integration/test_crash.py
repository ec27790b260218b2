"""Worker processes (``python -m statushooks.worker``): SIGKILL, restart, SIGTERM, two at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from statushooks import service, testing
from statushooks.deliveries import Delivery, DeliveryState
from statushooks.events import interact
from statushooks.storage.sql import Store

PHONE = "+14155552671"
EXIT_WITHIN = 15.0  # seconds a worker process gets to exit
#: Seconds after a restarted worker registers within which a dead worker's leased deliveries
#: go out again (issue 24: the endpoint back to full rate within 5 s).
RECOVERY = 5.0
WORKER_ENV = {
    "STATUSHOOKS_ALLOW_PRIVATE_URLS": "1",
    "STATUSHOOKS_RETRY_SCHEDULE": "0s,200ms,200ms,200ms,200ms",
    "STATUSHOOKS_DELIVERY_TIMEOUT": "1",
    "STATUSHOOKS_LEASE_SECONDS": "2",
    "STATUSHOOKS_POLL_INTERVAL": "0.1",
    "STATUSHOOKS_SHUTDOWN_TIMEOUT": "5",
}


@contextlib.asynccontextmanager
async def worker(
    database_url: str, log: Path, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker subprocess; killed at the end if it is still running."""
    environment = {**os.environ, **WORKER_ENV, "STATUSHOOKS_DATABASE_URL": database_url, **env}
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "statushooks.worker",
            env=environment,
            stdout=output,
            stderr=output,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def exit_code(process: asyncio.subprocess.Process) -> int:
    async with asyncio.timeout(EXIT_WITHIN):
        return await process.wait()


async def deliveries(store: Store, account_id: str) -> list[Delivery]:
    page = await store.read(lambda tx: tx.list_deliveries(account_id, limit=250))
    return page.data


async def wait_all_succeeded(store: Store, account_id: str, timeout: float = 20.0) -> None:
    async def done() -> bool:
        found = await deliveries(store, account_id)
        return all(d.state is DeliveryState.SUCCEEDED for d in found)

    await testing.wait_until(done, timeout=timeout)


async def wait_some_leased(store: Store, account_id: str, timeout: float = 20.0) -> None:
    async def leased() -> bool:
        found = await deliveries(store, account_id)
        return any(d.state is DeliveryState.LEASED for d in found)

    await testing.wait_until(leased, timeout=timeout)


async def setup_load(
    svc: service.Service, sink: testing.WebhookSink, *, endpoints: int, messages: int, cap: int
) -> str:
    account_id = (await svc.create_account("load")).account.id
    for number in range(endpoints):
        spec = service.EndpointSpec(
            url=sink.url(f"/ep{number}"), enabled_events=(interact.NAME,), max_in_flight=cap
        )
        await svc.create_endpoint(account_id, spec)
    for number in range(messages):
        await svc.submit_sms(account_id, to=PHONE, sender="Acme", text=f"message {number}")
    return account_id


async def test_sigkill_then_restart_delivers_everything(svc, store, database_url, tmp_path):
    """A worker killed mid-run, then restarted: every event arrives, duplicates share ids."""
    log = tmp_path / "worker.log"
    async with testing.WebhookSink() as sink:
        for number in range(2):
            sink.set_mode(f"/ep{number}", testing.Mode(delay=0.1))
        account_id = await setup_load(svc, sink, endpoints=2, messages=20, cap=4)
        async with worker(database_url, log) as first:
            await sink.wait_for(6, timeout=20.0)
            first.send_signal(signal.SIGKILL)
            assert await exit_code(first) == -signal.SIGKILL
        interrupted = await deliveries(store, account_id)
        assert any(d.state is not DeliveryState.SUCCEEDED for d in interrupted)
        async with worker(database_url, log) as second:
            await wait_all_succeeded(store, account_id)
            second.send_signal(signal.SIGTERM)
            assert await exit_code(second) == 0, log.read_text()
        found = await deliveries(store, account_id)
        requests = list(sink.requests)
    assert all(d.lease_id is None and d.lease_expires_at is None for d in found)
    ids_by_body: dict[tuple[str, bytes], set[str | None]] = defaultdict(set)
    for request in requests:
        ids_by_body[(request.path, request.body)].add(request.webhook_id)
    assert all(len(webhook_ids) == 1 for webhook_ids in ids_by_body.values())
    received = {(r.path, r.webhook_id) for r in requests}
    endpoint_paths = {ep.id: ep.url.rsplit("/", 1)[1] for ep in await endpoints_of(svc, account_id)}
    for delivery in found:
        assert (f"/{endpoint_paths[delivery.endpoint_id]}", delivery.event_id) in received
    assert len(found) == 40 and len(requests) >= 40


async def worker_ids(store: Store) -> list[str]:
    query = sa.text("SELECT id FROM workers ORDER BY id")
    found: list[str] = await store.read(lambda tx: list(tx.conn.execute(query).scalars()))
    return found


async def test_a_restart_after_sigkill_takes_the_dead_workers_leases_and_share_at_once(
    svc, store, database_url, tmp_path
):
    """kill -9, then a restart: the restarted worker sees at its first claim that the dead
    one's process is gone. It serves the endpoint's whole cap at once (the dead worker's row
    is gone when its own appears) and sends the deliveries the dead one had leased within
    RECOVERY seconds, not at their 30 s lease expiry."""
    log = tmp_path / "worker.log"
    slow_leases = {"STATUSHOOKS_LEASE_SECONDS": "30", "STATUSHOOKS_DELIVERY_TIMEOUT": "5"}
    async with testing.WebhookSink() as sink:
        sink.set_mode("/ep0", testing.Mode(delay=0.5))
        account_id = await setup_load(svc, sink, endpoints=1, messages=24, cap=4)
        async with worker(database_url, log, **slow_leases) as first:
            await sink.wait_for(4, timeout=20.0)
            # Attempts start before their lease's commit: kill once it is written.
            await wait_some_leased(store, account_id)
            first.send_signal(signal.SIGKILL)
            assert await exit_code(first) == -signal.SIGKILL
        stranded = [
            d for d in await deliveries(store, account_id) if d.state is DeliveryState.LEASED
        ]
        assert stranded
        [dead] = {d.lease_owner for d in stranded}
        assert await worker_ids(store) == [dead]
        async with worker(database_url, log, **slow_leases) as second:

            async def registered() -> bool:
                return await worker_ids(store) != [dead]

            await testing.wait_until(registered, timeout=20.0)
            ready = time.monotonic()
            assert dead not in await worker_ids(store)  # gone as the new one came
            await wait_all_succeeded(store, account_id, timeout=25.0)
            second.send_signal(signal.SIGTERM)
            assert await exit_code(second) == 0, log.read_text()
        requests = list(sink.requests)
    for delivery in stranded:
        again = [r.received_at for r in requests if r.webhook_id == delivery.event_id]
        assert max(again) - ready < RECOVERY, (delivery.id, max(again) - ready)


async def endpoints_of(svc: service.Service, account_id: str):
    page = await svc.store.read(lambda tx: tx.list_endpoints(account_id, limit=250))
    return page.data


async def test_sigterm_finishes_in_flight_work(svc, store, database_url, tmp_path):
    """SIGTERM: the worker finishes its in-flight attempt, records it, and exits 0."""
    log = tmp_path / "worker.log"
    async with testing.WebhookSink() as sink:
        sink.set_mode("/ep0", testing.Mode(delay=0.5))
        account_id = await setup_load(svc, sink, endpoints=1, messages=1, cap=4)
        async with worker(database_url, log) as process:
            await sink.wait_for(1, timeout=20.0)
            process.send_signal(signal.SIGTERM)
            assert await exit_code(process) == 0, log.read_text()
    [done] = await deliveries(store, account_id)
    assert done.state is DeliveryState.SUCCEEDED and done.lease_id is None


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_two_workers_share_the_load(svc, store, database_url, tmp_path):
    """Two workers on PostgreSQL split the work; no delivery is attempted by both."""
    async with testing.WebhookSink() as sink:
        for number in range(2):
            sink.set_mode(f"/ep{number}", testing.Mode(delay=0.05))
        narrow = {"STATUSHOOKS_DISPATCH_CONCURRENCY": "8", "STATUSHOOKS_DISPATCH_BATCH": "4"}
        async with (
            worker(database_url, tmp_path / "a.log", **narrow) as first,
            worker(database_url, tmp_path / "b.log", **narrow) as second,
        ):
            # Both registered before there is work: on a busy machine one worker could
            # otherwise finish it all (and be stopped) before the other has started.
            async def both_registered() -> bool:
                return len(await worker_ids(store)) == 2

            await testing.wait_until(both_registered, timeout=30.0)
            account_id = await setup_load(svc, sink, endpoints=2, messages=60, cap=20)
            await wait_all_succeeded(store, account_id)
            for process in (first, second):
                process.send_signal(signal.SIGTERM)
            assert [await exit_code(first), await exit_code(second)] == [0, 0]
        requests = list(sink.requests)
    found = await deliveries(store, account_id)
    assert len(found) == 120 and all(d.attempts == 1 for d in found)
    pairs = [(r.path, r.webhook_id) for r in requests]
    assert len(pairs) == len(set(pairs)) == 120  # each delivery sent exactly once
    assert len({d.lease_owner for d in found}) == 2  # both workers took part
