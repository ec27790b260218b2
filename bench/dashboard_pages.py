"""``python -m bench.dashboard_pages [-n DELIVERIES]``: each dashboard page's server time with
a large store (SQLite file; not a scenario of ``python -m bench``, no load is generated).

A SQLite file, or an empty PostgreSQL database (``--postgres URL``): one account with 10
endpoints; ``n`` deliveries of ``n / 5`` events (90 % succeeded, 8 %
failed, 2 % pending) made over the last 24 hours, each with one attempt; a backlog sample
a minute over those 24 hours (the account's and the total), as the running service takes. Each page is asked
``REPEAT`` times in-process (httpx's ASGI transport: no socket, so the time is the server's),
after one warm-up; the median and the slowest wall time are printed, and the median CPU time
of the process (every thread: the database's too), which other load on the host does not
inflate.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from statushooks import config, ids
from statushooks.api import create_app
from statushooks.service import EndpointSpec, Service
from statushooks.sms import PricingTable
from statushooks.storage import migrate
from statushooks.storage.sql import Store

ADMIN = "bench-admin-token-0123456789"
ENDPOINTS = 10
REPEAT = 20
BATCH = 20_000


EVENT_COLUMNS = ("id", "account_id", "message_id", "type", "status", "sequence", "payload",
                 "created_at")  # fmt: skip
DELIVERY_COLUMNS = ("id", "account_id", "event_id", "endpoint_id", "message_id", "event_type",
                    "sequence", "state", "attempts", "next_attempt_at", "last_response_status",
                    "last_error", "created_at", "updated_at", "completed_at")  # fmt: skip
ATTEMPT_COLUMNS = ("id", "delivery_id", "endpoint_id", "number", "started_at", "duration_ms",
                   "request_headers", "response_status", "response_body", "error_kind",
                   "error_message")  # fmt: skip
BACKLOG_COLUMNS = ("account_id", "minute", "backlog")
Rows = list[tuple[Any, ...]]


def batches(
    account_id: str, endpoint_ids: list[str], deliveries: int
) -> Iterator[tuple[Rows, Rows, Rows]]:
    """``(events, deliveries, attempts)`` rows, about ``BATCH`` deliveries at a time, spread
    over the last 24 hours (times as aware datetimes)."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    payload = orjson.dumps({"type": "email.delivery.updated", "data": {"status": "delivered"}})
    per_endpoint = deliveries // len(endpoint_ids)
    events: Rows = []
    rows: Rows = []
    attempts: Rows = []
    for index in range(per_endpoint):
        when = now - timedelta(seconds=86_400 * (1 - index / per_endpoint))
        event_id = ids.new_id("evt", when.timestamp())
        events.append(
            (event_id, account_id, None, "email.delivery.updated", "delivered", 0, payload, when)
        )
        for endpoint_id in endpoint_ids:
            roll = rng.random()
            state = "succeeded" if roll < 0.9 else "failed" if roll < 0.98 else "pending"
            status = 200 if state == "succeeded" else 503
            delivery_id = ids.new_id("dlv", when.timestamp())
            rows.append(
                (delivery_id, account_id, event_id, endpoint_id, None, "email.delivery.updated",
                 0, state, 1, when if state == "pending" else None, status,
                 None if status == 200 else "HTTP 503", when, when,
                 None if state == "pending" else when)
            )  # fmt: skip
            attempts.append(
                (ids.new_id("att", when.timestamp()), delivery_id, endpoint_id, 1, when,
                 rng.uniform(2, 80), "{}", status, "ok" if status == 200 else "busy",
                 None if status == 200 else "status", None)
            )  # fmt: skip
        if len(rows) >= BATCH:
            yield events, rows, attempts
            events, rows, attempts = [], [], []
    yield events, rows, attempts


