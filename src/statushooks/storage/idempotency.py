"""Idempotency keys: claim a key before doing the work, store the answer after.

A request carrying ``Idempotency-Key`` first *claims* the ``(account, key)`` row in its own short
transaction (``INSERT … ON CONFLICT DO NOTHING``): exactly one of many parallel requests wins
and runs; the others find the row and wait for its answer, or are told the key was used for a
different request. A key expires 24 h after it was claimed. When the work fails before it
created anything the claim is released, so the caller may retry with the same key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from statushooks.storage import tables as t
from statushooks.storage.sql import Store

KEY_LIFETIME = timedelta(hours=24)
t_keys = t.idempotency_keys


class ClaimState(enum.StrEnum):
    """What a claim found."""

    #: The caller owns the key now: do the work, then ``complete`` or ``release``.
    CLAIMED = "claimed"
    #: Another request with the same key and body finished: replay its answer.
    DONE = "done"
    #: Another request with the same key and body is still running.
    RUNNING = "running"
    #: The key was used with a different request.
    MISMATCH = "mismatch"


@dataclass(frozen=True, kw_only=True)
class Claim:
    state: ClaimState
    response_status: int | None = None
    response_body: bytes | None = None


async def claim(store: Store, account_id: str, key: str, request_hash: str, now: datetime) -> Claim:
    """Claim ``key`` for a request whose fingerprint is ``request_hash``."""
    async with store.write() as tx:
        conn = tx.conn
        await conn.execute(
            sa.delete(t_keys).where(
                t_keys.c.account_id == account_id,
                t_keys.c.key == key,
                t_keys.c.created_at <= now - KEY_LIFETIME,
            )
        )
        dialect = postgresql if tx.is_postgres else sqlite
        insert = (
            dialect.insert(t_keys)
            .values(account_id=account_id, key=key, request_hash=request_hash, created_at=now)
            .on_conflict_do_nothing()
        )
        if (await conn.execute(insert)).rowcount == 1:
            return Claim(state=ClaimState.CLAIMED)
        row = (
            await conn.execute(
                sa.select(t_keys).where(t_keys.c.account_id == account_id, t_keys.c.key == key)
            )
        ).first()
    if row is None:  # released between our insert and select: try again
        return await claim(store, account_id, key, request_hash, now)
    return _found(row, request_hash)


async def lookup(store: Store, account_id: str, key: str, request_hash: str) -> Claim | None:
    """What the key's row says now (None if it was released), without claiming it."""
    async with store.read() as tx:
        row = (
            await tx.conn.execute(
                sa.select(t_keys).where(t_keys.c.account_id == account_id, t_keys.c.key == key)
            )
        ).first()
    return None if row is None else _found(row, request_hash)


def _found(row: sa.Row[Any], request_hash: str) -> Claim:
    if row.request_hash != request_hash:
        return Claim(state=ClaimState.MISMATCH)
    if row.response_status is None:
        return Claim(state=ClaimState.RUNNING)
    return Claim(
        state=ClaimState.DONE,
        response_status=int(row.response_status),
        response_body=bytes(row.response_body or b""),
    )


async def complete(store: Store, account_id: str, key: str, status: int, body: bytes) -> None:
    """Record the answer of the claimed request."""
    async with store.write() as tx:
        await tx.conn.execute(
            sa.update(t_keys)
            .where(t_keys.c.account_id == account_id, t_keys.c.key == key)
            .values(response_status=status, response_body=body)
        )


async def release(store: Store, account_id: str, key: str) -> None:
    """Give up a claim whose request created nothing (it failed)."""
    async with store.write() as tx:
        await tx.conn.execute(
            sa.delete(t_keys).where(
                t_keys.c.account_id == account_id,
                t_keys.c.key == key,
                t_keys.c.response_status.is_(None),
            )
        )
