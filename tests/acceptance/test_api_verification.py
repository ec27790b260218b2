"""Verified endpoints against real local receivers: the CloudEvents webhook handshake and the
echoed challenge, granted, refused and timing out, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from acceptance_support import Account, Server
from aiohttp import web

from statushooks import receiver
from statushooks.events import interact

#: What the acceptance server sends as ``WebHook-Request-Origin``: its public host.
ORIGIN = "127.0.0.1"
SMS = {"to": "+447838970000", "from": "Acme", "text": "Hello"}


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 whose answers to OPTIONS and POST the test sets."""

    #: ``WebHook-Allowed-Origin`` to answer the handshake with (None: leave it out).
    allowed_origin: str | None = None
    allowed_rate: str | None = None
    #: Echo the challenge of a verification POST (else answer ``ok``).
    echo: bool = False
    #: Seconds to wait before answering anything.
    delay: float = 0.0
    #: Check the signature of every POST with this secret (once known).
    secret: str | None = None
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def posts(self) -> list[dict[str, Any]]:
        """The JSON of every POST that is not a verification challenge."""
        bodies = [json.loads(body) for method, _, body in self.requests if method == "POST"]
        return [b for b in bodies if b.get("type") != "statushooks.endpoint.verification"]

    def headers_of_posts(self) -> list[dict[str, str]]:
        return [headers for method, headers, _ in self.requests if method == "POST"]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.method, dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.method == "OPTIONS":
            headers = {"Allow": "POST"}
            if self.allowed_origin is not None:
                headers["WebHook-Allowed-Origin"] = self.allowed_origin
            if self.allowed_rate is not None:
                headers["WebHook-Allowed-Rate"] = self.allowed_rate
            return web.Response(status=200, headers=headers)
        if self.secret is not None:
            receiver.verify(body, request.headers, self.secret)
        payload = json.loads(body)
        if self.echo and payload.get("type") == "statushooks.endpoint.verification":
            return web.json_response({"challenge": payload["challenge"]})
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/hook", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("verified")


