"""Schema migrations (Alembic), run programmatically: ``statushooks migrate`` and on start."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATION_LOCK_ID = 7_311_002  # PostgreSQL advisory lock key: one migrator at a time


def alembic_config() -> Config:
    config = Config()
    location = resources.files("statushooks.storage") / "migrations"
    config.set_main_option("script_location", str(location))
    return config


def _upgrade(connection: sa.Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID}
        )
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (idempotent, safe to race)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


def upgrade_connection(connection: sa.Connection, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` inside ``connection``'s transaction (a backend's
    piece of work: ``Store.open``)."""
    _upgrade(connection, revision)


async def upgrade_url(url: str, revision: str = "head") -> None:
    """``upgrade`` the database at ``url`` on an engine of its own, closed after."""
    from statushooks.storage import engine as engines

    migration_engine = engines.create_engine(url)
    try:
        await upgrade(migration_engine, revision)
    finally:
        await migration_engine.dispose()
