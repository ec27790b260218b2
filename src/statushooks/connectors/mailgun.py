"""Mailgun webhooks: ``{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}``,
the signature being hex HMAC-SHA256 of timestamp followed by token, keyed by the domain's HTTP
webhook signing key. A message is found by ``message.headers.message-id`` without angle
brackets (the send API answers ``<id>``: store it without them). Mailgun retries a non-2xx
answer (406 stops it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

STATUSES: dict[str, MessageStatus | None] = {
    "accepted": None,
    "delivered": MessageStatus.DELIVERED,
    "rejected": MessageStatus.FAILED,
    "opened": None,
    "clicked": None,
    "unsubscribed": None,
    "complained": None,
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def expected_signature(timestamp: str, token: str, signing_key: str) -> str:
    return base.hmac_digest(signing_key, (timestamp + token).encode(), "sha256").hex()


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    signed = _mapping(_mapping(base.signed_json(request)).get("signature"))
    given = base.require(base.text(signed.get("signature")), "signature.signature field")
    timestamp = base.text(signed.get("timestamp")) or ""
    token = base.text(signed.get("token")) or ""
    expected = expected_signature(timestamp, token, credentials["signing_key"])
    base.check(base.same(expected, given), "signature")


def _status(event: str, severity: str | None) -> MessageStatus | None:
    if event == "failed":
        return MessageStatus.FAILED if severity == "permanent" else None
    return STATUSES.get(event)


def parse(request: base.Callback) -> base.Parsed:
    data = _mapping(_mapping(base.json_body(request)).get("event-data"))
    headers = _mapping(_mapping(data.get("message")).get("headers"))
    message_id = base.text(headers.get("message-id"))
    event = base.text(data.get("event"))
    if message_id is None or event is None:
        return base.Parsed()
    severity = base.text(data.get("severity"))
    status = _status(event, severity)
    delivery = _mapping(data.get("delivery-status"))
    failed = event in ("failed", "rejected")
    receipt = base.Receipt(
        provider_message_id=message_id.strip("<>"),
        status=status,
        raw_status=f"{event}:{severity}" if severity else event,
        error_code=base.text(delivery.get("code")) if failed else None,
        error_message=base.text(delivery.get("description") or delivery.get("message"))
        if failed
        else None,
        occurred_at=base.when(data.get("timestamp")),
    )
    return base.Parsed(receipts=(receipt,))


PROVIDER = base.Provider(
    name="mailgun",
    channels=frozenset({Channel.EMAIL}),
    required=("signing_key",),
    verify=verify,
    parse=parse,
    summary="Sending → Webhooks: delivered, permanent/temporary failure = callback_url; the "
    "signing_key is the HTTP webhook signing key.",
)
