"""The fault suite's ``soak`` scenario (``python -m bench.faults soak``): does the database
stop growing once retention applies?

``statushooks serve`` (API and dispatcher) on SQLite, then on PostgreSQL, with a short
``STATUSHOOKS_RETENTION`` and ``STATUSHOOKS_PRUNE_INTERVAL``. Status changes are offered at a
fixed rate for a fixed time (both bounded): each one a ``delivered`` report through
``POST /v1/status-reports`` (one request every ``loadgen.TICK``), each emitting one event and
one delivery to a local sink. The messages they report on are submitted ahead of them by the
harness, through the store, in transactions of ``queueing.CHUNK`` (the rows ``POST /v1/sms``
writes; the API would spend its time on those instead of the reports).

Every ``sample_every`` seconds: the database's size and its tables' rows. SQLite: the file
and its WAL, and the pages in use (``page_count - freelist_count``: a deleted row's page goes
to the free list and is reused, the file itself does not shrink); PostgreSQL:
``pg_total_relation_size`` of each table (heap, indexes, TOAST; autovacuum makes dead rows'
space reusable). The figures: the growth before retention applies, and the slope after it
(from one retention period and two pruning rounds in, to the end).

PostgreSQL reuses a deleted row's space only once VACUUM has seen it, and plans the claim
query well only once ANALYZE has: autovacuum does both by default. Where a cluster runs with
``autovacuum = off`` (this machine's shared one does), the harness stands in for it: a
``VACUUM (ANALYZE)`` of the tables every ``VACUUM_EVERY`` seconds, recorded in the results.
Without it the backlog grows (the claim query, planned without statistics, took ~3 s a round
at 50 k deliveries) and so does every table.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import common, drain, loadgen, queueing, sink

TABLES = ("messages", "status_history", "events", "deliveries", "attempts", "idempotency_keys")
DATABASES = ("sqlite", "postgres")
MAX_IN_FLIGHT = 100  # the sink endpoint's cap, as in the e2e benchmark
AHEAD = 5.0  # seconds of messages the harness keeps submitted ahead of the reports
REFILL_POLL = 0.2  # seconds between looks at how many messages are left ahead
#: Settled means growing at most this share of the rate before retention applied.
FLAT_SHARE = 0.1
VACUUM_EVERY = 60.0  # seconds: autovacuum_naptime's default
FIRST_VACUUM = 10.0  # seconds: autovacuum analyzes a new table after its first few rows


@dataclass(frozen=True, kw_only=True)
class Options:
    """One soak: how long, how fast, and the retention it runs under."""

    minutes: float = 60.0
    rate: int = 500  # status changes offered per second
    retention: float = 600.0  # seconds: STATUSHOOKS_RETENTION
    prune_interval: float = 60.0  # seconds: STATUSHOOKS_PRUNE_INTERVAL
    sample_every: float = 30.0  # seconds between two samples of the database
    #: Both databases' soaks at once (each its own service and sink), not one after the other.
    together: bool = False

    @classmethod
    def quick(cls) -> Options:
        return cls(minutes=3.0, rate=500, retention=60.0, prune_interval=15.0, sample_every=10.0)

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def settled_after(self) -> float:
        """Seconds into the run from which the size should be flat: one retention period,
        then two pruning rounds (the first may start just before rows come of age)."""
        return self.retention + 2 * self.prune_interval


async def scenario(options: Options, log_dir: Path, tmp: Path) -> dict[str, Any]:
    kinds = [k for k in DATABASES if k != "postgres" or await common.postgres_available()]
    opening = asyncio.Lock()
    if options.together:
        runs = list(
            await asyncio.gather(*(soak_run(k, options, log_dir, tmp, opening) for k in kinds))
        )
    else:
        runs = [await soak_run(kind, options, log_dir, tmp, opening) for kind in kinds]
    return {
        "minutes": options.minutes,
        "rate": options.rate,
        "retention_s": options.retention,
        "prune_interval_s": options.prune_interval,
        "sample_every_s": options.sample_every,
        "together": options.together,
        "settled_after_s": options.settled_after,
        "runs": runs,
    }


async def soak_run(
    kind: str, options: Options, log_dir: Path, tmp: Path, opening: asyncio.Lock
) -> dict[str, Any]:
    """One database's soak. ``opening`` is held while its store is opened: Alembic keeps the
    migration's context in process-wide state, so two databases are migrated one at a time."""
    name = f"faults_soak_{kind}"
    url = await drain.database(kind, name, tmp)
    recorder = await sink.fast_sink(log_dir)
    async with opening:
        store = await queueing.open_store(url)
    proc: common.Proc | None = None
    samples: list[dict[str, Any]] = []
    try:
        fixture = await queueing.setup(
            store,
            queueing.bench_settings(url),
            [recorder.url("/hook")],
            enabled_events=(loadgen.EVENT_TYPE,),
            max_in_flight=MAX_IN_FLIGHT,
        )
        _, api_key = await fixture.service.create_api_key(fixture.account_id)
        message_ids = await queueing.queue_messages_only(fixture, int(options.rate * AHEAD))
        port = common.free_port()
        env = common.bench_env(
            url,
            STATUSHOOKS_RETENTION=f"{options.retention:g}s",
            STATUSHOOKS_PRUNE_INTERVAL=f"{options.prune_interval:g}s",
        )
        proc = common.Proc.start(
            f"soak-{kind}", loadgen.server_args(port), env=env, log_dir=log_dir
        )
        await common.wait_port(port, timeout=60, proc=proc.popen)
        server = loadgen.Server(
            proc=proc, port=port, api_key=api_key, message_ids=message_ids, endpoint_urls=[]
        )
        measure = Measure(kind, url, store, proc)
        vacuums: list[float] = []
        stand_in = kind == "postgres" and not await autovacuum_on(url)
        started = time.monotonic()
        total = int(options.rate * options.seconds)
        async with contextlib.AsyncExitStack() as stack:
            session = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            )
            stop = asyncio.Event()
            refill = asyncio.create_task(
                keep_ahead(fixture, message_ids, total, options.rate, time.monotonic(), stop),
                name="soak-refill",
            )
            sampler = asyncio.create_task(
                sample_every(measure, options.sample_every, started, samples, recorder),
                name="soak-sampler",
            )
            if stand_in:
                vacuum = asyncio.create_task(vacuum_every(url, vacuums), name="soak-vacuum")
                stack.push_async_callback(_cancel, vacuum)
            try:
                phase, _ = await loadgen.drive(server, session, options.rate, options.seconds, 0)
            finally:
                stop.set()
                sampler.cancel()
                for task in (refill, sampler):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        samples.append(await measure.sample(time.monotonic() - started, recorder.count()))
        alive = proc.alive()
        log_tail = [line for line in proc.tail(200).splitlines() if "ERROR" in line][-3:]
    finally:
        if proc is not None:
            proc.stop()
        recorder.stop()
        await store.close()
        if kind == "postgres":
            with contextlib.suppress(Exception):
                await common.drop_postgres(name)
    summary = loadgen.phase_summary(phase)
    return {
        "database": kind,
        "offered": summary["offered"],
        "accepted": summary["accepted"],
        "accepted_rate": summary["accepted_rate"],
        "api_errors": summary["api_errors"],
        # An error answer from the service; the others are the client's (a request not
        # written: a keep-alive connection the server had just closed), nothing accepted.
        "api_error_answers": sum(1 for e in phase.errors if e.startswith("HTTP ")),
        "first_errors": summary["first_errors"],
        "delivered": samples[-1]["delivered"],
        "service_alive": alive,
        "autovacuum": (
            None
            if kind != "postgres"
            else f"off: the harness ran VACUUM (ANALYZE) every {VACUUM_EVERY:g} s"
            f" ({len(vacuums)} runs, longest {max(vacuums, default=0):.1f} s)"
            if stand_in
            else "on"
        ),
        "errors_logged": log_tail,
        "samples": samples,
        **growth(samples, options),
    }


