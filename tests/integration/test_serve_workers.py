"""``statushooks serve --workers N``: real processes answering real HTTP on 127.0.0.1, on an
SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from statushooks import service, testing
from statushooks.api.routes import health

START_TIMEOUT = 30.0  # seconds for a service to start answering (imports, migration check)
STOP_TIMEOUT = 15.0  # seconds for a service to stop
ROUND = 8  # requests at once, each on a connection of its own, while looking for processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


async def healthz_pid(client: httpx.AsyncClient) -> int:
    """The process id of the API process that answered ``/healthz``, on a new connection."""
    response = await client.get("/healthz", headers={"Connection": "close"})
    assert response.status_code == 200
    return int(response.headers[health.PID_HEADER])


async def one_round(client: httpx.AsyncClient) -> set[int]:
    """The processes that answered ``ROUND`` requests sent at once."""
    return set(await asyncio.gather(*(healthz_pid(client) for _ in range(ROUND))))


async def answering(client: httpx.AsyncClient, count: int) -> set[int]:
    """Once ``count`` API processes answered ``/healthz``: their process ids."""
    seen: set[int] = set()
    async with asyncio.timeout(START_TIMEOUT):
        while len(seen) < count:
            try:
                seen |= await one_round(client)
            except httpx.TransportError:  # not listening yet
                await asyncio.sleep(0.05)
    return seen


class Service:
    """A running ``statushooks serve`` and an HTTP client of it."""

    def __init__(self, proc: asyncio.subprocess.Process, client: httpx.AsyncClient) -> None:
        self.proc = proc
        self.client = client

    def children(self) -> set[int]:
        return children_of(self.proc.pid)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``: the exit status."""
        self.proc.send_signal(signum)
        async with asyncio.timeout(STOP_TIMEOUT):
            return await self.proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSHOOKS_")}
    return {**env, **extra}


@contextlib.asynccontextmanager
async def serving(
    log: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Service]:
    """``statushooks serve *args`` on a free port, its output in ``log``; killed with its
    children if still running at the end."""
    port = free_port()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "statushooks", "serve", "--port", str(port), *args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=clean_env(**(env or {})),
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Service(proc, client)
    finally:
        if proc.returncode is None:
            for pid in children_of(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            await proc.wait()


async def all_gone(pids: set[int]) -> None:
    async with asyncio.timeout(STOP_TIMEOUT):
        while any(is_alive(pid) for pid in pids):
            await asyncio.sleep(0.05)


@pytest.fixture
async def sink() -> AsyncIterator[testing.WebhookSink]:
    async with testing.WebhookSink() as receiver:
        yield receiver


async def test_two_api_processes_answer_deliver_and_stop_with_the_service(
    database_url: str, svc: service.Service, sink: testing.WebhookSink, tmp_path: Path
) -> None:
    """``--workers 2``: two processes (children of ``serve``'s) answer on one port, beside the
    dispatcher's, which delivers what they queue; SIGTERM stops them all, and ``serve`` ends by
    that signal."""
    new = await svc.create_account("acme")
    await svc.create_endpoint(
        new.account.id,
        service.EndpointSpec(url=sink.url("/hook"), enabled_events=("sms.message.updated",)),
    )
    args = ("--workers", "2", "--db", database_url, "--allow-private-urls")
    async with serving(tmp_path / "serve.log", *args) as running:
        api = await answering(running.client, 2)
        assert len(api) == 2 and running.proc.pid not in api
        children = running.children()
        assert api < children and len(children) == 3  # and the dispatcher's

        key = {"Authorization": f"Bearer {new.api_key}"}
        sms = {"to": "+14155552671", "from": "Acme", "text": "hi"}
        message = (await running.client.post("/v1/sms", json=sms, headers=key)).json()
        report = {"status": "delivered"}
        path = f"/v1/messages/{message['id']}/status"
        assert (await running.client.post(path, json=report, headers=key)).status_code == 200
        [request] = await sink.wait_for(1, timeout=START_TIMEOUT)
        assert message["id"].encode() in request.body

        assert await running.stop() == -signal.SIGTERM
        await all_gone(children)


async def test_a_killed_api_process_is_replaced_while_the_other_answers(
    database_url: str, tmp_path: Path
) -> None:
    """An API process killed outright is started again; meanwhile every request is answered
    by the other. SIGINT (Ctrl-C) stops the service with status 130."""
    args = ("--workers", "2", "--db", database_url, "--no-dispatcher")
    async with serving(tmp_path / "serve.log", *args) as running:
        first, second = sorted(await answering(running.client, 2))
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(START_TIMEOUT):
            while not (pids := await one_round(running.client)) - {second}:
                assert first not in pids
                await asyncio.sleep(0.1)
        [replacement] = pids - {second}
        assert not is_alive(first) and replacement in running.children()
        assert await running.stop(signal.SIGINT) == 128 + signal.SIGINT
        await all_gone({second, replacement})


async def test_api_processes_stop_when_serve_is_killed(tmp_path: Path) -> None:
    """``serve`` killed outright (SIGKILL): its API processes see their standard input close
    and stop; nothing is left serving the port."""
    args = ("--workers", "2", "--db", str(tmp_path / "x.db"), "--in-process-dispatcher")
    async with serving(tmp_path / "serve.log", *args) as running:
        api = await answering(running.client, 2)
        assert running.children() == api  # the dispatcher is in serve's process
        running.proc.kill()
        await running.proc.wait()
        await all_gone(api)
        with pytest.raises(httpx.ConnectError):
            await healthz_pid(running.client)


async def test_sqlite_in_memory_is_served_by_one_process(tmp_path: Path) -> None:
    """SQLite in memory cannot be shared between processes: ``STATUSHOOKS_WORKERS=2`` serves
    it from ``serve``'s own process, and says so."""
    log = tmp_path / "serve.log"
    env = {"STATUSHOOKS_WORKERS": "2"}
    async with serving(log, "--db", "sqlite+aiosqlite:///:memory:", env=env) as running:
        assert await answering(running.client, 1) == {running.proc.pid}
        assert running.children() == set()
        assert await running.stop() == -signal.SIGTERM
    assert "one API process, not 2" in log.read_text()


def test_an_address_in_use_is_one_line_and_status_1(tmp_path: Path) -> None:
    """With ``--workers 2``, ``serve`` binds the port itself: in use, it says so and starts
    nothing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "statushooks", "serve", "--workers", "2", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            cwd=tmp_path,
            env=clean_env(),
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: the address is in use (is statushooks "
        "already running there, e.g. `make run`? stop it or pass --port)"
    )
    assert not (tmp_path / "statushooks.db").exists()
