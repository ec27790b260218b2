"""Scenario 6 — slow endpoints: 9 healthy endpoints plus 1 answering after 2 s, against the
same setup with all 10 healthy.

``statushooks serve`` (SQLite) and the recording sink (``/slow`` answers after ``DELAY`` s);
every endpoint subscribes to ``sms.message.updated``; the generator posts ``RATE`` ``delivered``
reports/s through the bulk API for ``SECONDS`` (each report: one event to each endpoint). The
slow endpoint can take at most ``max_in_flight / DELAY`` = 5 deliveries/s, so its backlog grows
the whole time. Figures: the 9 healthy endpoints' delivered rate and latency (accepted →
received) in both runs; target: ≥ 80 % of the throughput without the slow one.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from bench import common, loadgen, sink

DELAY = 2.0  # seconds the slow endpoint takes to answer
RATE = 50  # reports per second, each one event to every endpoint
SECONDS = 30.0
HEALTHY = 9


async def one_run(with_slow: bool, seconds: float, log_dir: Path) -> dict[str, Any]:
    tmp = log_dir / "db"
    tmp.mkdir(exist_ok=True)
    url = common.sqlite_url(tmp, f"slow-{with_slow}")
    recorder = await sink.recording_sink(log_dir, delay=DELAY)
    paths = [f"/h{i}" for i in range(HEALTHY)] + ["/slow" if with_slow else f"/h{HEALTHY}"]
    name = "serve-slow" if with_slow else "serve-healthy"
    server = await loadgen.start_server(
        url, [recorder.url(p) for p in paths], int(RATE * seconds * 1.2) + 100, log_dir, name=name
    )
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            phase, _ = await loadgen.drive(server, session, RATE, seconds, 0)
            healthy_expected = phase.accepted * HEALTHY
            deadline = asyncio.get_running_loop().time() + loadgen.SETTLE_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                records = await asyncio.to_thread(recorder.records)
                received = sum(
                    1 for r in records if r[1].startswith("/h") and r[1] != f"/h{HEALTHY}"
                )
                if received >= healthy_expected:
                    break
                await asyncio.sleep(0.5)
            records = await asyncio.to_thread(recorder.records)
    finally:
        server.proc.stop()
        recorder.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    healthy_records = [r for r in records if r[1].startswith("/h") and r[1] != f"/h{HEALTHY}"]
    figures = loadgen.latencies(phase, healthy_records)
    slow_records = [r for r in records if not r[1].startswith("/h") or r[1] == f"/h{HEALTHY}"]
    return {
        "with_slow_endpoint": with_slow,
        **loadgen.phase_summary(phase),
        "healthy_expected": phase.accepted * HEALTHY,
        "healthy_received": figures["received"],
        "healthy_rate": figures["delivered_rate"],
        "healthy_p50_ms": figures["p50_ms"],
        "healthy_p99_ms": figures["p99_ms"],
        "tenth_endpoint_received": len(slow_records),
    }


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    seconds = 10.0 if options.quick else SECONDS
    runs = [await one_run(False, seconds, log_dir), await one_run(True, seconds, log_dir)]
    base, slow = runs
    ratio = slow["healthy_rate"] / base["healthy_rate"] if base["healthy_rate"] else None
    common.print_table(
        f"slow endpoints — {HEALTHY} healthy + 1 answering after {DELAY:g} s, "
        f"{RATE} reports/s × 10 endpoints, {seconds:g} s",
        ["10th endpoint", "healthy/s", "healthy p50 ms", "healthy p99 ms", "received/expected"],
        [
            [
                "healthy" if not r["with_slow_endpoint"] else f"slow ({DELAY:g} s)",
                r["healthy_rate"],
                r["healthy_p50_ms"],
                r["healthy_p99_ms"],
                f"{r['healthy_received']:,}/{r['healthy_expected']:,}",
            ]
            for r in runs
        ],
    )
    print(f"  healthy throughput kept: {ratio:.0%}" if ratio is not None else "  no ratio")
    return {
        "delay_seconds": DELAY,
        "rate": RATE,
        "seconds": seconds,
        "runs": runs,
        "healthy_throughput_ratio": None if ratio is None else round(ratio, 3),
    }
