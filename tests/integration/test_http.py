"""The HTTP client against scripted loopback servers (and its main paths again on uvloop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from statushooks import exceptions, http, urlguard

BODY = b'{"id":"evt_1"}'
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
Writer = asyncio.StreamWriter


@dataclass
class Request:
    head: list[str]
    body: bytes
    connection: int

    def header(self, name: str) -> list[str]:
        prefix = name.lower() + ":"
        return [
            line.split(":", 1)[1].strip() for line in self.head if line.lower().startswith(prefix)
        ]


#: Given the request and its writer, answers (or not): returns whether to keep reading.
Handler = Callable[[Request, Writer], Awaitable[bool]]


@dataclass
class ScriptedServer:
    """A loopback HTTP/1.1 server whose every answer is written by ``handler``."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    writers: list[Writer] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.append(writer)
        self.connections += 1
        number = self.connections
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]
                request = Request(head=head, body=b"", connection=number)
                length = int((request.header("content-length") or ["0"])[0])
                request.body = await reader.readexactly(length)
                self.requests.append(request)
                if not await self.handler(request, writer):
                    break
        writer.close()


@contextlib.asynccontextmanager
async def scripted(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=ssl_context)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        try:
            yield server
        finally:
            listener.close()
            for writer in server.writers:
                writer.close()
            await asyncio.wait_for(asyncio.gather(*server.tasks, return_exceptions=True), 5)


def answering(raw: bytes, *, keep: bool = True) -> Handler:
    async def handler(_request: Request, writer: Writer) -> bool:
        writer.write(raw)
        await writer.drain()
        return keep

    return handler


@pytest.fixture
async def client() -> AsyncIterator[http.HttpClient]:
    async with http.HttpClient(timeout=2.0, allow_private=True) as instance:
        yield instance


# -- requests and answers ------------------------------------------------------------------------


async def test_request_carries_its_headers_and_body(client):
    """Host, Content-Length, identity encoding and the caller's headers; the body verbatim."""
    async with scripted(answering(NO_CONTENT)) as server:
        response = await client.post(
            server.url("/hook/é?x=1"), body=BODY, headers={"webhook-id": "evt_1"}
        )
    assert response.status == 204 and response.body == b"" and not response.truncated
    [request] = server.requests
    assert request.head[0] == "POST /hook/%C3%A9?x=1 HTTP/1.1"
    assert request.header("host") == [f"127.0.0.1:{server.port}"]
    assert request.header("content-length") == [str(len(BODY))]
    assert request.header("accept-encoding") == ["identity"]
    assert request.header("user-agent") == [http.USER_AGENT]
    assert request.header("webhook-id") == ["evt_1"] and request.body == BODY


async def test_options_request_reads_the_answers_headers(client):
    """``options`` sends an OPTIONS with no body and the caller's headers (the CloudEvents
    handshake), and reads the answer's headers; the connection then carries a POST."""
    granted = (
        b"HTTP/1.1 200 OK\r\nWebHook-Allowed-Origin: example.org\r\n"
        b"WebHook-Allowed-Rate: 120\r\nAllow: POST\r\nContent-Length: 0\r\n\r\n"
    )
    async with scripted(answering(granted)) as server:
        response = await client.options(
            server.url(), headers={"WebHook-Request-Origin": "example.org"}
        )
        await client.post(server.url(), body=BODY, headers={})
    assert response.status == 200
    assert response.headers["webhook-allowed-origin"] == "example.org"
    assert response.headers["webhook-allowed-rate"] == "120"
    first, second = server.requests
    assert first.head[0] == "OPTIONS /hook HTTP/1.1"
    assert first.header("webhook-request-origin") == ["example.org"]
    assert first.header("content-length") == ["0"] and first.body == b""
    assert second.head[0] == "POST /hook HTTP/1.1" and second.connection == first.connection


