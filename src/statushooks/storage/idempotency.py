"""Idempotency keys: the key, the work and its answer commit together, or not at all.

A creating request that carries ``Idempotency-Key`` runs its work inside ``run``, in the work's
own write transaction: the key's row is looked up first (the same key and body within 24 h:
the stored answer is replayed, ``ReplayedError``; another body: ``KeyReusedError``), then the
work runs, then the key is inserted *with its answer*. A crash or a failure anywhere rolls back
the work and the key together: the caller may simply retry with the same key.

Two requests with the same key at once: on SQLite the writes run one after the other, so the
second finds the first's row; on PostgreSQL the second's insert waits on the key's unique index
until the first commits, finds the conflict, and rolls its own work back to replay the first's
answer (``run`` raises ``ReplayedError`` then too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from statushooks import exceptions
from statushooks.storage import driver
from statushooks.storage.transaction import Transaction

T = TypeVar("T")
KEY_LIFETIME = timedelta(hours=24)

_FIND = driver.Statement.of(
    "SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys"
    " WHERE account_id = ? AND key = ?"
)
_FORGET = driver.Statement.of("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ?")
_KEEP = driver.Statement.of(
    "INSERT INTO idempotency_keys"
    " (account_id, key, request_hash, response_status, response_body, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


@dataclass(kw_only=True)
class Key:
    """One request's ``Idempotency-Key``, and how to turn its work's result into the answer."""

    #: The account (or the admin scope) the key belongs to.
    scope: str
    key: str
    #: What makes two requests "the same" (method, path, body).
    request_hash: str
    status_code: int
    #: The answer's body for the work's result (the same bytes are replayed later).
    answer: Callable[[Any], bytes]
    #: The answer, once ``run`` made it.
    body: bytes | None = None


class ReplayedError(exceptions.StatushooksError):
    """The same key and request finished before: its answer is to be given again."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__("replayed")
        self.status_code = status_code
        self.body = body


class KeyReusedError(exceptions.ConflictError):
    """The key was used with a different request in the last 24 h."""


def run(tx: Transaction, key: Key | None, now: datetime, work: Callable[[Transaction], T]) -> T:
    """``work(tx)`` at most once per ``key`` (see the module's docstring)."""
    if key is None:
        return work(tx)
    _replay_if_known(tx, key, now)
    result = work(tx)
    key.body = key.answer(result)
    params = (key.scope, key.key, key.request_hash, key.status_code, key.body, tx.db.when(now))
    if tx.conn.exec_driver_sql(tx.db.text(_KEEP), params).rowcount != 1:
        _replay_if_known(tx, key, now)  # a request with this key committed meanwhile
        raise exceptions.ConflictError(f"Idempotency-Key {key.key!r} could not be kept")
    return result


def _replay_if_known(tx: Transaction, key: Key, now: datetime) -> None:
    """Raise if the key was used within its lifetime; forget it if it expired."""
    db = tx.db
    found = _find(tx, key)
    if found is None:
        return
    request_hash, status, body, created_at = tuple(found)
    if db.datetime_of(created_at) <= now - KEY_LIFETIME:  # type: ignore[operator]
        tx.conn.exec_driver_sql(db.text(_FORGET), (key.scope, key.key))
        return
    if request_hash != key.request_hash:
        raise KeyReusedError(
            f"Idempotency-Key {key.key!r} was used with a different request in the last 24 h"
        )
    raise ReplayedError(int(status), bytes(body or b""))


def _find(tx: Transaction, key: Key) -> sa.Row[Any] | None:
    result = tx.conn.exec_driver_sql(tx.db.text(_FIND), (key.scope, key.key))
    row: sa.Row[Any] | None = result.first()
    return row
