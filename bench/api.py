"""Scenario 7 — api: the two single-request calls a messaging platform makes, against the
framework's own limit.

Rows, each at ``IN_FLIGHT`` requests in flight (16 and 64), for ``POST /v1/sms`` and for
``POST /v1/messages/{id}/status``:

(a) the limit: a bare FastAPI app (``python -m bench.bareapi``) under the same uvicorn + uvloop
    + httptools, with the same two routes taking the same request models
    (``statushooks.api.schemas.SmsCreate``, ``StatusReportIn``) and answering a small JSON: no
    authentication, no database, no access log. Once as one process, once as two (uvicorn
    ``workers=2``). The ratios are to the one-process rows.
(b) ``statushooks serve --no-dispatcher`` (the API alone) on an SQLite file and on PostgreSQL,
    with 1 and 2 API processes: ``--workers N`` is passed only when ``statushooks serve --help``
    lists it; otherwise the two-process rows are recorded as skipped, with that reason.

Set-up, on a fresh database per configuration, through the CLI and the API only:
``statushooks accounts create`` (its API key), then ``POST /v1/endpoints`` with one endpoint
that is ``paused``: a paused endpoint still receives new deliveries (fan-out happens and is
written) but nothing is sent, and there is no dispatcher anyway.

Each ``POST /v1/sms`` submits a new message (one ``submitted`` event, one delivery). The status
reports need messages whose status they change (a repeated or late report is a no-op): the
messages the ``POST /v1/sms`` phases submitted (topped up, unmeasured, by more ``POST /v1/sms``
when too few) are listed through ``GET /v1/messages``, and each is reported ``delivered`` exactly
once (``submitted`` → ``delivered``: a status history row, two events — Interact and YCloud
``sms.message.updated`` — and two deliveries). Every answer's ``"changed":true`` is counted.

The load generator is ``wrk`` (one thread, one connection per request in flight, keep-alive, a
Lua script that makes each request; installed from Debian with nginx when missing), or, without
it (or with ``--api-client aiohttp``), a closed-loop aiohttp + uvloop client in its own process.
Every phase is bounded in time (``--quick``: 3 s, else 10 s) and in count (the messages it may
report on; ``MAX_RATE`` × its seconds); a warm-up of ``WARMUP_SECONDS`` precedes each route.
Figures per row: requests/s and p50/p99 latency (from the client: first request to last
answer), CPU per request of the server (psutil: the process and its children, before/after the
phase), of the PostgreSQL backends of the bench database (sampled by pid: ``BackendsCpu``),
and of the client; the 1-minute load
average as the phase began (the machine is shared); and each statushooks row's ratio to the
one-process bare app on the same route and in-flight count, from the same run: the machine is
shared and its speed drifts, so the bare app runs first (one and two processes) and again (one
process) just before each statushooks configuration, and each ratio is to that last one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from bench import common, sink

ROUTES = ("sms", "status")
PATHS = {"sms": "POST /v1/sms", "status": "POST /v1/messages/{id}/status"}
IN_FLIGHT = (16, 64)
WARMUP_SECONDS = 1.0
MAX_RATE = 20_000  # requests/s: a phase's count bound is its seconds × this
SETUP_TIMEOUT = 30.0  # seconds for one set-up request
LIST_PAGE = 250  # messages per GET /v1/messages page (the API's maximum)
POOL_MARGIN = 2.0  # status reports a phase may need, as a multiple of the SMS phases' best rate
TOPUP_SECONDS_FACTOR = 4.0  # the unmeasured top-up may take this many phase lengths at most
PG_DATABASE = "statushooks_bench_api"
SMS_BODY = {"to": "+447901614024", "from": "Bench", "text": "Your verification code is 123456."}
STATUS_BODY = {"status": "delivered"}
NO_WORKERS = "statushooks serve --help lists no --workers option"

WRK_LUA = """-- one request per call, bounded in count: args route, max requests, key, body, ids.
-- wrk's own duration is always its -d (its main thread sleeps that long), so the span from the
-- first request to the last response is timed here (clock_gettime through LuaJIT's FFI).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local route, max_requests, body, headers
local ids = {}
local made = 0
first, last, responses, changed, unchanged = 0, 0, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  route = args[1]
  max_requests = tonumber(args[2])
  local file = assert(io.open(args[4], "rb"))
  body = file:read("*a")
  file:close()
  headers = {["Content-Type"] = "application/json"}
  if args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
  if route == "status" then
    for line in io.lines(args[5]) do ids[#ids + 1] = line end
    if #ids < max_requests then max_requests = #ids end
  end
end

function request()
  made = made + 1
  if made == 1 then first = now() end
  if made > max_requests then
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  if route == "status" then
    return wrk.format("POST", "/v1/messages/" .. ids[made] .. "/status", headers, body)
  end
  return wrk.format("POST", "/v1/sms", headers, body)
end

function response(status, response_headers, response_body)
  last = now()
  responses = responses + 1
  if route == "status" and status == 200 then
    if string.find(response_body, '"changed":true', 1, true) then
      changed = changed + 1
    else
      unchanged = unchanged + 1
    end
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"errors": %d, "non_2xx": %d, "timeouts": %d, "changed": %d, "unchanged": %d}\\n',
    t:get("responses"), t:get("last") - t:get("first"), latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, e.connect + e.read + e.write,
    e.status, e.timeout, t:get("changed"), t:get("unchanged")))
