"""Acceptance fixtures: the real app under uvicorn on 127.0.0.1, and real webhook receivers.

``server`` runs ``create_app(settings, run_dispatcher=True)`` in-process on a free port against
the ``database_url`` fixture (SQLite file and PostgreSQL); tests talk to it over real HTTP with
``httpx.AsyncClient``. ``sink`` is the loopback webhook receiver of ``statushooks.testing``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from acceptance_support import ADMIN_TOKEN, Server

from statushooks import config, testing
from statushooks.api import create_app

STARTUP_TIMEOUT = 10.0  # seconds


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[Server]:
    """The API and dispatcher under uvicorn on a free 127.0.0.1 port."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = config.load_settings(
        database_url=database_url,
        public_base_url=url,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        retry_schedule="0s,1s,1s",
        delivery_timeout=2.0,
        lease_seconds=5.0,
        poll_interval=0.1,
        shutdown_timeout=1.0,
    )
    app = create_app(settings, run_dispatcher=True)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(uv.serve(sockets=[sock]), name="uvicorn")
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while not uv.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.01)
    running = Server(
        url=url,
        settings=settings,
        client=httpx.AsyncClient(base_url=url, timeout=10.0),
        admin=httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10.0
        ),
    )
    try:
        yield running
    finally:
        await running.aclose()
        uv.should_exit = True
        await asyncio.wait_for(task, timeout=STARTUP_TIMEOUT)
        sock.close()


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    """A real webhook receiver on 127.0.0.1 (``statushooks.testing.WebhookSink``)."""
    async with testing.WebhookSink() as running_sink:
        yield running_sink