async def keep_ahead(
    fixture: queueing.Fixture,
    message_ids: list[str],
    total: int,
    rate: int,
    started: float,
    stop: asyncio.Event,
) -> None:
    """Submit messages (``queueing.CHUNK`` a transaction) whenever fewer than ``AHEAD``
    seconds of them are left ahead of the reports (``loadgen.drive`` takes them from the
    front of ``message_ids`` at ``rate`` from ``started``), until ``total`` are submitted
    or ``stop`` is set."""
    while len(message_ids) < total and not stop.is_set():
        taken = rate * (time.monotonic() - started)
        if len(message_ids) - taken < rate * AHEAD:
            size = min(queueing.CHUNK, total - len(message_ids))
            message_ids.extend(await queueing.queue_chunk(fixture, size))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFILL_POLL)


async def autovacuum_on(url: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SHOW autovacuum") == "on")
    finally:
        await conn.close()


async def vacuum_every(url: str, durations: list[float]) -> None:
    """``VACUUM (ANALYZE)`` of the soak's tables after ``FIRST_VACUUM`` seconds, then every
    ``VACUUM_EVERY``, until cancelled; how long each took."""
    import asyncpg

    delay = FIRST_VACUUM
    while True:
        await asyncio.sleep(delay)
        delay = VACUUM_EVERY
        conn = await asyncpg.connect(url)
        try:
            began = time.monotonic()
            await conn.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
            durations.append(round(time.monotonic() - began, 2))
        finally:
            await conn.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Measure:
    """Samples of one database: its size and its tables' rows."""

    def __init__(self, kind: str, url: str, store: Any, proc: common.Proc) -> None:
        self.kind = kind
        self.url = url
        self.store = store
        self.proc = proc

    async def sample(self, at: float, delivered: int) -> dict[str, Any]:
        figures = await (self._sqlite() if self.kind == "sqlite" else self._postgres())
        return {
            "t": round(at, 1),
            "delivered": delivered,
            "service_rss_mb": round(common.mb(self.proc.rss()), 1),
            **figures,
        }

    async def _sqlite(self) -> dict[str, Any]:
        path = Path(self.url.split("///", 1)[1])

        def read() -> dict[str, Any]:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                free = conn.execute("PRAGMA freelist_count").fetchone()[0]
                rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
                open_ = conn.execute(
                    "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'leased')"
                ).fetchone()[0]
            finally:
                conn.close()
            wal = path.with_name(path.name + "-wal")
            return {
                "file_bytes": path.stat().st_size,
                "wal_bytes": wal.stat().st_size if wal.exists() else 0,
                "used_bytes": (pages - free) * page,
                "rows": rows,
                "open_deliveries": open_,
            }

        return await asyncio.to_thread(read)

    async def _postgres(self) -> dict[str, Any]:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            sizes = {
                r["relname"]: r["bytes"]
                for r in await conn.fetch(
                    "SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind = 'r'"
                )
            }
            rows = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
            open_ = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'leased')"
            )
            database = await conn.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await conn.close()
        return {
            "used_bytes": sum(sizes.values()),
            "database_bytes": database,
            "table_bytes": {t: sizes.get(t, 0) for t in TABLES},
            "rows": rows,
            "open_deliveries": open_,
        }


