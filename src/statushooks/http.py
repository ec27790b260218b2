"""The one HTTP client of statushooks: an aiohttp session with a guarded, pinned resolver.

* **SSRF, no DNS rebinding**: every URL goes through ``urlguard.check_url`` (literal addresses in
  every spelling), and every host name is resolved by ``GuardedResolver``, which calls
  ``urlguard.resolve``: the connection is made to exactly the addresses that were checked.
* **Redirects are never followed**; a 3xx is an answer like any other.
* **A total deadline** per request (``Settings.delivery_timeout``), connecting, sending, and
  reading the body included.
* **Bounded bodies**: at most ``BODY_LIMIT`` bytes of the response are read, then the
  connection is dropped: a 1 GB or endless body costs nothing. No compression is asked for,
  and none is undone (a small gzip bomb cannot expand in memory).
* Connections are pooled per host and reused across requests; no cookie is ever kept or sent.

Every aiohttp error is translated here into ``exceptions.DeliveryError`` subclasses whose
``kind`` is ``timeout``, ``connect`` or ``dns``; a refused address raises
``exceptions.UnsafeURLError``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self

import aiohttp
import aiohttp.abc

from statushooks import __version__, exceptions, urlguard

if TYPE_CHECKING:
    from statushooks.config import Settings

BODY_LIMIT = 4096  # bytes of a response body that are read, at most
DNS_CACHE_TTL = 10  # seconds a checked resolution is reused
KEEPALIVE_TIMEOUT = 30.0  # seconds an idle pooled connection is kept
USER_AGENT = f"statushooks/{__version__}"
DNS = "dns"


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


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves through ``urlguard.resolve``: only checked addresses are ever connected to."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        addresses = await urlguard.resolve(host, port, allow_private=self.allow_private)
        return [
            aiohttp.abc.ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class HttpClient:
    """The pooled, guarded client; create it in the event loop that uses it, close it after."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        body_limit: int = BODY_LIMIT,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self.body_limit = body_limit
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpClient:
        return cls(timeout=settings.delivery_timeout, allow_private=settings.allow_private_urls)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(allow_private=self.allow_private),
                limit=0,
                ttl_dns_cache=DNS_CACHE_TTL,
                keepalive_timeout=KEEPALIVE_TIMEOUT,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
                trust_env=False,
                # Endpoints' cookies are neither kept nor sent (and not looked up per request).
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": self.user_agent, "Accept-Encoding": "identity"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST ``body`` to ``url`` within the deadline; never follows a redirect.

        Raises:
            UnsafeURLError: the URL or an address its host resolves to is refused.
            DeliveryTimeoutError: no complete answer within the deadline.
            EndpointConnectError: ``kind`` ``dns`` or ``connect``: no answer could be had.
        """
        urlguard.check_url(url, allow_private=self.allow_private)
        session = self._get_session()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(session, url, body, headers)
        except TimeoutError as exc:
            raise exceptions.DeliveryTimeoutError(
                f"no complete answer within {self.timeout:g} s"
            ) from exc
        except exceptions.EndpointConnectError as exc:
            # Only the guarded resolver raises it inside a request: the name did not resolve.
            exc.kind = DNS
            raise
        except aiohttp.ClientConnectorDNSError as exc:
            raise connect_error(f"could not resolve the endpoint host: {exc}", DNS) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise connect_error(f"{type(exc).__name__}: {exc}") from exc

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
    ) -> Response:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
            content, truncated = await read_capped(r.content, self.body_limit)
            if truncated:
                # Drop the connection rather than read (or pool) the rest of a huge body.
                r.close()
            return Response(
                status=r.status,
                headers={name.lower(): value for name, value in r.headers.items()},
                body=content,
                truncated=truncated,
            )


async def read_capped(stream: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of ``stream``, and whether more was coming."""
    data = bytearray()
    while len(data) < limit:
        chunk = await stream.read(limit - len(data))
        if not chunk:
            return bytes(data), False
        data += chunk
    return bytes(data), not stream.at_eof()


def connect_error(message: str, kind: str | None = None) -> exceptions.EndpointConnectError:
    """An ``EndpointConnectError`` whose ``kind`` is ``connect`` (default) or ``dns``."""
    error = exceptions.EndpointConnectError(message)
    if kind is not None:
        error.kind = kind
    return error
