"""Database URLs, and the async engine that migrations run on.

The backends (``storage/sqlite.py``, ``storage/postgres.py``) make their own engines; this
module says which backend a URL is for and gives Alembic an engine of the async kind it runs on.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from statushooks import exceptions
from statushooks.storage import postgres, sqlite


def normalize_url(url: str) -> str:
    """Pick the async driver: ``postgresql://`` → asyncpg, ``sqlite:///`` → aiosqlite."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise exceptions.ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://…"
    )


def is_sqlite_url(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (migrations, tests' set-up), with the backend's settings."""
    url = normalize_url(url)
    if is_sqlite_url(url):
        engine = create_async_engine(
            sqlite.driver_url(url), connect_args={"timeout": sqlite.SQLITE_BUSY_TIMEOUT / 1000}
        )
        sqlite.configure(engine.sync_engine, synchronous=sqlite.synchronous_mode(url))
        return engine
    return postgres.create_engine(url)


def sqlite_file(url: str | sa.URL | AsyncEngine) -> str | None:
    """The database file of an SQLite URL; None in memory (or not SQLite)."""
    url = url.url if isinstance(url, AsyncEngine) else url
    return sqlite.sqlite_path(url) if is_sqlite_url(url) else None
