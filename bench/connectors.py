"""Scenario 9 — connectors: a provider's delivery receipt through its connector's callback,
against the same change made as a status report.

Per database (SQLite, and PostgreSQL where it answers): ``statushooks serve --no-dispatcher``,
an account (``statushooks accounts create``), one ``paused`` endpoint (fan-out is written,
nothing is sent) and a Twilio connector. ``POST /v1/sms`` submits messages carrying Twilio
``MessageSid``\\ s (unmeasured). Then, each at ``IN_FLIGHT`` requests in flight from a
closed-loop aiohttp client in this process, and each bounded in time (``--quick``: 3 s, else
10 s) and in count (the messages prepared for it; ``--quick``: 500, a smoke check):

(a) ``POST /v1/messages/{id}/status {"status": "delivered"}`` for one half of the messages;
(b) Twilio's signed status callback (``MessageStatus=delivered``) to ``POST /hooks/{id}`` for
    the other half: each moves its message ``submitted`` → ``delivered`` too (a history row,
    two events, two deliveries).

Figures per row: requests/s, p50/p99 latency and the server's CPU per request (psutil); the
callback's ratio to the report's rate. The issue's bar: a callback costs no more than a report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import psutil

from bench import api, common
from statushooks.connectors import twilio

IN_FLIGHT = 16
TOKEN = "bench-twilio-auth-token-0123456789"
SETUP_CONCURRENCY = 16
MESSAGES_PER_SECOND = 1_500  # messages prepared per phase second (the phase's count bound)
QUICK_MESSAGES = 500  # messages per phase with --quick (a smoke check)
PG_DATABASE = "statushooks_bench_connectors"
SMS_BODY = {"to": "+447901614024", "from": "Bench", "text": "Your verification code is 123456."}
Request = Callable[[aiohttp.ClientSession, int], Awaitable[bool]]


async def _post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], expected: int
) -> dict[str, Any]:
    async with session.post(url, json=body) as response:
        payload: dict[str, Any] = await response.json()
        if response.status != expected:
            raise RuntimeError(f"POST {url}: HTTP {response.status}: {payload}")
        return payload


async def _submit(session: aiohttp.ClientSession, base: str, count: int) -> list[tuple[str, str]]:
    """``count`` SMS with Twilio ids: ``(message id, MessageSid)`` each."""
    made: list[tuple[str, str]] = []
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            sid = f"SM{n:032x}"
            body = {**SMS_BODY, "provider": "twilio", "provider_message_id": sid}
            message = await _post_json(session, f"{base}/v1/sms", body, 201)
            made.append((message["id"], sid))

    await asyncio.gather(*(worker() for _ in range(SETUP_CONCURRENCY)))
    return made


async def _phase(
    session: aiohttp.ClientSession, request: Request, count: int, seconds: float
) -> dict[str, Any]:
    """``request(session, n)`` for n in 0…count-1 at ``IN_FLIGHT`` in flight, for ``seconds``."""
    latencies: list[float] = []
    failures = 0
    next_n = iter(range(count))
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal failures
        for n in next_n:
            if time.monotonic() >= deadline:
                return
            started = time.perf_counter()
            ok = await request(session, n)
            latencies.append(time.perf_counter() - started)
            failures += 0 if ok else 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "failures": failures,
        "rate": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": _ms(common.percentile(latencies, 50)),
        "p99_ms": _ms(common.percentile(latencies, 99)),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


async def _measured(
    server: api.Server, session: aiohttp.ClientSession, request: Request, count: int, seconds: float
) -> dict[str, Any]:
    process = psutil.Process(server.proc.popen.pid)
    cpu = process.cpu_times()
    row = await _phase(session, request, count, seconds)
    after = process.cpu_times()
    used = (after.user - cpu.user) + (after.system - cpu.system)
    row["server_cpu_us"] = round(used / row["requests"] * 1e6, 1) if row["requests"] else None
    return row


async def _rows(
    database: str, url: str, options: common.Options, log_dir: Path
) -> list[dict[str, Any]]:
    seconds = options.api_seconds
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    api_key = await api.create_account(url, log_dir)
    env = common.bench_env(url, STATUSHOOKS_PUBLIC_BASE_URL=base)
    server = await api.start(f"serve-{database}", api.serve_args(port, None), env, log_dir)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            await api.create_paused_endpoint(session, server)
            connector = await _post_json(
                session,
                f"{base}/v1/connectors",
                {"provider": "twilio", "name": "bench", "credentials": {"auth_token": TOKEN}},
                201,
            )
            per_phase = (
                QUICK_MESSAGES if options.quick else max(100, int(MESSAGES_PER_SECOND * seconds))
            )
            made = await _submit(session, base, 2 * per_phase)
            reports, callbacks = made[:per_phase], made[per_phase:]
            callback_url = connector["callback_url"]
            bodies = [
                {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "ACbench"}
                for _, sid in callbacks
            ]
            signatures = [
                twilio.expected_signature(callback_url, list(body.items()), TOKEN)
                for body in bodies
            ]

            async def report(client: aiohttp.ClientSession, n: int) -> bool:
                url = f"{base}/v1/messages/{reports[n][0]}/status"
                async with client.post(url, json={"status": "delivered"}) as response:
                    return response.status == 200 and b'"changed":true' in await response.read()

            async def callback(client: aiohttp.ClientSession, n: int) -> bool:
                form = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signatures[n],
                }
                async with client.post(
                    callback_url, data=urlencode(bodies[n]), headers=form
                ) as response:
                    return response.status == 200 and b'"applied":1' in await response.read()

            rows = []
            for route, request in (("status report", report), ("twilio callback", callback)):
                row = await _measured(server, session, request, per_phase, seconds)
                rows.append({"database": database, "route": route, "in_flight": IN_FLIGHT, **row})
    finally:
        server.proc.stop()
    rows[1]["ratio_to_report"] = (
        round(rows[1]["rate"] / rows[0]["rate"], 2) if rows[0]["rate"] and rows[1]["rate"] else None
    )
    return rows


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    seconds = options.api_seconds
    rows: list[dict[str, Any]] = []
    rows += await _rows("sqlite", common.sqlite_url(log_dir, "connectors"), options, log_dir)
    if await common.postgres_available():
        url = await common.fresh_postgres(PG_DATABASE)
        try:
            rows += await _rows("postgres", url, options, log_dir)
        finally:
            await common.drop_postgres(PG_DATABASE)
    _print(rows)
    return {"phase_seconds": seconds, "in_flight": IN_FLIGHT, "rows": rows}


def _print(rows: Sequence[dict[str, Any]]) -> None:
    common.print_table(
        "connectors: a Twilio callback vs a status report (submitted → delivered)",
        ["database", "route", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "failures", "×"],
        [
            [
                r["database"],
                r["route"],
                r["rate"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_us"],
                r["failures"],
                r.get("ratio_to_report", ""),
            ]
            for r in rows
        ],
    )
