"""The store's transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from statushooks import accounts, exceptions
from statushooks.storage import postgres, sqlite
from statushooks.storage.sql import Store
from statushooks.storage.sqlite import CommitWatcher
from statushooks.storage.transaction import Transaction

INSERT_ACCOUNT = sa.text("INSERT INTO accounts (id, name, created_at) VALUES (:id, :name, :at)")


def account(account_id: str) -> accounts.Account:
    return accounts.Account(id=account_id, name="a", created_at=datetime.now(UTC))


def stamp(store: Store) -> object:
    """Now, as a plain statement's parameter for a timestamp column of the store's database."""
    now = datetime.now(UTC)
    return now.isoformat(" ") if store.dialect.is_sqlite else now


async def count(store: Store, where: str) -> int:
    """Accounts whose row matches ``where``, counted in a read transaction."""
    query = sa.text(f"SELECT count(*) FROM accounts WHERE {where}")
    found: int = await store.read(lambda tx: tx.conn.execute(query).scalar_one())
    return found


async def test_run_write_commits_and_queues_with_other_writers(store: Store) -> None:
    """Plain-connection writes (``run_write``) and ``write()``s interleave and all commit."""
    at = stamp(store)

    def plain_write(index: int) -> Callable[[sa.Connection], str]:
        def work(conn: sa.Connection) -> str:
            conn.execute(INSERT_ACCOUNT, {"id": f"acc_r{index}", "name": "r", "at": at})
            return f"acc_r{index}"

        return work

    def write(index: int) -> Awaitable[None]:
        return store.write(lambda tx: tx.insert_account(account(f"acc_a{index}")))

    results = await asyncio.gather(
        *(store.run_write(plain_write(index)) for index in range(20)),
        *(write(index) for index in range(20)),
    )
    assert results[:20] == [f"acc_r{index}" for index in range(20)]
    assert await count(store, "id LIKE 'acc_r%' OR id LIKE 'acc_a%'") == 40


async def test_run_write_rolls_back_on_error(store: Store) -> None:
    """An exception inside the work rolls its transaction back and reaches the caller."""
    at = stamp(store)

    def work(conn: sa.Connection) -> None:
        conn.execute(INSERT_ACCOUNT, {"id": "acc_x", "name": "x", "at": at})
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.run_write(work)
    assert await count(store, "id = 'acc_x'") == 0


def sleep_in_work(store: Store, conn: sa.Connection, seconds: float) -> None:
    """Hold the transaction ``seconds`` without holding the caller's event loop: on SQLite the
    work runs in the writer's thread; on PostgreSQL ``write()``'s work runs on the caller's
    loop, which runs on while a statement is under way."""
    if store.dialect.is_sqlite:
        time.sleep(seconds)
    else:
        conn.execute(sa.text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


async def wait_for_flag(flag: threading.Event, timeout: float = 10.0) -> None:
    """Wait (polling: a thread may be the one that sets it) until ``flag`` is set."""
    async with asyncio.timeout(timeout):
        while not flag.is_set():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("through", ["run_write", "write"])
async def test_a_cancelled_caller_lets_its_transaction_commit_first(
    store: Store, through: str
) -> None:
    """Cancelling the caller while its work runs lets the transaction finish and commit before
    the cancellation reaches the caller; the store then closes its threads cleanly."""
    at = stamp(store)
    started = threading.Event()
    before = set(threading.enumerate())

    def work(conn: sa.Connection) -> None:
        started.set()
        sleep_in_work(store, conn, 0.2)  # the caller is cancelled meanwhile
        conn.execute(INSERT_ACCOUNT, {"id": "acc_c", "name": "c", "at": at})

    if through == "run_write":
        caller = asyncio.ensure_future(store.run_write(work))
    else:
        caller = asyncio.ensure_future(store.write(lambda tx: work(tx.conn)))
    await wait_for_flag(started)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await count(store, "id = 'acc_c'") == 1
    await store.close()
    assert {t for t in threading.enumerate() if t.name.startswith("statushooks-")} <= before


async def test_concurrent_writers_all_commit(store: Store) -> None:
    """Many writes of one process at once: every one commits."""
    await asyncio.gather(
        *(
            store.write(lambda tx, i=index: tx.insert_account(account(f"acc_w{i}")))
            for index in range(50)
        )
    )
    assert await count(store, "id LIKE 'acc_w%'") == 50


@contextlib.asynccontextmanager
async def writer_held(store: Store) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """On SQLite, keep the writer's thread busy (a write whose work waits on an event) until
    the ``release`` given is awaited: the writes queued meanwhile are then committed together,
    in one transaction. Elsewhere nothing is held."""
    if not store.dialect.is_sqlite:

        async def nothing() -> None:
            pass

        yield nothing
        return
    go_on, started = threading.Event(), threading.Event()

    def hold(_tx: Transaction) -> None:
        started.set()
        go_on.wait(30)

    holding = asyncio.ensure_future(store.write(hold))

    async def release() -> None:
        go_on.set()
        await holding

    try:
        await wait_for_flag(started)  # alone in its transaction: nothing else was queued
        yield release
    finally:
        go_on.set()  # never leave the writer waiting, whatever happened


async def test_a_failing_write_among_others_committed_together_is_rolled_back_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes queued together (on SQLite: one transaction, a savepoint each): one that writes
    and then raises, and one that breaks a constraint, are rolled back alone and their callers
    get their own errors; every other write commits."""
    isolated: list[object] = []
    run_isolated = sqlite._run_isolated

    def counted(conn: sa.Connection, job: Any) -> None:
        isolated.append(job)
        run_isolated(conn, job)

    monkeypatch.setattr(sqlite, "_run_isolated", counted)
    boom = ValueError("boom")
    await store.write(lambda tx: tx.insert_account(account("acc_taken")))

    def fails_after_writing(tx: Transaction) -> None:
        tx.insert_account(account("acc_rolled_back"))
        raise boom

    def breaks_a_constraint(tx: Transaction) -> None:
        tx.insert_account(account("acc_also_rolled_back"))
        tx.insert_account(account("acc_taken"))

    def succeeds(index: int) -> Callable[[Transaction], str]:
        def work(tx: Transaction) -> str:
            tx.insert_account(account(f"acc_g{index}"))
            return f"acc_g{index}"

        return work

    works: list[Callable[[Transaction], object]] = [succeeds(index) for index in range(30)]
    works[10] = fails_after_writing
    works[20] = breaks_a_constraint
    async with writer_held(store) as release:
        writes = [asyncio.ensure_future(store.write(work)) for work in works]
        await asyncio.sleep(0.05)  # all queued behind the held writer
        await release()
        results = await asyncio.gather(*writes, return_exceptions=True)
    assert results[10] is boom
    assert isinstance(results[20], exceptions.ConflictError)
    others = [result for index, result in enumerate(results) if index not in (10, 20)]
    assert others == [f"acc_g{index}" for index in range(30) if index not in (10, 20)]
    assert await count(store, "id LIKE 'acc_g%'") == 28
    assert await count(store, "id IN ('acc_rolled_back', 'acc_also_rolled_back')") == 0
    if store.dialect.is_sqlite:
        assert len(isolated) == 30  # they were committed together, each in a savepoint


