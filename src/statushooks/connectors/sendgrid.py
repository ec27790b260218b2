"""SendGrid (Twilio SendGrid) Event Webhook: a JSON array of events, signed with ECDSA P-256
over SHA-256 of ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the body, the signature
base64 DER in ``X-Twilio-Email-Event-Webhook-Signature``; the verification key is the base64
public key shown in the Mail Settings. SendGrid retries a non-2xx answer for 24 hours.

``sg_message_id`` is the send API's ``X-Message-Id`` followed by ``.filter…`` (or ``.recv…``):
the message is found by the part before it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from statushooks import exceptions
from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
STATUSES: dict[str, MessageStatus | None] = {
    "processed": None,
    "deferred": None,
    "delivered": MessageStatus.DELIVERED,
    "bounce": MessageStatus.FAILED,
    "blocked": MessageStatus.FAILED,
    "dropped": MessageStatus.FAILED,
    "open": None,
    "click": None,
    "spamreport": None,
    "unsubscribe": None,
    "group_unsubscribe": None,
    "group_resubscribe": None,
}
_ID_SUFFIXES = (".filter", ".recv", ".ismtpd")


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its base64 DER text (with or without PEM armour)."""
    body = "".join(
        line for line in text.strip().splitlines() if not line.startswith("-----")
    ).strip()
    try:
        key = load_der_public_key(base.unb64(body, "verification key"))
    except ValueError:
        raise exceptions.SignatureError("the connector's verification key is not a key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise exceptions.SignatureError("the connector's verification key is not an EC key")
    return key


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    signature = base.require(request.header(SIGNATURE_HEADER), "event webhook signature header")
    timestamp = base.require(request.header(TIMESTAMP_HEADER), "event webhook timestamp header")
    key = public_key(credentials["public_key"])
    try:
        key.verify(
            base.unb64(signature, "signature"),
            timestamp.encode() + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        base.check(False, "event webhook signature")


def message_id(sg_message_id: str) -> str:
    """The send API's ``X-Message-Id`` in an event's ``sg_message_id``."""
    for suffix in _ID_SUFFIXES:
        head, found, _ = sg_message_id.partition(suffix)
        if found:
            return head
    return sg_message_id


def _receipt(event: Mapping[str, Any]) -> base.Receipt | None:
    sg_id = base.text(event.get("sg_message_id"))
    raw = base.text(event.get("event"))
    if sg_id is None or raw is None:
        return None
    kind = base.text(event.get("type"))  # bounce: "bounce" or "blocked"
    return base.Receipt(
        provider_message_id=message_id(sg_id),
        status=STATUSES.get(raw),
        raw_status=f"{raw}:{kind}" if kind else raw,
        error_code=base.text(event.get("status")),
        error_message=base.text(event.get("reason") or event.get("response")),
        occurred_at=base.when(event.get("timestamp")),
    )


def parse(request: base.Callback) -> base.Parsed:
    events = base.records(base.json_body(request))
    receipts = tuple(r for r in (_receipt(event) for event in events) if r is not None)
    return base.Parsed(receipts=receipts)


PROVIDER = base.Provider(
    name="sendgrid",
    channels=frozenset({Channel.EMAIL}),
    required=("public_key",),
    verify=verify,
    parse=parse,
    summary="Mail Settings → Event Webhook: HTTP POST URL = callback_url, Signed Event Webhook "
    "on; the connector's public_key is the verification key shown there.",
)