async def test_options_is_guarded_like_post():
    """A handshake with a loopback URL is refused when private addresses are not allowed."""
    async with http.HttpClient(timeout=2.0, allow_private=False) as guarded:
        with pytest.raises(exceptions.UnsafeURLError):
            await guarded.options("http://127.0.0.1:9/hook", headers={})


async def test_a_body_larger_than_the_socket_takes_at_once_arrives_whole(client):
    """What one write to the socket does not take is sent after it, in order; the connection
    then carries the next request as usual."""
    big = bytes(range(256)) * (8 * 4096)  # 8 MiB: more than a loopback socket buffers
    async with scripted(answering(NO_CONTENT)) as server:
        await client.post(server.url(), body=big, headers={})
        await client.post(server.url(), body=BODY, headers={})
    first, second = server.requests
    assert first.body == big and second.body == BODY
    assert first.connection == second.connection


async def test_callers_own_user_agent_wins_and_framing_headers_are_ours(client):
    async with scripted(answering(NO_CONTENT)) as server:
        await client.post(
            server.url(),
            body=BODY,
            headers={"User-Agent": "mine/1", "Content-Length": "999", "Host": "evil"},
        )
    [request] = server.requests
    assert request.header("user-agent") == ["mine/1"]
    assert request.header("content-length") == [str(len(BODY))]
    assert request.header("host") == [f"127.0.0.1:{server.port}"]


