"""Scenario 3 — baseline: Celery + Redis, one task per webhook (``bench.celery_tasks``).

The same N webhooks to the same 10 paths of the same fast sink as ``drain``. The tasks are all
enqueued first (timed apart), then a prefork worker (``CONCURRENCY`` processes: I/O-bound
tasks on 2 cores) drains them; arrivals are counted at the sink. The run is capped at
``MAX_SECONDS``: if Celery has not finished by then, the rate is the one measured over the part
it did (the scale-down is printed and recorded).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import common, limit, sink

CONCURRENCY = 8  # prefork processes
#: Celery runs a 1/SCALE share of N (~285 webhooks/s here: all of 100,000 would take ~6 min).
SCALE = 2
MAX_SECONDS = 180.0  # seconds Celery may take before the run is cut short
ENDPOINTS = 10
POLL = 0.25  # seconds


def _redis() -> Any:
    import redis

    from bench import celery_tasks

    return redis.Redis.from_url(celery_tasks.BROKER_URL)


def enqueue(base_url: str, n: int) -> float:
    """Send ``n`` tasks to the broker; the seconds it took."""
    from bench import celery_tasks
    from statushooks import ids

    payload = limit.sample_payload().decode()
    started = time.perf_counter()
    with celery_tasks.app.producer_or_acquire() as producer:
        for i in range(n):
            celery_tasks.post_webhook.apply_async(
                (f"{base_url}/e{i % ENDPOINTS}", ids.new_id("evt"), payload, limit.SECRET),
                producer=producer,
            )
    return time.perf_counter() - started


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    n = options.n // SCALE if not options.quick else options.n
    fast = await sink.fast_sink(log_dir)
    client = _redis()
    client.flushdb()
    worker: common.Proc | None = None
    try:
        enqueue_seconds = await asyncio.to_thread(enqueue, fast.url("").rstrip("/"), n)
        print(f"  enqueued {n:,} tasks in {enqueue_seconds:.1f} s", flush=True)
        args = [common.PYTHON, "-m", "celery", "-A", "bench.celery_tasks", "worker"]
        args += ["-P", "prefork", "-c", str(CONCURRENCY), "--loglevel", "WARNING"]
        worker = common.Proc.start("celery", args, env=common.bench_env(), log_dir=log_dir)
        before = fast.count()
        started = time.monotonic()
        first_at: float | None = None
        cpu_at_first = 0.0
        done = 0
        timeline: list[tuple[float, int]] = []
        async with common.sampling([worker]):
            while time.monotonic() - (first_at or started) < MAX_SECONDS:
                done = fast.count() - before
                now = time.monotonic()
                timeline.append((round(now - started, 2), done))
                if first_at is None and done > 0:
                    first_at, cpu_at_first = now, worker.cpu_seconds()
                if done >= n or not worker.alive():
                    break
                await asyncio.sleep(POLL)
            cpu = worker.cpu_seconds() - cpu_at_first
            finished_at = time.monotonic()
    finally:
        if worker is not None:
            worker.stop(timeout=10)
        client.flushdb()
        fast.stop()
    if first_at is None:
        raise RuntimeError(f"celery delivered nothing:\n{worker.tail() if worker else ''}")
    seconds = finished_at - first_at + POLL / 2
    result = {
        "n": n,
        "scale_factor": SCALE if not options.quick else 1,
        "completed": done,
        "scale": round(done / n, 3),
        "cut_short": done < n,
        "max_seconds": MAX_SECONDS,
        "concurrency": CONCURRENCY,
        "pool": "prefork",
        "sink": fast.kind,
        "enqueue_seconds": round(enqueue_seconds, 1),
        "seconds": round(seconds, 2),
        "rate": round(done / seconds, 1),
        "cpu_s_per_1000": round(cpu / max(done, 1) * 1000, 3),
        "peak_rss_mb": common.mb(worker.peak_rss) if worker else None,
        "timeline": timeline,
    }
    note = f" (cut at {MAX_SECONDS:g} s: {done:,} of {n:,})" if done < n else ""
    common.print_table(
        f"baseline — Celery prefork ×{CONCURRENCY} + Redis, requests, {fast.kind} sink{note}",
        ["webhooks", "webhooks/s", "CPU s / 1,000", "peak RSS MB (all processes)"],
        [[done, result["rate"], result["cpu_s_per_1000"], result["peak_rss_mb"]]],
    )
    return result
