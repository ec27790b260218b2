"""The store's transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from statushooks import accounts
from statushooks.storage.sql import Store


async def test_nested_write_transactions_are_refused(store: Store) -> None:
    """A write inside a write would wait for itself on SQLite: it raises instead."""
    async with store.write():
        with pytest.raises(RuntimeError, match="already open"):
            async with store.write():
                pass  # pragma: no cover


async def test_concurrent_writers_all_commit(store: Store) -> None:
    """Many writers of one process queue for the lock and every one commits."""
    now = datetime.now(UTC)

    async def write(index: int) -> None:
        async with store.write() as tx:
            await tx.insert_account(accounts.Account(id=f"acc_w{index}", name="w", created_at=now))
            await asyncio.sleep(0)

    await asyncio.gather(*(write(index) for index in range(50)))
    async with store.read() as tx:
        count = (
            await tx.conn.execute(sa.text("SELECT count(*) FROM accounts WHERE id LIKE 'acc_w%'"))
        ).scalar_one()
    assert count == 50
