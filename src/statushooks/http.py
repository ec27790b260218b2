"""The one HTTP client of statushooks: HTTP/1.1 POSTs on asyncio protocols, parsed by httptools.

Webhook delivery needs one narrow thing: POST a small body, read a status, a few headers and at
most ``BODY_LIMIT`` bytes of the answer. This client does only that, on pooled keep-alive
connections, which costs about a third of a general-purpose client's CPU per request (see
docs/architecture.md, "Performance design").

* **SSRF, no DNS rebinding**: every URL goes through ``urlguard.check_url`` (literal addresses in
  every spelling), and every host name is resolved by ``urlguard.resolve``, which checks each
  address: the connection is made to exactly the addresses that were checked (for
  ``DNS_CACHE_TTL`` seconds at most).
* **Bounded lookups and connects**: one lookup per host at a time, shared by its requests and
  not cancelled by their deadlines (a lookup that never answers holds one resolver thread,
  not one per request); each address gets an equal share of the time left to connect, so a
  black-holed first address leaves the next one time.
* **Redirects are never followed**; a 3xx is an answer like any other.
* **A total deadline** per request (``timeout``): resolving, connecting, the TLS handshake,
  sending and reading the body included.
* **Bounded bodies**: at most ``body_limit`` bytes of the response are kept; past them the
  connection is dropped, so a 1 GB or endless body costs nothing. No compression is asked for,
  and none is undone (a small gzip bomb cannot expand in memory).
* **Bounded heads**: the answer's status line and headers (with those of any interim ``1xx``
  answers before it) may take ``MAX_HEADER_BYTES`` in all. The parser is never fed more than
  that before the head is complete: past it the request fails (``kind``
  ``headers_too_large``) and the connection is dropped, so a 48 MB or endless header costs
  16 KiB of memory and no time.
* **Framing** (RFC 9112 §6.3): a body is framed by ``Content-Length`` or a last transfer
  coding ``chunked``; any other (``Transfer-Encoding: identity``, none) runs to the close, and
  is whole only if the close is orderly (a reset cuts it: a connect error). A chunked
  answer's trailers are not headers and never overwrite one.
* Connections are pooled per origin, reused one request at a time, and closed after
  ``KEEPALIVE_TIMEOUT`` seconds idle. A pooled connection the peer closed before answering gets
  the request again, once, on a fresh connection (webhooks are at-least-once; receivers
  deduplicate on ``webhook-id``). No cookie is ever kept or sent; no proxy is used.

Failures are ``exceptions.DeliveryError`` subclasses whose ``kind`` is ``timeout``, ``connect``,
``dns`` or ``headers_too_large``; a refused address raises ``exceptions.UnsafeURLError``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self, cast

import httptools

from statushooks import __version__, exceptions, urlguard

if TYPE_CHECKING:
    from statushooks.config import Settings

BODY_LIMIT = 4096  # bytes of a response body that are read, at most
#: Bytes of an answer's head (status line, headers, the blank line ending them; interim
#: answers' heads included) that are read, at most: h11's limit (aiohttp: 8 KiB a line).
MAX_HEADER_BYTES = 16 * 1024
DNS_CACHE_TTL = 10.0  # seconds a checked resolution is reused
KEEPALIVE_TIMEOUT = 30.0  # seconds an idle pooled connection is kept
SWEEP_INTERVAL = 5.0  # seconds between sweeps of the idle pool
USER_AGENT = f"statushooks/{__version__}"
DNS = "dns"
#: The ``kind`` of a request whose answer's head went past ``MAX_HEADER_BYTES``.
HEADERS_TOO_LARGE = "headers_too_large"
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Parsed request targets remembered (one per endpoint URL; see ``urlguard.URL_CACHE_SIZE``).
TARGET_CACHE_SIZE = 16_384
#: Header names the client writes itself; the caller's values for them are ignored.
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@dataclass(frozen=True, kw_only=True)
class Response:
    """An answer: the status, headers, and the first ``BODY_LIMIT`` bytes of the body."""

    status: int
    #: Names in lower case; a repeated header keeps its last value.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Whether the body went on past what was read.
    truncated: bool = False


class Client(Protocol):
    """What ``delivery`` needs of an HTTP client (``HttpClient``, or a twin in unit tests)."""

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Response: ...


# -- where a URL's requests go -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """Where the requests of one URL go: the origin (the pool key), ``Host`` and the path."""

    scheme: str
    #: What is resolved and connected to: ASCII (IDNA), an IPv6 address without brackets.
    host: str
    port: int
    host_header: str
    #: The origin-form request target: path and query, percent-encoded.
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@functools.lru_cache(maxsize=TARGET_CACHE_SIZE)
def parse_target(url: str) -> Target:
    """The ``Target`` of a URL that ``urlguard.check_url`` accepted (pure: cached)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    if ":" in hostname:
        host = urllib.parse.unquote(hostname)
        shown = f"[{hostname}]"
    else:
        host = urlguard.ascii_host(hostname)
        shown = host
    port = DEFAULT_PORTS[scheme] if parts.port is None else parts.port
    path = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe=_QUERY_SAFE)
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        host_header=shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}",
        path=path,
    )


