"""The API-driven setup shared by ``e2e`` and ``slow``: a server subprocess, a recording sink,
an account whose endpoints subscribe to ``sms.message.updated`` only, pre-submitted messages,
and an open-loop load generator posting ``delivered`` reports through ``POST /v1/status-reports``.

Each report emits exactly one event per endpoint (YCloud ``sms.message.updated``, whose body
carries the message id), so the sink's arrival records join the generator's "accepted" times
(the moment the bulk API answered 200) on the message id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import common, queueing, sink

EVENT_TYPE = "sms.message.updated"
TICK = 0.1  # seconds between bulk requests of the generator
MAX_OUTSTANDING = 64  # bulk requests in flight before the generator counts itself as refused
SETTLE_SECONDS = 30.0  # seconds to wait for a phase's events to arrive before the next phase


@dataclass(kw_only=True)
class Server:
    proc: common.Proc
    port: int
    api_key: str
    message_ids: list[str]
    endpoint_urls: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def server_args(port: int) -> list[str]:
    """``statushooks serve`` (API + dispatcher) where the CLI exists, else ``bench.apiserver``."""
    if common.has_module("statushooks.cli"):
        return [common.PYTHON, "-m", "statushooks.cli", "serve", "--host", "127.0.0.1",
                "--port", str(port)]  # fmt: skip
    return [common.PYTHON, "-m", "bench.apiserver", "--port", str(port), "--dispatcher"]


async def start_server(
    url: str,
    endpoint_urls: Sequence[str],
    n_messages: int,
    log_dir: Path,
    *,
    name: str = "serve",
    max_in_flight: int | None = None,
) -> Server:
    """Prepare the database through ``Service``, then start the server on it."""
    store = await queueing.open_store(url)
    try:
        fixture = await queueing.setup(
            store,
            queueing.bench_settings(url),
            endpoint_urls,
            enabled_events=(EVENT_TYPE,),
            max_in_flight=max_in_flight,
        )
        api_key = await fixture.service.create_api_key(fixture.account_id)
        started = time.perf_counter()
        message_ids = await queueing.queue_messages_only(fixture, n_messages)
        print(f"  {n_messages:,} messages submitted in {time.perf_counter() - started:.1f} s")
    finally:
        await store.close()
    port = common.free_port()
    proc = common.Proc.start(name, server_args(port), env=common.bench_env(url), log_dir=log_dir)
    await common.wait_port(port, timeout=60, proc=proc.popen)
    return Server(
        proc=proc,
        port=port,
        api_key=api_key[1],
        message_ids=message_ids,
        endpoint_urls=list(endpoint_urls),
    )


@dataclass(kw_only=True)
class Phase:
    """One fixed-rate phase: what was offered, accepted, and when each report was accepted."""

    rate: int
    seconds: float
    offered: int = 0
    accepted: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    accepted_at: dict[str, float] = field(default_factory=dict)
    request_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


async def drive(
    server: Server, session: aiohttp.ClientSession, rate: int, seconds: float, cursor: int
) -> tuple[Phase, int]:
    """Post ``rate`` reports/s for ``seconds`` (open loop, every ``TICK``); the next cursor."""
    phase = Phase(rate=rate, seconds=seconds)
    url = f"{server.base}/v1/status-reports"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    outstanding: set[asyncio.Task[None]] = set()
    carry = 0.0

    async def post(batch: list[str]) -> None:
        body = {"reports": [{"message_id": mid, "status": "delivered"} for mid in batch]}
        sent = time.perf_counter()
        try:
            async with session.post(url, json=body, headers=headers) as response:
                payload = await response.read()
                now = time.time()
                if response.status != 200:
                    phase.errors.append(f"HTTP {response.status}: {payload[:200]!r}")
                    return
        except aiohttp.ClientError as exc:
            phase.errors.append(repr(exc))
            return
        phase.request_ms.append((time.perf_counter() - sent) * 1000)
        phase.accepted += len(batch)
        for mid in batch:
            phase.accepted_at[mid] = now

    phase.started = time.time()
    start = time.perf_counter()
    tick = 0
    while time.perf_counter() - start < seconds:
        carry += rate * TICK
        size, carry = int(carry), carry - int(carry)
        batch = server.message_ids[cursor : cursor + size]
        cursor += len(batch)
        phase.offered += len(batch)
        if len(outstanding) >= MAX_OUTSTANDING:
            phase.refused += len(batch)
        elif batch:
            task = asyncio.create_task(post(batch))
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK - time.perf_counter()))
    if outstanding:
        await asyncio.wait(outstanding, timeout=60)
    phase.ended = time.time()
    return phase, cursor


async def settle(recorder: sink.AsgiSink, expected: int, timeout: float = SETTLE_SECONDS) -> None:
    """Wait until the sink holds ``expected`` records, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(recorder.count) >= expected:
            return
        await asyncio.sleep(0.25)


def latencies(
    phase: Phase, records: Sequence[tuple[float, str, str]], path_prefix: str = ""
) -> dict[str, Any]:
    """Accepted → received per event, and the delivered rate, for the records of one phase."""
    values: list[float] = []
    arrivals: list[float] = []
    for arrived, path, key in records:
        if path_prefix and not path.startswith(path_prefix):
            continue
        accepted = phase.accepted_at.get(key)
        if accepted is None:
            continue
        values.append((arrived - accepted) * 1000)
        arrivals.append(arrived)
    span = (max(arrivals) - phase.started) if arrivals else 0.0
    return {
        "received": len(values),
        "delivered_rate": round(len(values) / max(span, phase.seconds), 1) if values else 0.0,
        "p50_ms": _r(common.percentile(values, 50)),
        "p95_ms": _r(common.percentile(values, 95)),
        "p99_ms": _r(common.percentile(values, 99)),
        "max_ms": _r(max(values) if values else None),
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def phase_summary(phase: Phase) -> dict[str, Any]:
    return {
        "offered_rate": phase.rate,
        "seconds": phase.seconds,
        "offered": phase.offered,
        "accepted": phase.accepted,
        "accepted_rate": round(phase.accepted / phase.seconds, 1),
        "refused_by_generator": phase.refused,
        "api_errors": len(phase.errors),
        "first_errors": phase.errors[:3],
        "api_p50_ms": _r(common.percentile(phase.request_ms, 50)),
        "api_p99_ms": _r(common.percentile(phase.request_ms, 99)),
    }
