"""Public test helpers: ``WebhookSink``, a real local webhook receiver on 127.0.0.1.

::

    async with testing.WebhookSink() as sink:
        sink.set_mode("/flaky", testing.Mode(fail_times=2))     # 500, 500, then 200
        endpoint_url = sink.url("/flaky")
        ...
        requests = await sink.wait_for(3, path="/flaky")

Each path answers according to its ``Mode``: fail N times first, answer 410 / a redirect /
429 with ``Retry-After``, hang, drip the body one byte at a time, or stream a huge body. Every
request is recorded (method, path, headers, body, time). Every behaviour is bounded in time:
a hanging or streaming handler ends when the sink stops or the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from aiohttp import web

from statushooks.dispatcher import Dispatcher

HOST = "127.0.0.1"
DEFAULT_WAIT = 10.0  # seconds ``wait_for`` waits at most
HANG_SECONDS = 60.0  # seconds a hanging handler waits at most (or until the sink stops)
HUGE_BODY_BYTES = 1 << 30  # bytes a "huge" body claims to have (1 GiB)
CHUNK_BYTES = 64 * 1024  # bytes written per chunk of a huge body
DRIP_BYTES = 10_000  # bytes a dripping handler sends at most
POLL_EVERY = 0.02  # seconds between two checks of ``wait_until``
STOP_WITHIN = 15.0  # seconds ``running`` allows a dispatcher to stop


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How one path answers. The first ``fail_times`` requests get ``fail_status``."""

    status: int = 200
    body: bytes = b"ok"
    fail_times: int = 0
    fail_status: int = 500
    #: Sent as ``Retry-After`` on every answer when set.
    retry_after: str | None = None
    #: Sent as ``Location`` (use with a 3xx ``status``).
    location: str | None = None
    #: More headers sent on every answer (e.g. ``webhook-delivery: disable``).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (``float("inf")``: until the sink stops).
    delay: float = 0.0
    #: Answer 200 at once, then send the body one byte per ``drip_interval`` seconds.
    drip_interval: float | None = None
    #: Stream a body of ``HUGE_BODY_BYTES`` (as fast as the client reads).
    huge_body: bool = False


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request the sink received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    #: ``time.monotonic()`` when it arrived.
    received_at: float
    #: The status the sink answered with.
    status: int

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")


@dataclass
class _PathState:
    mode: Mode = field(default_factory=Mode)
    seen: int = 0


class WebhookSink:
    """A local webhook receiver on 127.0.0.1 and a free port; use ``async with``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._paths: dict[str, _PathState] = {}
        self._default = Mode()
        self._arrived = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def set_mode(self, path: str, mode: Mode) -> None:
        """Answer requests to ``path`` per ``mode`` (its failure count restarts)."""
        self._paths[path] = _PathState(mode=mode)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    async def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = DEFAULT_WAIT
    ) -> list[RecordedRequest]:
        """The requests (to ``path``) once there are at least ``count``.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """

        def enough() -> bool:
            return len(self._matching(path)) >= count

        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(enough)
        return self._matching(path)

    def _matching(self, path: str | None) -> list[RecordedRequest]:
        return self.requests if path is None else self.requests_for(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        state = self._paths.setdefault(request.path, _PathState(mode=self._default))
        state.seen += 1
        mode = state.mode
        failing = state.seen <= mode.fail_times
        status = mode.fail_status if failing else mode.status
        body = await request.read()
        await self._record(request, body, status)
        if mode.delay and not failing:
            await self._pause(mode.delay)
        if failing:
            return web.Response(status=status, body=b"failing", headers=_extra_headers(mode))
        if mode.drip_interval is not None:
            return await self._drip(request, mode.drip_interval)
        if mode.huge_body:
            return await self._stream_huge(request)
        return web.Response(status=status, body=mode.body, headers=_extra_headers(mode))

    async def _record(self, request: web.Request, body: bytes, status: int) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            received_at=time.monotonic(),
            status=status,
        )
        async with self._arrived:
            self.requests.append(recorded)
            self._arrived.notify_all()

    async def _pause(self, seconds: float) -> None:
        timeout = min(seconds, HANG_SECONDS)
        try:
            async with asyncio.timeout(timeout):
                await self._closing.wait()
        except TimeoutError:
            return

    async def _drip(self, request: web.Request, interval: float) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for _ in range(DRIP_BYTES):
            if self._closing.is_set():
                break
            await response.write(b".")
            await asyncio.sleep(interval)
        return response

    async def _stream_huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_length = HUGE_BODY_BYTES
        await response.prepare(request)
        chunk = b"x" * CHUNK_BYTES
        for _ in range(HUGE_BODY_BYTES // CHUNK_BYTES):
            if self._closing.is_set():
                break
            await response.write(chunk)
        return response


def _extra_headers(mode: Mode) -> dict[str, str]:
    headers: dict[str, str] = dict(mode.headers)
    if mode.retry_after is not None:
        headers["Retry-After"] = mode.retry_after
    if mode.location is not None:
        headers["Location"] = mode.location
    return headers


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout: float = DEFAULT_WAIT
) -> None:
    """Return once ``await check()`` is true.

    Raises:
        TimeoutError: it was still false after ``timeout`` seconds.
    """
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(POLL_EVERY)


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """Run ``dispatcher`` in a task while the block runs; stop it gracefully at the end."""
    task = asyncio.create_task(dispatcher.run(), name="test-dispatcher")
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        async with asyncio.timeout(STOP_WITHIN):
            await task
