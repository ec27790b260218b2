from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest

from statushooks import exceptions, urlguard

REFUSED_ADDRESS_URLS = [
    "http://127.0.0.1/hook",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.0.1.:8080/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://169.254.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://[2001:db8::1]/",
    "http://198.18.0.1/",
    "http://198.19.255.255/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
]
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://Metadata.Google.Internal./",
]
MALFORMED_URLS = [
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "example.com/hook",
    "http:///hook",
    "https://",
    "http://user@example.com/",
    "http://user:pass@example.com/",
    "http://a@127.0.0.1/",
    "http://example.com@127.0.0.1/",
    "http://127.0.0.1\\@example.com/",
    "http://exa mple.com/",
    "http://example.com:99999/",
    "http://[::1/",
    "http://[not-an-ip]/",
    "http://1.2.3.4.5/",
    "http://08.0.0.1/",
    "http://256.256.256.256/",
    "http://%31%32%37.0.0.1/",
    # Hosts that UTS 46 mapping changes: what is shown is not what would be called.
    "http://１２７.０.０.１/",
    "http://ⓛocalhost/",
    "http://exa\u200bmple.com/hook",
    "http://exa\u00adample.com/hook",
    # Not IDNA2008 (a symbol; a leading combining mark).
    "http://☃.example/",
    "http://\u0301a.example/",
    # Junk after a bracketed address, IPvFuture, port 0.
    "http://[::1]x/",
    "http://[v1.fe]/",
    "http://example.com:0/",
]
ALLOWED_URLS = [
    "https://example.com/hook",
    "http://example.com:8080/hook?x=1",
    "HTTPS://Example.COM./hook",
    "https://93.184.216.34/",
    "https://1572395042/",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/",
    "https://[::ffff:93.184.216.34]/",
    "https://localhost.example.com/",
    "http://faß.de/hook",
    "https://bücher.example/",
]


def refusal(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(exceptions.UnsafeURLError) as info:
        urlguard.check_url(url, allow_private=allow_private)
    (error,) = info.value.errors
    assert error["field"] == "url"
    return error["message"]


@pytest.mark.parametrize("url", REFUSED_ADDRESS_URLS)
def test_refused_hosts(url):
    """Private, loopback and special hosts are refused in every spelling."""
    refusal(url)


@pytest.mark.parametrize("url", REFUSED_ADDRESS_URLS)
def test_allow_private_allows_them(url):
    """allow_private lets private, loopback and special hosts through."""
    urlguard.check_url(url, allow_private=True)


@pytest.mark.parametrize("url", METADATA_URLS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_always_refused(url, allow_private):
    """Cloud metadata endpoints are refused even with allow_private."""
    assert "metadata" in refusal(url, allow_private=allow_private)


@pytest.mark.parametrize("url", MALFORMED_URLS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_malformed_urls_refused(url, allow_private):
    """Bad schemes, missing hosts, userinfo and junk hosts are always refused."""
    refusal(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_public_urls_allowed(url):
    """Public names and addresses pass."""
    assert urlguard.check_url(url, allow_private=False) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[2002:c000:201::]/", "documentation"),
        ("http://localhost/", "localhost"),
        ("http://user@example.com/", "credentials"),
        ("ftp://example.com/", "http and https"),
    ],
)
def test_refusal_reason_is_readable(url, reason):
    """The message says why the URL was refused."""
    assert reason in refusal(url)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.127.255.255", "CGNAT"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("2001:2::1", "benchmarking"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.8", "reserved"),
        ("::ffff:10.0.0.1", "private address (embedded IPv4 10.0.0.1)"),
        ("2001::1", "reserved"),
        ("100::1", "reserved"),
    ],
)
def test_address_refusal_reasons(address, reason):
    """address_refusal() names the refused range."""
    result = urlguard.address_refusal(ipaddress.ip_address(address), allow_private=False)
    assert result is not None
    assert reason in result


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_address_refusal_allows_public(address):
    """Global unicast addresses are allowed."""
    assert urlguard.address_refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1", None), ("10.0.0.1", None), ("::1", None), ("169.254.169.254", "metadata")],
)
def test_address_refusal_with_allow_private(address, expected):
    """With allow_private only metadata addresses are refused."""
    result = urlguard.address_refusal(ipaddress.ip_address(address), allow_private=True)
    assert result is None if expected is None else expected in (result or "")


async def test_resolve_refuses_localhost():
    """resolve() refuses localhost without allow_private."""
    with pytest.raises(exceptions.UnsafeURLError):
        await urlguard.resolve("localhost", 80, allow_private=False)


async def test_resolve_localhost_with_allow_private():
    """resolve() returns the loopback addresses of localhost with allow_private."""
    addresses = await urlguard.resolve("localhost", 80, allow_private=True)
    assert addresses
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses)


async def test_resolve_refuses_metadata_even_with_allow_private():
    """resolve() never returns a metadata address."""
    with pytest.raises(exceptions.UnsafeURLError):
        await urlguard.resolve("169.254.169.254", 80, allow_private=True)


def fake_getaddrinfo(monkeypatch, answers):
    loop = asyncio.get_running_loop()
    seen = []

    async def getaddrinfo(host, port, **kwargs):
        seen.append((host, port, kwargs))
        if isinstance(answers, Exception):
            raise answers
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return seen


async def test_resolve_refuses_if_any_address_is_refused(monkeypatch):
    """One private address among public ones refuses the whole name (no partial pinning)."""
    fake_getaddrinfo(monkeypatch, ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(exceptions.UnsafeURLError, match=re.escape("10.0.0.7")):
        await urlguard.resolve("rebind.example", 443, allow_private=False)


async def test_resolve_returns_checked_addresses(monkeypatch):
    """resolve() returns every resolved address once, in order, for pinning."""
    seen = fake_getaddrinfo(
        monkeypatch, ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"]
    )
    addresses = await urlguard.resolve("example.com", 443, allow_private=False)
    assert addresses == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert seen == [("example.com", 443, {"type": socket.SOCK_STREAM})]


async def test_resolve_refuses_metadata_answer_with_allow_private(monkeypatch):
    """A name resolving to a metadata address is refused even with allow_private."""
    fake_getaddrinfo(monkeypatch, ["169.254.169.254"])
    with pytest.raises(exceptions.UnsafeURLError, match="metadata"):
        await urlguard.resolve("sneaky.example", 80, allow_private=True)


async def test_resolve_dns_failure_is_a_connect_error(monkeypatch):
    """A name that does not resolve is an EndpointConnectError with the socket error as cause."""
    fake_getaddrinfo(monkeypatch, socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    with pytest.raises(exceptions.EndpointConnectError) as info:
        await urlguard.resolve("nowhere.invalid", 80, allow_private=False)
    assert isinstance(info.value.__cause__, socket.gaierror)


async def test_resolve_with_no_answer_is_a_connect_error(monkeypatch):
    """An empty answer is an EndpointConnectError."""
    fake_getaddrinfo(monkeypatch, [])
    with pytest.raises(exceptions.EndpointConnectError):
        await urlguard.resolve("empty.example", 80, allow_private=False)


def test_host_names_are_idna2008():
    """Hosts are sent as IDNA2008 A-labels, as browsers send them (IDNA2003 made faß.de
    fass.de); an ASCII name is left as it is."""
    assert urlguard.ascii_host("faß.de") == "xn--fa-hia.de"
    assert urlguard.ascii_host("Bücher.example") == "xn--bcher-kva.example"
    assert urlguard.ascii_host("Example.COM") == "Example.COM"
    with pytest.raises(ValueError, match="changes under IDNA mapping"):
        urlguard.ascii_host("exa\u200bmple.com")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/", "http://10.1.2.3/", "http://localhost/"])
def test_refusal_a_development_setting_lifts_names_it(url):
    """A refusal allow_private would lift says how to allow it (the tour's local receiver)."""
    assert "--allow-private-urls" in refusal(url)
    assert urlguard.check_url(url, allow_private=True) is None


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "ftp://example.com/"])
def test_refusal_no_setting_lifts_names_none(url):
    """Metadata addresses and bad schemes stay refused: no hint at a setting."""
    assert "--allow-private-urls" not in refusal(url)
