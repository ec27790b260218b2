"""The fault suite's ``security`` scenario (``python -m bench.faults security``): the SSRF
matrix and the two-tenant sweep, against a real ``statushooks serve`` over HTTP (SQLite).

* SSRF, with the service running as in production (no ``--allow-private-urls``): every
  address spelling of ``ADDRESSES`` is offered twice, as a new endpoint's URL and as an
  existing endpoint's new URL, and must be refused (422); names that resolve to loopback
  (from ``/etc/hosts``: this machine's own name) are accepted as names and must be refused when
  a delivery connects (``unsafe_url``) without a byte reaching the trap listening on every
  address. Redirects need a receiver the guard lets through, so they run against a second
  ``serve`` *with* ``--allow-private-urls``: a receiver answering 301/302/303/307/308 towards
  the trap and towards the metadata address; a redirect must never be followed.
* Tenancy: two accounts, A with one object of every kind, then every ``(method, route)`` of
  the running service's OpenAPI document that takes an API key, called with B's key on A's
  ids (and, for routes without an id, on B's own, looking for A's data in the answer); the
  portal's pages with B's portal link on A's ids; the admin routes with B's key. A leak is an
  answer of 2xx on A's object, or any of A's ids, texts or secrets in an answer to B that B did
  not send. A's objects are read before and after: a change is a leak too. Each call is then
  made by A on its own objects (the control: the body is valid and the route works).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import common

ADDRESSES: dict[str, tuple[str, ...]] = {
    "loopback": (
        "127.0.0.1", "127.0.0.2", "127.1", "127.0.0.1.", "[::1]", "localhost", "LOCALHOST.",
        "api.localhost",
    ),
    "private": (
        "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "[fc00::1]", "[fd12:3456::1]",
        "[fec0::1]",
    ),
    "link-local": ("169.254.1.1", "[fe80::1]", "[fe80::1%25eth0]"),
    "metadata": (
        "169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "metadata.google.internal",
        "Metadata.Google.Internal.",
    ),
    "IPv6-mapped or embedded IPv4": (
        "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]", "[2002:a00:1::1]", "[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
    ),
    "decimal, octal, hex": (
        "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "017700000001", "0xa9fea9fe",
        "0x7f.0.0.1", "0", "167772161",
    ),
    "unspecified, multicast, reserved": (
        "0.0.0.0", "[::]", "224.0.0.1", "[ff02::1]", "255.255.255.255", "240.0.0.1",
        "192.0.2.1", "198.18.0.1", "[2001:db8::1]",
    ),
    "lookalike and malformed hosts": (
        "１２７.０.０.１", "ⓛocalhost", "127.0.0.1\\@example.com", "example.com@127.0.0.1",
        "a@127.0.0.1", "%31%32%37.0.0.1", "[::1]x", "[v1.fe]", "08.0.0.1", "1.2.3.4.5",
    ),
}  # fmt: skip
REDIRECTS = (301, 302, 303, 307, 308)
SETTLE = 20.0  # seconds to wait for test deliveries to be attempted


# -- receivers ---------------------------------------------------------------------------------


class Trap:
    """A server on every address of a port (``0.0.0.0`` and ``::``) that counts what reaches
    it, and a redirecting one on 127.0.0.1: ``/redirect/<status>/<to>``."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.redirects: list[str] = []
        self.port = 0
        self.redirect_port = 0
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        trap = web.Application()
        trap.router.add_route("*", "/{tail:.*}", self._trap)
        self.port = common.free_port()
        runner = web.AppRunner(trap, access_log=None)
        await runner.setup()
        for host in ("0.0.0.0", "::"):
            with contextlib.suppress(OSError):  # no IPv6, or :: also takes IPv4
                await web.TCPSite(runner, host, self.port).start()
        self._runners.append(runner)
        redirect = web.Application()
        redirect.router.add_route("*", "/redirect/{status}/{to}", self._redirect)
        self.redirect_port = common.free_port()
        runner = web.AppRunner(redirect, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.redirect_port).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def _trap(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(status=204)

    async def _redirect(self, request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        to = request.match_info["to"]
        self.redirects.append(request.path)
        location = (
            f"http://127.0.0.1:{self.port}/landed" if to == "trap" else "http://169.254.169.254/"
        )
        return web.Response(status=status, headers={"Location": location})


# -- the service -------------------------------------------------------------------------------


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, key: str) -> None:
        self.http = http
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(
        self, method: str, path: str, body: Any = None, params: Any = None
    ) -> tuple[int, str]:
        async with self.http.request(
            method,
            self.base + path,
            json=body,
            params=params,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            return response.status, await response.text()

    async def json(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        status, text = await self.call(method, path, body, params)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {text[:300]}")
        import orjson

        return orjson.loads(text) if text else None


async def serve(
    tmp: Path, log_dir: Path, name: str, *, allow_private: bool
) -> tuple[common.Proc, str, str]:
    """``statushooks serve`` on a fresh SQLite file with an admin token; the process, its base
    URL and the token."""
    url = common.sqlite_url(tmp, name)
    port = common.free_port()
    token = "faults-security-admin-token-0123456789abcdef"
    env = common.bench_env(
        url,
        STATUSHOOKS_ALLOW_PRIVATE_URLS="1" if allow_private else "0",
        STATUSHOOKS_ADMIN_TOKEN=token,
        STATUSHOOKS_RETRY_SCHEDULE="0s",
        STATUSHOOKS_DELIVERY_TIMEOUT="3",
    )
    args = [common.PYTHON, "-m", "statushooks.cli", "serve", "--port", str(port)]
    proc = common.Proc.start(name, args, env=env, log_dir=log_dir)
    await common.wait_port(port, timeout=60, proc=proc.popen)
    return proc, f"http://127.0.0.1:{port}", token


async def account(http: aiohttp.ClientSession, base: str, token: str, name: str) -> Api:
    admin = Api(http, base, token)
    created = await admin.json("POST", "/v1/accounts", {"name": name})
    return Api(http, base, created["api_key"])


# -- SSRF --------------------------------------------------------------------------------------


async def ssrf(http: aiohttp.ClientSession, base: str, token: str, trap: Trap) -> dict[str, Any]:
    api = await account(http, base, token, "ssrf")
    existing = await api.json("POST", "/v1/endpoints", {"url": "https://hooks.example.com/a"})
    classes: dict[str, dict[str, Any]] = {}
    for name, hosts in ADDRESSES.items():
        tried = refused = 0
        through: list[str] = []
        for host in hosts:
            url = f"http://{host}:{trap.port}/ssrf"
            for method, path in (
                ("POST", "/v1/endpoints"),
                ("PATCH", f"/v1/endpoints/{existing['id']}"),
            ):
                status, _ = await api.call(method, path, {"url": url})
                tried += 1
                if status == 422:
                    refused += 1
                else:
                    through.append(f"{method} {url}: {status}")
        classes[name] = {"tried": tried, "refused": refused, "accepted": through}
    classes["DNS names resolving to loopback"] = await dns_names(api, trap)
    return {"classes": classes, "trap_hits": len(trap.hits)}


def loopback_names() -> list[str]:
    """Names in /etc/hosts (and this machine's own name) that resolve to loopback only and
    are not spelled ``localhost`` (the guard refuses those by name)."""
    names = {socket.gethostname()}
    with contextlib.suppress(OSError):
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            names.update(fields[1:])
    found = []
    for name in sorted(names):
        if "localhost" in name.lower():
            continue
        try:
            infos = socket.getaddrinfo(name, None)
        except OSError:
            continue
        if infos and all(info[4][0].startswith(("127.", "::1")) for info in infos):
            found.append(name)
    return found


async def dns_names(api: Api, trap: Trap) -> dict[str, Any]:
    """Each name as an endpoint, then a test event: refused at connect, nothing arrives."""
    names = loopback_names()
    deliveries = []
    accepted_at_create = 0
    for name in names:
        status, text = await api.call(
            "POST", "/v1/endpoints", {"url": f"http://{name}:{trap.port}/dns"}
        )
        if status != 201:
            continue
        accepted_at_create += 1
        import orjson

        endpoint = orjson.loads(text)
        test = await api.json(
            "POST", f"/v1/endpoints/{endpoint['id']}/test", {"event_type": "sms.message.updated"}
        )
        deliveries.append(test["id"])
    kinds = await attempt_kinds(api, deliveries)
    refused = sum(1 for kind in kinds.values() if kind == "unsafe_url")
    return {
        "names": names,
        "tried": len(names),
        "refused": (len(names) - accepted_at_create) + refused,
        "accepted": [f"{d}: {k}" for d, k in kinds.items() if k != "unsafe_url"],
        "refused_at_connect": refused,
    }


async def attempt_kinds(api: Api, deliveries: Sequence[str]) -> dict[str, str | None]:
    """Each delivery's first attempt's ``error_kind`` (waiting up to ``SETTLE`` seconds)."""
    kinds: dict[str, str | None] = {}
    deadline = time.monotonic() + SETTLE
    while len(kinds) < len(deliveries) and time.monotonic() < deadline:
        for delivery in deliveries:
            if delivery in kinds:
                continue
            attempts = await api.json("GET", f"/v1/deliveries/{delivery}/attempts")
            if attempts["data"]:
                first = attempts["data"][0]
                kinds[delivery] = first["error_kind"] or str(first["response_status"])
        await asyncio.sleep(0.5)
    return kinds


async def redirects(http: aiohttp.ClientSession, base: str, token: str, trap: Trap) -> Any:
    api = await account(http, base, token, "redirects")
    deliveries = []
    for status in REDIRECTS:
        for to in ("trap", "metadata"):
            url = f"http://127.0.0.1:{trap.redirect_port}/redirect/{status}/{to}"
            endpoint = await api.json("POST", "/v1/endpoints", {"url": url})
            test = await api.json(
                "POST",
                f"/v1/endpoints/{endpoint['id']}/test",
                {"event_type": "sms.message.updated"},
            )
            deliveries.append(test["id"])
    kinds = await attempt_kinds(api, deliveries)
    return {
        "tried": len(deliveries),
        "answered": len(trap.redirects),
        "followed": len(trap.hits),
        "recorded": dict(Counter(str(k) for k in kinds.values())),
    }


# -- tenancy -----------------------------------------------------------------------------------

SMS = {"to": "+447810000001", "from": "Acme", "text": "A-private-text-7f3c"}
A_URL = "https://a-private-host.example.com/hook"
A_PHONE = "+447810000099"


async def seed(a: Api) -> dict[str, str]:
    """One object of every kind owned by A; the markers that must never reach B."""
    endpoint = await a.json("POST", "/v1/endpoints", {"url": A_URL})
    secret = await a.json("GET", f"/v1/endpoints/{endpoint['id']}/secret")
    message = await a.json("POST", "/v1/sms", {**SMS, "track_links": True})
    events = await a.json("GET", "/v1/events", params={"message_id": message["id"]})
    deliveries = await a.json("GET", "/v1/deliveries", params={"endpoint_id": endpoint["id"]})
    connector = await a.json(
        "POST",
        "/v1/connectors",
        {"provider": "twilio", "name": "A-twilio", "credentials": {"auth_token": "A" * 32}},
    )
    await a.json("POST", "/v1/suppressions", {"phone_number": A_PHONE})
    await a.json("PUT", "/v1/sms-keywords", {"opt_out": ["ASTOP"], "opt_in": ["ASTART"]})
    return {
        "endpoint_id": endpoint["id"],
        "message_id": message["id"],
        "event_id": events["data"][0]["id"],
        "delivery_id": deliveries["data"][0]["id"],
        "connector_id": connector["id"],
        "phone_number": A_PHONE,
        "secret": secret["current"] if "current" in secret else str(secret),
        "url": A_URL,
        "text": SMS["text"],
        "keyword": "ASTOP",
        "name": "sms.message.updated",
    }


def body_of(method: str, path: str, b_phone: str) -> Any:
    """A body the route accepts from its owner (the control pass checks it does)."""
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/sms"): {"to": "+447810000002", "from": "B", "text": "b"},
        ("POST", "/v1/email"): {
            "to": "b@example.com", "from": "b@example.com", "subject": "b", "text": "b"
        },
        ("POST", "/v1/voice"): {"to": "+447810000002", "verification_code": "123456"},
        ("POST", "/v1/messages/{message_id}/status"): {"status": "delivered"},
        ("POST", "/v1/status-reports"): {"reports": [{"message_id": "{message_id}", "status": "failed"}]},
        ("POST", "/v1/endpoints"): {"url": "https://b.example.com/hook"},
        ("PATCH", "/v1/endpoints/{endpoint_id}"): {"description": "hijacked"},
        ("POST", "/v1/endpoints/{endpoint_id}/test"): {"event_type": "sms.message.updated"},
        ("POST", "/v1/endpoints/{endpoint_id}/recover"): {"since": "2020-01-01T00:00:00Z"},
        ("POST", "/v1/inbound-sms"): {"from": A_PHONE, "to": "+447810000002", "text": "STOP"},
        ("POST", "/v1/suppressions"): {"phone_number": b_phone},
        ("PUT", "/v1/sms-keywords"): {"opt_out": ["BSTOP"], "opt_in": ["BSTART"]},
        ("POST", "/v1/connectors"): {
            "provider": "twilio", "name": "B", "credentials": {"auth_token": "B" * 32}
        },
        ("PATCH", "/v1/connectors/{connector_id}"): {"name": "hijacked"},
        ("POST", "/v1/portal-links"): {},
    }  # fmt: skip
    return bodies.get((method, path))


def fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        for key, value in ids.items():
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, dict):
        return {k: fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, ids) for v in template]
    return template


