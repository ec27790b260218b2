"""What a storage backend gives the rest of statushooks: one seam per database.

A backend runs a whole piece of work — a plain synchronous function of one
``sqlalchemy.Connection`` — as one transaction, in one hand-off from the caller's event loop:

- ``read(work)``: a read-only transaction;
- ``write(work)``: a write transaction that commits whole or not at all (the API's use cases);
- ``run_queue(work)``: the dispatcher's short, hot write transactions;
- ``watch(on_commit)``: wake a dispatcher soon after another connection queued work;
- ``notify(conn)``: inside a write that queued deliveries, tell the other processes.

Only ``storage/sqlite.py`` and ``storage/postgres.py`` know their driver, their locks and how
they wake a dispatcher; the code above them (``Store``, ``Transaction``, the queue) is the same
on both. A few statements differ between the two SQL dialects: those are ``driver.Dialect``'s.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from typing import Protocol, TypeVar

import sqlalchemy as sa

from statushooks.storage import driver

T = TypeVar("T")
Work = Callable[[sa.Connection], T]


class Watcher(Protocol):
    """Wake-ups from other connections (see ``Backend.watch``)."""

    def pause(self) -> None:
        """Hold the wake-ups while the dispatcher is busy anyway (a hint: may do nothing)."""

    def resume(self) -> None:
        """Deliver wake-ups again, including one for a commit made while paused."""

    async def close(self) -> None:
        """Stop watching and let go of what the watching held."""


class Backend(abc.ABC):
    """One database: its driver, its connections, its locks and its wake-ups."""

    #: The SQL dialect's conversions and the statements that differ by database.
    dialect: driver.Dialect
    #: Whether another process can open this database (not SQLite in memory).
    shareable: bool
    #: Whether one write at a time runs on the whole database (then long work is better
    #: prepared in a read first, outside the writer's turn).
    single_writer: bool
    #: The URL the backend was opened with (for child processes and messages).
    url: str

    @abc.abstractmethod
    async def read(self, work: Work[T]) -> T:
        """Run ``work`` in a read-only transaction; its result."""

    @abc.abstractmethod
    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in a write transaction; commit; its result. If ``work`` raises, nothing
        it did is kept and the error reaches the caller. If the caller is cancelled, the
        transaction still finishes first."""

    @abc.abstractmethod
    async def run_queue(self, work: Work[T]) -> T:
        """Like ``write``, for the dispatcher's transactions (they may run on other
        connections, with other settings)."""

    @abc.abstractmethod
    def watch(self, on_commit: Callable[[], None]) -> Watcher | None:
        """Call ``on_commit`` (from any thread) soon after another connection queued work;
        None where nothing else can write."""

    def notify(self, conn: sa.Connection) -> None:  # noqa: B027 — a no-op by default
        """Inside a write that queued deliveries: tell other processes' dispatchers."""

    async def maintenance_warnings(self) -> list[str]:
        """What the database's own settings leave undone that statushooks relies on (none
        by default)."""
        return []

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection and stop every thread of the backend."""


async def finished_before_cancel(future: asyncio.Future[T]) -> T:
    """``future``'s result; if the caller is cancelled meanwhile, ``future`` still finishes
    before the cancellation goes on."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise
