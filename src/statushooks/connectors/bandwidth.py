"""Bandwidth Messaging API v2 callbacks: a JSON array of events (``type``
``message-sending``, ``message-delivered``, ``message-failed``, ``message-received``; ``time``,
``errorCode``, ``description``, ``message.id``), authenticated by HTTP basic auth (the
application's callback credentials). Bandwidth retries a non-2xx answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

STATUSES: dict[str, MessageStatus | None] = {
    "message-sending": MessageStatus.SENT,
    "message-delivered": MessageStatus.DELIVERED,
    "message-failed": MessageStatus.UNDELIVERED,
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _inbound(event: Mapping[str, Any], message: Mapping[str, Any]) -> base.InboundMessage:
    return base.InboundMessage(
        provider_message_id=str(message.get("id", "")),
        sender=str(message.get("from", "")),
        to=str(event.get("to", "")),
        text=str(message.get("text", "")),
        received_at=base.when(event.get("time")),
    )


def parse(request: base.Callback) -> base.Parsed:
    receipts: list[base.Receipt] = []
    inbound: list[base.InboundMessage] = []
    for event in base.records(base.json_body(request)):
        message = _mapping(event.get("message"))
        kind = base.text(event.get("type"))
        message_id = base.text(message.get("id"))
        if kind is None or message_id is None:
            continue
        if kind == "message-received":
            inbound.append(_inbound(event, message))
            continue
        failed = kind == "message-failed"
        receipts.append(
            base.Receipt(
                provider_message_id=message_id,
                status=STATUSES.get(kind),
                raw_status=kind,
                error_code=base.text(event.get("errorCode")) if failed else None,
                error_message=base.text(event.get("description")) if failed else None,
                occurred_at=base.when(event.get("time")),
            )
        )
    return base.Parsed(receipts=tuple(receipts), inbound=tuple(inbound))


PROVIDER = base.Provider(
    name="bandwidth",
    channels=frozenset({Channel.SMS}),
    required=("username", "password"),
    verify=base.verify_basic_auth,
    parse=parse,
    summary="The messaging application's callback URL = callback_url, with basic auth.",
)
