"""``serve``'s dispatcher in a child process: real processes, a loopback receiver, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from statushooks import config, service, supervisor, testing
from statushooks.messages import MessageStatus
from statushooks.storage.sql import Store

START_TIMEOUT = 60.0  # seconds for a child to start (imports, migration check) and deliver


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    async with testing.WebhookSink() as receiver:
        yield receiver


async def queue_one(svc: service.Service, url: str) -> str:
    """An account with an endpoint at ``url`` and one delivered SMS: its message id."""
    account_id = (await svc.create_account("acme")).account.id
    await svc.create_endpoint(
        account_id, service.EndpointSpec(url=url, enabled_events=("sms.message.updated",))
    )
    message = await svc.submit_sms(account_id, to="+14155552671", sender="Acme", text="hi")
    await svc.report_status(account_id, message.id, status=MessageStatus.DELIVERED)
    return message.id


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def gone(pid: int) -> bool:
    return not is_running(pid)


async def test_the_dispatcher_process_delivers_and_stops_with_the_service(
    svc: service.Service, settings: config.Settings, sink: testing.WebhookSink
) -> None:
    """``start(store)`` returns once the child dispatches; what the API queues, the child
    delivers; ``stop()`` ends the child (gracefully)."""
    child = supervisor.DispatcherProcess(settings)
    await child.start(svc.store)
    try:
        pid = child.pid
        assert pid is not None and pid != os.getpid()
        assert await svc.store.read(lambda tx: tx.has_worker_of_process(pid))
        message_id = await queue_one(svc, sink.url("/hook"))
        [request] = await sink.wait_for(1, timeout=START_TIMEOUT)
        assert message_id.encode() in request.body
    finally:
        await child.stop()
    assert not is_running(pid)
    assert child.pid is None and child.restarts == 0


async def test_a_dispatcher_process_that_dies_is_started_again(
    svc: service.Service,
    settings: config.Settings,
    sink: testing.WebhookSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_DELAY", 0.1)
    child = supervisor.DispatcherProcess(settings)
    await child.start()
    try:
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await testing.wait_until(lambda: _restarted(child, first), timeout=START_TIMEOUT)
        await queue_one(svc, sink.url("/hook"))
        await sink.wait_for(1, timeout=START_TIMEOUT)
    finally:
        await child.stop()
    assert child.restarts == 1


async def _restarted(child: supervisor.DispatcherProcess, old: int) -> bool:
    return child.pid is not None and child.pid != old


async def test_a_child_that_keeps_exiting_is_restarted_ever_more_slowly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each exit soon after a start doubles the wait before the next start, up to
    ``MAX_RESTART_DELAY``: a child that cannot start does not spin."""
    monkeypatch.setattr(supervisor, "RESTART_DELAY", 0.05)
    monkeypatch.setattr(supervisor, "MAX_RESTART_DELAY", 0.1)
    settings = config.load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    child = supervisor.ChildProcess(settings, "--no-such-flag")  # exits at once, status 2
    with caplog.at_level(logging.INFO, logger=supervisor.__name__):
        await child.start()
        try:
            await testing.wait_until(_restarted_twice(child), timeout=START_TIMEOUT)
        finally:
            await child.stop()
    waits = [r.args[-1] for r in caplog.records if "starting another" in r.getMessage()]
    assert waits[:3] == [0.05, 0.1, 0.1]


async def test_a_child_that_cannot_be_started_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed start (fork refused) is logged and tried again; supervision goes on."""
    monkeypatch.setattr(supervisor, "RESTART_DELAY", 0.01)
    settings = config.load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    child = supervisor.ChildProcess(settings, "--no-such-flag")
    spawn = child._spawn
    calls = 0

    async def refused_once() -> asyncio.subprocess.Process:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return await spawn()

    monkeypatch.setattr(child, "_spawn", refused_once)
    await child.start()
    try:
        await testing.wait_until(_restarted_twice(child), timeout=START_TIMEOUT)
    finally:
        await child.stop()
    assert calls >= 4


def _restarted_twice(child: supervisor.ChildProcess) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return child.restarts >= 2 and child.pid is None

    return check


async def test_the_worker_stops_once_its_parent_is_gone(settings: config.Settings) -> None:
    """The child's standard input is the parent's pipe: closed (the parent exited, even by
    SIGKILL), the worker stops gracefully and exits 0."""
    env = {**os.environ, **settings.to_env()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "statushooks.worker",
        supervisor.STOP_WITH_PARENT,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while b"started" not in await proc.stderr.readline():
                pass
        proc.stdin.close()
        async with asyncio.timeout(START_TIMEOUT):
            assert await proc.wait() == 0
            assert b"the parent process is gone" in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_settings_pass_to_a_child_unchanged(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Settings.to_env`` gives back the same settings when a child loads its environment."""
    changed = config.load_settings(
        **{**settings.model_dump(), "admin_token": "s3cret-token", "pricing_file": "/x.json"}
    )
    env = changed.to_env()
    assert env["STATUSHOOKS_ALLOW_PRIVATE_URLS"] == "true"
    for name in [name for name in os.environ if name.startswith("STATUSHOOKS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config.load_settings() == changed


async def test_only_a_database_another_process_can_open_gets_a_dispatcher_process(
    tmp_path: Path,
) -> None:
    """``create_app`` runs a dispatcher process only where a child could open the database:
    not for SQLite in memory (it dispatches from the API's process there)."""
    for url, shared in (
        (f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", True),
        ("sqlite+aiosqlite:///:memory:", False),
    ):
        store = await Store.open(url)
        try:
            assert store.can_be_shared is shared
        finally:
            await store.close()