#: Path parameters that name no other tenant's object: the shared event catalog's types, and
#: a phone number (each account keeps its own suppression list: B deleting "A's" number
#: deletes from B's list, an idempotent 204; A's list is in the before/after comparison).
SHARED = {"name", "phone_number"}
#: Calls the control pass makes last (they delete the owner's object) or not at all.
LAST = ("DELETE",)


async def tenancy(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, Any]:
    a = await account(http, base, token, "tenant-a")
    b = await account(http, base, token, "tenant-b")
    ids = await seed(a)
    await b.json("POST", "/v1/endpoints", {"url": "https://b.example.com/own"})
    await b.json("POST", "/v1/sms", {**SMS, "text": "B-text"})
    markers = {k: v for k, v in ids.items() if k not in ("phone_number", "name")}
    schema = await a.json("GET", "/openapi.json")
    routes = []
    admin_routes = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            security = {name for item in op.get("security", []) for name in item}
            if "apiKey" in security:
                routes.append((method.upper(), path))
            elif "adminToken" in security:
                admin_routes.append((method.upper(), path))
    before = await snapshot(a, ids)
    leaks: list[str] = []
    statuses: Counter[str] = Counter()
    for method, path in sorted(routes, key=lambda r: (r[0] in LAST, r)):
        target = fill(path, ids)
        body = fill(body_of(method, path, "+447810000003"), ids)
        status, text = await b.call(method, target, body if method != "GET" else None)
        statuses[str(status)] += 1
        params = [p for p in path.split("/") if p.startswith("{")]
        owned = [p for p in params if p.strip("{}") not in SHARED]
        sent = target + str(body)
        if owned and 200 <= status < 300:
            leaks.append(f"B {method} {path}: {status} on A's object")
        seen = [k for k, v in markers.items() if v in text and v not in sent]
        if seen:
            leaks.append(f"B {method} {path}: A's {', '.join(seen)} in the answer")
    admin_refused = 0
    for method, path in admin_routes:
        status, _ = await b.call(method, fill(path, {"account_id": "x", "key_id": "x"}), {})
        admin_refused += status in (401, 403)
    portal = await portal_sweep(http, base, b, ids, markers)
    leaks += portal["leaks"]
    after = await snapshot(a, ids)
    changed = [k for k in before if before[k] != after[k]]
    leaks += [f"A's {k} changed during B's sweep" for k in changed]
    control = await control_pass(a, routes, ids)
    return {
        "routes": len(routes),
        "tried": len(routes),
        "answers_to_b": dict(statuses),
        "admin_routes": len(admin_routes),
        "admin_refused": admin_refused,
        "portal_pages": portal["tried"],
        "leaks": leaks,
        "control_2xx": control["ok"],
        "control_other": control["other"],
    }


