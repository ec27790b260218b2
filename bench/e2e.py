"""Scenario 4 — end-to-end: ``statushooks serve`` (the API, and its dispatcher in a child
process; SQLite, as ``make run``; the figures count both processes) with one endpoint on the recording sink, ``max_in_flight`` 100 (the in-flight total
of drain and of the limit client: here one endpoint takes the whole load); the generator posts
``delivered`` reports through the bulk API at fixed rates (500, 1,000, 2,000, 4,000 events/s, 30 s each; ``--quick``:
5 s each). Figures per rate: the accepted and the delivered rate (sustained), and the latency
from "report accepted" (the bulk API answered) to "received" (the sink's clock), p50/p95/p99.

Between phases the harness waits until the phase's events have arrived (at most 30 s), so a
backlog of one phase is charged to that phase, not to the next.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from bench import common, loadgen, sink

MAX_IN_FLIGHT = 100  # the endpoint's cap: drain's 10 endpoints × 10, on one endpoint


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    tmp = log_dir / "db"
    tmp.mkdir(exist_ok=True)
    url = common.sqlite_url(tmp, "e2e")
    recorder = await sink.recording_sink(log_dir)
    total = int(sum(rate * options.e2e_seconds for rate in options.e2e_rates) * 1.05) + 1000
    server = await loadgen.start_server(
        url, [recorder.url("/hook")], total, log_dir, max_in_flight=MAX_IN_FLIGHT
    )
    phases: list[dict[str, Any]] = []
    cursor = 0
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            common.sampling([server.proc, *([recorder.proc] if recorder.proc else [])]),
        ):
            for rate in options.e2e_rates:
                await asyncio.to_thread(recorder.reset)
                cpu0 = server.proc.cpu_seconds()
                phase, cursor = await loadgen.drive(
                    server, session, rate, options.e2e_seconds, cursor
                )
                await loadgen.settle(recorder, phase.accepted)
                cpu = server.proc.cpu_seconds() - cpu0
                records = await asyncio.to_thread(recorder.records)
                summary = loadgen.phase_summary(phase) | loadgen.latencies(phase, records)
                summary["server_cpu_s_per_1000"] = round(cpu / max(1, phase.accepted) * 1000, 3)
                summary["lost_or_late"] = phase.accepted - summary["received"]
                phases.append(summary)
                print(
                    f"  {rate:,}/s: accepted {summary['accepted_rate']:,}/s, delivered "
                    f"{summary['delivered_rate']:,}/s, p99 {summary['p99_ms']} ms",
                    flush=True,
                )
                if not server.proc.alive():
                    raise RuntimeError(f"the server died:\n{server.proc.tail()}")
    finally:
        server.proc.stop()
        recorder.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    common.print_table(
        "end-to-end — statushooks serve (SQLite) → recording sink, bulk status reports",
        ["offered/s", "accepted/s", "delivered/s", "p50 ms", "p95 ms", "p99 ms", "not received"],
        [
            [
                p["offered_rate"],
                p["accepted_rate"],
                p["delivered_rate"],
                p["p50_ms"],
                p["p95_ms"],
                p["p99_ms"],
                p["lost_or_late"],
            ]
            for p in phases
        ],
    )
    return {
        "server": " ".join(loadgen.server_args(0)[1:4]),
        "database": "sqlite",
        "sink": "asgi (recording)",
        "endpoint_max_in_flight": MAX_IN_FLIGHT,
        "phase_seconds": options.e2e_seconds,
        "server_peak_rss_mb": common.mb(server.proc.peak_rss),
        "phases": phases,
    }
