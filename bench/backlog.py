"""Scenario 5 — backlog memory: 1,000,000 deliveries queued for endpoints that are down (10
endpoints on a closed port of 127.0.0.1: 100,000 SMS × 10), then a dispatcher
(``python -m statushooks.worker``) runs for 60 s next to the API (``bench.apiserver``, no
dispatcher in it), which is asked for a page of deliveries and sent a few status reports every
second. Figures: peak RSS of each process. The same is done with a tenth of the backlog first:
memory must not grow with the backlog. SQLite, the default database.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from bench import common, drain, queueing

ENDPOINTS = 10
TARGET_MB = 250.0


async def one_size(n: int, seconds: float, log_dir: Path) -> dict[str, Any]:
    tmp = log_dir / f"db-{n}"
    tmp.mkdir(exist_ok=True)
    url = common.sqlite_url(tmp, "backlog")
    down_port = common.free_port()  # nothing listens there
    store = await queueing.open_store(url)
    try:
        fixture = await queueing.setup(
            store,
            queueing.bench_settings(url),
            [f"http://127.0.0.1:{down_port}/e{i}" for i in range(ENDPOINTS)],
        )
        _, api_key = await fixture.service.create_api_key(fixture.account_id)
        message_ids, queue_seconds = await queueing.queue_submitted(fixture, n // ENDPOINTS)
        queued = await drain.count(store, drain.OPEN_QUERY)
        print(f"  queued {queued:,} deliveries in {queue_seconds:.1f} s", flush=True)
    finally:
        await store.close()
    env = common.bench_env(url)
    port = common.free_port()
    api = common.Proc.start(
        f"api-{n}",
        [common.PYTHON, "-m", "bench.apiserver", "--port", str(port)],
        env=env,
        log_dir=log_dir,
    )
    worker = common.Proc.start(f"worker-{n}", drain.worker_args(), env=env, log_dir=log_dir)
    requests = errors = 0
    try:
        await common.wait_port(port, timeout=60, proc=api.popen)
        headers = {"Authorization": f"Bearer {api_key}"}
        base = f"http://127.0.0.1:{port}"
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            common.sampling([api, worker]),
        ):
            started = time.monotonic()
            i = 0
            while time.monotonic() - started < seconds:
                for method, path, body in (
                    ("GET", "/v1/deliveries?limit=100", None),
                    ("POST", "/v1/status-reports", {"reports": [
                        {"message_id": mid, "status": "sent"} for mid in message_ids[i : i + 20]
                    ]}),
                ):  # fmt: skip
                    async with session.request(method, base + path, json=body) as response:
                        await response.read()
                        requests += 1
                        errors += response.status >= 300
                i += 20
                if not worker.alive() or not api.alive():
                    raise RuntimeError(f"a process died:\n{worker.tail()}\n{api.tail()}")
                await asyncio.sleep(1.0)
        store = await queueing.open_store(url)
        try:
            query = sa.text("SELECT count(*) FROM attempts")
            attempts = int(await store.read(lambda tx: tx.conn.execute(query).scalar_one()))
        finally:
            await store.close()
    finally:
        worker.stop()
        api.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "queued": queued,
        "queue_seconds": round(queue_seconds, 1),
        "seconds": seconds,
        "worker_peak_rss_mb": common.mb(worker.peak_rss),
        "api_peak_rss_mb": common.mb(api.peak_rss),
        "worker_rss_timeline_mb": _timeline(worker),
        "api_rss_timeline_mb": _timeline(api),
        "attempts_made": attempts,
        "api_requests": requests,
        "api_errors": errors,
    }


def _timeline(proc: common.Proc) -> list[tuple[float, float]]:
    if not proc.rss_samples:
        return []
    t0 = proc.rss_samples[0][0]
    return [(round(t - t0, 1), common.mb(rss)) for t, rss in proc.rss_samples[::5]]


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    sizes = (options.backlog_n // 10, options.backlog_n)
    runs = [await one_size(n, options.backlog_seconds, log_dir) for n in sizes]
    common.print_table(
        f"backlog memory — endpoints down, {options.backlog_seconds:g} s of dispatching",
        ["queued", "worker peak RSS MB", "API peak RSS MB", "attempts made", "API errors"],
        [
            [
                r["queued"],
                r["worker_peak_rss_mb"],
                r["api_peak_rss_mb"],
                r["attempts_made"],
                r["api_errors"],
            ]
            for r in runs
        ],
    )
    small, big = runs
    growth = big["worker_peak_rss_mb"] - small["worker_peak_rss_mb"]
    print(f"  worker RSS growth ×10 backlog: {growth:+.1f} MB", flush=True)
    return {"endpoints": ENDPOINTS, "database": "sqlite", "target_mb": TARGET_MB, "runs": runs,
            "worker_growth_mb": round(growth, 1)}  # fmt: skip
