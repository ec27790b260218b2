"""One webhook attempt: sign the stored payload, POST it through the injected client, classify.

Headers of every request:

* ``Content-Type: application/json`` and ``User-Agent: statushooks/<version>``;
* Standard Webhooks ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``. The
  ``webhook-id`` is the **event id**: the same across retries (a receiver deduplicates on it)
  and across the endpoints of the event (each receiver sees it once). The timestamp is fresh on
  every attempt, and every live secret of the endpoint signs (rotation overlap): a ``whsec_``
  secret a ``v1`` HMAC signature, a ``whsk_`` key a ``v1a`` Ed25519 one;
* for the YCloud dialect, also ``YCloud-Signature`` (signed with the newest HMAC secret; an
  endpoint signed with ``v1a`` only has none) and ``X-Webhook-Endpoint-ID``.

The result is a ``retry.Outcome`` for the retry policy and a ``deliveries.Attempt`` record
(request headers, status, duration, at most 4 KiB of body, error kind ``timeout``,
``connect``, ``dns``, ``headers_too_large``, ``unsafe_url`` or ``status``). The record's text
from the receiver is storable on every database: bytes that are not UTF-8, and NUL, are
U+FFFD (``deliveries.storable_text``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from statushooks import exceptions, http, ids, retry, signing
from statushooks.deliveries import Attempt, Delivery
from statushooks.endpoints import Endpoint
from statushooks.events import catalog

CONTENT_TYPE = "application/json"
STATUS = "status"
Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class Result:
    """What one attempt did: the outcome the retry policy judges, and the record to store."""

    outcome: retry.Outcome
    attempt: Attempt


class _Fields(TypedDict, total=False):
    """The attempt fields that depend on how it ended."""

    response_status: int | None
    response_body: str
    error_kind: str | None
    error_message: str | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def dialect_of(event_type: str) -> str | None:
    """The dialect of an event type name, or None for a name the catalog does not know."""
    try:
        return catalog.get(event_type).dialect
    except exceptions.ValidationError:
        return None


def request_headers(
    *, event_id: str, event_type: str, endpoint: Endpoint, payload: bytes, now: datetime
) -> dict[str, str]:
    """Every header of one attempt, signed at ``now``."""
    timestamp = int(now.timestamp())
    secrets = endpoint.live_secrets(now) or tuple(secret.value for secret in endpoint.secrets)
    headers = {"Content-Type": CONTENT_TYPE, "User-Agent": http.USER_AGENT}
    headers.update(
        signing.webhook_headers(msg_id=event_id, timestamp=timestamp, body=payload, secrets=secrets)
    )
    hmac_secrets = [secret for secret in secrets if not signing.is_ed25519_secret(secret)]
    if hmac_secrets and dialect_of(event_type) == catalog.YCLOUD:
        headers.update(
            signing.ycloud_headers(
                timestamp=timestamp, body=payload, secret=hmac_secrets[0], endpoint_id=endpoint.id
            )
        )
    return headers


async def attempt(
    client: http.Client,
    delivery: Delivery,
    endpoint: Endpoint,
    payload: bytes,
    *,
    clock: Clock = utcnow,
) -> Result:
    """Make attempt number ``delivery.attempts + 1`` of ``delivery`` to ``endpoint``."""
    started_at = clock()
    headers = request_headers(
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        endpoint=endpoint,
        payload=payload,
        now=started_at,
    )
    start = time.perf_counter()
    try:
        response = await client.post(endpoint.url, body=payload, headers=headers)
    except (exceptions.DeliveryError, exceptions.UnsafeURLError) as exc:
        outcome, fields = _failure(exc)
    else:
        outcome, fields = _answer(response, clock())
    return Result(
        outcome=outcome,
        attempt=Attempt(
            id=ids.new_id("att", started_at.timestamp()),
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            number=delivery.attempts + 1,
            started_at=started_at,
            duration_ms=(time.perf_counter() - start) * 1000,
            request_headers=headers,
            **fields,
        ),
    )


def _answer(response: http.Response, now: datetime) -> tuple[retry.Outcome, _Fields]:
    ok = 200 <= response.status < 300
    control = retry.parse_delivery_control(response.headers.get(retry.DELIVERY_CONTROL_HEADER))
    outcome = retry.Outcome(
        status_code=response.status,
        retry_after=retry.parse_retry_after(response.headers.get("retry-after"), now),
        delivery_control=control,
    )
    message = None if ok else f"the endpoint answered HTTP {response.status}"
    if message is not None and control is not None:
        message += f" with {retry.DELIVERY_CONTROL_HEADER}: {control}"
    return outcome, {
        "response_status": response.status,
        "response_body": decode_body(response.body),
        "error_kind": None if ok else STATUS,
        "error_message": message,
    }


def _failure(exc: exceptions.StatushooksError) -> tuple[retry.Outcome, _Fields]:
    kind = retry.UNSAFE_URL if isinstance(exc, exceptions.UnsafeURLError) else _kind(exc)
    return retry.Outcome(error_kind=kind), {"error_kind": kind, "error_message": exc.message}


def _kind(exc: exceptions.StatushooksError) -> str:
    return exc.kind if isinstance(exc, exceptions.DeliveryError) else "error"


def decode_body(body: bytes, limit: int = http.BODY_LIMIT) -> str:
    """At most ``limit`` bytes of a response body as text, undecodable bytes replaced (and NUL
    by the ``Attempt`` the text goes into)."""
    return body[:limit].decode("utf-8", errors="replace")


def outcome_summary(result: Result) -> Mapping[str, object]:
    """A log-friendly view of one result."""
    return {
        "delivery_id": result.attempt.delivery_id,
        "attempt": result.attempt.number,
        "status": result.attempt.response_status,
        "error_kind": result.attempt.error_kind,
        "duration_ms": round(result.attempt.duration_ms, 1),
    }