async def snapshot(a: Api, ids: dict[str, str]) -> dict[str, Any]:
    """What A reads of its own objects (fields a delivery attempt would change left out)."""
    endpoint = await a.json("GET", f"/v1/endpoints/{ids['endpoint_id']}")
    for volatile in ("state", "failing_since", "updated_at", "disabled_reason"):
        endpoint.pop(volatile, None)
    return {
        "endpoint": endpoint,
        "secret": await a.json("GET", f"/v1/endpoints/{ids['endpoint_id']}/secret"),
        "message": await a.json("GET", f"/v1/messages/{ids['message_id']}"),
        "connector": await a.json("GET", f"/v1/connectors/{ids['connector_id']}"),
        "suppressions": await a.json("GET", "/v1/suppressions"),
        "sms_keywords": await a.json("GET", "/v1/sms-keywords"),
    }


PORTAL_PAGES = (
    "endpoints/{endpoint_id}",
    "endpoints/{endpoint_id}/secret",
    "events/{event_id}",
    "messages/{message_id}",
)


async def portal_sweep(
    http: aiohttp.ClientSession, base: str, b: Api, ids: dict[str, str], markers: dict[str, str]
) -> dict[str, Any]:
    link = await b.json("POST", "/v1/portal-links", {})
    root = base + "/portal/" + link["url"].split("/portal/", 1)[1]
    leaks = []
    for page in PORTAL_PAGES:
        target = fill(page, ids)
        async with http.get(root + target, allow_redirects=False) as response:
            text = await response.text()
            if 200 <= response.status < 300:
                leaks.append(f"B's portal {page}: {response.status}")
            seen = [k for k, v in markers.items() if v in text and v not in target]
            if seen:
                leaks.append(f"B's portal {page}: A's {', '.join(seen)}")
    return {"tried": len(PORTAL_PAGES), "leaks": leaks}


