"""Twilio: SMS/MMS and voice status callbacks (form-encoded), signed with ``X-Twilio-Signature``:
base64 HMAC-SHA1 of the full callback URL followed by every POST parameter, sorted by name, as
name then value, keyed by the account's auth token. Twilio wants a 2xx quickly; it does not
retry a status callback that failed."""

from __future__ import annotations

from collections.abc import Mapping

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

#: ``MessageStatus`` (messages) and ``CallStatus`` (calls) → ours; None moves nothing.
STATUSES: dict[str, MessageStatus | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "initiated": None,
    "ringing": MessageStatus.SENT,
    "in-progress": MessageStatus.SENT,
    "answered": MessageStatus.SENT,
    "completed": MessageStatus.DELIVERED,
    "busy": MessageStatus.UNDELIVERED,
    "no-answer": MessageStatus.UNDELIVERED,
}
INBOUND_STATUSES = frozenset({"received", "receiving"})


def expected_signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` of a POST to ``url`` with form ``params``."""
    message = url + "".join(name + value for name, value in sorted(params))
    return base.b64(base.hmac_digest(auth_token, message.encode(), "sha1"))


def verify(request: base.Callback, credentials: Mapping[str, str]) -> None:
    given = base.require(request.header("x-twilio-signature"), "X-Twilio-Signature header")
    expected = expected_signature(request.url, request.form_pairs, credentials["auth_token"])
    base.check(base.same(expected, given), "X-Twilio-Signature")


def parse(request: base.Callback) -> base.Parsed:
    fields = base.form(request)
    raw = fields.get("MessageStatus") or fields.get("CallStatus") or fields.get("SmsStatus") or ""
    sid = fields.get("MessageSid") or fields.get("CallSid") or fields.get("SmsSid") or ""
    if not sid or not raw:
        return base.Parsed()
    if raw in INBOUND_STATUSES and "MessageStatus" not in fields:
        inbound = base.InboundMessage(
            provider_message_id=sid,
            sender=fields.get("From", ""),
            to=fields.get("To", ""),
            text=fields.get("Body", ""),
        )
        return base.Parsed(inbound=(inbound,))
    receipt = base.Receipt(
        provider_message_id=sid,
        status=STATUSES.get(raw),
        raw_status=raw,
        error_code=base.text(fields.get("ErrorCode")),
        error_message=base.text(fields.get("ErrorMessage")),
    )
    return base.Parsed(receipts=(receipt,))


PROVIDER = base.Provider(
    name="twilio",
    channels=frozenset({Channel.SMS, Channel.VOICE}),
    required=("auth_token",),
    verify=verify,
    parse=parse,
    summary="Set the message's or call's StatusCallback to the connector's callback_url.",
)
