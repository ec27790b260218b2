"""Scenario 9 — connectors: a provider's delivery receipt through its connector's callback,
against the same change made as a status report, in the same run.

Per database (SQLite, and PostgreSQL where it answers): ``statushooks serve --no-dispatcher``,
an account (``statushooks accounts create``), one ``paused`` endpoint (fan-out is written,
nothing is sent) and a Twilio connector. ``POST /v1/sms`` submits messages carrying Twilio
``MessageSid``\\ s (unmeasured). Then, at ``IN_FLIGHT`` requests in flight from a
closed-loop aiohttp client in this process, each message moved ``submitted`` → ``delivered``
once (a history row, its events and their deliveries) by one of:

(a) ``POST /v1/messages/{id}/status {"status": "delivered"}`` (a status report);
(b) Twilio's signed status callback (``MessageStatus=delivered``) to ``POST /hooks/{id}``.

After ``WARM_UP`` requests of each, four measured phases in ``ORDER`` (report, callback,
callback, report), each bounded in time (``--quick``: 1.5 s, else 5 s) and in count (the
messages prepared for it; ``--quick``: 500, a smoke check). Figures per route, over its two
phases: requests/s, p50/p99 latency, the server's CPU per request (psutil) and, on
PostgreSQL, its backends' CPU per request; the callback's rate and CPU as ratios to the
report's. The issue's bar: a callback costs no more than a report (rate ratio ≥ 1.0).
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
WARM_UP = 200  # requests of each route before the measured phases
#: The measured phases, in order: each route twice, the second pair reversed, so that a drift
#: of this shared machine's speed over the four weighs on both routes alike.
ORDER = ("status report", "twilio callback", "twilio callback", "status report")
ROUNDS = 2  # phases per route
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
    session: aiohttp.ClientSession, request: Request, ns: Sequence[int], seconds: float
) -> dict[str, Any]:
    """``request(session, n)`` for each n of ``ns`` at ``IN_FLIGHT`` in flight, for at most
    ``seconds``: the latencies, failures and elapsed seconds."""
    latencies: list[float] = []
    failures = 0
    next_n = iter(ns)
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
    return {
        "latencies": latencies,
        "failures": failures,
        "seconds": time.perf_counter() - began,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


async def _measured(
    server: api.Server,
    session: aiohttp.ClientSession,
    request: Request,
    ns: Sequence[int],
    seconds: float,
) -> dict[str, Any]:
    """One phase, with the CPU the server (and its PostgreSQL backends) spent in it."""
    process = psutil.Process(server.proc.popen.pid)
    cpu = process.cpu_times()
    backends = api.BackendsCpu(server=server.postmaster, database=PG_DATABASE)
    async with backends.measuring():
        row = await _phase(session, request, ns, seconds)
    after = process.cpu_times()
    row["server_cpu_s"] = (after.user - cpu.user) + (after.system - cpu.system)
    row["db_cpu_s"] = backends.seconds() if server.postmaster else None
    if not server.proc.alive():
        raise RuntimeError(f"the server died:\n{server.proc.tail()}")
    return row


def _route_row(database: str, route: str, phases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A route's figures over its phases of one database (sums, not a mean of rates)."""
    latencies = [x for p in phases for x in p["latencies"]]
    n = len(latencies)
    seconds = sum(p["seconds"] for p in phases)
    db_cpu = [p["db_cpu_s"] for p in phases if p["db_cpu_s"] is not None]

    def per_request(total: float) -> float | None:
        return round(total / n * 1e6, 1) if n else None

    return {
        "database": database,
        "route": route,
        "in_flight": IN_FLIGHT,
        "requests": n,
        "phases": len(phases),
        "seconds": round(seconds, 2),
        "failures": sum(p["failures"] for p in phases),
        "rate": round(n / seconds, 1) if seconds > 0 else None,
        "p50_ms": _ms(common.percentile(latencies, 50)),
        "p99_ms": _ms(common.percentile(latencies, 99)),
        "server_cpu_us": per_request(sum(p["server_cpu_s"] for p in phases)),
        "db_cpu_us": per_request(sum(db_cpu)) if db_cpu else None,
    }


async def _rows(
    database: str, url: str, options: common.Options, log_dir: Path
) -> list[dict[str, Any]]:
    seconds = options.api_seconds / ROUNDS  # per phase: each route gets api_seconds in all
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    api_key = await api.create_account(url, log_dir)
    env = common.bench_env(url, STATUSHOOKS_PUBLIC_BASE_URL=base)
    server = await api.start(f"serve-{database}", api.serve_args(port, None), env, log_dir)
    server.postmaster = await api.postmaster(url) if database == "postgres" else None
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
            per_route = WARM_UP + ROUNDS * per_phase
            made = await _submit(session, base, 2 * per_route)
            reports, callbacks = made[:per_route], made[per_route:]
            callback_url = connector["callback_url"]
            # Both bodies encoded and both header sets built before the phases: the client
            # does the same work per request for each route.
            report_body = b'{"status": "delivered"}'
            report_headers = {"Content-Type": "application/json"}
            forms = [
                {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "ACbench"}
                for _, sid in callbacks
            ]
            signed = [
                (
                    urlencode(form).encode(),
                    {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": twilio.expected_signature(
                            callback_url, list(form.items()), TOKEN
                        ),
                    },
                )
                for form in forms
            ]
            report_urls = [f"{base}/v1/messages/{message_id}/status" for message_id, _ in reports]

            async def report(client: aiohttp.ClientSession, n: int) -> bool:
                async with client.post(
                    report_urls[n], data=report_body, headers=report_headers
                ) as response:
                    return response.status == 200 and b'"changed":true' in await response.read()

            async def callback(client: aiohttp.ClientSession, n: int) -> bool:
                body, headers = signed[n]
                async with client.post(callback_url, data=body, headers=headers) as response:
                    return response.status == 200 and b'"applied":1' in await response.read()

            routes = {"status report": report, "twilio callback": callback}
            for request in routes.values():  # warm-up, unmeasured
                await _phase(session, request, range(WARM_UP), seconds)
            phases: dict[str, list[dict[str, Any]]] = {route: [] for route in routes}
            for i, route in enumerate(ORDER):
                first = WARM_UP + (i // 2) * per_phase
                ns = range(first, first + per_phase)
                phases[route].append(await _measured(server, session, routes[route], ns, seconds))
    finally:
        server.proc.stop()
    rows = [_route_row(database, route, phases[route]) for route in routes]
    report_row, callback_row = rows
    callback_row["ratio_to_report"] = _ratio(callback_row["rate"], report_row["rate"])
    callback_row["cpu_ratio_to_report"] = _ratio(
        callback_row["server_cpu_us"], report_row["server_cpu_us"]
    )
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


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
    return {
        "commit": api.git_commit(),
        "phase_seconds": seconds / ROUNDS,
        "phases": list(ORDER),
        "warm_up": WARM_UP,
        "in_flight": IN_FLIGHT,
        "rows": rows,
    }


HEADERS = ["database", "route", "req/s", "p50 ms", "p99 ms", "server CPU µs/req",
           "PG CPU µs/req", "failures", "× report rate", "× report CPU"]  # fmt: skip


def _print(rows: Sequence[dict[str, Any]]) -> None:
    common.print_table(
        "connectors: a Twilio callback vs a status report (submitted → delivered)",
        HEADERS,
        [
            [
                r["database"],
                r["route"],
                r["rate"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_us"],
                r["db_cpu_us"],
                r["failures"],
                r.get("ratio_to_report", ""),
                r.get("cpu_ratio_to_report", ""),
            ]
            for r in rows
        ],
    )