async def test_a_line_break_in_a_header_is_refused(client):
    with pytest.raises(ValueError, match="line break"):
        await client.post("http://127.0.0.1:9/", body=BODY, headers={"x": "a\r\nInjected: 1"})


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    ],
    ids=["content-length", "chunked", "after-100-continue"],
)
async def test_bodies_are_read_however_they_are_framed(client, raw):
    async with scripted(answering(raw)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert (response.status, response.body, response.truncated) == (200, b"hello", False)


async def test_a_body_delimited_by_the_close_is_read_whole(client):
    async with scripted(answering(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", keep=False)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 200 and response.body == b"until the end"


async def test_a_close_delimited_body_with_transfer_encoding_identity_is_read_whole(client):
    """``Transfer-Encoding: identity`` (no chunked coding) frames nothing: the body runs to
    the close, like one with no framing header at all (it was reported as a broken answer)."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nuntil the end"
    async with scripted(answering(raw, keep=False)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 200 and response.body == b"until the end"


async def test_trailers_do_not_overwrite_headers(client):
    """A chunked answer's trailers are not headers: a trailer ``Retry-After`` is ignored."""
    raw = (
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n"
        b"Trailer: Retry-After\r\n\r\n2\r\nhi\r\n0\r\nRetry-After: 99999\r\nX-Late: 1\r\n\r\n"
    )
    async with scripted(answering(raw)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 429 and response.body == b"hi"
    assert response.headers["retry-after"] == "7" and "x-late" not in response.headers


async def test_a_close_delimited_body_cut_by_a_reset_is_a_connect_error(client):
    """A body delimited by the close is complete only when the close is orderly (EOF): a reset
    (RST) cuts it, and the answer is not taken as whole."""

    async def reset(_request: Request, writer: Writer) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\npart of")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # SO_LINGER 0: the close is a reset
        return False

    async with scripted(reset) as server:
        with pytest.raises(exceptions.EndpointConnectError, match="middle of its answer"):
            await client.post(server.url(), body=BODY, headers={})


async def test_headers_are_lower_case_and_the_last_repeat_wins(client):
    raw = b"HTTP/1.1 429 Too Many\r\nRetry-After: 1\r\nRETRY-AFTER: 7\r\nContent-Length: 0\r\n\r\n"
    async with scripted(answering(raw)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 429 and response.headers["retry-after"] == "7"


async def test_redirects_are_answers(client):
    raw = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n"
    async with scripted(answering(raw)) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 302 and len(server.requests) == 1


# -- the pool ------------------------------------------------------------------------------------


async def test_connections_are_reused(client):
    async with scripted(answering(NO_CONTENT)) as server:
        for _ in range(3):
            assert (await client.post(server.url(), body=BODY, headers={})).status == 204
    assert server.connections == 1 and len(server.requests) == 3


async def test_idle_connections_expire(client, monkeypatch):
    """A connection idle longer than KEEPALIVE_TIMEOUT is closed, not reused."""
    monkeypatch.setattr(http, "KEEPALIVE_TIMEOUT", 0.05)
    async with scripted(answering(NO_CONTENT)) as server:
        await client.post(server.url(), body=BODY, headers={})
        await asyncio.sleep(0.1)
        await client.post(server.url(), body=BODY, headers={})
    assert server.connections == 2


async def test_connection_close_is_honoured(client):
    raw = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    async with scripted(answering(raw)) as server:
        for _ in range(2):
            assert (await client.post(server.url(), body=BODY, headers={})).status == 204
    assert server.connections == 2


async def test_a_pooled_connection_closed_unanswered_is_retried_once_fresh(client):
    """The peer drops a kept-alive connection as the next request arrives: sent again, fresh."""

    async def handler(request: Request, writer: Writer) -> bool:
        if len([r for r in server.requests if r.connection == request.connection]) == 2:
            return False  # close without answering
        writer.write(NO_CONTENT)
        return True

    async with scripted(handler) as server:
        assert (await client.post(server.url(), body=BODY, headers={})).status == 204
        assert (await client.post(server.url(), body=BODY, headers={})).status == 204
    assert server.connections == 2 and len(server.requests) == 3


async def test_a_fresh_connection_closed_unanswered_is_a_connect_error(client):
    async def handler(_request: Request, _writer: Writer) -> bool:
        return False

    async with scripted(handler) as server:
        with pytest.raises(exceptions.EndpointConnectError) as caught:
            await client.post(server.url(), body=BODY, headers={})
    assert caught.value.kind == "connect" and server.connections == 1


async def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool(client):
    answered = asyncio.Event()

    async def handler(request: Request, writer: Writer) -> bool:
        if request.connection == 1:
            await answered.wait()  # only after the caller gave up
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + str(request.connection).encode()
        )
        return True

    async with scripted(handler) as server:
        pending = asyncio.create_task(client.post(server.url(), body=BODY, headers={}))
        await asyncio.sleep(0.1)
        pending.cancel()
        answered.set()
        with pytest.raises(asyncio.CancelledError):
            await pending
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.body == b"2"


# -- bounds --------------------------------------------------------------------------------------


@pytest.fixture
async def capped_client() -> AsyncIterator[http.HttpClient]:
    """A client that reads at most 1,000 bytes of a body."""
    async with http.HttpClient(timeout=2.0, allow_private=True, body_limit=1000) as instance:
        yield instance


async def test_a_huge_body_is_cut_at_the_limit_and_the_connection_dropped(capped_client):
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100_000
    async with scripted(answering(raw)) as server:
        response = await capped_client.post(server.url(), body=BODY, headers={})
        assert response.body == b"x" * 1000 and response.truncated
        await capped_client.post(server.url(), body=BODY, headers={})
    assert server.connections == 2


async def test_a_body_of_exactly_the_limit_is_not_truncated(capped_client):
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
    async with scripted(answering(raw)) as server:
        response = await capped_client.post(server.url(), body=BODY, headers={})
    assert len(response.body) == 1000 and not response.truncated


@pytest.mark.parametrize("partial", [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"])
async def test_the_deadline_bounds_the_whole_exchange(partial):
    async def handler(_request: Request, writer: Writer) -> bool:
        writer.write(partial)
        await asyncio.sleep(1)
        return False

    async with (
        http.HttpClient(timeout=0.3, allow_private=True) as client,
        scripted(handler) as server,
    ):
        with pytest.raises(exceptions.DeliveryTimeoutError) as caught:
            await client.post(server.url(), body=BODY, headers={})
    assert caught.value.kind == "timeout"


async def test_a_body_cut_short_by_the_close_is_a_connect_error(client):
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    async with scripted(answering(raw, keep=False)) as server:
        with pytest.raises(exceptions.EndpointConnectError, match="middle of its answer"):
            await client.post(server.url(), body=BODY, headers={})


async def test_an_answer_that_is_not_http_is_a_connect_error(client):
    async with scripted(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", keep=False)) as server:
        with pytest.raises(exceptions.EndpointConnectError, match="invalid HTTP response"):
            await client.post(server.url(), body=BODY, headers={})


def head_of(size: int) -> bytes:
    """A ``200`` answer's head (status line, headers, blank line) of exactly ``size`` bytes."""
    start, end = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ", b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


async def test_a_head_of_exactly_the_cap_is_read(client):
    """Status line, headers and the blank line after them: up to MAX_HEADER_BYTES in all."""
    async with scripted(answering(head_of(http.MAX_HEADER_BYTES) + b"ok")) as server:
        response = await client.post(server.url(), body=BODY, headers={})
    assert response.status == 200 and response.body == b"ok"
    assert len(response.headers["x-pad"]) > http.MAX_HEADER_BYTES - 100


#: Answers whose head is over ``MAX_HEADER_BYTES``, spread in different ways.
HEAD_BOMBS = {
    "one-byte-over": head_of(http.MAX_HEADER_BYTES + 1) + b"ok",
    "1-mb-header": (
        b"HTTP/1.1 200 OK\r\nX-Bomb: " + b"a" * 1_000_000 + b"\r\nContent-Length: 2\r\n\r\nok"
    ),
    "many-headers": (
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1234567890\r\n" * 2000 + b"Content-Length: 0\r\n\r\n"
    ),
    "endless-interim-answers": (
        b"HTTP/1.1 100 Continue\r\n\r\n" * 1000 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", HEAD_BOMBS.values(), ids=HEAD_BOMBS.keys())
async def test_a_head_over_the_cap_fails_the_request(client, raw):
    """However the bytes are spread (one long header, many short ones, a stream of interim
    answers), past MAX_HEADER_BYTES of head the request fails as ``headers_too_large`` and the
    connection is dropped."""
    async with scripted(answering(raw)) as server:
        for _ in range(2):
            with pytest.raises(exceptions.EndpointConnectError) as caught:
                await client.post(server.url(), body=BODY, headers={})
            assert caught.value.kind == http.HEADERS_TOO_LARGE
            assert f"over {http.MAX_HEADER_BYTES} bytes" in caught.value.message
    assert server.connections == 2  # the first was not kept


async def test_an_endless_header_fails_at_the_cap_not_at_the_deadline():
    """A header that never ends is cut once the head passes the cap: at once, not when the
    deadline runs out, and without the client keeping what came."""
    sent = 0

    async def handler(_request: Request, writer: Writer) -> bool:
        nonlocal sent
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        chunk = b"a" * 4096
        while sent < 200_000_000:  # until the client hangs up (200 MB at most)
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
        return False

    async with (
        http.HttpClient(timeout=3.0, allow_private=True) as client,
        scripted(handler) as server,
    ):
        started = asyncio.get_running_loop().time()
        with pytest.raises(exceptions.EndpointConnectError) as caught:
            await client.post(server.url(), body=BODY, headers={})
        elapsed = asyncio.get_running_loop().time() - started
    assert caught.value.kind == http.HEADERS_TOO_LARGE
    assert elapsed < 1.0 and sent < 32_000_000  # what the sockets' buffers took, at most


# -- addresses -----------------------------------------------------------------------------------


async def test_a_refused_port_is_a_connect_error(client):
    async with scripted(answering(NO_CONTENT)) as server:
        url = server.url()
    with pytest.raises(exceptions.EndpointConnectError) as caught:
        await client.post(url, body=BODY, headers={})
    assert caught.value.kind == "connect"


async def test_names_are_resolved_through_the_guard_and_pinned(client, monkeypatch):
    """A name goes through urlguard.resolve; an address it refuses is never connected to."""
    async with scripted(answering(NO_CONTENT)) as server:
        response = await client.post(f"http://localhost:{server.port}/", body=BODY, headers={})
        assert response.status == 204
        assert server.requests[0].header("host") == [f"localhost:{server.port}"]

    async def metadata(_host: str, _port: int) -> list[str]:
        return ["169.254.169.254"]

    monkeypatch.setattr(urlguard, "_lookup", metadata)
    with pytest.raises(exceptions.UnsafeURLError):
        await client.post("http://hooks.example.com/", body=BODY, headers={})


async def test_a_name_that_does_not_resolve_is_a_dns_error(client, monkeypatch):
    async def nothing(host: str, _port: int) -> list[str]:
        raise exceptions.EndpointConnectError(f"could not resolve {host}")

    monkeypatch.setattr(urlguard, "_lookup", nothing)
    with pytest.raises(exceptions.EndpointConnectError) as caught:
        await client.post("http://hooks.example.com/", body=BODY, headers={})
    assert caught.value.kind == "dns"


async def test_one_lookup_per_host_at_a_time_even_past_the_deadline(monkeypatch):
    """Concurrent requests to one host share one lookup; a lookup that never answers fails
    its requests at their deadline, and later requests wait on it instead of starting
    another (each would hold a resolver thread: libuv has 4)."""
    lookups: list[str] = []
    never = asyncio.Event()

    async def black_hole(host: str, _port: int) -> list[str]:
        lookups.append(host)
        await never.wait()
        return []

    monkeypatch.setattr(urlguard, "_lookup", black_hole)
    async with http.HttpClient(timeout=0.3, allow_private=True) as client:
        posts = [client.post("http://hooks.example.com/", body=BODY, headers={}) for _ in range(5)]
        results = await asyncio.gather(*posts, return_exceptions=True)
        assert all(isinstance(r, exceptions.DeliveryTimeoutError) for r in results), results
        with pytest.raises(exceptions.DeliveryTimeoutError):
            await client.post("http://hooks.example.com/", body=BODY, headers={})
        assert lookups == ["hooks.example.com"]
        never.set()  # the lookup ends (empty): the next request looks up afresh
        await asyncio.sleep(0.01)
        with pytest.raises(exceptions.EndpointConnectError):
            await client.post("http://hooks.example.com/", body=BODY, headers={})
    assert lookups == ["hooks.example.com"] * 2


@contextlib.contextmanager
def black_holed(address: str, port: int) -> Iterator[None]:
    """``address:port`` drops every new connection's SYN: a listener whose accept queue is
    full (and never accepted from), so a connect there hangs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((address, port))
        listener.listen(0)
        for _ in range(8):  # bounded: the queue is full after one or two
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.2)
            fillers.append(filler)
            try:
                filler.connect((address, port))
            except TimeoutError:
                break
        else:
            pytest.skip("the accept queue never filled: no black hole on this host")
        yield
    finally:
        for sock in (*fillers, listener):
            sock.close()


async def test_a_black_holed_first_address_leaves_the_next_its_share(monkeypatch):
    """A name's addresses are tried in turn, each with its share of the time left: a first
    address that never answers does not eat the whole deadline."""
    async with scripted(answering(NO_CONTENT)) as server:

        async def two_addresses(_host: str, _port: int) -> list[str]:
            return ["127.0.0.2", "127.0.0.1"]

        monkeypatch.setattr(urlguard, "_lookup", two_addresses)
        with black_holed("127.0.0.2", server.port):
            async with http.HttpClient(timeout=2.0, allow_private=True) as client:
                started = asyncio.get_running_loop().time()
                url = f"http://hooks.example.com:{server.port}/"
                response = await client.post(url, body=BODY, headers={})
                elapsed = asyncio.get_running_loop().time() - started
    assert response.status == 204
    assert 0.5 < elapsed < 1.9  # the first address had its half, the second answered


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://2130706433/hook"]
)
async def test_private_targets_are_refused_before_connecting(url):
    async with http.HttpClient(timeout=1.0, allow_private=False) as client:
        with pytest.raises(exceptions.UnsafeURLError):
            await client.post(url, body=BODY, headers={})


def test_targets_are_parsed_once_into_origin_host_header_and_path():
    target = http.parse_target("https://Hooks.Example.com/a/b?c=d#frag")
    assert target.origin == ("https", "hooks.example.com", 443) and target.tls
    assert (target.host_header, target.path) == ("hooks.example.com", "/a/b?c=d")
    ipv6 = http.parse_target("http://[::1]:8080")
    assert (ipv6.host, ipv6.host_header, ipv6.path) == ("::1", "[::1]:8080", "/")
    assert http.parse_target("http://bücher.example/").host == "xn--bcher-kva.example"
    assert http.parse_target("http://faß.de/hook").host == "xn--fa-hia.de"
    assert http.parse_target("http://example.com:0/").port == 0  # not the default port


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (made by the openssl CLI)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl could not make a certificate: {exc}")
    return cert, key


async def test_https_verifies_the_certificate(certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    async with scripted(answering(NO_CONTENT), ssl_context=server_context) as server:
        url = f"https://127.0.0.1:{server.port}/hook"
        trusting = ssl.create_default_context(cafile=str(cert))
        async with http.HttpClient(timeout=2.0, allow_private=True, ssl_context=trusting) as client:
            assert (await client.post(url, body=BODY, headers={})).status == 204
        async with http.HttpClient(timeout=2.0, allow_private=True) as client:
            with pytest.raises(exceptions.EndpointConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(url, body=BODY, headers={})


# -- the same on uvloop (the dispatcher's loop) --------------------------------------------------

ON_UVLOOP = [
    test_request_carries_its_headers_and_body,
    test_a_body_larger_than_the_socket_takes_at_once_arrives_whole,
    test_a_body_delimited_by_the_close_is_read_whole,
    test_a_close_delimited_body_with_transfer_encoding_identity_is_read_whole,
    test_trailers_do_not_overwrite_headers,
    test_a_close_delimited_body_cut_by_a_reset_is_a_connect_error,
    test_a_head_of_exactly_the_cap_is_read,
    test_connections_are_reused,
    test_a_pooled_connection_closed_unanswered_is_retried_once_fresh,
    test_a_cancelled_request_does_not_leave_its_connection_in_the_pool,
    test_a_body_cut_short_by_the_close_is_a_connect_error,
    test_a_refused_port_is_a_connect_error,
]


@pytest.mark.parametrize("scenario", ON_UVLOOP, ids=lambda scenario: scenario.__name__[5:])
def test_on_uvloop(scenario: Callable[[http.HttpClient], Awaitable[None]]) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def run() -> None:
        async with http.HttpClient(timeout=2.0, allow_private=True) as client:
            await scenario(client)

    uvloop.run(run())


@pytest.mark.parametrize("raw", HEAD_BOMBS.values(), ids=HEAD_BOMBS.keys())
def test_a_head_over_the_cap_fails_the_request_on_uvloop(raw: bytes) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def run() -> None:
        async with http.HttpClient(timeout=2.0, allow_private=True) as client:
            await test_a_head_over_the_cap_fails_the_request(client, raw)

    uvloop.run(run())


def test_https_on_uvloop(certificate: tuple[Path, Path]) -> None:
    """uvloop has its own TLS transport: verified there too."""
    uvloop = pytest.importorskip("uvloop")
    uvloop.run(test_https_verifies_the_certificate(certificate))
