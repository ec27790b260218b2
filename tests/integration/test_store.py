"""The store's transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from statushooks import accounts
from statushooks.storage.engine import CommitWatcher
from statushooks.storage.sql import Store


async def test_nested_write_transactions_are_refused(store: Store) -> None:
    """A write inside a write would wait for itself on SQLite: it raises instead."""
    async with store.write():
        with pytest.raises(RuntimeError, match="already open"):
            async with store.write():
                pass  # pragma: no cover


async def test_run_write_is_refused_inside_a_write(store: Store) -> None:
    """``run_write`` is a write transaction too: not inside another one of the same task."""
    async with store.write():
        with pytest.raises(RuntimeError, match="already open"):
            await store.run_write(lambda conn: None)


async def test_run_write_commits_and_queues_with_other_writers(store: Store) -> None:
    """Synchronous transactions and ``write()`` transactions interleave and all commit."""
    now = datetime.now(UTC)
    insert = sa.text("INSERT INTO accounts (id, name, created_at) VALUES (:id, 'r', :at)")
    stamp = now.isoformat(" ") if store.is_sqlite else now

    def sync_write(index: int) -> Callable[[sa.Connection], str]:
        def work(conn: sa.Connection) -> str:
            conn.execute(insert, {"id": f"acc_r{index}", "at": stamp})
            return f"acc_r{index}"

        return work

    async def async_write(index: int) -> None:
        async with store.write() as tx:
            await tx.insert_account(accounts.Account(id=f"acc_a{index}", name="a", created_at=now))

    results = await asyncio.gather(
        *(store.run_write(sync_write(index)) for index in range(20)),
        *(async_write(index) for index in range(20)),
    )
    assert results[:20] == [f"acc_r{index}" for index in range(20)]
    async with store.read() as tx:
        count = (
            await tx.conn.execute(
                sa.text("SELECT count(*) FROM accounts WHERE id LIKE 'acc_r%' OR id LIKE 'acc_a%'")
            )
        ).scalar_one()
    assert count == 40


async def test_run_write_rolls_back_on_error(store: Store) -> None:
    """An exception inside the work rolls its transaction back and reaches the caller."""
    insert = sa.text("INSERT INTO accounts (id, name, created_at) VALUES ('acc_x', 'x', :at)")
    now = datetime.now(UTC)
    stamp = now.isoformat(" ") if store.is_sqlite else now

    def work(conn: sa.Connection) -> None:
        conn.execute(insert, {"at": stamp})
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.run_write(work)
    async with store.read() as tx:
        count = (
            await tx.conn.execute(sa.text("SELECT count(*) FROM accounts WHERE id = 'acc_x'"))
        ).scalar_one()
    assert count == 0


async def test_cancelled_run_write_still_commits_first(store: Store) -> None:
    """Cancelling the caller lets the transaction (running in another thread) finish and commit
    before the cancellation reaches the caller; the store then closes its thread cleanly."""
    insert = sa.text("INSERT INTO accounts (id, name, created_at) VALUES ('acc_c', 'c', :at)")
    now = datetime.now(UTC)
    stamp = now.isoformat(" ") if store.is_sqlite else now
    started = threading.Event()
    before = set(threading.enumerate())

    def work(conn: sa.Connection) -> None:
        started.set()
        time.sleep(0.2)  # the caller is cancelled meanwhile
        conn.execute(insert, {"at": stamp})

    caller = asyncio.create_task(store.run_write(work))
    await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    async with store.read() as tx:
        count = (
            await tx.conn.execute(sa.text("SELECT count(*) FROM accounts WHERE id = 'acc_c'"))
        ).scalar_one()
    assert count == 1
    await store.close()
    assert {t for t in threading.enumerate() if t.name.startswith("statushooks-")} <= before


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


async def test_sqlite_connections_checkpoint_late_and_the_dispatchers_caches_more(
    tmp_path: Path,
) -> None:
    """Every SQLite connection checkpoints its WAL after SQLITE_WAL_AUTOCHECKPOINT pages; the
    dispatcher's own connection (run_write) keeps a larger page cache."""
    from statushooks.storage import engine as engines

    def pragmas(conn: sa.Connection) -> tuple[int, int]:
        checkpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        return checkpoint, conn.exec_driver_sql("PRAGMA cache_size").scalar_one()

    store = await Store.open(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        assert await store.run_write(pragmas) == (
            engines.SQLITE_WAL_AUTOCHECKPOINT,
            -engines.SQLITE_THREAD_CACHE_KIB,
        )
        async with store.read() as tx:
            query = "PRAGMA wal_autocheckpoint"
            checkpoint = (await tx.conn.exec_driver_sql(query)).scalar_one()
        assert checkpoint == engines.SQLITE_WAL_AUTOCHECKPOINT
    finally:
        await store.close()


async def test_a_dispatching_sqlite_store_checkpoints_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once ``run_write`` is used, a thread copies the WAL back into the database file on its
    own (the writers' threshold is far away); closing the store stops it."""
    import sqlite3

    from statushooks.storage import engine as engines

    monkeypatch.setattr(engines, "SQLITE_CHECKPOINT_INTERVAL", 0.02)
    path = tmp_path / "checkpoints.db"
    store = await Store.open(f"sqlite:///{path}")

    def write_probe(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO probe VALUES (1), (2), (3)")

    def probe_rows_in_the_file() -> int:
        # immutable=1: the database file alone, as if there were no WAL.
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM probe").fetchone()[0])
            except sqlite3.DatabaseError:  # no such table yet, or a read torn by a checkpoint
                return 0  # under way (an immutable read takes no lock): look again

    try:
        await store.run_write(write_probe)
        checkpointer = store.checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        while probe_rows_in_the_file() < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert probe_rows_in_the_file() == 3
        assert checkpointer.runs > 0 and checkpointer.failures == 0
    finally:
        await store.close()
    assert store.checkpointer is None
    assert not any(thread.name == "statushooks-checkpoint" for thread in threading.enumerate())


def test_only_sqlite_files_get_a_checkpointer() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from statushooks.storage import engine as engines

    assert engines.sqlite_file(create_async_engine("sqlite+aiosqlite:///data/x.db")) == "data/x.db"
    assert engines.sqlite_file(create_async_engine("sqlite+aiosqlite:///:memory:")) is None
    assert engines.sqlite_file(create_async_engine("postgresql+asyncpg://u@h/db")) is None


# -- writers of several processes on one SQLite file ----------------------------------------


async def test_writers_of_two_stores_on_one_file_take_turns_on_the_file_lock(
    tmp_path: Path,
) -> None:
    """Two stores on one file stand for two processes (``flock`` belongs to each store's own
    open file): while one holds a write transaction, the other's ``write()`` and
    ``run_write()`` wait on ``<db>-wlock``, and go in once it commits."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = await Store.open(url)
    second = await Store.open(url, upgrade=False)
    order: list[str] = []
    now = datetime.now(UTC)

    async def second_writes() -> None:
        async with second.write() as tx:
            order.append("second write")
            await tx.insert_account(accounts.Account(id="acc_second", name="b", created_at=now))

    def second_runs(_conn: sa.Connection) -> None:
        order.append("second run_write")

    async def first_holds(release: asyncio.Event, note: str) -> None:
        async with first.write() as tx:
            await tx.conn.execute(sa.text("DELETE FROM accounts WHERE id = 'none'"))
            await release.wait()
            order.append(note)

    try:
        for note, second_writer in (
            ("first commits", second_writes),
            ("first commits again", lambda: second.run_write(second_runs)),
        ):
            release = asyncio.Event()
            holding = asyncio.ensure_future(first_holds(release, note))
            await asyncio.sleep(0.1)
            waiting = asyncio.ensure_future(second_writer())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            assert _flock_is_taken(tmp_path / "shared.db-wlock")
            release.set()
            await asyncio.wait_for(asyncio.gather(holding, waiting), timeout=10)
        assert order == ["first commits", "second write", "first commits again", "second run_write"]
        assert not _flock_is_taken(tmp_path / "shared.db-wlock")
    finally:
        await second.close()
        await first.close()


async def test_a_writer_cancelled_while_waiting_for_the_file_lock_leaves_it_free(
    tmp_path: Path,
) -> None:
    from statushooks.storage.writelock import FileWriteLock

    holder, waiter = FileWriteLock(str(tmp_path / "x.db")), FileWriteLock(str(tmp_path / "x.db"))
    try:
        assert holder.try_acquire()
        waiting = asyncio.ensure_future(waiter.acquire())
        await asyncio.sleep(0.1)
        waiting.cancel()
        await asyncio.sleep(0.1)
        assert not waiting.done()  # it lets go only once it has had the lock
        holder.release()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, timeout=10)
        assert not _flock_is_taken(tmp_path / "x.db-wlock")
    finally:
        holder.close()
        waiter.close()


def _flock_is_taken(path: Path) -> bool:
    import fcntl
    import os

    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.asynccontextmanager
async def watched_file(
    tmp_path: Path,
) -> AsyncIterator[tuple[CommitWatcher, threading.Event, Callable[[], Awaitable[None]]]]:
    """A commit watcher on an SQLite file, the event it sets, and a commit through another
    store; the watcher's thread is gone afterwards."""
    url = f"sqlite:///{tmp_path / 'watched.db'}"
    watched = await Store.open(url)
    writer = await Store.open(url, upgrade=False)
    seen = threading.Event()
    watcher = watched.watch_commits(seen.set)
    assert watcher is not None

    async def commit() -> None:
        async with writer.write() as tx:
            now = datetime.now(UTC)
            await tx.insert_account(accounts.Account(id="acc_w", name="w", created_at=now))

    try:
        yield watcher, seen, commit
    finally:
        await asyncio.to_thread(watcher.stop)
        await writer.close()
        await watched.close()
    assert not any(thread.name == "statushooks-commits" for thread in threading.enumerate())


async def test_commit_watcher_sees_the_commits_of_other_connections(tmp_path: Path) -> None:
    """``Store.watch_commits`` calls back after another connection's commit, not before."""
    async with watched_file(tmp_path) as (_, seen, commit):
        await asyncio.sleep(0.1)
        assert not seen.is_set()
        await commit()
        assert await asyncio.to_thread(seen.wait, 10)


async def test_a_paused_commit_watcher_reports_what_was_committed_meanwhile_once_watching(
    tmp_path: Path,
) -> None:
    """A paused watcher takes no looks; ``resume()`` reports a commit made while it was paused."""
    async with watched_file(tmp_path) as (watcher, seen, commit):
        await asyncio.sleep(0.1)
        watcher.pause()
        await asyncio.sleep(0.05)  # a look under way has ended
        await commit()
        assert not await asyncio.to_thread(seen.wait, 0.3)
        watcher.resume()
        assert await asyncio.to_thread(seen.wait, 10)
