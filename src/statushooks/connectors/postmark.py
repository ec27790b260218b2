"""Postmark webhooks: one JSON object per event (``RecordType`` ``Delivery``, ``Bounce``,
``SpamComplaint``, ``Open``, ``Click``), authenticated only by HTTP basic auth in the webhook
URL. Bounces of a permanent type fail the message; the others are kept as they are (Postmark
may still deliver). Postmark retries a non-2xx answer (403 stops it)."""

from __future__ import annotations

from statushooks.connectors import base
from statushooks.messages import Channel, MessageStatus

#: Bounce ``Type``\\ s that end the message.
PERMANENT_BOUNCES = frozenset(
    {
        "HardBounce",
        "BadEmailAddress",
        "SpamNotification",
        "ManuallyDeactivated",
        "Blocked",
        "DMARCPolicy",
        "AddressChange",
    }
)


def parse(request: base.Callback) -> base.Parsed:
    receipts = []
    for record in base.records(base.json_body(request)):
        kind = base.text(record.get("RecordType"))
        message_id = base.text(record.get("MessageID"))
        if kind is None or message_id is None:
            continue
        bounce_type = base.text(record.get("Type")) if kind == "Bounce" else None
        status: MessageStatus | None = None
        if kind == "Delivery":
            status = MessageStatus.DELIVERED
        elif bounce_type in PERMANENT_BOUNCES:
            status = MessageStatus.FAILED
        receipts.append(
            base.Receipt(
                provider_message_id=message_id,
                status=status,
                raw_status=f"{kind}:{bounce_type}" if bounce_type else kind,
                error_code=base.text(record.get("TypeCode")) if bounce_type else None,
                error_message=base.text(record.get("Description")) if bounce_type else None,
                occurred_at=base.when(
                    record.get("DeliveredAt") or record.get("BouncedAt") or record.get("ReceivedAt")
                ),
            )
        )
    return base.Parsed(receipts=tuple(receipts))


PROVIDER = base.Provider(
    name="postmark",
    channels=frozenset({Channel.EMAIL}),
    required=("username", "password"),
    verify=base.verify_basic_auth,
    parse=parse,
    summary="Server → Webhooks: URL = callback_url with basic auth credentials; Delivery and "
    "Bounce on.",
)
