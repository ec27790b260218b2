"""``python -m bench.dashboard_pages [-n DELIVERIES]``: each dashboard page's server time with
a large store (SQLite file; not a scenario of ``python -m bench``, no load is generated).

One account with 10 endpoints; ``n`` deliveries of ``n / 5`` events (90 % succeeded, 8 %
failed, 2 % pending) made over the last 24 hours, each with one attempt. Each page is asked
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def seed(path: Path, account_id: str, endpoint_ids: list[str], deliveries: int) -> None:
    """Events, deliveries and attempts written straight into the SQLite file."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    payload = orjson.dumps({"type": "email.delivery.updated", "data": {"status": "delivered"}})
    events, rows, attempts = [], [], []
    for index in range(deliveries // len(endpoint_ids)):
        when = now - timedelta(seconds=86_400 * (1 - index / (deliveries / len(endpoint_ids))))
        event_id = ids.new_id("evt", when.timestamp())
        events.append(
            (event_id, account_id, None, "email.delivery.updated", "delivered", payload, 0,
             stamp(when))
        )  # fmt: skip
        for endpoint_id in endpoint_ids:
            roll = rng.random()
            state = "succeeded" if roll < 0.9 else "failed" if roll < 0.98 else "pending"
            status = 200 if state == "succeeded" else 503
            delivery_id = ids.new_id("dlv", when.timestamp())
            rows.append(
                (delivery_id, account_id, event_id, endpoint_id, None, "email.delivery.updated",
                 0, state, 1, stamp(when) if state == "pending" else None, status,
                 None if status == 200 else "HTTP 503", stamp(when), stamp(when),
                 None if state == "pending" else stamp(when))
            )  # fmt: skip
            attempts.append(
                (ids.new_id("att", when.timestamp()), delivery_id, endpoint_id, 1, stamp(when),
                 rng.uniform(2, 80), "{}", status, "ok" if status == 200 else "busy", None
                 if status == 200 else "status", None)
            )  # fmt: skip
        if len(rows) >= BATCH:
            _flush(conn, events, rows, attempts)
    _flush(conn, events, rows, attempts)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _flush(conn: sqlite3.Connection, events: list, rows: list, attempts: list) -> None:  # type: ignore[type-arg]
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", _events_in_table_order(events))
    conn.executemany(
        "INSERT INTO deliveries (id, account_id, event_id, endpoint_id, message_id, event_type,"
        " sequence, state, attempts, next_attempt_at, last_response_status, last_error,"
        " created_at, updated_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO attempts (id, delivery_id, endpoint_id, number, started_at, duration_ms,"
        " request_headers, response_status, response_body, error_kind, error_message)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        attempts,
    )
    conn.commit()
    events.clear()
    rows.clear()
    attempts.clear()


def _events_in_table_order(events: list) -> list:  # type: ignore[type-arg]
    # events: id, account_id, message_id, type, status, sequence, payload, created_at
    return [(e[0], e[1], e[2], e[3], e[4], e[6], e[5], e[7]) for e in events]


async def prepare(path: Path, deliveries: int) -> None:
    """Make and fill the store, unless ``path`` holds one already."""
    url = f"sqlite+aiosqlite:///{path}"
    await migrate.upgrade_url(url)
    settings = config.load_settings(database_url=url, allow_private_urls=True)
    store = await Store.open(url, upgrade=False)
    svc = Service(store=store, settings=settings, pricing=PricingTable.load())
    account_id = (await svc.create_account("bench")).account.id
    endpoint_ids = [
        (await svc.create_endpoint(account_id, EndpointSpec(url=f"http://127.0.0.1:9/{i}"))).id
        for i in range(ENDPOINTS)
    ]
    await store.close()
    started = time.perf_counter()
    seed(path, account_id, endpoint_ids, deliveries)
    print(f"seeded {deliveries:,} deliveries in {time.perf_counter() - started:.0f} s")


async def measure(path: Path) -> None:
    """Each page's time, as the operator (the account's pages under its path)."""
    url = f"sqlite+aiosqlite:///{path}"
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
    parser.add_argument("--db", type=Path, help="keep the store in this file (reused if there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = args.db or Path(directory) / "pages.db"
        if not path.exists():
            asyncio.run(prepare(path, args.n))
        asyncio.run(measure(path))


if __name__ == "__main__":
    main()
