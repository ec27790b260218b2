"""``python -m bench.exchange [-n N] [--database URL] [--statements]`` — the dispatcher's queue
transactions alone, with no HTTP: a profiling aid, not one of the six scenarios.

N deliveries are queued as in ``drain`` (one account; 10 endpoints, or ``--endpoints``), then
a loop calls ``Queue.exchange`` as the dispatcher does: each cycle writes a success for every
delivery the last cycle claimed and claims up to ``LIMIT`` (``--limit``) more, until none is
left. With no event loop competing for the GIL, the figures are the queue's own cost: wall and CPU time per delivery,
and (``--statements``) the time per cycle of each statement, from SQLAlchemy's cursor events.
On a local PostgreSQL the server's CPU time is shown too: its postmaster and every child,
live or exited, around the loop.
The run is bounded by N (every cycle finishes at least one delivery, or the loop stops).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench import common, queueing
from bench import endpoints as bench_endpoints
from statushooks import ids
from statushooks.deliveries import Attempt
from statushooks.storage import queue

ENDPOINTS = 10
LIMIT = 100  # claims per cycle: the drain's room (10 endpoints × max_in_flight 10)
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "statushooks/bench",
    "webhook-id": "evt_2z020YIp98J0ow5egHEVQJQd2Sx",
    "webhook-timestamp": "1764000000",
    "webhook-signature": "v1," + "A" * 44,
}


def success(claim: queue.Claim, now: datetime) -> queue.Completion:
    attempt = Attempt(
        id=ids.new_id("att", now.timestamp()),
        delivery_id=claim.delivery.id,
        endpoint_id=claim.endpoint.id,
        number=claim.delivery.attempts + 1,
        started_at=now,
        duration_ms=1.0,
        request_headers=HEADERS,
        response_status=204,
    )
    return queue.Completion(
        delivery_id=claim.delivery.id,
        lease_id=claim.lease_id,
        endpoint_id=claim.endpoint.id,
        attempt=attempt,
        action="succeed",
    )


def time_statements(totals: Counter[str]) -> None:
    """Add each statement's execution time to ``totals``, keyed by its first words (the rows a
    statement returns are stepped out later, in the fetch: not counted here)."""

    def before(conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info["bench_started"].pop()
        totals[" ".join(statement.split()[:8])[:70]] += time.perf_counter() - started

    sa.event.listen(sa.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.Engine, "after_cursor_execute", after)


async def run(n: int, url: str | None, statements: bool, endpoints: int, limit: int) -> None:
    url = url or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-exchange-')}/queue.db"
    store = await queueing.open_store(url)
    try:
        settings = queueing.bench_settings(url)
        urls = [f"http://127.0.0.1:9/e{i}" for i in range(endpoints)]
        fixture = await bench_endpoints.create_endpoints(store, settings, urls)
        await queueing.queue_submitted(fixture, max(1, n // endpoints), progress=False)
        work = queue.Queue(store, worker_id="bench", lease_seconds=300, auto_disable_after=3600)
        totals: Counter[str] = Counter()
        if statements:
            time_statements(totals)
        claims: list[queue.Claim] = []
        done = cycles = 0
        postmaster = await common.postgres_server(store)
        wall, cpu = time.perf_counter(), time.process_time()
        server = common.server_cpu_seconds(postmaster)
        while True:
            now = datetime.now(UTC)
            completions = [success(claim, now) for claim in claims]
            _, claims = await work.exchange(completions, limit=limit, now=now)
            done += len(completions)
            cycles += 1
            if not claims:
                break
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = common.server_cpu_seconds(postmaster) - server
    finally:
        await store.close()
    print(f"{done:,} deliveries in {cycles:,} cycles ({store.dialect.name})")
    print(f"  per delivery: {wall / done * 1e6:.1f} µs wall, {cpu / done * 1e6:.1f} µs CPU")
    if postmaster is not None:
        print(f"  server CPU per delivery: {server / done * 1e6:.1f} µs")
    for statement, seconds in totals.most_common():
        print(f"  {seconds / cycles * 1e3:7.3f} ms/cycle  {statement}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.exchange", description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="deliveries to queue and drain")
    parser.add_argument("--database", help="an empty database (URL); default: a new SQLite file")
    parser.add_argument("--statements", action="store_true", help="time each statement")
    parser.add_argument("--endpoints", type=int, default=ENDPOINTS, help="endpoints to spread over")
    parser.add_argument("--limit", type=int, default=LIMIT, help="claims per cycle")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.database, args.statements, args.endpoints, args.limit))


if __name__ == "__main__":
    main()
