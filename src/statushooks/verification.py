"""Endpoint verification: an endpoint proves it wants our requests before it receives any.

Two modes (``endpoints.Verification``), each one request through the webhook HTTP client
(``http.HttpClient``: the URL guard, pinned addresses, the delivery deadline):

* ``cloudevents``: the abuse-protection handshake of the CloudEvents HTTP webhook spec (§4).
  ``OPTIONS <url>`` with ``WebHook-Request-Origin: <origin>``; permission is granted only by a
  ``WebHook-Allowed-Origin`` answer header equal to the origin or ``*`` (the status code is not
  consent). ``WebHook-Allowed-Rate`` (requests per minute, or ``*``) becomes the endpoint's
  ``rate_limit`` (per second; ``*``: none). The origin is the host of the public base URL, and
  every delivery to the endpoint carries it (``delivery.request_headers``). Permission by
  callback (``WebHook-Request-Callback``) is not offered.
* ``challenge``: ``POST <url>`` of a signed event (Standard Webhooks headers, the endpoint's
  secrets) ``{"type": "statushooks.endpoint.verification", "challenge": "<random>", …}``; the
  endpoint must answer 2xx within the deadline with the challenge as its body, bare or as
  ``{"challenge": "…"}``.

``run`` returns a ``Verdict``; it never raises for what the endpoint does.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import datetime

from statushooks import exceptions, http, ids, signing
from statushooks.endpoints import Endpoint, Verification

ORIGIN_HEADER = "WebHook-Request-Origin"
ALLOWED_ORIGIN = "webhook-allowed-origin"
ALLOWED_RATE = "webhook-allowed-rate"
CHALLENGE_TYPE = "statushooks.endpoint.verification"
CHALLENGE_BYTES = 24
SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What one verification found."""

    granted: bool
    #: Why it was not granted (None if it was).
    error: str | None = None
    #: ``cloudevents`` only: whether the answer set a rate, and the rate (per second; None for
    #: ``*``, no limit).
    sets_rate: bool = False
    rate_limit: float | None = None


def origin_of(public_base_url: str) -> str:
    """The ``WebHook-Request-Origin`` of this deployment: its public host name."""
    return urllib.parse.urlsplit(public_base_url).hostname or public_base_url


def parse_allowed_rate(value: str) -> float | None:
    """``WebHook-Allowed-Rate`` as requests per second; None for ``*`` (no limit).

    Raises:
        ValueError: not ``*`` nor a positive whole number.
    """
    text = value.strip()
    if text == "*":
        return None
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"WebHook-Allowed-Rate {value!r} is not * nor a positive integer")
    return int(text) / SECONDS_PER_MINUTE


async def run(
    client: http.HttpClient, endpoint: Endpoint, *, origin: str, now: datetime
) -> Verdict:
    """Verify ``endpoint`` by its mode (an endpoint without one is granted)."""
    if endpoint.verification is Verification.CLOUDEVENTS:
        return await handshake(client, endpoint.url, origin=origin)
    if endpoint.verification is Verification.CHALLENGE:
        return await challenge(client, endpoint, now=now)
    return Verdict(granted=True)


async def handshake(client: http.HttpClient, url: str, *, origin: str) -> Verdict:
    """The CloudEvents abuse-protection handshake with ``url``."""
    try:
        response = await client.options(url, headers={ORIGIN_HEADER: origin})
    except (exceptions.DeliveryError, exceptions.UnsafeURLError) as exc:
        return Verdict(granted=False, error=f"the handshake failed: {exc.message}")
    allowed = response.headers.get(ALLOWED_ORIGIN)
    if allowed is None:
        return Verdict(
            granted=False,
            error=f"no WebHook-Allowed-Origin in the answer (HTTP {response.status}): "
            "the endpoint did not grant permission",
        )
    if allowed.strip() not in (origin, "*"):
        return Verdict(
            granted=False, error=f"WebHook-Allowed-Origin {allowed!r} is not {origin!r} nor *"
        )
    rate = response.headers.get(ALLOWED_RATE)
    if rate is None:
        return Verdict(granted=True)
    try:
        return Verdict(granted=True, sets_rate=True, rate_limit=parse_allowed_rate(rate))
    except ValueError as exc:
        return Verdict(granted=False, error=str(exc))


def challenge_body(event_id: str, endpoint_id: str, token: str, now: datetime) -> bytes:
    """The challenge event's JSON."""
    body = {
        "type": CHALLENGE_TYPE,
        "id": event_id,
        "endpoint_id": endpoint_id,
        "challenge": token,
        "time": now.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def echoed(body: bytes, token: str) -> bool:
    """Whether an answer body is the challenge, bare or as ``{"challenge": …}``."""
    text = body.decode("utf-8", errors="replace").strip()
    if text == token:
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("challenge") == token


async def challenge(client: http.HttpClient, endpoint: Endpoint, *, now: datetime) -> Verdict:
    """POST a signed challenge; granted if the answer is 2xx and echoes it."""
    token = secrets.token_urlsafe(CHALLENGE_BYTES)
    event_id = ids.new_id("evt", now.timestamp())
    body = challenge_body(event_id, endpoint.id, token, now)
    headers = {"Content-Type": "application/json"}
    headers.update(
        signing.webhook_headers(
            msg_id=event_id,
            timestamp=int(now.timestamp()),
            body=body,
            secrets=endpoint.live_secrets(now),
        )
    )
    try:
        response = await client.post(endpoint.url, body=body, headers=headers)
    except (exceptions.DeliveryError, exceptions.UnsafeURLError) as exc:
        return Verdict(granted=False, error=f"the challenge failed: {exc.message}")
    if not 200 <= response.status < 300:
        return Verdict(
            granted=False, error=f"the endpoint answered the challenge HTTP {response.status}"
        )
    if not echoed(response.body, token):
        return Verdict(granted=False, error="the endpoint's answer did not echo the challenge")
    return Verdict(granted=True)
