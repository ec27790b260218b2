"""Telnyx messaging webhooks (API v2): ``{"data": {"event_type": "message.sent" |
"message.finalized" | …, "occurred_at", "payload": {"id", "to": [{"status"}], "errors"}}}``,
signed with ed25519 over ``{telnyx-timestamp}|{body}`` (``telnyx-signature-ed25519``, base64),
checked with the account's public key; a timestamp more than five minutes off is refused.
Telnyx retries a non-2xx answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from statushooks import exceptions
from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE = 300  # seconds
STATUSES: dict[str, MessageStatus | None] = {
    "queued": None,
    "sending": None,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "delivery_unconfirmed": None,
    "sending_failed": MessageStatus.FAILED,
    "delivery_failed": MessageStatus.UNDELIVERED,
    "expired": MessageStatus.UNDELIVERED,
}


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    signature = base.require(request.header(SIGNATURE_HEADER), f"{SIGNATURE_HEADER} header")
    timestamp = base.require(request.header(TIMESTAMP_HEADER), f"{TIMESTAMP_HEADER} header")
    if not timestamp.isdigit() or abs(int(timestamp) - request.received_at.timestamp()) > TOLERANCE:
        raise exceptions.SignatureError("the telnyx-timestamp is not within five minutes of now")
    try:
        key = Ed25519PublicKey.from_public_bytes(base.unb64(credentials["public_key"], "key"))
        key.verify(base.unb64(signature, "signature"), timestamp.encode() + b"|" + request.body)
    except ValueError:
        raise exceptions.SignatureError(
            "the connector's public_key is not an ed25519 key"
        ) from None
    except InvalidSignature:
        base.check(False, "telnyx-signature-ed25519")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse(request: base.Callback) -> base.Parsed:
    data = _mapping(_mapping(base.json_body(request)).get("data"))
    payload = _mapping(data.get("payload"))
    message_id = base.text(payload.get("id"))
    if message_id is None:
        return base.Parsed()
    recipients = payload.get("to")
    first = _mapping(recipients[0]) if isinstance(recipients, list) and recipients else {}
    if data.get("event_type") == "message.received":
        inbound = base.InboundMessage(
            provider_message_id=message_id,
            sender=str(_mapping(payload.get("from")).get("phone_number", "")),
            to=str(first.get("phone_number", "")),
            text=str(payload.get("text", "")),
            received_at=base.when(payload.get("received_at")),
        )
        return base.Parsed(inbound=(inbound,))
    raw = base.text(first.get("status"))
    if raw is None:
        return base.Parsed()
    errors = payload.get("errors")
    error = _mapping(errors[0]) if isinstance(errors, list) and errors else {}
    receipt = base.Receipt(
        provider_message_id=message_id,
        status=STATUSES.get(raw),
        raw_status=raw,
        error_code=base.text(error.get("code")),
        error_message=base.text(error.get("detail") or error.get("title")),
        occurred_at=base.when(data.get("occurred_at")),
    )
    return base.Parsed(receipts=(receipt,))


PROVIDER = base.Provider(
    name="telnyx",
    channels=frozenset({Channel.SMS}),
    required=("public_key",),
    verify=verify,
    parse=parse,
    summary="Messaging profile → webhook URL = callback_url; the connector's public_key is the "
    "account's public key (Mission Control → Keys & Credentials).",
)