def encode_request(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    user_agent: str,
    method: str = "POST",
) -> bytes:
    """The bytes of one request (a POST unless ``method`` says otherwise): request line,
    headers (``OWN_HEADERS`` written here), body.

    Raises:
        ValueError: a header name or value holds a line break (it would split the header).
    """
    lines = [
        (
            f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
            f"Content-Length: {len(body)}\r\nAccept-Encoding: identity\r\n"
        )
    ]
    has_agent = False
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in OWN_HEADERS or lowered == "accept-encoding":
            continue
        has_agent = has_agent or lowered == "user-agent"
        lines.append(f"{name}: {value}\r\n")
    if not has_agent:
        lines.append(f"User-Agent: {user_agent}\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    if head.count("\n") != len(lines) + 3 or head.count("\r") != len(lines) + 3:
        raise ValueError("a request header holds a line break")
    return head.encode("latin-1") + body


# -- one connection ------------------------------------------------------------------------------


class _NoAnswer(exceptions.EndpointConnectError):
    """The peer closed the connection before a single byte of the answer."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time; httptools parses answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[_Connection], None]):
        self._loop = loop
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        #: Whether the last exchange left the connection fit for the next one.
        self.reusable = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Response] | None = None
        self._limit = BODY_LIMIT
        #: Bytes of head the parser may still be fed in this exchange (``_feed_head``).
        self._head_room = MAX_HEADER_BYTES
        self._fd = -1
        self._start_answer()

    def _start_answer(self) -> None:
        self._headers: dict[str, str] = {}
        self._body = bytearray()
        self._truncated = False
        self._received = False
        self._headers_done = False
        self._framed = False

    # -- exchanges

    async def exchange(self, request: bytes, deadline: float, limit: int) -> Response:
        """Send ``request``, wait for its whole answer (or ``limit`` bytes of body) by ``deadline``.

        Raises:
            TimeoutError: no complete answer by ``deadline``.
            EndpointConnectError: the connection broke, the answer is not valid HTTP/1.x, or
                its head is over ``MAX_HEADER_BYTES`` (``kind`` ``headers_too_large``);
                ``_NoAnswer`` when nothing at all came back.
        """
        assert self.transport is not None
        self.reusable = False
        self._limit = limit
        self._head_room = MAX_HEADER_BYTES
        self._start_answer()
        waiter: asyncio.Future[Response] = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_at(deadline, self._expire)
        try:
            self._send(request)
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None
            if not self.reusable:
                self.close()

    def _send(self, request: bytes) -> None:
        """Write ``request``: on a plain TCP connection with nothing buffered, straight to its
        socket with ``os.write``, which lets the GIL go for the system call (uvloop's
        ``transport.write`` holds it); the transport takes whatever the socket did not."""
        assert self.transport is not None
        sent = 0
        if self._fd >= 0 and not self.transport.get_write_buffer_size():
            try:
                sent = os.write(self._fd, request)
            except OSError:  # would block, or broken: the transport tries and reports as ever
                sent = 0
        if sent < len(request):
            self.transport.write(request[sent:])

    def fresh(self, oldest: float) -> bool:
        """Whether this idle connection is open and went idle after ``oldest`` (loop time)."""
        return not self.closed and self.idle_since > oldest

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def _expire(self) -> None:
        self._fail(TimeoutError())

    def _answer_pending(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def _finish(self, *, keep_alive: bool) -> None:
        if not self._answer_pending():
            return
        assert self._waiter is not None
        self.reusable = keep_alive and not self._truncated and not self.closed
        self._waiter.set_result(
            Response(
                status=self._parser.get_status_code(),
                headers=self._headers,
                body=bytes(self._body),
                truncated=self._truncated,
            )
        )

    def _fail(self, error: BaseException) -> None:
        if self._answer_pending():
            assert self._waiter is not None
            self._waiter.set_exception(error)
        self.close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        # The socket's descriptor for ``_send``, unless TLS sits between it and the request.
        sock = transport.get_extra_info("socket")
        tls = transport.get_extra_info("sslcontext") is not None
        self._fd = -1 if tls or sock is None else sock.fileno()

    def data_received(self, data: bytes) -> None:
        if not self._answer_pending():
            # Bytes nobody asked for (an idle connection's "408", or more after the cap).
            self.close()
            return
        self._received = True
        try:
            if self._headers_done:
                self._parser.feed_data(data)
            else:
                self._feed_head(data)
        except httptools.HttpParserUpgrade:
            self._finish(keep_alive=False)
        except httptools.HttpParserError as exc:
            self._fail(exceptions.EndpointConnectError(f"invalid HTTP response: {exc}"))

    def _feed_head(self, data: bytes) -> None:
        """Feed ``data`` while the head is incomplete: no more than the head's room left. An
        answer whose head does not end within it fails, and what is past it is never parsed
        (httptools would keep a header it has not seen the end of, however long)."""
        room = self._head_room
        self._head_room = room - len(data)
        if len(data) <= room:  # the usual case: a whole answer in one read
            self._parser.feed_data(data)
            if self._headers_done or self._head_room > 0:
                return
        else:
            view = memoryview(data)
            self._parser.feed_data(view[:room])
            if self._headers_done:
                self._parser.feed_data(view[room:])
                return
        self._fail(
            connect_error(
                f"the answer's status line and headers are over {MAX_HEADER_BYTES} bytes",
                HEADERS_TOO_LARGE,
            )
        )

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost ends the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._answer_pending():
            if self._headers_done and not self._framed and exc is None:
                self._finish(keep_alive=False)  # an answer delimited by an orderly close
            elif not self._received:
                self._fail(_NoAnswer("the endpoint closed the connection without answering"))
            else:
                self._fail(
                    exceptions.EndpointConnectError(
                        "the endpoint closed the connection in the middle of its answer"
                    )
                )
        self._on_lost(self)

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        if not self._answer_pending():
            # A second answer to one request: the connection is out of step; drop it, and
            # parse into fresh buffers (the finished answer's own are handed out).
            self.close()
            self._start_answer()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:
            return  # a chunked answer's trailer: not a header (it may not overwrite one)
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._framed = "content-length" in self._headers or _is_chunked(
            self._headers.get("transfer-encoding")
        )

    def on_body(self, body: bytes) -> None:
        room = self._limit - len(self._body)
        if len(body) <= room:
            self._body += body
            return
        self._body += body[:room]
        self._truncated = True
        self._finish(keep_alive=False)  # the rest is not read: exchange() drops the connection

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._start_answer()  # an interim answer ("100 Continue"): the real one follows
            self._received = True
            return
        self._finish(keep_alive=self._parser.should_keep_alive())


# -- the client ----------------------------------------------------------------------------------


class HttpClient:
    """The pooled, guarded client; use it in one event loop, close it after."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        body_limit: int = BODY_LIMIT,
        user_agent: str = USER_AGENT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self.body_limit = body_limit
        self.user_agent = user_agent
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}
        #: Lookups under way, one per (host, port) (``_lookup``).
        self._lookups: dict[tuple[str, int], asyncio.Future[list[str]]] = {}
        self._next_sweep = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpClient:
        return cls(timeout=settings.delivery_timeout, allow_private=settings.allow_private_urls)

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        for connection in list(self._open):
            connection.close()
        for lookup in list(self._lookups.values()):
            lookup.cancel()
        self._idle.clear()
        self._addresses.clear()
        await asyncio.sleep(0)  # let the transports report connection_lost

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST ``body`` to ``url`` within the deadline; never follows a redirect.

        Raises:
            UnsafeURLError: the URL or an address its host resolves to is refused.
            DeliveryTimeoutError: no complete answer within the deadline.
            EndpointConnectError: ``kind`` ``dns`` or ``connect``: no answer could be had;
                ``headers_too_large``: the answer's head went past ``MAX_HEADER_BYTES``.
        """
        # ``request`` with the method written in: one coroutine less on the delivery path.
        urlguard.check_url(url, allow_private=self.allow_private)
        target = parse_target(url)
        request = encode_request(target, body, headers, self.user_agent)
        return await self._deliver(target, request)

    async def options(self, url: str, *, headers: Mapping[str, str]) -> Response:
        """An ``OPTIONS`` request to ``url`` (the CloudEvents webhook handshake), guarded and
        bounded like ``post``."""
        return await self.request("OPTIONS", url, body=b"", headers=headers)

    async def request(
        self, method: str, url: str, *, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        """``method`` ``url`` with ``body`` within the deadline, as ``post`` describes."""
        urlguard.check_url(url, allow_private=self.allow_private)
        target = parse_target(url)
        request = encode_request(target, body, headers, self.user_agent, method)
        return await self._deliver(target, request)

    async def _deliver(self, target: Target, request: bytes) -> Response:
        """Send ``request`` and read the answer within the deadline, errors translated."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            return await self._send(target, request, deadline)
        except TimeoutError as exc:
            raise exceptions.DeliveryTimeoutError(
                f"no complete answer within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise connect_error(f"{type(exc).__name__}: {exc}") from exc

    async def _send(self, target: Target, request: bytes, deadline: float) -> Response:
        pooled = self._take_idle(target.origin)
        if pooled is not None:
            try:
                return await self._exchange(pooled, target, request, deadline)
            except _NoAnswer:
                pass  # the peer had closed it: once more, on a fresh connection
        connection = await self._connect(target, deadline)
        return await self._exchange(connection, target, request, deadline)

    async def _exchange(
        self, connection: _Connection, target: Target, request: bytes, deadline: float
    ) -> Response:
        response = await connection.exchange(request, deadline, self.body_limit)
        if connection.reusable:
            self._put_idle(target.origin, connection)
        return response

    # -- the pool

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        oldest = asyncio.get_running_loop().time() - KEEPALIVE_TIMEOUT
        while idle:
            connection = idle.pop()
            if connection.fresh(oldest):
                return connection
            connection.close()
        return None

    def _put_idle(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        now = asyncio.get_running_loop().time()
        connection.idle_since = now
        self._idle.setdefault(origin, []).append(connection)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close idle connections past ``KEEPALIVE_TIMEOUT``; forget closed ones, empty origins
        and expired resolutions."""
        for key in [key for key, (expires, _) in self._addresses.items() if expires <= now]:
            del self._addresses[key]
        oldest = now - KEEPALIVE_TIMEOUT
        for origin, idle in list(self._idle.items()):
            kept = []
            for connection in idle:
                if connection.fresh(oldest):
                    kept.append(connection)
                else:
                    connection.close()
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)

    # -- new connections

    async def _connect(self, target: Target, deadline: float) -> _Connection:
        """A connection to the first of the target's addresses that takes one. Each address
        has an equal share of the time left (the last one all of it), so one that never
        answers (a black hole) leaves the others time to be tried."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(deadline):
            addresses = await self._resolve(target)
            errors: list[str] = []
            for index, address in enumerate(addresses):
                share = (deadline - loop.time()) / (len(addresses) - index)
                try:
                    async with asyncio.timeout(share if index < len(addresses) - 1 else None):
                        _, protocol = await loop.create_connection(
                            lambda: _Connection(loop, self._forget),
                            address,
                            target.port,
                            ssl=self._tls_context() if target.tls else None,
                            server_hostname=target.host if target.tls else None,
                        )
                except OSError as exc:
                    errors.append(f"{address}: {exc}")
                    continue
                except TimeoutError:
                    errors.append(f"{address}: no connection within its {share:.1f} s share")
                    continue
                self._open.add(protocol)
                return protocol
        raise connect_error(f"could not connect to {target.host_header}: {'; '.join(errors)}")

    async def _resolve(self, target: Target) -> list[str]:
        """The checked addresses of ``target.host``: a literal itself, a name through urlguard."""
        key = (target.host, target.port)
        now = asyncio.get_running_loop().time()
        cached = self._addresses.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        if is_ip_address(target.host):
            addresses = [target.host]  # check_url has judged it
        else:
            addresses = await asyncio.shield(self._lookup(key))
        self._addresses[key] = (asyncio.get_running_loop().time() + DNS_CACHE_TTL, addresses)
        return addresses

    def _lookup(self, key: tuple[str, int]) -> asyncio.Future[list[str]]:
        """The one lookup of ``key`` under way, started if there is none: requests to one host
        share it, and it is never cancelled by their deadlines (a lookup holds a resolver
        thread until the system resolver gives up; one at a time per host, not one per
        request)."""
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = asyncio.ensure_future(self._resolve_name(*key))
            self._lookups[key] = lookup
            lookup.add_done_callback(lambda done: self._lookup_done(key, done))
        return lookup

    def _lookup_done(self, key: tuple[str, int], lookup: asyncio.Future[list[str]]) -> None:
        self._lookups.pop(key, None)
        if not lookup.cancelled():
            lookup.exception()  # retrieved: requests that gave up on it no longer ask

    async def _resolve_name(self, host: str, port: int) -> list[str]:
        try:
            return await urlguard.resolve(host, port, allow_private=self.allow_private)
        except exceptions.EndpointConnectError as exc:
            exc.kind = DNS
            raise

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


def _is_chunked(transfer_encoding: str | None) -> bool:
    """Whether an answer's last transfer coding is ``chunked`` (RFC 9112 §6.3): otherwise,
    ``identity`` say, its body runs to the close."""
    if transfer_encoding is None:
        return False
    return transfer_encoding.rpartition(",")[2].strip().lower() == "chunked"


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IPv4 address in dotted-quad form or an IPv6 address."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def connect_error(message: str, kind: str | None = None) -> exceptions.EndpointConnectError:
    """An ``EndpointConnectError`` whose ``kind`` is ``connect`` (default) or ``dns``."""
    error = exceptions.EndpointConnectError(message)
    if kind is not None:
        error.kind = kind
    return error
