"""Browser fixtures: Debian's Chromium driven by Playwright, the real app under uvicorn on
127.0.0.1 with its dispatcher, and a real webhook receiver.

The server and the receiver run on an event loop of their own in a thread, so the tests use
Playwright's synchronous API. One browser serves the whole session; each test gets a fresh
context (cookies and storage of its own). ``playwright install`` is never needed: the browser
is ``/usr/bin/chromium`` (the ``chromium`` package; ``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from browser_support import ADMIN_TOKEN, Live, in_thread
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.ext.asyncio import create_async_engine

from statushooks import config, testing
from statushooks.api import create_app
from statushooks.storage import engine as engines
from statushooks.storage import migrate

CHROMIUM = Path("/usr/bin/chromium")
STARTUP_TIMEOUT = 15.0  # seconds
POSTGRES_URL_VAR = "STATUSHOOKS_TEST_POSTGRES_URL"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run last, whatever the order asked: once Playwright's synchronous
    API is open (the session's browser), its event loop counts as running in this thread, and
    no asyncio test or fixture could run after it."""
    here = Path(__file__).parent
    items.sort(key=lambda item: item.path.is_relative_to(here))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never playwright install)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def browser_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: a SQLite file, or a PostgreSQL database of this test.

    Made without pytest-asyncio (``database_url``): while Playwright's synchronous API is
    open, its event loop counts as running in this thread, so the set-up runs in another.
    """
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'statushooks.db'}"
        in_thread(migrate.upgrade_url(url))
        yield url
        return
    admin_url = os.environ.get(POSTGRES_URL_VAR)
    if not admin_url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_URL_VAR} is not set: PostgreSQL tests may not be skipped")
        pytest.skip(f"{POSTGRES_URL_VAR} is not set")
    name = f"statushooks_browser_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    in_thread(_admin_sql(admin_url, f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        in_thread(migrate.upgrade_url(url))
        yield url
    finally:
        in_thread(_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(admin_url: str, statement: str) -> None:
    engine = create_async_engine(engines.normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(statement))
    await engine.dispose()


@pytest.fixture
def live(browser_database: str) -> Iterator[Live]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = config.load_settings(
        database_url=browser_database,
        public_base_url=url,
        admin_token=ADMIN_TOKEN,
        allow_private_urls=True,
        retry_schedule="0s,1s,1s",
        delivery_timeout=2.0,
        lease_seconds=5.0,
        poll_interval=0.1,
        shutdown_timeout=1.0,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, run_dispatcher=True), log_level="warning")
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    sink = testing.WebhookSink()

    async def serve() -> None:
        await sink.start()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        started.set()
        try:
            await task
        finally:
            await sink.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(STARTUP_TIMEOUT), "the server did not start"
    admin = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10.0
    )
    try:
        yield Live(url=url, sink=sink, loop=loop, admin=admin)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)
        loop.close()
        sock.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    fresh.set_default_timeout(15_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