async def _create(account: Account, hook: Receiver, mode: str, **fields: Any) -> dict[str, Any]:
    body = {"url": hook.url, "verification": mode, "enabled_events": [interact.NAME], **fields}
    response = await account.client.post("/v1/endpoints", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _deliveries(account: Account, endpoint_id: str) -> list[dict[str, Any]]:
    response = await account.client.get("/v1/deliveries", params={"endpoint_id": endpoint_id})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def _wait_for_posts(hook: Receiver, count: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while len(hook.posts()) < count:
            await asyncio.sleep(0.05)


async def test_cloudevents_handshake_granted(account: Account, hook: Receiver) -> None:
    """A receiver answering the OPTIONS handshake with our origin is active at once, its
    ``WebHook-Allowed-Rate`` (per minute) is its rate limit, and every delivery carries
    ``WebHook-Request-Origin``."""
    hook.allowed_origin, hook.allowed_rate = ORIGIN, "120"
    endpoint = await _create(account, hook, "cloudevents")
    assert endpoint["status"] == "active", endpoint
    assert endpoint["rate_limit"] == 2.0
    assert endpoint["verified_at"] is not None and endpoint["verification_error"] is None
    [(method, headers, body)] = hook.requests
    assert method == "OPTIONS" and body == b""
    assert headers["WebHook-Request-Origin"] == ORIGIN
    hook.secret = endpoint["secret"]
    assert (await account.client.post("/v1/sms", json=SMS)).status_code == 201
    await _wait_for_posts(hook, 1)
    assert hook.headers_of_posts()[0]["WebHook-Request-Origin"] == ORIGIN


async def test_cloudevents_wildcard_origin_and_unlimited_rate(
    account: Account, hook: Receiver
) -> None:
    """``WebHook-Allowed-Origin: *`` grants too; ``WebHook-Allowed-Rate: *`` means no limit."""
    hook.allowed_origin, hook.allowed_rate = "*", "*"
    endpoint = await _create(account, hook, "cloudevents", rate_limit=5)
    assert (endpoint["status"], endpoint["rate_limit"]) == ("active", None)


@pytest.mark.parametrize("allowed", [None, "someone-else.example"])
async def test_cloudevents_handshake_refused_then_granted(
    account: Account, hook: Receiver, allowed: str | None
) -> None:
    """Without our origin in ``WebHook-Allowed-Origin`` the endpoint stays ``pending`` and no
    delivery is made for it; once the receiver grants, ``POST …/verify`` activates it and
    only then do its deliveries exist."""
    hook.allowed_origin = allowed
    endpoint = await _create(account, hook, "cloudevents")
    assert endpoint["status"] == "pending"
    assert "WebHook-Allowed-Origin" in endpoint["verification_error"]
    assert (await account.client.post("/v1/sms", json=SMS)).status_code == 201
    assert await _deliveries(account, endpoint["id"]) == []
    test = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": interact.NAME}
    )
    assert test.status_code == 409
    resumed = await account.client.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"status": "active"}
    )
    assert resumed.json()["status"] == "pending"

    hook.allowed_origin = ORIGIN
    verified = await account.client.post(f"/v1/endpoints/{endpoint['id']}/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "active"
    assert (await account.client.post("/v1/sms", json=SMS)).status_code == 201
    await _wait_for_posts(hook, 1)
    assert len(await _deliveries(account, endpoint["id"])) == 1


async def test_cloudevents_handshake_timing_out(
    server: Server, account: Account, hook: Receiver
) -> None:
    """A receiver that does not answer within the delivery timeout is not granted."""
    hook.allowed_origin, hook.delay = ORIGIN, server.settings.delivery_timeout + 1.0
    endpoint = await _create(account, hook, "cloudevents")
    assert endpoint["status"] == "pending"
    assert "within" in endpoint["verification_error"]


async def test_challenge_echoed(account: Account, hook: Receiver) -> None:
    """A receiver that echoes the signed challenge is active; the challenge was signed with
    the endpoint's secret."""
    hook.echo = True
    endpoint = await _create(account, hook, "challenge")
    assert endpoint["status"] == "active", endpoint
    [(method, headers, body)] = hook.requests
    assert method == "POST"
    receiver.verify(body, headers, endpoint["secret"])
    assert json.loads(body)["endpoint_id"] == endpoint["id"]


async def test_challenge_not_echoed_then_rerun(account: Account, hook: Receiver) -> None:
    """A receiver that answers 200 without the challenge leaves the endpoint ``pending``; set
    up with the secret and echoing, ``POST …/verify`` activates it."""
    endpoint = await _create(account, hook, "challenge")
    assert endpoint["status"] == "pending"
    assert "echo" in endpoint["verification_error"]
    hook.echo, hook.secret = True, endpoint["secret"]
    verified = await account.client.post(f"/v1/endpoints/{endpoint['id']}/verify")
    assert verified.json()["status"] == "active"
    assert (await account.client.post("/v1/sms", json=SMS)).status_code == 201
    await _wait_for_posts(hook, 1)
    assert "WebHook-Request-Origin" not in hook.headers_of_posts()[-1]


async def test_challenge_timing_out(server: Server, account: Account, hook: Receiver) -> None:
    """An echo after the delivery timeout is too late."""
    hook.echo, hook.delay = True, server.settings.delivery_timeout + 1.0
    endpoint = await _create(account, hook, "challenge")
    assert endpoint["status"] == "pending"
    assert "within" in endpoint["verification_error"]


async def test_a_new_url_is_verified_again(account: Account, hook: Receiver) -> None:
    """Changing a verified endpoint's URL verifies it again before it receives anything."""
    hook.allowed_origin = ORIGIN
    endpoint = await _create(account, hook, "cloudevents")
    assert endpoint["status"] == "active"
    other = Receiver()
    await other.start()
    try:
        moved = await account.client.patch(
            f"/v1/endpoints/{endpoint['id']}", json={"url": other.url}
        )
        assert moved.json()["status"] == "pending"
        assert [method for method, _, _ in other.requests] == ["OPTIONS"]
    finally:
        await other.stop()


async def test_verify_needs_a_verification(account: Account, hook: Receiver) -> None:
    """``POST …/verify`` of an endpoint without a verification mode is a 409 problem."""
    response = await account.client.post("/v1/endpoints", json={"url": hook.url})
    endpoint = response.json()
    assert endpoint["status"] == "active" and endpoint["verification"] == "none"
    verify = await account.client.post(f"/v1/endpoints/{endpoint['id']}/verify")
    assert verify.status_code == 409
    assert verify.headers["content-type"] == "application/problem+json"
    assert hook.requests == []
