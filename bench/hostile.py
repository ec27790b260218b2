"""Receivers that misbehave, for the fault suite (``bench.faults``): a raw asyncio server, so
that each answer is exactly the bytes written here, whatever an HTTP library would allow.

Each path is one behaviour; every one ends when the client goes away, and none sends more than
``MAX_BYTES``:

* ``/hang``: reads the request, never answers;
* ``/drip``: a status line, then one byte of a header every ``DRIP_INTERVAL`` seconds;
* ``/huge``: ``200`` with a 1 GB body (``Content-Length``), streamed;
* ``/header-bomb``: ``200`` and one header line that never ends;
* ``/gzip-bomb``: ``200``, ``Content-Encoding: gzip``, ~100 KB that inflate to 100 MB;
* ``/fail``: ``503`` at once; ``/throttle``: ``429`` with ``Retry-After: RETRY_AFTER``.

Every request's arrival is recorded: ``(time, path)``.
"""

from __future__ import annotations

import asyncio
import gzip
import time

MAX_BYTES = 1 << 30  # 1 GB: the most any behaviour sends
CHUNK = 1 << 16
DRIP_INTERVAL = 0.5
RETRY_AFTER = 3
GZIP_INFLATED = 100 << 20


class HostileReceiver:
    """The server on 127.0.0.1; ``url(path)`` for an endpoint, ``arrivals`` as they came."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._bomb = gzip.compress(b"\0" * GZIP_INFLATED, compresslevel=9)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        """Stop listening and drop every connection (each handler then ends by itself)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for _ in range(100):
            if not self._writers:
                break
            await asyncio.sleep(0.02)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                path = await _read_request(reader)
                if path is None:
                    return
                self.arrivals.append((time.time(), path))
                if not await self._answer(path, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; whether the connection may carry another."""
        if path == "/hang":
            await reader.read()  # until the client closes
            return False
        if path == "/drip":
            writer.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            for _ in range(MAX_BYTES):
                await writer.drain()
                await asyncio.sleep(DRIP_INTERVAL)
                writer.write(b"a")
            return False
        if path == "/huge":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % MAX_BYTES)
            await _stream(writer, MAX_BYTES)
            return False
        if path == "/header-bomb":
            writer.write(b"HTTP/1.1 200 OK\r\nX-Bomb: ")
            await _stream(writer, MAX_BYTES, fill=b"a")
            return False
        if path == "/gzip-bomb":
            head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            writer.write(head % len(self._bomb) + self._bomb)
        elif path == "/throttle":
            writer.write(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nContent-Length: 0\r\n\r\n"
                % RETRY_AFTER
            )
        else:  # /fail and anything else
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        return True


async def _read_request(reader: asyncio.StreamReader) -> str | None:
    """Read one request (head and ``Content-Length`` body); its path, or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return lines[0].split(" ")[1]


async def _stream(writer: asyncio.StreamWriter, total: int, fill: bytes = b"\0") -> None:
    chunk = fill * CHUNK
    for _ in range(total // CHUNK):
        writer.write(chunk)
        await writer.drain()