def backlog_rows(account_id: str, deliveries: int) -> Rows:
    """A round a minute over the last 24 hours: the total's row and the account's."""
    now = int(datetime.now(UTC).timestamp() // 60)
    rows: Rows = []
    for minutes_ago in range(24 * 60):
        pending = deliveries // 50 + minutes_ago % 17
        rows += [("*", now - minutes_ago, pending), (account_id, now - minutes_ago, pending)]
    return rows


def stamp(value: Any) -> Any:
    """A datetime as SQLAlchemy stores it in SQLite; anything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def seed_sqlite(path: Path, account_id: str, endpoint_ids: list[str], deliveries: int) -> None:
    """Events, deliveries and attempts written straight into the SQLite file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    tables = (("events", EVENT_COLUMNS), ("deliveries", DELIVERY_COLUMNS),
              ("attempts", ATTEMPT_COLUMNS))  # fmt: skip
    for batch in batches(account_id, endpoint_ids, deliveries):
        for (table, columns), rows in zip(tables, batch, strict=True):
            conn.executemany(_insert(table, columns), [tuple(map(stamp, r)) for r in rows])
        conn.commit()
    conn.executemany(
        _insert("backlog_samples", BACKLOG_COLUMNS),
        [tuple(map(stamp, r)) for r in backlog_rows(account_id, deliveries)],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


async def seed_postgres(
    url: str, account_id: str, endpoint_ids: list[str], deliveries: int
) -> None:
    """The same rows, copied into PostgreSQL (``COPY``)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = (("events", EVENT_COLUMNS), ("deliveries", DELIVERY_COLUMNS),
                  ("attempts", ATTEMPT_COLUMNS))  # fmt: skip
        for batch in batches(account_id, endpoint_ids, deliveries):
            for (table, columns), rows in zip(tables, batch, strict=True):
                await conn.copy_records_to_table(table, records=rows, columns=list(columns))
        await conn.copy_records_to_table(
            "backlog_samples",
            records=backlog_rows(account_id, deliveries),
            columns=list(BACKLOG_COLUMNS),
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def prepare(url: str, deliveries: int) -> None:
    """Make and fill the store (unless it holds an account already: then it is reused)."""
    await migrate.upgrade_url(url)
    settings = config.load_settings(database_url=url, allow_private_urls=True)
    store = await Store.open(url, upgrade=False)
    if (await store.read(lambda tx: tx.list_accounts(limit=1))).data:
        await store.close()
        return
    svc = Service(store=store, settings=settings, pricing=PricingTable.load())
    account_id = (await svc.create_account("bench")).account.id
    endpoint_ids = [
        (await svc.create_endpoint(account_id, EndpointSpec(url=f"http://127.0.0.1:9/{i}"))).id
        for i in range(ENDPOINTS)
    ]
    await store.close()
    started = time.perf_counter()
    if url.startswith("sqlite"):
        seed_sqlite(Path(url.split("///", 1)[1]), account_id, endpoint_ids, deliveries)
    else:
        await seed_postgres(url, account_id, endpoint_ids, deliveries)
    print(f"seeded {deliveries:,} deliveries in {time.perf_counter() - started:.0f} s")


async def measure(url: str) -> None:
    """Each page's time, as the operator (the account's pages under its path)."""
    settings = config.load_settings(database_url=url, admin_token=ADMIN, allow_private_urls=True)
    store = await Store.open(url, upgrade=False)
    account_id = (await store.read(lambda tx: tx.list_accounts(limit=1))).data[0].id
    endpoint_ids = [e.id for e in (await store.read(lambda tx: tx.list_endpoints(account_id))).data]
    app = create_app(settings, store)
    base = f"/dashboard/accounts/{account_id}"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _log_in(client, ADMIN)
            page = await client.get(f"{base}/events")
            event_id = re.search(r"/events/(evt_\w+)", page.text)
            assert event_id is not None
            paths = [
                f"{base}/?window=1h",
                f"{base}/?window=24h",
                f"{base}/endpoints",
                f"{base}/endpoints/{endpoint_ids[0]}?window=1h",
                f"{base}/endpoints/{endpoint_ids[0]}?window=24h",
                f"{base}/events",
                f"{base}/events?endpoint={endpoint_ids[3]}&state=failed",
                f"{base}/events?type=sms.message.updated",
                f"{base}/events/{event_id.group(1)}",
                f"{base}/catalog",
                "/dashboard/",
                "/dashboard/queue",
                "/dashboard/accounts",
            ]
            for page_path in paths:
                await _time(client, page_path)
    await store.close()


async def _log_in(client: httpx.AsyncClient, key: str) -> None:
    client.cookies.clear()
    form = await client.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        "/dashboard/login", data={"csrf_token": token.group(1), "api_key": key}
    )
    assert answer.status_code == 303, answer.text


async def _time(client: httpx.AsyncClient, path: str) -> None:
    await client.get(path)
    times, cpu = [], []
    for _ in range(REPEAT):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    print(
        f"{statistics.median(times):7.1f} ms median {max(times):7.1f} ms max "
        f"{statistics.median(cpu):7.1f} ms CPU  {path}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000, help="deliveries to store")
    parser.add_argument("--db", type=Path, help="keep the SQLite store in this file (reused)")
    parser.add_argument(
        "--postgres", help="an empty PostgreSQL database's URL to fill and measure instead"
    )
    args = parser.parse_args()
    if args.postgres:
        asyncio.run(prepare(args.postgres, args.n))
        asyncio.run(measure(args.postgres))
        return
    with tempfile.TemporaryDirectory() as directory:
        path = args.db or Path(directory) / "pages.db"
        url = f"sqlite+aiosqlite:///{path}"
        if not path.exists():
            asyncio.run(prepare(url, args.n))
        asyncio.run(measure(url))


if __name__ == "__main__":
    main()
