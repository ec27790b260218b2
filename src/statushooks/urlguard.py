"""Which endpoint URLs and addresses statushooks refuses to call (SSRF policy).

Two layers:

* ``check_url`` when an endpoint is saved: scheme, userinfo, and hosts that are refused without
  looking them up — ``localhost``, cloud metadata names, and literal IP addresses in every
  spelling a resolver accepts (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``,
  ``[::ffff:127.0.0.1]``, NAT64, 6to4, Teredo, zone ids, …). Names are IDNA2008 (UTS 46):
  a name that mapping would change (full-width digits, a zero-width space) is refused, and
  port 0, IPvFuture (``[v1.fe]``) and junk after a bracketed address (``[::1]x``) are too.
* ``resolve`` on every connection: every address the name resolves to must be allowed, and the
  HTTP client connects to exactly those (pinned), so DNS rebinding cannot slip one in later.

``allow_private=True`` (``STATUSHOOKS_ALLOW_PRIVATE_URLS``, for local development and tests
against 127.0.0.1) allows everything except cloud metadata endpoints, which stay refused.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import urllib.parse
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import idna

from statushooks import exceptions

IPAddress = IPv4Address | IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Endpoint URLs whose check is remembered: more than a dispatcher serves endpoints, for a
#: dispatcher that goes round 10,000 endpoints misses a smaller cache every time.
URL_CACHE_SIZE = 16_384
#: What a refusal that allow_private would lift adds: the setting that lifts it.
PRIVATE_URLS_HINT = (
    "a service for local development allows these with `statushooks serve "
    "--allow-private-urls` or STATUSHOOKS_ALLOW_PRIVATE_URLS=1"
)
#: Instance metadata services: refused even with ``allow_private``.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack, …
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
LOCALHOST = "localhost"

_CGNAT = IPv4Network("100.64.0.0/10")
_BENCHMARKING = (IPv4Network("198.18.0.0/15"), IPv6Network("2001:2::/48"))
_DOCUMENTATION = (
    IPv4Network("192.0.2.0/24"),
    IPv4Network("198.51.100.0/24"),
    IPv4Network("203.0.113.0/24"),
    IPv6Network("2001:db8::/32"),
    IPv6Network("3fff::/20"),
)
_PRIVATE = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
    IPv6Network("fc00::/7"),
)
#: Spelled out so the policy does not depend on the Python patch release's ipaddress tables.
_RESERVED = (
    IPv4Network("0.0.0.0/8"),  # "this network"
    IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    IPv4Network("240.0.0.0/4"),  # reserved for future use
    IPv6Network("100::/64"),  # discard-only
    IPv6Network("2001::/23"),  # IETF protocol assignments (Teredo, ORCHID, …)
)
_NAT64 = IPv6Network("64:ff9b::/96")
_BROADCAST = IPv4Address("255.255.255.255")
#: One part of a numeric IPv4 host as inet_aton reads it: hex, octal or decimal.
_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


# -- addresses -----------------------------------------------------------------------------------


def address_refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why statushooks refuses to connect to ``ip``, or ``None`` if it may."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = address_refusal(embedded, allow_private=allow_private)
            return None if reason is None else f"{reason} (embedded IPv4 {embedded})"
    if allow_private:
        return None
    return _range_refusal(ip)


def _range_refusal(ip: IPAddress) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip in _CGNAT, "shared address space (CGNAT, 100.64.0.0/10)"),
        (ip.is_multicast, "multicast address"),
        (ip == _BROADCAST, "broadcast address"),
        (_within(ip, _DOCUMENTATION), "documentation address"),
        (_within(ip, _BENCHMARKING), "benchmarking address (198.18.0.0/15)"),
        (_within(ip, _PRIVATE), "private address"),
        (isinstance(ip, IPv6Address) and ip.is_site_local, "site-local address"),
        (ip.is_reserved or _within(ip, _RESERVED), "reserved address"),
        (not ip.is_global, "address not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _within(ip: IPAddress, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, NAT64, 6to4 or a Teredo client."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


# -- URLs ----------------------------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse an endpoint URL that is malformed or points at a refused host.

    A host name that is not refused outright still goes through ``resolve`` on every attempt.

    Raises:
        UnsafeURLError: the reason is in ``.errors`` under the field ``url``.
    """
    reason = url_refusal(url, allow_private=allow_private)
    if reason is not None:
        if not allow_private and url_refusal(url, allow_private=True) is None:
            reason += f" ({PRIVATE_URLS_HINT})"
        raise _unsafe(reason)


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why ``check_url`` refuses ``url``, or ``None`` (pure: cached, it runs every attempt)."""
    if any(char.isspace() or ord(char) < 0x20 or char == "\\" for char in url):
        return "the URL contains whitespace, control characters or backslashes"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "the URL is malformed"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "only http and https URLs are allowed"
    if "@" in parts.netloc:
        return "credentials in the URL (user@host) are not allowed"
    if not parts.hostname:
        return "the URL has no host"
    if parts.port == 0:
        return "port 0 is not a port a receiver listens on"
    if not _bracketed_host_is_whole(parts.netloc):
        return "the host in brackets must be an IPv6 address, alone before the port"
    return host_refusal(parts.hostname, allow_private=allow_private)


def _bracketed_host_is_whole(netloc: str) -> bool:
    """Whether a host in brackets is an IPv6 address (not IPvFuture, ``[v1.fe]``) followed by
    nothing but ``:port`` (``[::1]x`` is refused: ``urlsplit`` drops the ``x``)."""
    if not netloc.startswith("["):
        return True
    inside, bracket, after = netloc[1:].partition("]")
    return bool(bracket) and ":" in inside and (not after or after.startswith(":"))


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def host_refusal(host: str, *, allow_private: bool) -> str | None:
    """Why ``host`` (a name or a literal address, without brackets) is refused, or ``None``
    (pure: cached, the endpoints of one receiver share it)."""
    if ":" in host:
        return _ipv6_literal_refusal(host, allow_private=allow_private)
    try:
        name = _normalize_name(host)
    except ValueError:
        return "the host name is invalid"
    literal = _numeric_ipv4(name)
    if literal is not None:
        return address_refusal(literal, allow_private=allow_private)
    if _looks_numeric(name):
        return "the host is a malformed IP address"
    return _name_refusal(name, allow_private=allow_private)


def _ipv6_literal_refusal(host: str, *, allow_private: bool) -> str | None:
    address, _, _zone = urllib.parse.unquote(host).partition("%")
    try:
        ip = IPv6Address(address)
    except ValueError:
        return "the host is a malformed IPv6 address"
    return address_refusal(ip, allow_private=allow_private)


def ascii_host(host: str) -> str:
    """A host name as it is looked up and sent: IDNA2008 A-labels (``faß.de`` is
    ``xn--fa-hia.de``, as browsers send it; IDNA2003 made it ``fass.de``).

    Raises:
        ValueError: the name is not valid IDNA2008, or UTS 46 mapping would change it other
            than by case (a zero-width space dropped, full-width digits or ``ⓛ`` folded):
            what the user sees is then not the host that would be called.
    """
    if host.isascii():
        return host
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        if mapped != host.lower():
            raise ValueError(f"the host {host!r} changes under IDNA mapping (to {mapped!r})")
        return idna.encode(mapped).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"the host {host!r} is not a valid IDNA2008 name: {exc}") from exc


def _normalize_name(host: str) -> str:
    """Lowercase ASCII (IDNA2008 A-labels: ``ascii_host``) without a trailing dot."""
    if "%" in host:
        raise ValueError("percent-encoded host")
    name = ascii_host(host).lower().removesuffix(".")
    if not name:
        raise ValueError("empty host")
    return name


def _name_refusal(name: str, *, allow_private: bool) -> str | None:
    if name in METADATA_HOSTNAMES:
        return "cloud metadata host"
    if allow_private:
        return None
    if name == LOCALHOST or name.endswith("." + LOCALHOST):
        return "localhost"
    return None


def _looks_numeric(name: str) -> bool:
    """Whether the last label is numeric: WHATWG URL parsers then read the host as IPv4."""
    labels = name.split(".")
    return bool(_IPV4_PART.match(labels[-1]))


def _numeric_ipv4(name: str) -> IPv4Address | None:
    """The address inet_aton reads from ``name`` (``127.1``, ``0x7f.1``, ``017700000001``)."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_ipv4_part(part) for part in parts]
    if None in numbers:
        return None
    *head, last = [number for number in numbers if number is not None]
    if any(number > 0xFF for number in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _parse_ipv4_part(part: str) -> int | None:
    """One part in hex (``0x7f``), octal (``0177``) or decimal, or ``None``."""
    if not _IPV4_PART.match(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


# -- resolution ----------------------------------------------------------------------------------


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, all checked: the client pins these.

    Raises:
        UnsafeURLError: the host, or any one of its addresses, is refused.
        EndpointConnectError: the name does not resolve (``__cause__`` is the socket error).
    """
    reason = host_refusal(host, allow_private=allow_private)
    if reason is not None:
        raise _unsafe(reason)
    addresses = await _lookup(host, port)
    for address in addresses:
        reason = address_refusal(_parse_resolved(address), allow_private=allow_private)
        if reason is not None:
            raise _unsafe(f"{host} resolves to {address}: {reason}")
    return addresses


async def _lookup(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise exceptions.EndpointConnectError(f"could not resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise exceptions.EndpointConnectError(f"{host} resolves to no address")
    return addresses


def _parse_resolved(address: str) -> IPAddress:
    return ipaddress.ip_address(address.partition("%")[0])


def _unsafe(reason: str) -> exceptions.UnsafeURLError:
    message = f"refused endpoint URL: {reason}"
    return exceptions.UnsafeURLError(message, errors=[{"field": "url", "message": message}])