async def control_pass(a: Api, routes: Sequence[tuple[str, str]], ids: dict[str, str]) -> Any:
    """A makes every call on its own objects: 2xx (or 409: the object was found, its state
    refused the call, as verifying an endpoint not awaiting verification), or what else each
    answered."""
    ok = 0
    other: list[str] = []
    for method, path in sorted(routes, key=lambda r: (r[0] in LAST, r)):
        body = fill(body_of(method, path, "+447810000004"), ids)
        status, text = await a.call(method, fill(path, ids), body if method != "GET" else None)
        if 200 <= status < 300 or status == 409:
            ok += 1
        else:
            other.append(f"{method} {path}: {status} {text[:120]}")
    return {"ok": ok, "other": other}


# -- the scenario ------------------------------------------------------------------------------


async def scenario(quick: bool, log_dir: Path, tmp: Path) -> dict[str, Any]:  # noqa: ARG001
    trap = Trap()
    await trap.start()
    result: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            proc, base, token = await serve(tmp, log_dir, "security", allow_private=False)
            try:
                result["ssrf"] = await ssrf(http, base, token, trap)
                result["tenancy"] = await tenancy(http, base, token)
            finally:
                proc.stop()
            proc, base, token = await serve(tmp, log_dir, "security-redirects", allow_private=True)
            try:
                result["redirects"] = await redirects(http, base, token, trap)
            finally:
                proc.stop()
    finally:
        await trap.stop()
    result["trap_hits"] = len(trap.hits)
    return result


def violations(result: dict[str, Any]) -> list[str]:
    found = [
        f"ssrf {name}: {', '.join(c['accepted'])}"
        for name, c in result["ssrf"]["classes"].items()
        if c["accepted"] or c["refused"] != c["tried"]
    ]
    if result["redirects"]["followed"] or result["trap_hits"]:
        found.append(f"redirects: {result['redirects']}; trap hits {result['trap_hits']}")
    found += [f"tenancy: {leak}" for leak in result["tenancy"]["leaks"]]
    if result["tenancy"]["admin_refused"] != result["tenancy"]["admin_routes"]:
        found.append(f"tenancy: admin routes with B's key: {result['tenancy']}")
    return found
