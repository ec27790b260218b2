"""Shared fixtures: clean environment, databases (SQLite file and PostgreSQL), store, service.

PostgreSQL tests need ``STATUSHOOKS_TEST_POSTGRES_URL``. Without it they skip on a laptop, and
they FAIL when ``CI=true``: CI never silently skips the PostgreSQL half.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from statushooks import config, service, sms
from statushooks.storage import engine as engines
from statushooks.storage import migrate
from statushooks.storage import tables as t
from statushooks.storage.sql import Store

POSTGRES_URL_VAR = "STATUSHOOKS_TEST_POSTGRES_URL"
KEPT_VARS = {POSTGRES_URL_VAR}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip STATUSHOOKS_* variables so a developer's shell cannot change test outcomes."""
    for name in list(os.environ):
        if name.startswith("STATUSHOOKS_") and name not in KEPT_VARS:
            monkeypatch.delenv(name)


def postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VAR)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{POSTGRES_URL_VAR} is not set: PostgreSQL tests may not be skipped in CI")
    return None


async def _create_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(engines.normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(engines.normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A migrated PostgreSQL database of this test process (dropped at the end), or None."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield None
        return
    name = f"statushooks_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_create_database(admin_url, name))
    url = _with_database(admin_url, name)

    asyncio.run(migrate.upgrade_url(url))
    yield url
    asyncio.run(_drop_database(admin_url, name))


async def truncate_all(url: str) -> None:
    engine = engines.create_engine(url)
    names = ", ".join(table.name for table in reversed(t.metadata.sorted_tables))
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> str:
    """An empty, migrated database: a SQLite file, or the PostgreSQL test database truncated."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'statushooks.db'}"
        await migrate.upgrade_url(url)
        return url
    if postgres_url is None:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set")
    await truncate_all(postgres_url)
    return postgres_url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = await Store.open(database_url, upgrade=False)
    yield store
    await store.close()


@pytest.fixture
def settings(database_url: str) -> config.Settings:
    return config.load_settings(
        database_url=database_url,
        allow_private_urls=True,
        retry_schedule="0s,1s,1s",
        delivery_timeout=2.0,
        lease_seconds=5.0,
        poll_interval=0.2,
    )


@pytest.fixture
def svc(store: Store, settings: config.Settings) -> service.Service:
    return service.Service(store=store, settings=settings, pricing=sms.PricingTable.load())