async def test_sqlite_connections_checkpoint_late_and_the_writer_caches_more(
    tmp_path: Path,
) -> None:
    """Every SQLite connection checkpoints its WAL after SQLITE_WAL_AUTOCHECKPOINT pages; the
    writer's connection, which runs every write of the process (``write`` and ``run_write``
    alike), keeps a larger page cache than the readers'."""

    def pragmas(conn: sa.Connection) -> tuple[int, int]:
        checkpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        return checkpoint, conn.exec_driver_sql("PRAGMA cache_size").scalar_one()

    store = await Store.open(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        writer = (sqlite.SQLITE_WAL_AUTOCHECKPOINT, -sqlite.SQLITE_WRITER_CACHE_KIB)
        assert await store.run_write(pragmas) == writer
        assert await store.write(lambda tx: pragmas(tx.conn)) == writer
        checkpoint, cache = await store.read(lambda tx: pragmas(tx.conn))
        assert checkpoint == sqlite.SQLITE_WAL_AUTOCHECKPOINT
        assert cache != -sqlite.SQLITE_WRITER_CACHE_KIB
    finally:
        await store.close()


async def test_sqlite_commits_are_durable_unless_the_url_opts_out(tmp_path: Path) -> None:
    """Every SQLite connection (writer, readers, migrations) syncs at each commit
    (``synchronous=FULL``: an answered write survives a power loss); ``?synchronous=normal``
    is the explicit opt-in to the faster mode, and an unknown mode is refused."""
    from statushooks.storage import engine as engines

    def synchronous(conn: sa.Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    full, normal = 2, 1
    for suffix, expected in (("", full), ("?synchronous=normal", normal)):
        url = f"sqlite:///{tmp_path / 'durable.db'}{suffix}"
        store = await Store.open(url)
        try:
            assert await store.run_write(synchronous) == expected
            assert await store.write(lambda tx: synchronous(tx.conn)) == expected
            assert await store.read(lambda tx: synchronous(tx.conn)) == expected
        finally:
            await store.close()
        migration_engine = engines.create_engine(url)
        try:
            async with migration_engine.connect() as conn:
                assert await conn.run_sync(synchronous) == expected
        finally:
            await migration_engine.dispose()
    with pytest.raises(exceptions.ConfigurationError, match="synchronous"):
        await Store.open(f"sqlite:///{tmp_path / 'durable.db'}?synchronous=off")


async def test_an_sqlite_file_store_checkpoints_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From its opening, a thread copies the WAL back into the database file on its own (the
    writer's threshold is far away); closing the store stops it."""
    import sqlite3

    monkeypatch.setattr(sqlite, "SQLITE_CHECKPOINT_INTERVAL", 0.02)
    path = tmp_path / "checkpoints.db"
    store = await Store.open(f"sqlite:///{path}")

    def write_probe(tx: Transaction) -> None:
        tx.conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        tx.conn.exec_driver_sql("INSERT INTO probe VALUES (1), (2), (3)")

    def probe_rows_in_the_file() -> int:
        # immutable=1: the database file alone, as if there were no WAL.
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM probe").fetchone()[0])
            except sqlite3.DatabaseError:  # no such table yet, or a read torn by a checkpoint
                return 0  # under way (an immutable read takes no lock): look again

    try:
        assert isinstance(store.backend, sqlite.SqliteBackend)
        checkpointer = store.backend.checkpointer
        assert checkpointer is not None  # before any write
        assert any(thread.name == "statushooks-checkpoint" for thread in threading.enumerate())
        await store.write(write_probe)
        deadline = time.monotonic() + 10
        while probe_rows_in_the_file() < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert probe_rows_in_the_file() == 3
        assert checkpointer.runs > 0 and checkpointer.failures == 0
    finally:
        await store.close()
    assert not any(thread.name == "statushooks-checkpoint" for thread in threading.enumerate())


async def test_only_sqlite_files_get_a_checkpointer_and_a_commit_watcher() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from statushooks.storage import engine as engines

    assert engines.sqlite_file(create_async_engine("sqlite+aiosqlite:///data/x.db")) == "data/x.db"
    assert engines.sqlite_file(create_async_engine("sqlite+aiosqlite:///:memory:")) is None
    assert engines.sqlite_file(create_async_engine("postgresql+asyncpg://u@h/db")) is None
    in_memory = await Store.open("sqlite:///:memory:", upgrade=False)
    try:
        assert isinstance(in_memory.backend, sqlite.SqliteBackend)
        assert in_memory.backend.checkpointer is None
        assert in_memory.watch(lambda: None) is None
    finally:
        await in_memory.close()


async def test_a_store_in_memory_is_migrated_and_reads_what_it_wrote() -> None:
    """SQLite in memory: one connection, reads and writes alike on the writer's thread."""
    in_memory = await Store.open("sqlite:///:memory:")
    try:
        await in_memory.write(lambda tx: tx.insert_account(account("acc_m")))
        assert await count(in_memory, "id = 'acc_m'") == 1
    finally:
        await in_memory.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_store_whose_database_cannot_be_opened_fails_reads_and_writes(
    tmp_path: Path,
) -> None:
    """The database cannot be opened (here: its directory is gone): each read and write fails
    with ``StorageError``, as any other driver error."""
    store = await Store.open(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", upgrade=False)
    try:
        with pytest.raises(exceptions.StorageError):
            await asyncio.wait_for(write_on_a_loop_of_its_own(store), timeout=5)
        with pytest.raises(exceptions.StorageError):
            await store.read(lambda tx: None)
    finally:
        await store.close()


def write_on_a_loop_of_its_own(store: Store) -> asyncio.Future[None]:
    """An empty ``store.write`` run by an event loop in a daemon thread: a write that never
    ends (it cannot be cancelled) is left there, not in the test's loop."""
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            asyncio.run(store.write(lambda tx: None))
        except BaseException as exc:  # noqa: BLE001 — handed to the caller
            done.set_exception(exc)
        else:
            done.set_result(None)

    threading.Thread(target=run, name="test-write-loop", daemon=True).start()
    return asyncio.wrap_future(done)


# -- writers of several processes on one SQLite file ----------------------------------------


@contextlib.asynccontextmanager
async def two_stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store, Path]]:
    """Two stores on one SQLite file, standing for two processes (``flock`` belongs to each
    store's own open file), and the file lock's path."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = await Store.open(url)
    second = await Store.open(url, upgrade=False)
    try:
        yield first, second, tmp_path / "shared.db-wlock"
    finally:
        await second.close()
        await first.close()


@contextlib.asynccontextmanager
async def write_held(store: Store, note: Callable[[], None]) -> AsyncIterator[None]:
    """A write of ``store`` whose work waits (in the writer's thread, holding the file lock and
    the database's write lock) until the block ends; ``note()`` runs just before it commits."""
    go_on, started = threading.Event(), threading.Event()

    def hold(tx: Transaction) -> None:
        tx.conn.execute(sa.text("DELETE FROM accounts WHERE id = 'none'"))
        started.set()
        go_on.wait(30)
        note()

    holding = asyncio.ensure_future(store.write(hold))
    try:
        await wait_for_flag(started)
        yield
        go_on.set()
        await asyncio.wait_for(holding, timeout=10)
    finally:
        go_on.set()


async def test_writers_of_two_stores_on_one_file_take_turns_on_the_file_lock(
    tmp_path: Path,
) -> None:
    """While one store holds a write transaction, the other's ``write()`` and ``run_write()``
    wait on ``<db>-wlock``, and go in once it commits."""
    order: list[str] = []

    def second_writes(tx: Transaction) -> None:
        order.append("second write")
        tx.insert_account(account("acc_second"))

    def second_runs(_conn: sa.Connection) -> None:
        order.append("second run_write")

    async with two_stores(tmp_path) as (first, second, lock):
        for note, second_writer in (
            ("first commits", lambda: second.write(second_writes)),
            ("first commits again", lambda: second.run_write(second_runs)),
        ):
            async with write_held(first, lambda note=note: order.append(note)):
                waiting = asyncio.ensure_future(second_writer())
                await asyncio.sleep(0.2)
                assert not waiting.done()
                assert _flock_is_taken(lock)
            await asyncio.wait_for(waiting, timeout=10)
        assert order == ["first commits", "second write", "first commits again", "second run_write"]
        assert not _flock_is_taken(lock)
        assert await count(first, "id = 'acc_second'") == 1


async def test_a_write_cancelled_while_waiting_for_the_file_lock_still_commits_then_frees_it(
    tmp_path: Path,
) -> None:
    """A caller cancelled while its write waits for another process's turn: the write goes in
    once the turn comes and commits before the cancellation reaches the caller; the file lock
    is free afterwards."""
    async with two_stores(tmp_path) as (first, second, lock):
        async with write_held(first, lambda: None):
            waiting = asyncio.ensure_future(
                second.write(lambda tx: tx.insert_account(account("acc_late")))
            )
            await asyncio.sleep(0.1)
            waiting.cancel()
            await asyncio.sleep(0.1)
            assert not waiting.done()  # it ends only once its transaction has
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, timeout=10)
        assert await count(first, "id = 'acc_late'") == 1
        assert not _flock_is_taken(lock)


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


# -- wake-ups from other connections ---------------------------------------------------------


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
    watcher = watched.watch(seen.set)
    assert isinstance(watcher, CommitWatcher)

    async def commit() -> None:
        await writer.write(lambda tx: tx.insert_account(account("acc_w")))

    try:
        yield watcher, seen, commit
    finally:
        await watcher.close()
        await writer.close()
        await watched.close()
    assert not any(thread.name == "statushooks-commits" for thread in threading.enumerate())


async def test_commit_watcher_sees_the_commits_of_other_connections(tmp_path: Path) -> None:
    """``Store.watch`` calls back after another connection's commit, not before."""
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


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_listener_hears_deliveries_queued_through_another_store(
    store: Store, database_url: str
) -> None:
    """On PostgreSQL ``Store.watch`` LISTENs on a connection of its own: a write of another
    store that queued deliveries wakes it once it commits (NOTIFY); one that queued nothing,
    or rolled back, does not. Closing the listener closes its connection."""
    woken = asyncio.Event()
    listener = store.watch(woken.set)
    assert isinstance(listener, postgres.Listener)
    other = await Store.open(database_url, upgrade=False)
    try:
        await wait_for_connection(listener)
        await asyncio.sleep(0.1)
        woken.clear()  # connecting wakes it once: a notification may have been missed

        def queued_then_failed(tx: Transaction) -> None:
            tx.queued(1)
            raise ValueError("rolled back")

        await other.write(lambda tx: tx.insert_account(account("acc_quiet")))
        with pytest.raises(ValueError, match="rolled back"):
            await other.write(queued_then_failed)
        await asyncio.sleep(0.3)
        assert not woken.is_set()
        await other.write(lambda tx: tx.queued(1))
        await asyncio.wait_for(woken.wait(), timeout=10)
        assert other.new_work.is_set()  # and its own process's dispatcher is woken at once
        connection = listener.connection
    finally:
        await listener.close()
        await other.close()
    assert connection.is_closed() and listener.connection is None


async def wait_for_connection(listener: postgres.Listener) -> None:
    async with asyncio.timeout(10):
        while listener.connection is None:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_connections_dropped_by_the_server_are_replaced(
    store: Store, database_url: str
) -> None:
    """A database restart drops every pooled connection. The statements that run on the
    driver's cursor must tell the pool so: the next transactions get new connections, on the
    API's engine and the dispatcher's, instead of failing on the dead ones forever."""
    import asyncpg

    from statushooks.storage import driver

    def ask(conn: sa.Connection) -> object:
        return driver.run_on_cursor(conn, "SELECT 1", ())[0][0]

    for _ in range(3):  # fill the pools with live connections
        assert await store.run_write(ask) == 1
        assert await store.write(lambda tx: ask(tx.conn)) == 1
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()

    async def recovers(run: Callable[[], Awaitable[object]]) -> bool:
        for _ in range(postgres.PG_POOL_SIZE + postgres.PG_POOL_OVERFLOW + 1):
            try:
                return await run() == 1
            except exceptions.StorageError:
                continue
        return False

    assert await recovers(lambda: store.run_write(ask))
    assert await recovers(lambda: store.write(lambda tx: ask(tx.conn)))
