"""Scenario 1 — drain: N deliveries queued (one account, 10 endpoints on one fast sink), then
``python -m statushooks.worker`` processes drain them.

Queueing happens first, with no dispatcher running (``bench.queueing``: N/10 SMS submissions, one
``submitted`` event × 10 endpoints each). Then the workers start and the harness polls the open
deliveries (``pending`` + ``leased``) until none is left. The clock and the CPU count start at
the first finished delivery (process start-up and imports are not counted) and stop when the
last one is recorded. Figures: deliveries/s, CPU s per 1,000 deliveries (all workers; and, on
a local PostgreSQL, the server's own over the same span), peak RSS (per worker).
Configurations: SQLite × 1 process, PostgreSQL × 1 and × 2 processes.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import common, queueing, sink
from statushooks.storage.sql import Store

ENDPOINTS = 10
POLL = 0.25  # seconds between progress polls
OPEN_QUERY = sa.text("SELECT count(*) FROM deliveries WHERE state IN ('pending', 'leased')")
STATES_QUERY = sa.text("SELECT state, count(*) FROM deliveries GROUP BY state")
ATTEMPTS_QUERY = sa.text("SELECT count(*) FROM attempts")


def worker_args() -> list[str]:
    return [common.PYTHON, "-m", "statushooks.worker"]


async def database(kind: str, name: str, tmp: Path) -> str:
    if kind == "sqlite":
        return common.sqlite_url(tmp, name)
    return await common.fresh_postgres(name)


async def count(store: Store, query: sa.TextClause) -> int:
    return int(await store.read(lambda tx: tx.conn.execute(query).scalar_one()))


async def drain_once(
    kind: str,
    processes: int,
    n: int,
    fast: sink.Sink,
    log_dir: Path,
    tmp: Path,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    """Queue ``n`` deliveries on a fresh database, drain them with ``processes`` workers."""
    label = f"{kind}×{processes}"
    url = await database(kind, f"bench_drain_{kind}_{processes}", tmp)
    store = await queueing.open_store(url)
    try:
        settings = queueing.bench_settings(url)
        fixture = await queueing.setup(
            store, settings, [fast.url(f"/e{i}") for i in range(ENDPOINTS)]
        )
        _, queue_seconds = await queueing.queue_submitted(fixture, n // ENDPOINTS)
        queued = await count(store, OPEN_QUERY)
        print(f"  {label}: queued {queued:,} deliveries in {queue_seconds:.1f} s", flush=True)
        sink_before = fast.count()
        result = await _drain(store, url, processes, queued, log_dir, label, profile=profile)
        states = dict(await _rows(store, STATES_QUERY))
        result.update(
            database=kind,
            processes=processes,
            queued=queued,
            queue_seconds=round(queue_seconds, 1),
            queue_rate=round(queued / queue_seconds),
            states=states,
            attempts=await count(store, ATTEMPTS_QUERY),
            sink_received=fast.count() - sink_before,
        )
    finally:
        await store.close()
        if kind == "postgres":
            await common.drop_postgres(f"bench_drain_{kind}_{processes}")
    return result


async def _rows(store: Store, query: sa.TextClause) -> list[tuple[Any, ...]]:
    return await store.read(lambda tx: [tuple(row) for row in tx.conn.execute(query)])


async def _drain(
    store: Store,
    url: str,
    processes: int,
    queued: int,
    log_dir: Path,
    label: str,
    *,
    profile: bool,
) -> dict[str, Any]:
    timeout = max(120.0, queued / 200)
    env = common.bench_env(url)
    procs = [
        common.Proc.start(f"worker-{label}-{i}", worker_args(), env=env, log_dir=log_dir)
        for i in range(processes)
    ]
    spy = _start_profiler(procs[0], log_dir, label) if profile else None
    server = await common.postgres_server(store)
    timeline: list[tuple[float, int]] = []
    started = time.monotonic()
    first_at: float | None = None
    cpu_at_first = server_at_first = 0.0
    done_at: float | None = None
    try:
        async with common.sampling(procs):
            while time.monotonic() - started < timeout:
                remaining = await count(store, OPEN_QUERY)
                now = time.monotonic()
                timeline.append((round(now - started, 2), queued - remaining))
                if first_at is None and remaining < queued:
                    first_at, cpu_at_first = now, sum(p.cpu_seconds() for p in procs)
                    server_at_first = common.server_cpu_seconds(server)
                if remaining == 0:
                    done_at = now
                    break
                if not all(p.alive() for p in procs):
                    raise RuntimeError(f"a worker died:\n{procs[0].tail()}")
                await asyncio.sleep(POLL)
            cpu_at_done = sum(p.cpu_seconds() for p in procs)
            server_at_done = common.server_cpu_seconds(server)
    finally:
        for proc in procs:
            proc.stop()
        if spy is not None:  # py-spy writes its profile when the process it watches exits
            await asyncio.to_thread(spy.popen.wait, 30)
            spy.stop(signal.SIGINT, timeout=10)
    if first_at is None:
        raise TimeoutError(f"{label}: nothing done after {timeout:g} s")
    finished = queued - remaining
    if done_at is None:  # cut at the timeout: the rate over what was done
        done_at = time.monotonic()
        print(f"  {label}: cut at {timeout:g} s with {finished:,} of {queued:,} done", flush=True)
    # the first poll that saw progress may be up to POLL late: count from half a poll earlier
    seconds = done_at - first_at + POLL / 2
    return {
        "seconds": round(seconds, 2),
        "done": finished,
        "cut_short": finished < queued,
        "rate": round(finished / seconds, 1),
        "cpu_seconds": round(cpu_at_done - cpu_at_first, 2),
        "cpu_s_per_1000": round((cpu_at_done - cpu_at_first) / max(finished, 1) * 1000, 3),
        "db_cpu_s_per_1000": (
            round((server_at_done - server_at_first) / max(finished, 1) * 1000, 3)
            if server is not None
            else None
        ),
        "peak_rss_mb": max(common.mb(p.peak_rss) for p in procs),
        "timeline": timeline,
    }


def _start_profiler(proc: common.Proc, log_dir: Path, label: str) -> common.Proc | None:
    binary = shutil.which("py-spy") or str(Path(common.PYTHON).parent / "py-spy")
    if not Path(binary).exists():
        print("  py-spy is not installed: pip install py-spy", flush=True)
        return None
    out = common.RESULTS_DIR / f"profile-drain-{label.replace('×', 'x')}.txt"
    args = [binary, "record", "--pid", str(proc.popen.pid), "--format", "raw", "-o", str(out)]
    args += ["--rate", "200", "--nonblocking", "--gil"]
    print(f"  profiling worker {proc.popen.pid} into {out.relative_to(common.ROOT)}", flush=True)
    return common.Proc.start(f"py-spy-{label}", args, log_dir=log_dir)


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    fast = await sink.fast_sink(log_dir)
    tmp = log_dir / "db"
    tmp.mkdir(exist_ok=True)
    runs: list[dict[str, Any]] = []
    have_pg = await common.postgres_available()
    try:
        for kind, processes in options.drain_configs:
            if kind == "postgres" and not have_pg:
                runs.append({"database": kind, "processes": processes, "error": "no PostgreSQL"})
                continue
            try:
                runs.append(
                    await drain_once(
                        kind, processes, options.n, fast, log_dir, tmp, profile=options.profile
                    )
                )
            except Exception as exc:  # noqa: BLE001 - record the failure, run the next configuration
                print(f"  {kind}×{processes} failed: {exc}", flush=True)
                runs.append({"database": kind, "processes": processes, "error": str(exc)})
    finally:
        fast.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    common.print_table(
        f"drain — {options.n:,} deliveries, {ENDPOINTS} endpoints, {fast.kind} sink",
        [
            "database",
            "workers",
            "deliveries/s",
            "CPU s / 1,000",
            "DB CPU s / 1,000",
            "peak RSS MB",
            "succeeded",
            "error",
        ],
        [
            [
                r["database"],
                r["processes"],
                r.get("rate"),
                r.get("cpu_s_per_1000"),
                r.get("db_cpu_s_per_1000"),
                r.get("peak_rss_mb"),
                (r.get("states") or {}).get("succeeded"),
                r.get("error", ""),
            ]
            for r in runs
        ],
    )
    return {"n": options.n, "endpoints": ENDPOINTS, "sink": fast.kind, "runs": runs}
