"""Scenario 2 — limit: what the sink can take, and what one Python process can push into it.

(a) ``wrk`` with a 600-byte POST body (a lua script), 2 threads, ``CONCURRENCY`` connections:
    the sink's capacity.
(b) a bare aiohttp + uvloop client loop (``python -m bench.limit client``) with the same
    concurrency, signing each request with ``statushooks.signing`` like the dispatcher does, but
    storing nothing: the issue's ceiling for a Python dispatcher on this machine.
(b') the same loop on statushooks' own client (``statushooks.http.HttpClient``, the one the
    dispatcher uses; ``--client statushooks``): drain ÷ (b') is what the queue, leases and
    attempt log cost, with the client held equal.

``CONCURRENCY`` is the dispatcher's own in drain: 10 endpoints × ``max_in_flight`` 10.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import common, sink

CONCURRENCY = 100  # requests in flight: 10 endpoints × max_in_flight 10, as in drain
ENDPOINTS = 10
WRK_BODY_BYTES = 600
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def sample_payload() -> bytes:
    """A rendered ``submitted`` event, as the dispatcher sends it."""
    from statushooks import messages, sms
    from statushooks.events import catalog
    from statushooks.messages import Channel, MessageStatus

    now = datetime.now(UTC)
    message = messages.new_message(
        account_id="acc_bench",
        channel=Channel.SMS,
        to="+447901614024",
        now=now,
        sender="Bench",
        text="Your verification code is 123456.",
        segments=1,
        region_code="GB",
        price=sms.PricingTable.load(None).price(Channel.SMS, "GB", 1).amount,
        currency="USD",
    )
    event_type = catalog.emitted_by(Channel.SMS, MessageStatus.SUBMITTED)[0]
    body = catalog.render(
        event_type,
        message,
        status=MessageStatus.SUBMITTED,
        event_id="evt_bench",
        now=now,
        public_base_url="http://localhost:8080",
    )
    return orjson.dumps(body)


# -- (b) the bare client, in its own process ------------------------------------------------------


def signed_headers(payload: bytes) -> dict[str, str]:
    from statushooks import ids, signing

    headers = {"Content-Type": "application/json"}
    headers.update(
        signing.webhook_headers(
            msg_id=ids.new_id("evt"), timestamp=int(time.time()), body=payload, secrets=(SECRET,)
        )
    )
    return headers


async def _aiohttp_loop(urls: list[str], payload: bytes, n: int, concurrency: int) -> int:
    """(b): ``n`` signed POSTs over ``concurrency`` aiohttp loops; returns the errors."""
    import aiohttp

    errors = 0
    counter = iter(range(n))
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                headers = signed_headers(payload)
                async with session.post(urls[i % ENDPOINTS], data=payload, headers=headers) as r:
                    await r.read()
                    errors += r.status >= 300

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


async def _own_client_loop(urls: list[str], payload: bytes, n: int, concurrency: int) -> int:
    """(b'): the same on ``statushooks.http.HttpClient``; returns the errors."""
    from statushooks import http

    errors = 0
    counter = iter(range(n))
    async with http.HttpClient(timeout=30.0, allow_private=True) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                headers = signed_headers(payload)
                response = await client.post(urls[i % ENDPOINTS], body=payload, headers=headers)
                errors += response.status >= 300

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors


CLIENT_LOOPS = {"aiohttp": _aiohttp_loop, "statushooks": _own_client_loop}


async def _client(base_url: str, n: int, concurrency: int, kind: str) -> dict[str, Any]:
    payload = sample_payload()
    urls = [f"{base_url}/h{i}" for i in range(ENDPOINTS)]
    started = time.perf_counter()
    cpu0 = time.process_time()
    errors = await CLIENT_LOOPS[kind](urls, payload, n, concurrency)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    return {
        "client": kind,
        "requests": n,
        "errors": errors,
        "seconds": elapsed,
        "rate": n / elapsed,
        "cpu_s_per_1000": cpu / n * 1000,
        "peak_rss_mb": common.mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
    }


def client_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.limit client")
    parser.add_argument("--url", required=True)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("-c", type=int, default=CONCURRENCY)
    parser.add_argument("--client", choices=sorted(CLIENT_LOOPS), default="aiohttp")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_client(args.url, args.n, args.c, args.client))
    print("RESULT " + orjson.dumps(result).decode(), flush=True)


async def bare_client(
    base_url: str, n: int, log_dir: Path, kind: str = "aiohttp"
) -> dict[str, Any]:
    args = [common.PYTHON, "-m", "bench.limit", "client", "--url", base_url, "-n", str(n)]
    args += ["--client", kind]
    proc = common.Proc.start(f"bare-client-{kind}", args, log_dir=log_dir)
    async with common.sampling([proc]):
        while proc.alive():
            await asyncio.sleep(0.1)
    for line in proc.log_path.read_text().splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = orjson.loads(line[7:])
            result["peak_rss_mb"] = common.mb(proc.peak_rss)
            return result
    raise RuntimeError(f"the bare client failed:\n{proc.tail()}")


# -- (a) wrk ---------------------------------------------------------------------------------------

WRK_LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(url: str, seconds: float) -> dict[str, Any] | None:
    """``wrk`` with a 600-byte body for ``seconds``; None when wrk is not installed."""
    binary = shutil.which("wrk")
    if binary is None:
        return None
    body = orjson.dumps({"id": "evt_bench", "pad": ""})
    body = orjson.dumps({"id": "evt_bench", "pad": "x" * (WRK_BODY_BYTES - len(body))})
    assert len(body) == WRK_BODY_BYTES
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA.format(body=body.decode()))
    try:
        out = subprocess.run(
            [
                binary,
                "-t2",
                f"-c{CONCURRENCY}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rate": float(rate.group(1)) if rate else None,
        "seconds": seconds,
        "body_bytes": WRK_BODY_BYTES,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "output": out.strip().splitlines(),
    }


async def measure(
    fast: sink.Sink, n: int, options: common.Options, log_dir: Path
) -> dict[str, Any]:
    """Both ceilings against ``fast`` (called by ``drain`` too, so ratios share one run)."""
    wrk_result = await asyncio.to_thread(wrk, fast.url("/wrk"), 5.0 if options.quick else 10.0)
    base_url = fast.url("").rstrip("/")
    client = await bare_client(base_url, n, log_dir)
    own = await bare_client(base_url, n, log_dir, "statushooks")
    return {
        "sink": fast.kind,
        "concurrency": CONCURRENCY,
        "wrk": wrk_result,
        "bare_client": client,
        "own_client": own,
    }


async def run(options: common.Options, log_dir: Path) -> dict[str, Any]:
    fast = await sink.fast_sink(log_dir)
    try:
        result = await measure(fast, options.n, options, log_dir)
    finally:
        fast.stop()
    rows = []
    if result["wrk"]:
        rows.append(["(a) wrk, 600-byte POST", result["wrk"]["rate"], None])
    client = result["bare_client"]
    rows.append(["(b) aiohttp+uvloop, signed", client["rate"], client["cpu_s_per_1000"]])
    own = result["own_client"]
    rows.append(["(b') statushooks.http, signed", own["rate"], own["cpu_s_per_1000"]])
    common.print_table(
        f"limit — {result['sink']} sink, {CONCURRENCY} in flight",
        ["driver", "requests/s", "CPU s / 1,000"],
        rows,
    )
    return result


def main() -> None:
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client_main(sys.argv[2:])
        return
    with contextlib.suppress(KeyboardInterrupt):
        from bench.__main__ import main as bench_main

        bench_main(["limit", *sys.argv[1:]])


if __name__ == "__main__":
    main()