async def sample_every(
    measure: Measure,
    interval: float,
    started: float,
    samples: list[dict[str, Any]],
    recorder: sink.Sink,
) -> None:
    """A sample now and every ``interval`` seconds, until cancelled (the drive's end)."""
    tick = 0
    while True:
        at = time.monotonic() - started
        sample = await measure.sample(at, recorder.count())
        samples.append(sample)
        print(
            f"  {measure.kind} t={sample['t']:>6.0f}s used {common.mb(sample['used_bytes']):7.1f} MB"
            f" rows {sum(sample['rows'].values()):>9,} open {sample['open_deliveries']:>6,}"
            f" delivered {sample['delivered']:>9,}",
            flush=True,
        )
        tick += 1
        await asyncio.sleep(max(0.0, started + tick * interval - time.monotonic()))


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """The least-squares slope of ``(t, y)`` points, per second."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def growth(samples: Sequence[dict[str, Any]], options: Options) -> dict[str, Any]:
    """Size at the start, at one retention period, and over the settled part; the slopes
    before retention applies, after it (from ``settled_after``) and over the run's last third
    (``end``: a size that converges slowly, as PostgreSQL's whose space comes back only after
    VACUUM, still climbs early in the settled part), in MB per minute."""
    used = [(s["t"], float(s["used_bytes"])) for s in samples]
    before = [(t, y) for t, y in used if t <= options.retention]
    after = [(t, y) for t, y in used if t >= options.settled_after]
    rows_after = [(s["t"], float(sum(s["rows"].values()))) for s in samples]
    rows_after = [(t, y) for t, y in rows_after if t >= options.settled_after]
    end_from = max(options.settled_after, used[-1][0] * 2 / 3) if used else 0.0
    end = [(t, y) for t, y in used if t >= end_from]
    per_minute = 60.0 / (1 << 20)
    before_slope = slope(before)
    after_slope = slope(after)
    settled = [y for _, y in after]
    return {
        "slope_end_mb_per_min": _round(slope(end), per_minute),
        "end_from_s": round(end_from, 1),
        "used_mb_start": round(common.mb(used[0][1]), 1) if used else None,
        "used_mb_at_retention": round(common.mb(before[-1][1]), 1) if before else None,
        "used_mb_settled_min": round(common.mb(min(settled)), 1) if settled else None,
        "used_mb_settled_max": round(common.mb(max(settled)), 1) if settled else None,
        "used_mb_end": round(common.mb(used[-1][1]), 1) if used else None,
        "slope_before_mb_per_min": _round(before_slope, per_minute),
        "slope_after_mb_per_min": _round(after_slope, per_minute),
        "slope_after_rows_per_min": _round(slope(rows_after), 60.0),
        "settled_samples": len(after),
    }


def _round(value: float | None, scale: float) -> float | None:
    return None if value is None else round(value * scale, 2)


def violations(result: dict[str, Any]) -> list[str]:
    """What a soak broke: the service died, reports were refused, or the size kept growing
    once retention applied (over the run's last third, a slope over ``FLAT_SHARE`` of the
    slope before retention applied)."""
    found = []
    for run in result["runs"]:
        name = f"soak {run['database']}"
        answers = run.get("api_error_answers", run["api_errors"])
        if not run["service_alive"] or answers or run["delivered"] < run["accepted"]:
            found.append(
                f"{name}: service alive {run['service_alive']}, {answers} error answers,"
                f" {run['delivered']:,} of {run['accepted']:,} accepted delivered"
            )
        before, after = run["slope_before_mb_per_min"], run["slope_end_mb_per_min"]
        if before and after is not None and after > FLAT_SHARE * before:
            found.append(f"{name}: still growing {after} MB/min after retention ({before} before)")
    return found
