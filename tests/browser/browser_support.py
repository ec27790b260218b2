"""Helpers of the browser tests: the running app, reached from synchronous tests."""

from __future__ import annotations

import asyncio
import html
import socket
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web
from playwright.sync_api import Page

from statushooks import testing

T = TypeVar("T")
ADMIN_TOKEN = "browser-admin-token-0123456789"
THREAD_TIMEOUT = 60.0  # seconds a set-up coroutine may take
#: axe-core, vendored from the npm registry (``vendor/README.md``): test-only.
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: The axe rules run on every page: WCAG 2.0 and 2.1, levels A and AA (``color-contrast``
#: among them).
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
AXE_RUN = """tags => axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
})"""


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


def accessibility_violations(page: Page) -> list[str]:
    """What axe-core finds against WCAG 2.1 A and AA on the page as it is now, one line per
    rule and element. axe is added through the DevTools protocol (``evaluate``), which the
    page's Content-Security-Policy does not govern: the page's own policy stays as served."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate(AXE_RUN, list(AXE_TAGS))
    return [
        f"{rule['id']} ({rule['impact']}): {node['target']}: {node['failureSummary']}"
        for rule in results["violations"]
        for node in rule["nodes"]
    ]


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
