"""``python -m bench.connector_profile [--database sqlite|postgres] [-n N] [--cprofile]``: a
Twilio callback against a status report, in process, one request at a time.

The API app (``create_app`` over an opened store, no dispatcher) is called as ASGI directly —
no sockets, no client — so each figure is the server's own work for one request: wall and CPU
µs per request (median of per-request times, and the phase's total CPU ÷ requests) and the
database statements and transactions each request ran. ``--cprofile`` prints the top functions
of each phase (cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa

from bench import api, common
from statushooks import config, service
from statushooks.api.app import create_app
from statushooks.connectors import twilio
from statushooks.storage import driver, sql

TOKEN = "bench-twilio-auth-token-0123456789"
PG_DATABASE = "statushooks_bench_connector_profile"
WARM_UP = 200  # requests of each kind before measuring
Send = Callable[[int], Awaitable[tuple[int, bytes]]]


class Counts:
    """Statements and transactions run, by kind (``driver.run_on_cursor`` and Core)."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.transactions = 0

    def install(self) -> None:
        original = driver.run_on_cursor

        def counted(conn: sa.Connection, text: str, params: Any, *, many: bool = False) -> Any:
            self.statements[" ".join(text.split())[:70]] += 1
            return original(conn, text, params, many=many)

        driver.run_on_cursor = counted  # type: ignore[assignment]

        def on_execute(*args: Any) -> None:  # (conn, cursor, statement, …)
            self.statements[" ".join(args[2].split())[:70]] += 1

        def on_begin(*_: Any) -> None:
            self.transactions += 1

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
        sa.event.listen(sa.engine.Engine, "begin", on_begin)


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
               ) -> tuple[int, bytes]:  # fmt: skip
    """One request to the ASGI ``app``: its status and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1:8080"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def phase(name: str, send: Send, start: int, n: int, counts: Counts, profile: bool,
                backends: api.BackendsCpu | None = None) -> dict[str, Any]:  # fmt: skip
    walls: list[float] = []
    cpus: list[float] = []
    counts.statements.clear()
    counts.transactions = 0
    profiler = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    if backends is not None:
        backends.last = {}
        backends.sample()
        backends.start = dict(backends.last)
    if profiler:
        profiler.enable()
    for i in range(start, start + n):
        c = time.process_time_ns()
        w = time.perf_counter_ns()
        status, body = await send(i)
        walls.append((time.perf_counter_ns() - w) / 1000)
        cpus.append((time.process_time_ns() - c) / 1000)
        if status != 200 or not (b'"changed":true' in body or b'"applied":1' in body):
            raise RuntimeError(f"{name} {i}: {status} {body[:300]!r}")
    if profiler:
        profiler.disable()
    if backends is not None:
        backends.sample()
    elapsed = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    row = {
        "route": name,
        "requests": n,
        "wall_us_median": round(statistics.median(walls), 1),
        "cpu_us_median": round(statistics.median(cpus), 1),
        "cpu_us_mean": round(cpu / n * 1e6, 1),
        "rate_one_at_a_time": round(n / elapsed, 1),
        "db_cpu_us_mean": round(backends.seconds() / n * 1e6, 1) if backends else None,
        "statements_per_request": round(sum(counts.statements.values()) / n, 2),
        "transactions_per_request": round(counts.transactions / n, 2),
        "statements": {k: round(v / n, 2) for k, v in counts.statements.most_common()},
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.dump_stats(f"{tempfile.gettempdir()}/connector-profile-{name.replace(' ', '-')}.prof")
        stats.sort_stats("cumulative").print_stats(45)
        row["profile"] = out.getvalue()
    return row


async def run(database_url: str, n: int, profile: bool, rounds: int) -> list[dict[str, Any]]:
    store = await sql.Store.open(database_url)
    base = "http://127.0.0.1:8080"
    settings = config.load_settings(
        database_url=database_url, public_base_url=base, allow_private_urls=True
    )
    app = create_app(settings, store)
    counts = Counts()
    total = (WARM_UP + n * rounds) * 2
    async with app.router.lifespan_context(app):
        svc: service.Service = app.state.service
        made = await svc.create_account("bench")
        account_id = made.account.id
        await svc.create_endpoint(
            account_id,
            service.EndpointSpec(url="http://127.0.0.1:9/hook", state=service.EndpointState.PAUSED),
        )
        connector = await svc.create_connector(
            account_id, provider="twilio", name="bench", credentials={"auth_token": TOKEN}
        )
        ids: list[tuple[str, str]] = []
        for i in range(total):
            sid = f"SM{i:032x}"
            message = await svc.submit_sms(account_id, to="+447901614024", sender="Bench",
                                           text="Your code is 123456.")  # fmt: skip
            await svc.report_status(account_id, message.id, status=service.MessageStatus.SENT,
                                    provider="twilio", provider_message_id=sid)  # fmt: skip
            ids.append((message.id, sid))
        reports, callbacks = ids[: total // 2], ids[total // 2 :]
        auth = [(b"authorization", f"Bearer {made.api_key}".encode()),
                (b"content-type", b"application/json")]  # fmt: skip
        url = svc.callback_url(connector.id)
        path = f"/hooks/{connector.id}"

        report_body = orjson.dumps({"status": "delivered"})
        report_headers = [*auth, (b"content-length", str(len(report_body)).encode())]
        signed = [_signed(url, sid) for _, sid in callbacks]

        async def report(i: int) -> tuple[int, bytes]:
            path = f"/v1/messages/{reports[i][0]}/status"
            return await call(app, "POST", path, report_headers, report_body)

        async def callback(i: int) -> tuple[int, bytes]:
            headers, body = signed[i]
            return await call(app, "POST", path, headers, body)

        postmaster = await api.postmaster(database_url) if "postgres" in database_url else None
        backends = api.BackendsCpu(server=postmaster, database=PG_DATABASE) if postmaster else None
        counts.install()
        await phase("status report", report, 0, WARM_UP, counts, False)
        await phase("twilio callback", callback, 0, WARM_UP, counts, False)
        rows = []
        for r in range(rounds):  # alternate, so a drift of the machine hits both
            start = WARM_UP + r * n
            for name, send in (("status report", report), ("twilio callback", callback)):
                rows.append(await phase(name, send, start, n, counts, profile, backends))
    await store.close()
    return rows


def _signed(url: str, sid: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of Twilio's signed status callback for ``sid`` (delivered)."""
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "ACbench"}
    body = urlencode(params).encode()
    signature = twilio.expected_signature(url, list(params.items()), TOKEN)
    headers = [(b"content-type", b"application/x-www-form-urlencoded"),
               (b"x-twilio-signature", signature.encode()),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    return headers, body


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connector_profile")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args()

    async def go() -> list[dict[str, Any]]:
        if args.database == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                return await run(f"sqlite:///{Path(tmp) / 'p.db'}", args.n, args.cprofile,
                                 args.rounds)  # fmt: skip
        url = await common.fresh_postgres(PG_DATABASE)
        try:
            return await run(url, args.n, args.cprofile, args.rounds)
        finally:
            await common.drop_postgres(PG_DATABASE)

    rows = asyncio.run(go())
    for row in rows:
        profile = row.pop("profile", None)
        statements = row.pop("statements")
        print(row)
        if args.statements:
            for text, count in statements.items():
                print(f"    {count:5.2f}  {text}")
        if profile:
            print(profile)


if __name__ == "__main__":
    main()