end
"""


# -- the load generators -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Load:
    """One phase to drive: ``in_flight`` connections for ``seconds`` or ``max_requests``."""

    base_url: str
    route: str
    in_flight: int
    seconds: float
    max_requests: int
    api_key: str = ""
    ids_file: Path | None = None


def wrk_binary() -> str | None:
    """``wrk``, installed from Debian's packages (with nginx) when missing and possible."""
    return shutil.which("wrk") or (sink.ensure_nginx() and shutil.which("wrk"))


def wrk_args(binary: str, load: Load, script: Path, body: Path) -> list[str]:
    return [
        binary,
        "-t1",
        f"-c{load.in_flight}",
        f"-d{max(1, round(load.seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        load.base_url,
        "--",
        load.route,
        str(load.max_requests),
        load.api_key,
        str(body),
        str(load.ids_file or ""),
    ]


def client_args(load: Load, body: Path) -> list[str]:
    args = [common.PYTHON, "-m", "bench.api", "client", "--url", load.base_url]
    args += ["--route", load.route, "-c", str(load.in_flight), "--seconds", str(load.seconds)]
    args += ["-n", str(load.max_requests), "--key", load.api_key, "--body", str(body)]
    return args + (["--ids", str(load.ids_file)] if load.ids_file else [])


def drive(load: Load, client: str, tmp: Path) -> dict[str, Any]:
    """Run one phase in a client subprocess (blocking); its figures and its own CPU."""
    body = tmp / f"body-{load.route}.json"
    body.write_bytes(orjson.dumps(SMS_BODY if load.route == "sms" else STATUS_BODY))
    if client == "wrk":
        script = tmp / "api.lua"
        script.write_text(WRK_LUA)
        binary = shutil.which("wrk")
        assert binary is not None
        args = wrk_args(binary, load, script, body)
    else:
        args = client_args(load, body)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=load.seconds + 120,
        check=False,
        cwd=common.ROOT,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = orjson.loads(line[7:])
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            result["client_cpu_s"] = cpu
            return result
    raise RuntimeError(
        f"the {client} client failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    )


async def _client_loop(load: Load, body: bytes) -> dict[str, Any]:
    """The aiohttp fallback: ``in_flight`` closed loops over one keep-alive session."""
    ids = load.ids_file.read_text().split() if load.ids_file else []
    n = min(load.max_requests, len(ids)) if load.route == "status" else load.max_requests
    counter = iter(range(n))
    latencies: list[float] = []
    tally = {"errors": 0, "non_2xx": 0, "changed": 0, "unchanged": 0}
    headers = {"Content-Type": "application/json"}
    if load.api_key:
        headers["Authorization"] = f"Bearer {load.api_key}"
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    deadline = started + load.seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for i in counter:
                if time.perf_counter() >= deadline:
                    return
                path = f"/v1/messages/{ids[i]}/status" if load.route == "status" else "/v1/sms"
                sent = time.perf_counter()
                try:
                    async with session.post(load.base_url + path, data=body, headers=headers) as r:
                        payload = await r.read()
                except (aiohttp.ClientError, TimeoutError):
                    tally["errors"] += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1000)
                if r.status >= 300:
                    tally["non_2xx"] += 1
                elif load.route == "status":
                    tally["changed" if b'"changed":true' in payload else "unchanged"] += 1

        await asyncio.gather(*(worker() for _ in range(load.in_flight)))
    return {
        "requests": len(latencies),
        "seconds": time.perf_counter() - started,
        "p50_ms": common.percentile(latencies, 50),
        "p99_ms": common.percentile(latencies, 99),
        "max_ms": max(latencies, default=None),
        "timeouts": 0,
        **tally,
    }


