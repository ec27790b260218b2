"""The fault suite: ``make faults`` (``python -m bench.faults [--quick] [SCENARIO…]``).

Never part of ``make test``. Each scenario runs real processes against real receivers on
127.0.0.1, bounded in count and time, and writes its figures to ``bench/results/faults*.json``;
``docs/reliability.md`` is written from them.

* ``kill``: ``statushooks serve`` (API and dispatcher) killed with SIGKILL, the whole process
  tree, ``KILLS`` times during a drain of N deliveries, restarted at once; SQLite and
  PostgreSQL. Lost, duplicated, how soon delivery resumes and reaches full rate again, and the
  drain's time against the same drain without kills.
* ``fence``: a worker SIGSTOPped with requests open, past its lease; a second worker takes
  the deliveries over; the first is resumed. Its late results must be fenced.
* ``receivers``: hanging, slow-drip, 1 GB body, header-bomb and gzip-bomb receivers beside
  healthy endpoints: the attempt deadline, the worker's memory, healthy endpoints' latency.
* ``retries``: a receiver answering 503 every time, one answering 429 with ``Retry-After``:
  the attempts' spacing against the retry schedule (±20 % jitter).
* ``security``: the SSRF matrix (address spellings, names resolving to loopback, redirects)
  and a two-tenant sweep of every route, against a running ``serve`` (``bench.security``).
* ``soak``: ``serve`` under a fixed rate of status changes for ``--soak-minutes`` with a
  short retention, SQLite and PostgreSQL: the database's size and rows over time, whether it
  stops growing once retention applies (``bench.soak``).
* ``outage``: PostgreSQL stopped for ``OUTAGE_SECONDS`` under API load and a drain: what the
  API answers and how fast, whether the service recovers without a restart, what is lost.
  It stops and starts this machine's PostgreSQL cluster (``pg_ctlcluster``), so it runs last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
import sqlalchemy as sa

from bench import common, drain, hostile, queueing, security, sink, soak
from statushooks.service import EndpointSpec
from statushooks.storage.sql import Store

SCENARIOS = ("kill", "fence", "receivers", "retries", "security", "soak", "outage")
ENDPOINTS = 10
EVENT = "com.interact.messages.sms.status"  # one delivery per submitted SMS and endpoint
KILLS = 10
POLL = 0.05  # seconds between looks at the sink
RECOVERY_WINDOW = 5.0  # seconds after a restart's first delivery whose rate is reported
OUTAGE_SECONDS = 20.0
DOC = common.ROOT / "docs" / "reliability.md"
DATABASES = ("sqlite", "postgres")


# -- processes ---------------------------------------------------------------------------------


def start_serve(url: str, port: int, log_dir: Path, name: str, **env: str) -> common.Proc:
    args = [common.PYTHON, "-m", "statushooks.cli", "serve", "--port", str(port)]
    return common.Proc.start(name, args, env=common.bench_env(url, **env), log_dir=log_dir)


def start_worker(url: str, log_dir: Path, name: str, **env: str) -> common.Proc:
    args = [common.PYTHON, "-m", "statushooks.worker"]
    return common.Proc.start(name, args, env=common.bench_env(url, **env), log_dir=log_dir)


def kill_tree(proc: common.Proc) -> None:
    """SIGKILL a process and every descendant (``serve``'s dispatcher runs in a session of its
    own, so killing the process group alone would leave it running)."""
    family = [proc.ps]
    with contextlib.suppress(psutil.Error):
        family += proc.ps.children(recursive=True)
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.send_signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.popen.wait(5)


async def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(POLL)
    return check()


async def fresh(kind: str, name: str, tmp: Path) -> tuple[str, Store]:
    url = await drain.database(kind, name, tmp)
    return url, await queueing.open_store(url)


async def setup(store: Store, url: str, urls: Sequence[str], **kw: Any) -> queueing.Fixture:
    return await queueing.setup(
        store, queueing.bench_settings(url), urls, enabled_events=(EVENT,), **kw
    )


async def rows(store: Store, query: str) -> list[tuple[Any, ...]]:
    return await store.read(lambda tx: [tuple(r) for r in tx.conn.execute(sa.text(query))])


# -- kill -9 -----------------------------------------------------------------------------------


async def kill_run(
    kind: str, n: int, kills: int, log_dir: Path, tmp: Path, timeout: float
) -> dict[str, Any]:
    """Drain ``n`` deliveries with ``serve`` killed ``kills`` times; figures of the run."""
    url, store = await fresh(kind, f"faults_kill_{kind}_{kills}", tmp)
    recorder = await sink.recording_sink(log_dir)
    proc: common.Proc | None = None
    try:
        paths = [f"/hook{i}" for i in range(ENDPOINTS)]
        fixture = await setup(store, url, [recorder.url(p) for p in paths])
        await queueing.queue_submitted(fixture, n // ENDPOINTS, progress=False)
        event_ids = [row[0] for row in await rows(store, "SELECT id FROM events")]
        expected = {(p, e) for p in paths for e in event_ids}
        port = common.free_port()
        started = time.time()
        proc = start_serve(url, port, log_dir, f"kill-{kind}-{kills}-0")
        restarts: list[tuple[float, float]] = []
        for k in range(kills):
            mark = len(expected) * (k + 1) // (kills + 1)
            await wait_until(lambda m=mark: recorder.count() >= m, timeout)  # type: ignore[misc]
            killed_at = time.time()
            kill_tree(proc)
            proc = start_serve(url, port, log_dir, f"kill-{kind}-{kills}-{k + 1}")
            restarts.append((killed_at, time.time()))

        def seen() -> set[tuple[str, str]]:
            return {(path, key) for _, path, key in recorder.records()}

        remaining = max(1.0, timeout - (time.time() - started))
        complete = await wait_until(lambda: expected <= seen(), remaining)
        records = recorder.records()
    finally:
        if proc is not None:
            kill_tree(proc)
        recorder.stop()
        await store.close()
    arrivals = sorted(at for at, _, _ in records)
    keys = Counter((path, key) for _, path, key in records)
    return {
        "database": kind,
        "deliveries": len(expected),
        "kills": kills,
        "complete": complete,
        "lost": len(expected - set(keys)),
        "duplicates": sum(count - 1 for count in keys.values()),
        "seconds": (arrivals[-1] - started) if arrivals else None,
        "recoveries": recoveries(arrivals, restarts),
    }


def recoveries(arrivals: Sequence[float], restarts: Sequence[tuple[float, float]]) -> list[Any]:
    """Per kill: seconds from the restart to the first arrival (``resumed``), and the rate of
    the ``RECOVERY_WINDOW`` seconds after it (or until the next kill) as a share of the rate
    before the first kill (``rate_share``)."""
    if not arrivals or not restarts:
        return []
    before = [at for at in arrivals if at < restarts[0][0]]
    rate = len(before) / max(restarts[0][0] - before[0], 1e-3) if len(before) > 1 else 0.0
    out = []
    for k, (_, restarted) in enumerate(restarts):
        after = [at for at in arrivals if at >= restarted]
        resumed = (after[0] - restarted) if after else None
        share = None
        if after and rate:
            start = after[0]
            end = start + RECOVERY_WINDOW
            if k + 1 < len(restarts):
                end = min(end, restarts[k + 1][0])
            window = [at for at in after if at < end]
            share = round(len(window) / max(end - start, 1e-3) / rate, 2)
        out.append({"resumed": resumed, "rate_share": share})
    return out


async def scenario_kill(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:
    n, kills, timeout = (2_000, 3, 240.0) if quick else (10_000, KILLS, 600.0)
    runs = []
    for kind in DATABASES:
        if kind == "postgres" and not await common.postgres_available():
            continue
        runs.append(await kill_run(kind, n, 0, log_dir, tmp, timeout))
        runs.append(await kill_run(kind, n, kills, log_dir, tmp, timeout))
    return {"runs": runs}


# -- fencing -----------------------------------------------------------------------------------


async def scenario_fence(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:
    """Worker A stopped (SIGSTOP) with requests open, past its lease; worker B takes over."""
    runs = []
    for kind in DATABASES:
        if kind == "sqlite" or await common.postgres_available():
            runs.append(await fence_run(kind, 20 if quick else 40, log_dir, tmp))
    return {"runs": runs}


async def fence_run(kind: str, messages: int, log_dir: Path, tmp: Path) -> dict[str, Any]:
    env = {"STATUSHOOKS_LEASE_SECONDS": "3", "STATUSHOOKS_DELIVERY_TIMEOUT": "2"}
    url, store = await fresh(kind, f"faults_fence_{kind}", tmp)
    recorder = await sink.recording_sink(log_dir, delay=1.0)  # /slow… answers after 1 s
    a = b = None
    try:
        fixture = await setup(store, url, [recorder.url("/slow")])
        await queueing.queue_submitted(fixture, messages, progress=False)
        a = start_worker(url, log_dir, f"fence-{kind}-a", **env)
        await wait_until(lambda: recorder.count() >= 1, 60.0)
        a.popen.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        b = start_worker(url, log_dir, f"fence-{kind}-b", **env)
        await asyncio.sleep(8.0)  # past A's lease: B has taken its deliveries over
        a.popen.send_signal(signal.SIGCONT)
        resumed_after = time.time() - stopped_at
        done = await wait_until(
            lambda: len({k for _, _, k in recorder.records()}) >= messages, 120.0
        )
        await asyncio.sleep(2.0)  # A's late results reach the store, or are refused
        records = recorder.records()
        attempts = await rows(
            store,
            "SELECT delivery_id, count(*), sum(CASE WHEN response_status BETWEEN 200 AND 299"
            " THEN 1 ELSE 0 END) FROM attempts GROUP BY delivery_id",
        )
        states = dict(await rows(store, "SELECT state, count(*) FROM deliveries GROUP BY state"))
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.popen.send_signal(signal.SIGCONT)
                kill_tree(proc)
        recorder.stop()
        await store.close()
    posts = Counter(key for _, _, key in records)
    return {
        "database": kind,
        "messages": messages,
        "complete": done,
        "posted_twice": sum(1 for c in posts.values() if c > 1),
        "successes_recorded_twice": sum(1 for _, _, ok in attempts if (ok or 0) > 1),
        "attempt_rows": sum(count for _, count, _ in attempts),
        "states": states,
        "stopped_for": round(resumed_after, 1),
    }


# -- hostile receivers -------------------------------------------------------------------------

HOSTILE_PATHS = ("/hang", "/drip", "/huge", "/header-bomb", "/gzip-bomb")
DELIVERY_TIMEOUT = 5.0


async def load_phase(fixture: queueing.Fixture, rate: float, seconds: float) -> dict[str, float]:
    """Submit SMS at ``rate`` per second for ``seconds`` (open loop); when each was submitted,
    by its message id."""
    submitted: dict[str, float] = {}
    interval = 1.0 / rate
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        message = await fixture.service.submit_sms(
            fixture.account_id, to=queueing.TO, sender="Faults", text=queueing.TEXT
        )
        submitted[message.id] = time.time()
    return submitted


async def receivers_phase(
    fixture: queueing.Fixture,
    worker: common.Proc,
    recorder: sink.AsgiSink,
    rate: float,
    seconds: float,
    *,
    settle: float,
) -> dict[str, Any]:
    """One phase of load: healthy endpoints' latency (submit → arrival) and the worker's RSS."""
    recorder.reset()
    rss: list[int] = []
    async with common.every(0.2, lambda: rss.append(worker.rss()), "rss"):
        submitted = await load_phase(fixture, rate, seconds)
        healthy = len(fixture.endpoints) * len(submitted)
        await wait_until(lambda: recorder.count() >= healthy, 30.0)
        await asyncio.sleep(settle)
    message_of = dict(await rows(fixture.service.store, "SELECT id, message_id FROM events"))
    lat = [
        at - submitted[message_of[key]]
        for at, _, key in recorder.records()
        if message_of.get(key) in submitted
    ]
    return {
        "messages": len(submitted),
        "healthy_delivered": len(lat),
        "p50_ms": _ms(common.percentile(lat, 50)),
        "p99_ms": _ms(common.percentile(lat, 99)),
        "rss_mb": round(common.mb(max(rss)), 1),
        "rss_start_mb": round(common.mb(rss[0]), 1),
    }


async def scenario_receivers(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:
    seconds, rate = (8.0, 20.0) if quick else (30.0, 50.0)
    url, store = await fresh("sqlite", "faults_receivers", tmp)
    recorder = await sink.recording_sink(log_dir)
    bad = hostile.HostileReceiver()
    await bad.start()
    worker = None
    phases: dict[str, Any] = {}
    try:
        fixture = await setup(store, url, [recorder.url(f"/hook{i}") for i in range(5)])
        env = {"STATUSHOOKS_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT)}
        worker = start_worker(url, log_dir, "receivers", **env)
        await asyncio.sleep(1.0)
        phases["baseline"] = await receivers_phase(
            fixture, worker, recorder, rate, seconds, settle=0.0
        )
        for path in HOSTILE_PATHS:
            spec = EndpointSpec(url=bad.url(path), enabled_events=(EVENT,))
            await fixture.service.create_endpoint(fixture.account_id, spec)
        phases["hostile"] = await receivers_phase(
            fixture, worker, recorder, rate, seconds, settle=DELIVERY_TIMEOUT + 2.0
        )
        attempts = await rows(
            store,
            "SELECT e.url, count(*), max(a.duration_ms), min(a.error_kind), max(a.error_kind)"
            " FROM attempts a JOIN endpoints e ON e.id = a.endpoint_id"
            " GROUP BY e.url",
        )
    finally:
        if worker is not None:
            worker.stop()
        await bad.stop()
        recorder.stop()
        await store.close()
    by_path = {}
    for endpoint_url, count, longest, kind_a, kind_b in attempts:
        path = "/" + endpoint_url.split("/", 3)[3]
        if path in HOSTILE_PATHS:
            by_path[path] = {
                "attempts": count,
                "longest_ms": round(longest, 1),
                "errors": sorted({k for k in (kind_a, kind_b) if k}),
            }
    return {
        "delivery_timeout": DELIVERY_TIMEOUT,
        "rate": rate,
        "seconds": seconds,
        "phases": phases,
        "hostile": by_path,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- retry schedule ----------------------------------------------------------------------------

SCHEDULE = (0.0, 1.0, 2.0, 4.0)


async def scenario_retries(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:
    url, store = await fresh("sqlite", "faults_retries", tmp)
    bad = hostile.HostileReceiver()
    await bad.start()
    worker = None
    try:
        fixture = await setup(store, url, [bad.url("/fail"), bad.url("/throttle")])
        messages = 3 if quick else 10
        await queueing.queue_submitted(fixture, messages, progress=False)
        schedule = ",".join(f"{d:g}s" for d in SCHEDULE)
        # Burst suspension (on by default) would pause these always-failing endpoints after
        # their tenth failure in a row: this scenario measures the schedule alone.
        worker = start_worker(
            url,
            log_dir,
            "retries",
            STATUSHOOKS_RETRY_SCHEDULE=schedule,
            STATUSHOOKS_SUSPEND_AFTER_FAILURES="0",
        )
        total = messages * len(SCHEDULE)
        await wait_until(
            lambda: sum(1 for _, p in bad.arrivals if p == "/fail") >= total,
            sum(SCHEDULE) * 1.2 + 30.0,
        )
        await asyncio.sleep(hostile.RETRY_AFTER * 1.2 + 2.0)
        attempts = await rows(
            store,
            "SELECT a.delivery_id, e.url, a.started_at FROM attempts a"
            " JOIN endpoints e ON e.id = a.endpoint_id ORDER BY a.delivery_id, a.number",
        )
    finally:
        if worker is not None:
            worker.stop()
        await bad.stop()
        await store.close()
    gaps: dict[str, list[list[float]]] = {"/fail": [], "/throttle": []}
    by_delivery: dict[tuple[str, str], list[Any]] = {}
    for delivery_id, endpoint_url, started_at in attempts:
        path = "/" + endpoint_url.split("/", 3)[3]
        by_delivery.setdefault((delivery_id, path), []).append(_when(started_at))
    for (_, path), times in by_delivery.items():
        gaps[path].append([round(b - a, 3) for a, b in itertools.pairwise(times)])
    # A 503 waits its scheduled delay; a 429 waits its Retry-After, or the delay if longer.
    fail = _ratios(gaps["/fail"], SCHEDULE[1:])
    throttle = _ratios(gaps["/throttle"], [max(d, hostile.RETRY_AFTER) for d in SCHEDULE[1:]])
    return {
        "schedule": list(SCHEDULE),
        "retry_after": hostile.RETRY_AFTER,
        "fail_gaps": gaps["/fail"],
        "throttle_gaps": gaps["/throttle"],
        "fail_ratio": [min(fail, default=None), max(fail, default=None)],
        "throttle_ratio": [min(throttle, default=None), max(throttle, default=None)],
        "attempts": sum(len(row) + 1 for rows_ in gaps.values() for row in rows_),
    }


def _ratios(gaps: Sequence[Sequence[float]], expected: Sequence[float]) -> list[float]:
    """Each gap ÷ the delay it should have been."""
    return [round(gap / expected[i], 3) for row in gaps for i, gap in enumerate(row)]


def _when(value: Any) -> float:
    from statushooks.storage.tables import sqlite_datetime_value

    parsed = sqlite_datetime_value(value) if isinstance(value, str) else value
    return float(parsed.timestamp())


# -- PostgreSQL outage -------------------------------------------------------------------------


def pg_cluster(action: str) -> None:
    version = max(os.listdir("/etc/postgresql"))
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def scenario_outage(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:
    if not await common.postgres_available():
        return {"skipped": "PostgreSQL is not available"}
    outage = 8.0 if quick else OUTAGE_SECONDS
    url, store = await fresh("postgres", "faults_outage", tmp)
    recorder = await sink.recording_sink(log_dir)
    port = common.free_port()
    proc = None
    answers: list[tuple[float, float, int]] = []  # (sent, seconds, status; 0 = no answer)
    try:
        fixture = await setup(store, url, [])
        new = await fixture.service.create_account("faults")
        key = new.api_key
        await fixture.service.create_endpoint(
            new.account.id, EndpointSpec(url=recorder.url("/api"), enabled_events=(EVENT,))
        )
        await store.close()
        proc = start_serve(url, port, log_dir, "outage")
        await common.wait_port(port, proc=proc.popen, timeout=60)
        # serve listens before it opens the database; its dispatcher child starts after that.
        await wait_until(lambda: bool(proc.ps.children(recursive=True)), 60.0)
        await asyncio.sleep(1.0)
        dispatcher_pids = {p.pid for p in proc.ps.children(recursive=True)}
        stop_at = time.monotonic() + 3.0
        start_at = stop_at + outage
        end_at = start_at + (10.0 if quick else 20.0)
        async with aiohttp.ClientSession() as http:
            poster = asyncio.create_task(post_until(http, port, key, end_at, answers))
            await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
            down = time.time()
            pg_cluster("stop")
            try:
                await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            finally:
                pg_cluster("start")
            up = time.time()
            await poster
        accepted = sum(1 for _, _, status in answers if 200 <= status < 300)
        delivered = await wait_until(lambda: recorder.count() >= accepted, 60.0)
        delivered_count = len({key for _, _, key in recorder.records()})
        same_dispatcher = dispatcher_pids == {p.pid for p in proc.ps.children(recursive=True)}
        log_lines = [
            line.strip()
            for line in proc.log_path.read_text(errors="replace").splitlines()
            if "restart" in line or "exited" in line or "ERROR" in line
        ][-5:]
    finally:
        if proc is not None:
            kill_tree(proc)
        recorder.stop()
        with contextlib.suppress(Exception):
            pg_cluster("start")
    during = [(s, sec, st) for s, sec, st in answers if down <= s < up]
    after = [s for s, _, st in answers if s >= up and 200 <= st < 300]
    return {
        "outage_seconds": outage,
        "requests": len(answers),
        "during": dict(Counter(str(st) for _, _, st in during)),
        "during_max_ms": _ms(max((sec for _, sec, _ in during), default=None)),
        "first_accepted_after_s": round(after[0] - up, 2) if after else None,
        "accepted": accepted,
        "delivered": delivered_count,
        "all_delivered": delivered,
        "dispatcher_not_restarted": same_dispatcher,
        "log": log_lines,
    }


async def post_until(
    http: aiohttp.ClientSession, port: int, key: str, end_at: float, answers: list[Any]
) -> None:
    """``POST /v1/sms`` every 0.1 s until ``end_at`` (each waits at most 10 s)."""
    body = {"to": queueing.TO, "from": "Faults", "text": "outage"}
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < end_at:
        sent = time.time()
        status = 0
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.post(
                f"http://127.0.0.1:{port}/v1/sms",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                await response.read()
                status = response.status
        answers.append((sent, time.time() - sent, status))
        await asyncio.sleep(0.1)


# -- the report --------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[bool, Path, Path], Awaitable[dict[str, Any]]]] = {
    "kill": scenario_kill,
    "fence": scenario_fence,
    "receivers": scenario_receivers,
    "retries": scenario_retries,
    "security": security.scenario,
    "outage": scenario_outage,
}


def results_path(quick: bool) -> Path:
    return common.RESULTS_DIR / ("faults.quick.json" if quick else "faults.json")


async def run(
    scenarios: Sequence[str], quick: bool, soak_options: soak.Options | None = None
) -> dict[str, Any]:
    path = results_path(quick)
    results: dict[str, Any] = orjson.loads(path.read_bytes()) if path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="statushooks-faults-") as tmp:
        log_dir = Path(tmp) / "logs"
        log_dir.mkdir()
        for name in scenarios:
            print(f"== {name}", flush=True)
            started = time.time()
            if name == "soak":
                options = soak_options or (soak.Options.quick() if quick else soak.Options())
                figures = await soak.scenario(options, log_dir, Path(tmp))
            else:
                figures = await RUNNERS[name](quick, log_dir, Path(tmp))
            figures["run"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
            figures["machine"] = common.machine()
            results[name] = figures
            print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode(), flush=True)
    common.RESULTS_DIR.mkdir(exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return results


def violations(results: dict[str, Any], scenarios: Sequence[str]) -> list[str]:
    """What a run broke of the promises that do not depend on this machine's speed: nothing
    lost, a success recorded once, no retry early, every hostile attempt within its deadline
    (with 2 s to spare), every SSRF spelling refused and no redirect followed, no leak between
    two tenants, a soak's size flat once retention applies, no request left unanswered while
    the database is down."""
    found = []
    for run_ in results.get("kill", {}).get("runs", []) if "kill" in scenarios else []:
        if run_["lost"] or not run_["complete"]:
            found.append(f"kill {run_['database']} ×{run_['kills']}: {run_['lost']} lost")
    for run_ in results.get("fence", {}).get("runs", []) if "fence" in scenarios else []:
        if run_["successes_recorded_twice"] or not run_["complete"]:
            found.append(f"fence {run_['database']}: {run_}")
    if "receivers" in scenarios:
        received = results["receivers"]
        phase = received["phases"]["hostile"]
        if phase["healthy_delivered"] < 5 * phase["messages"]:
            found.append(f"receivers: healthy endpoints got {phase['healthy_delivered']}")
        limit = (received["delivery_timeout"] + 2.0) * 1000
        found += [
            f"receivers: an attempt on {path} took {v['longest_ms']} ms"
            for path, v in received["hostile"].items()
            if v["longest_ms"] > limit
        ]
    if "retries" in scenarios:
        retried = results["retries"]
        low = min(r for r in (*retried["fail_ratio"], *retried["throttle_ratio"]) if r is not None)
        if low < 1.0:
            found.append(f"retries: an attempt came early ({low:.3f}× its delay)")
    if "security" in scenarios:
        found += security.violations(results["security"])
    if "soak" in scenarios:
        found += soak.violations(results["soak"])
    if "outage" in scenarios and "skipped" not in results["outage"]:
        outage = results["outage"]
        if outage["during"].get("0") or not outage["all_delivered"]:
            found.append(f"outage: {outage}")
    return found


def soak_options(args: argparse.Namespace) -> soak.Options:
    """The soak's options: ``--quick``'s or the full run's, with any ``--soak-*`` given."""
    from statushooks import durations

    options = soak.Options.quick() if args.quick else soak.Options()
    given: dict[str, Any] = {
        "minutes": args.soak_minutes,
        "rate": args.soak_rate,
        "retention": args.soak_retention and durations.parse_duration(args.soak_retention),
        "prune_interval": args.soak_prune_interval
        and durations.parse_duration(args.soak_prune_interval),
        "sample_every": args.soak_sample,
        "together": args.soak_together or None,
    }
    return dataclasses.replace(options, **{k: v for k, v in given.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="fewer deliveries, shorter phases")
    parser.add_argument("--no-report", action="store_true", help="do not write the document")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a run broke a promise (see violations)"
    )
    defaults = soak.Options()
    parser.add_argument(
        "--soak-minutes", type=float, help=f"soak: how long (default {defaults.minutes:g})"
    )
    parser.add_argument(
        "--soak-rate", type=int, help=f"soak: status changes offered per second ({defaults.rate})"
    )
    parser.add_argument(
        "--soak-retention",
        help=f"soak: STATUSHOOKS_RETENTION (default {defaults.retention:g}s)",
    )
    parser.add_argument(
        "--soak-prune-interval",
        help=f"soak: STATUSHOOKS_PRUNE_INTERVAL (default {defaults.prune_interval:g}s)",
    )
    parser.add_argument(
        "--soak-sample",
        type=float,
        help=f"soak: seconds between samples (default {defaults.sample_every:g})",
    )
    parser.add_argument(
        "--soak-together",
        action="store_true",
        help="soak: SQLite's and PostgreSQL's side by side (half the time, shared CPU)",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    scenarios = args.scenarios or SCENARIOS
    results = asyncio.run(run(scenarios, args.quick, soak_options(args)))
    if not args.no_report:
        from bench import faults_report

        faults_report.write(results, quick=args.quick)
    broken = violations(results, scenarios)
    for line in broken:
        print(f"BROKEN: {line}", flush=True)
    return 1 if broken and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
