"""Scenario 8 — endpoints (issue 29): the same N deliveries spread over 10, 1,000, 5,000 and
10,000 endpoints, drained by one ``python -m statushooks.worker`` on SQLite and on PostgreSQL.

Per database and endpoint count: a fresh database, one account, the endpoints written through
the store in a few transactions (the rows ``Service.create_endpoint`` writes, not 10,000 API
calls), then N / endpoints SMS submitted through the store (``bench.queueing``: one
``submitted`` event each, fanned out to every endpoint), then the drain of ``bench.drain``
against the same nginx sink (timed from the first finished delivery to the last). Each rate is
also given as a ratio of the 10-endpoint rate of the same database in the same run; with
10,000 endpoints the worker's peak RSS. Then the fan-out cost: on a database whose account has
5,000 subscribed endpoints, the time of one status change (``Service.report_status``: one
event, 5,000 deliveries), median of ``FANOUT_REPEATS``.

Targets: 5,000 × 6 ≥ 0.8 × the 10 × 3,000 rate; 10,000 × 3 ≥ 0.7 ×.
"""

from __future__ import annotations

import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import common, drain, queueing, sink
from statushooks import ids, sms
from statushooks.endpoints import Endpoint, EndpointSecret, new_secret
from statushooks.messages import MessageStatus
from statushooks.service import Service
from statushooks.storage import records
from statushooks.storage import tables as t
from statushooks.storage.sql import Store

COUNTS = (10, 1_000, 5_000, 10_000)  # endpoints
FANOUT_ENDPOINTS = 5_000
FANOUT_REPEATS = 5
ENDPOINT_CHUNK = 1_000  # endpoint rows per INSERT
TARGETS = {5_000: 0.8, 10_000: 0.7}  # ratio to the 10-endpoint rate, at least


async def create_endpoints(store: Store, settings: Any, urls: list[str]) -> queueing.Fixture:
    """One account (through ``Service``) and one endpoint per URL (bulk, through the store)."""
    service = Service(store=store, settings=settings, pricing=sms.PricingTable.load(None))
    account = (await service.create_account("bench")).account
    now = datetime.now(UTC)
    endpoints = [
        Endpoint(
            id=ids.new_id("ep", now.timestamp()),
            account_id=account.id,
            url=url,
            secrets=(EndpointSecret(value=new_secret()),),
            created_at=now,
            updated_at=now,
        )
        for url in urls
    ]
    for start in range(0, len(endpoints), ENDPOINT_CHUNK):
        rows = [records.endpoint_values(e) for e in endpoints[start : start + ENDPOINT_CHUNK]]
        await store.write(lambda tx, rows=rows: tx.conn.execute(sa.insert(t.endpoints), rows))
    return queueing.Fixture(account_id=account.id, endpoints=tuple(endpoints), service=service)


async def drain_spread(
    kind: str, endpoints: int, n: int, fast: sink.Sink, log_dir: Path, tmp: Path
) -> dict[str, Any]:
    """``n`` deliveries over ``endpoints`` endpoints, drained by one worker; then, at
    ``FANOUT_ENDPOINTS``, the fan-out cost of a status change."""
    name = f"bench_endpoints_{kind}_{endpoints}"
    url = await drain.database(kind, name, tmp)
    store = await queueing.open_store(url)
    label = f"{kind} {endpoints:,} endpoints"
    try:
        settings = queueing.bench_settings(url)
        started = time.perf_counter()
        fixture = await create_endpoints(
            store, settings, [fast.url(f"/e{i}") for i in range(endpoints)]
        )
        setup_seconds = time.perf_counter() - started
        per_endpoint = max(1, n // endpoints)
        _, queue_seconds = await queueing.queue_submitted(fixture, per_endpoint, progress=False)
        queued = await drain.count(store, drain.OPEN_QUERY)
        print(
            f"  {label}: {setup_seconds:.1f} s to create them, {queued:,} deliveries queued"
            f" in {queue_seconds:.1f} s",
            flush=True,
        )
        result = await drain._drain(store, url, 1, queued, log_dir, label, profile=False)
        states = dict(await drain._rows(store, drain.STATES_QUERY))
        result.update(
            database=kind,
            endpoints=endpoints,
            per_endpoint=per_endpoint,
            queued=queued,
            setup_seconds=round(setup_seconds, 1),
            states=states,
        )
        result.pop("timeline", None)
        if endpoints == FANOUT_ENDPOINTS:
            result["fanout_ms"] = await fanout_ms(fixture)
    finally:
        await store.close()
        if kind == "postgres":
            await common.drop_postgres(name)
    print(f"  {label}: {result['rate']:,.0f}/s, peak RSS {result['peak_rss_mb']} MB", flush=True)
    return result


async def fanout_ms(fixture: queueing.Fixture) -> float:
    """Median milliseconds of one status change fanned out to every endpoint of the account."""
    message_ids, _ = await queueing.queue_submitted(fixture, FANOUT_REPEATS, progress=False)
    timings = []
    for message_id in message_ids:
        started = time.perf_counter()
        await fixture.service.report_status(
            fixture.account_id, message_id, status=MessageStatus.DELIVERED
        )
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    fast = await sink.fast_sink(log_dir)
    tmp = log_dir / "db"
    tmp.mkdir(exist_ok=True)
    n = options.endpoints_n
    runs: list[dict[str, Any]] = []
    kinds = ["sqlite"] + (["postgres"] if await common.postgres_available() else [])
    try:
        for kind in kinds:
            for endpoints in COUNTS:
                try:
                    runs.append(await drain_spread(kind, endpoints, n, fast, log_dir, tmp))
                except Exception as exc:  # noqa: BLE001 - record it, run the next one
                    print(f"  {kind} {endpoints:,} endpoints failed: {exc}", flush=True)
                    runs.append({"database": kind, "endpoints": endpoints, "error": str(exc)})
    finally:
        fast.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for run_ in runs:
        base = next(
            (r for r in runs if r["database"] == run_["database"] and r["endpoints"] == COUNTS[0]),
            {},
        )
        if run_.get("rate") and base.get("rate"):
            run_["ratio"] = round(run_["rate"] / base["rate"], 3)
    common.print_table(
        f"endpoints — {n:,} deliveries spread over 10 to 10,000 endpoints, one worker",
        ["database", "endpoints", "each", "deliveries/s", "÷ 10 endpoints", "CPU s / 1,000",
         "peak RSS MB", "fan-out ms", "error"],
        [[r["database"], r["endpoints"], r.get("per_endpoint"), r.get("rate"), r.get("ratio"),
          r.get("cpu_s_per_1000"), r.get("peak_rss_mb"), r.get("fanout_ms"), r.get("error", "")]
         for r in runs],
    )  # fmt: skip
    return {"n": n, "counts": list(COUNTS), "sink": fast.kind, "targets": TARGETS, "runs": runs}