def client_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api client")
    parser.add_argument("--url", required=True)
    parser.add_argument("--route", choices=ROUTES, required=True)
    parser.add_argument("-c", type=int, required=True, help="requests in flight")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("-n", type=int, required=True, help="at most this many requests")
    parser.add_argument("--key", default="")
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--ids", type=Path)
    args = parser.parse_args(argv)
    load = Load(base_url=args.url, route=args.route, in_flight=args.c, seconds=args.seconds,
                max_requests=args.n, api_key=args.key, ids_file=args.ids)  # fmt: skip
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_client_loop(load, args.body.read_bytes()))
    print("RESULT " + orjson.dumps(result).decode(), flush=True)


# -- servers -------------------------------------------------------------------------------------


def serve_has_workers() -> bool:
    """Whether ``statushooks serve`` takes ``--workers`` (another branch adds it)."""
    done = subprocess.run(
        [common.PYTHON, "-m", "statushooks", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    return "--workers" in done.stdout


def serve_args(port: int, workers: int | None) -> list[str]:
    args = [common.PYTHON, "-m", "statushooks", "serve", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--no-dispatcher"]
    return args + (["--workers", str(workers)] if workers is not None else [])


@dataclass(kw_only=True)
class Server:
    proc: common.Proc
    port: int
    api_key: str = ""
    postmaster: psutil.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def start(name: str, args: list[str], env: dict[str, str] | None, log_dir: Path) -> Server:
    port = int(args[args.index("--port") + 1])
    proc = common.Proc.start(name, args, env=env, log_dir=log_dir)
    try:
        await common.wait_port(port, timeout=60, proc=proc.popen)
        await _wait_ready(f"http://127.0.0.1:{port}")
    except BaseException:
        proc.stop()
        raise
    return Server(proc=proc, port=port)


async def _wait_ready(base_url: str, timeout: float = 60.0) -> None:
    """Until the app answers (a 404 from the bare app counts): the port opens before startup."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(base_url + "/healthz") as response:
                    if response.status < 500:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base_url} is not ready after {timeout:g} s")
            await asyncio.sleep(0.1)


async def create_account(url: str, log_dir: Path) -> str:
    """``statushooks accounts create`` on the database; its API key."""
    proc = await asyncio.create_subprocess_exec(
        *[common.PYTHON, "-m", "statushooks", "accounts", "create", "bench", "--json"],
        env={**common.bench_env(url), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=common.ROOT,
    )
    out, errors = await asyncio.wait_for(proc.communicate(), 120)
    (log_dir / "accounts-create.log").write_bytes(errors)
    if proc.returncode != 0:
        raise RuntimeError(f"statushooks accounts create failed:\n{errors.decode()}")
    key: str = orjson.loads(out)["api_key"]
    return key


async def create_paused_endpoint(session: aiohttp.ClientSession, server: Server) -> str:
    """One endpoint, paused: fan-out writes its deliveries, nothing is sent."""
    closed = common.free_port()  # nothing listens there
    body = {"url": f"http://127.0.0.1:{closed}/hook", "status": "paused"}
    async with session.post(f"{server.base_url}/v1/endpoints", json=body) as response:
        payload = await response.json()
        if response.status != 201:
            raise RuntimeError(f"POST /v1/endpoints: HTTP {response.status}: {payload}")
    endpoint_id: str = payload["id"]
    return endpoint_id


async def list_submitted(session: aiohttp.ClientSession, server: Server) -> list[str]:
    """Every ``submitted`` message of the account, through ``GET /v1/messages``."""
    ids: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": str(LIST_PAGE), **({"after": after} if after else {})}
        async with session.get(f"{server.base_url}/v1/messages", params=params) as response:
            if response.status != 200:
                raise RuntimeError(f"GET /v1/messages: HTTP {response.status}")
            page = await response.json()
        ids += [m["id"] for m in page["data"] if m["status"] == "submitted"]
        after = page.get("next_cursor")
        if not after:
            return ids


async def postmaster(url: str) -> psutil.Process | None:
    """The local PostgreSQL server behind ``url`` (the parent of our backend), or None."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        return psutil.Process(backend).parent()  # while the backend lives
    except psutil.Error:
        return None
    finally:
        await conn.close()


BACKEND_SAMPLE_INTERVAL = 0.1  # seconds between samples of the PostgreSQL backends' CPU


@dataclass(kw_only=True)
class BackendsCpu:
    """CPU seconds of the backends of one database on a local PostgreSQL ``server``, which is
    shared: other databases' sessions and the server's background work are not counted.

    Backends come and go (the pool's overflow connections), so each is sampled by pid while a
    phase runs: one that exits keeps what it had used at its last sample; what it used after
    that, and a backend that lives less than one interval, are missed.
    """

    server: psutil.Process | None
    database: str
    start: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def sample(self) -> None:
        if self.server is None:
            return
        with contextlib.suppress(psutil.Error):
            for child in self.server.children():
                with contextlib.suppress(psutil.Error):  # gone since the listing
                    if f" {self.database} " in " ".join(child.cmdline()):
                        times = child.cpu_times()
                        self.last[child.pid] = times.user + times.system

    @contextlib.asynccontextmanager
    async def measuring(self) -> AsyncIterator[None]:
        """Sample from the start of the block to its end."""
        self.last = {}
        self.sample()
        self.start = dict(self.last)
        async with common.every(BACKEND_SAMPLE_INTERVAL, self.sample, "backends-cpu"):
            yield

    def seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


# -- phases --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Run:
    """What every phase of the scenario shares."""

    client: str
    seconds: float
    tmp: Path


async def phase(
    run: Run, server: Server, route: str, in_flight: int, **extra: Any
) -> dict[str, Any]:
    """One measured phase: the client's figures, and the CPU the server spent per request."""
    load = Load(
        base_url=server.base_url,
        route=route,
        in_flight=in_flight,
        seconds=extra.pop("seconds", run.seconds),
        max_requests=extra.pop("max_requests", int(run.seconds * MAX_RATE)),
        api_key=server.api_key,
        ids_file=extra.pop("ids_file", None),
    )
    load_average = os.getloadavg()[0]
    cpu0 = server.proc.cpu_seconds()
    backends = BackendsCpu(server=server.postmaster, database=PG_DATABASE)
    async with backends.measuring():
        result = await asyncio.to_thread(drive, load, run.client, run.tmp)
    cpu = server.proc.cpu_seconds() - cpu0
    db_cpu = backends.seconds()
    if not server.proc.alive():
        raise RuntimeError(f"the server died:\n{server.proc.tail()}")
    n = result["requests"]

    def per_request(seconds: float) -> float | None:
        return round(seconds / n * 1000, 3) if n else None

    return {
        "route": route,
        "in_flight": in_flight,
        "requests": n,
        "seconds": round(result["seconds"], 2),
        "rate": round(n / result["seconds"], 1) if result["seconds"] else None,
        "p50_ms": _r(result["p50_ms"]),
        "p99_ms": _r(result["p99_ms"]),
        "max_ms": _r(result["max_ms"]),
        "cpu_ms_per_request": per_request(cpu),
        "db_cpu_ms_per_request": per_request(db_cpu) if server.postmaster else None,
        "client_cpu_ms_per_request": per_request(result["client_cpu_s"]),
        "ended_by": "count" if n >= load.max_requests - in_flight else "time",
        "errors": result["errors"] + result["timeouts"],
        "non_2xx": result["non_2xx"],
        "load_average_1m": round(load_average, 2),
        **(
            {"changed": result["changed"], "unchanged": result["unchanged"]}
            if route == "status"
            else {}
        ),
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ids_file(run: Run, name: str, ids: Sequence[str]) -> Path:
    path = run.tmp / f"ids-{name}.txt"
    path.write_text("\n".join(ids) + "\n")
    return path


def _print(label: str, row: dict[str, Any]) -> None:
    print(
        f"  {label} {PATHS[row['route']]} ×{row['in_flight']}: {row['rate']:,}/s, "
        f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
        f"CPU {row['cpu_ms_per_request']} ms/request ({row['requests']:,} requests, "
        f"{row['errors'] + row['non_2xx']} errors)",
        flush=True,
    )


async def bare_rows(run: Run, workers: int, log_dir: Path, name: str = "") -> list[dict[str, Any]]:
    """The limit: the bare app with ``workers`` processes, both routes at each in-flight count."""
    port = common.free_port()
    args = [common.PYTHON, "-m", "bench.bareapi", "--port", str(port), "--workers", str(workers)]
    server = await start(name or f"bare-x{workers}", args, None, log_dir)
    fake = _ids_file(run, "bare", [f"msg_bare{i:08d}" for i in range(int(run.seconds * MAX_RATE))])
    rows = []
    try:
        async with common.sampling([server.proc]):
            for route in ROUTES:
                ids = fake if route == "status" else None
                await phase(run, server, route, IN_FLIGHT[0], seconds=WARMUP_SECONDS, ids_file=ids)
                for in_flight in IN_FLIGHT:
                    row = await phase(run, server, route, in_flight, ids_file=ids)
                    row.update(server="bare", database=None, workers=workers)
                    rows.append(row)
                    _print(f"bare ×{workers}", row)
    finally:
        server.proc.stop()
    for row in rows:
        row["peak_rss_mb"] = common.mb(server.proc.peak_rss)
    return rows


async def statushooks_rows(
    run: Run, database: str, workers: int, workers_flag: bool, log_dir: Path
) -> list[dict[str, Any]]:
    """``statushooks serve --no-dispatcher`` on a fresh database: set-up, then every phase."""
    label = f"{database}×{workers}"
    if database == "sqlite":
        url = common.sqlite_url(run.tmp, f"api-{workers}")
    else:
        url = await common.fresh_postgres(PG_DATABASE)
    try:
        api_key = await create_account(url, log_dir)
        port = common.free_port()
        args = serve_args(port, workers if workers_flag else None)
        server = await start(f"serve-{database}-x{workers}", args, common.bench_env(url), log_dir)
        server.api_key = api_key
        server.postmaster = await postmaster(url) if database == "postgres" else None
        try:
            rows = await _statushooks_phases(run, server, label)
        finally:
            server.proc.stop()
    finally:
        if database == "postgres":
            await common.drop_postgres(PG_DATABASE)
        else:
            for suffix in ("", "-wal", "-shm", "-wlock"):
                with contextlib.suppress(OSError):
                    os.unlink(url.removeprefix("sqlite:///") + suffix)
    for row in rows:
        row.update(server="statushooks", database=database, workers=workers)
    return rows


async def _statushooks_phases(run: Run, server: Server, label: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    timeout = aiohttp.ClientTimeout(total=SETUP_TIMEOUT)
    rows: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession(headers=headers, timeout=timeout) as session,
        common.sampling([server.proc]),
    ):
        await create_paused_endpoint(session, server)
        await phase(run, server, "sms", IN_FLIGHT[0], seconds=WARMUP_SECONDS)
        for in_flight in IN_FLIGHT:
            rows.append(await phase(run, server, "sms", in_flight))
            _print(label, rows[-1])
        pool = await list_submitted(session, server)
        best = max(row["rate"] or 0.0 for row in rows)
        per_phase = int(best * run.seconds * POOL_MARGIN) + IN_FLIGHT[-1]
        wanted = per_phase * len(IN_FLIGHT) + int(best * WARMUP_SECONDS) + IN_FLIGHT[-1]
        if len(pool) < wanted:
            started = time.perf_counter()
            await phase(run, server, "sms", IN_FLIGHT[-1], max_requests=wanted - len(pool),
                        seconds=run.seconds * TOPUP_SECONDS_FACTOR)  # fmt: skip
            pool = await list_submitted(session, server)
            print(f"  {label}: {len(pool):,} messages to report on "
                  f"(topped up in {time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip
        warm = min(len(pool) // 10, int(best * WARMUP_SECONDS) + IN_FLIGHT[-1])
        await phase(run, server, "status", IN_FLIGHT[0], seconds=WARMUP_SECONDS,
                    ids_file=_ids_file(run, "warm", pool[:warm]))  # fmt: skip
        share = (len(pool) - warm) // len(IN_FLIGHT)
        for i, in_flight in enumerate(IN_FLIGHT):
            ids = pool[warm + i * share : warm + (i + 1) * share]
            row = await phase(run, server, "status", in_flight, max_requests=len(ids),
                              ids_file=_ids_file(run, f"status-{in_flight}", ids))  # fmt: skip
            rows.append(row)
            _print(label, row)
    for row in rows:
        row["peak_rss_mb"] = common.mb(server.proc.peak_rss)
    return rows


# -- the scenario --------------------------------------------------------------------------------


def skipped_rows(database: str, workers: int, reason: str) -> list[dict[str, Any]]:
    return [
        {"server": "statushooks", "database": database, "workers": workers, "route": route,
         "in_flight": in_flight, "skipped": reason}
        for route in ROUTES
        for in_flight in IN_FLIGHT
    ]  # fmt: skip


async def beside_bare(
    run: Run, database: str, workers: int, workers_flag: bool, log_dir: Path
) -> list[dict[str, Any]]:
    """One statushooks configuration, just after the one-process bare app again: the machine is
    shared, so each ratio is to the limit as measured a minute before."""
    label = f"{database}-x{workers}"
    print(f"  the bare app again, before {database}×{workers}:", flush=True)
    reference = await bare_rows(run, 1, log_dir, name=f"bare-before-{label}")
    rates = {(row["route"], row["in_flight"]): row["rate"] for row in reference}
    rows = await statushooks_rows(run, database, workers, workers_flag, log_dir)
    for row in rows:
        row["bare_rate"] = rates.get((row["route"], row["in_flight"]))
    return rows


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each statushooks row ÷ the one-process bare app on its route and in-flight count (as
    measured just before its configuration), and each two-process row ÷ its one-process twin."""

    def rate(server: str, database: str | None, workers: int, row: dict[str, Any]) -> float | None:
        for other in rows:
            if (other.get("server"), other.get("database"), other.get("workers"),
                    other.get("route"), other.get("in_flight")) == (
                    server, database, workers, row["route"], row["in_flight"]):  # fmt: skip
                value: float | None = other.get("rate")
                return value
        return None

    for row in rows:
        if row.get("server") != "statushooks" or not row.get("rate"):
            continue
        bare = row.get("bare_rate") or rate("bare", None, 1, row)
        row["ratio_to_bare"] = round(row["rate"] / bare, 3) if bare else None
        if row["workers"] > 1:
            one = rate("statushooks", row["database"], 1, row)
            row["ratio_to_one_process"] = round(row["rate"] / one, 3) if one else None


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    client = options.api_client
    if client in ("auto", "wrk"):
        found = await asyncio.to_thread(wrk_binary)
        if client == "wrk" and not found:
            raise RuntimeError("wrk is not installed and could not be")
        client = "wrk" if found else "aiohttp"
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-", dir=log_dir))
    bench = Run(client=client, seconds=options.api_seconds, tmp=tmp)
    workers_flag = await asyncio.to_thread(serve_has_workers)
    have_pg = await common.postgres_available()
    print(f"  client: {client}; statushooks serve --workers: "
          f"{'yes' if workers_flag else 'no'}", flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    try:
        for workers in (1, 2):
            rows += await bare_rows(bench, workers, log_dir)
        for database, workers in options.api_configs:
            if workers > 1 and not workers_flag:
                rows += skipped_rows(database, workers, NO_WORKERS)
            elif database == "postgres" and not have_pg:
                rows += skipped_rows(database, workers, f"no PostgreSQL at {common.PG_ADMIN_URL}")
            else:
                try:
                    rows += await beside_bare(bench, database, workers, workers_flag, log_dir)
                except Exception as exc:  # noqa: BLE001 - record the failure, run the next one
                    print(f"  {database}×{workers} failed: {exc}", flush=True)
                    rows += skipped_rows(database, workers, f"failed: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    add_ratios(rows)
    print_rows(rows, bench)
    return {
        "commit": git_commit(),
        "client": client_label(client),
        "phase_seconds": options.api_seconds,
        "warmup_seconds": WARMUP_SECONDS,
        "in_flight": list(IN_FLIGHT),
        "serve_has_workers": workers_flag,
        "serve": "statushooks serve --no-dispatcher" + (" --workers N" if workers_flag else ""),
        "status_reports": (
            "each a distinct message submitted by POST /v1/sms in this run, reported "
            "'delivered' once (submitted → delivered: 2 events, 2 deliveries to a paused endpoint)"
        ),
        "rows": rows,
    }


def git_commit() -> str | None:
    """The checked-out commit (with ``+dirty`` for uncommitted changes), if this is a clone."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=7"],
            capture_output=True, text=True, timeout=30, check=True, cwd=common.ROOT,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def client_label(client: str) -> str:
    if client == "wrk":
        return "wrk (1 thread, keep-alive, a Lua script per request)"
    return "aiohttp + uvloop, closed loop, keep-alive, own process"


def row_label(row: dict[str, Any]) -> str:
    if row["server"] == "bare":
        return f"bare FastAPI ×{row['workers']}"
    return f"statushooks {row['database']} ×{row['workers']}"


def print_rows(rows: Sequence[dict[str, Any]], run: Run) -> None:
    common.print_table(
        f"api — single requests, {client_label(run.client)}, {run.seconds:g} s per row",
        ["server", "route", "in flight", "requests/s", "p50 ms", "p99 ms", "CPU ms / req",
         "DB CPU ms / req", "client CPU ms / req", "bare ×1 before", "÷ bare ×1", "÷ ×1", "note"],
        [
            [row_label(r), PATHS[r["route"]], r["in_flight"], r.get("rate"), r.get("p50_ms"),
             r.get("p99_ms"), r.get("cpu_ms_per_request"), r.get("db_cpu_ms_per_request"),
             r.get("client_cpu_ms_per_request"), r.get("bare_rate"), r.get("ratio_to_bare"),
             r.get("ratio_to_one_process"), r.get("skipped", "")]
            for r in rows
        ],
    )  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main(sys.argv[2:])
    else:
        with contextlib.suppress(KeyboardInterrupt):
            from bench.__main__ import main as bench_main

            bench_main(["api", *sys.argv[1:]])


if __name__ == "__main__":
    main()
