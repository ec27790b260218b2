"""Helpers of the browser tests: the running app, reached from synchronous tests."""

from __future__ import annotations

import asyncio
import html
import socket
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from aiohttp import web

from statushooks import testing

T = TypeVar("T")
ADMIN_TOKEN = "browser-admin-token-0123456789"
THREAD_TIMEOUT = 60.0  # seconds a set-up coroutine may take


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a new event loop in a thread of its own, and wait for it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=THREAD_TIMEOUT)


@dataclass
class Live:
    """The running app and receiver, and a loop to reach them from a synchronous test."""

    url: str
    sink: testing.WebhookSink
    loop: asyncio.AbstractEventLoop
    admin: httpx.Client

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=THREAD_TIMEOUT)

    def account(self, name: str) -> tuple[str, str, httpx.Client]:
        """A new account: its id, its API key and a client carrying the key."""
        response = self.admin.post("/v1/accounts", json={"name": name})
        assert response.status_code == 201, response.text
        body = response.json()
        client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {body['api_key']}"},
            timeout=10.0,
        )
        return body["id"], body["api_key"], client


async def _embedding_page(request: web.Request) -> web.Response:
    src = html.escape(request.query.get("src", ""), quote=True)
    body = f'<!doctype html><title>host</title><iframe title="portal" src="{src}"></iframe>'
    return web.Response(text=body, content_type="text/html")


async def start_host() -> tuple[web.AppRunner, str]:
    """A page on another 127.0.0.1 origin that shows ``?src=`` in an iframe: a platform's
    product embedding the portal. Its origin, and the runner to stop it with."""
    app = web.Application()
    app.router.add_get("/", _embedding_page)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"
