"""The Interact dialect (seed 000): a CloudEvents 1.0 envelope around an SMS status.

Keys come out in the seed's order. ``data.status`` is one of submitted, delivered, failed and
clicked: an ``undelivered`` message is reported as ``failed``. Fields shown only in some cases:

=================  ===========================================================
field              shown if
=================  ===========================================================
``scheduled_at``   the message was scheduled
``list_id``        the recipient was part of a target list
``custom_id``      the request gave one
``campaign_name``  the message was sent as part of a campaign (and it has a name)
``campaign_id``    the message was sent as part of a campaign
``correlation_id`` the request gave one; always for campaigns (generated)
=================  ===========================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from statushooks.events import timestamps
from statushooks.messages import Message, MessageStatus

NAME = "com.interact.messages.sms.status"
DESCRIPTION = (
    "An SMS was submitted, delivered, failed (or was undelivered) or had a tracked link "
    "clicked: a CloudEvents 1.0 envelope."
)
SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
SOURCE_PATH = "/v1/sms"

#: The statuses that emit this event.
STATUSES = frozenset(
    {
        MessageStatus.SUBMITTED,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.UNDELIVERED,
        MessageStatus.CLICKED,
    }
)
#: Interact has no ``undelivered``: the carrier's refusal is a failure.
WIRE_STATUS = {MessageStatus.UNDELIVERED: "failed"}

EVENT_ID_PATTERN = r"^evt_[0-9A-Za-z]{27}$"
TRANSACTION_ID_PATTERN = r"^tid_[0-9A-Za-z]{27}$"

#: The seed's own example, verbatim.
EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "com.interact.messages.sms.status",
    "source": "https://api.webexinteract.com/v1/sms",
    "id": "evt_2z020YIp98J0ow5egHEVQJQd2Sx",
    "time": "2025-06-25T12:10:47Z",
    "datacontenttype": "application/json",
    "data": {
        "status": "failed",
        "channel": "sms",
        "phone_number": "+447810000001",
        "from": "Name",
        "message_body": "This is your message",
        "message_parts": "1",
        "scheduled_at": "2025-06-30T12:08:43Z",
        "list_id": "18920476",
        "custom_id": "123",
        "campaign_name": "Some campaign",
        "campaign_id": "cmp_214r8u4981u498",
    },
    "correlation_id": "anexternallyassignedreference",
    "transaction_id": "tid_35T5b3cQmfqTu6jcedrdVcSmNHr",
}

_STRING: dict[str, Any] = {"type": "string"}
_TIME: dict[str, Any] = {"type": "string", "pattern": timestamps.SECONDS_PATTERN}

DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"enum": ["submitted", "delivered", "failed", "clicked"]},
        "channel": {"const": "sms"},
        "phone_number": _STRING,
        "from": _STRING,
        "message_body": _STRING,
        "message_parts": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "scheduled_at": _TIME,
        "list_id": _STRING,
        "custom_id": _STRING,
        "campaign_name": _STRING,
        "campaign_id": _STRING,
    },
    "required": ["status", "channel", "phone_number", "from", "message_body", "message_parts"],
    "additionalProperties": False,
}

#: JSON Schema (draft 2020-12) of the whole payload.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"urn:statushooks:event:{NAME}",
    "title": NAME,
    "type": "object",
    "properties": {
        "specversion": {"const": SPECVERSION},
        "type": {"const": NAME},
        "source": {"type": "string", "format": "uri"},
        "id": {"type": "string", "pattern": EVENT_ID_PATTERN},
        "time": _TIME,
        "datacontenttype": {"const": DATACONTENTTYPE},
        "data": DATA_SCHEMA,
        "correlation_id": _STRING,
        "transaction_id": {"type": "string", "pattern": TRANSACTION_ID_PATTERN},
    },
    "required": [
        "specversion",
        "type",
        "source",
        "id",
        "time",
        "datacontenttype",
        "data",
        "transaction_id",
    ],
    "additionalProperties": False,
}


def wire_status(status: MessageStatus) -> str:
    """The ``data.status`` Interact reports for a message status."""
    return WIRE_STATUS.get(status, status.value)


def _optional(data: dict[str, Any], key: str, value: str | None) -> None:
    if value is not None:
        data[key] = value


def _campaign(data: dict[str, Any], message: Message) -> None:
    """``campaign_name`` and ``campaign_id``, only for a campaign message."""
    if message.campaign_id is None:
        return
    _optional(data, "campaign_name", message.campaign_name)
    data["campaign_id"] = message.campaign_id


def render_data(message: Message, *, status: MessageStatus) -> dict[str, Any]:
    """The ``data`` object, in the seed's key order."""
    data: dict[str, Any] = {
        "status": wire_status(status),
        "channel": "sms",
        "phone_number": message.to,
        "from": message.sender or "",
        "message_body": message.text or "",
        "message_parts": str(message.segments),
    }
    if message.scheduled_at is not None:
        data["scheduled_at"] = timestamps.seconds(message.scheduled_at)
    _optional(data, "list_id", message.list_id)
    _optional(data, "custom_id", message.custom_id)
    _campaign(data, message)
    return data


def render(
    message: Message,
    *,
    status: MessageStatus,
    event_id: str,
    now: datetime,
    public_base_url: str,
) -> dict[str, Any]:
    """The whole payload of one status event, in the seed's key order."""
    payload: dict[str, Any] = {
        "specversion": SPECVERSION,
        "type": NAME,
        "source": public_base_url.rstrip("/") + SOURCE_PATH,
        "id": event_id,
        "time": timestamps.seconds(now),
        "datacontenttype": DATACONTENTTYPE,
        "data": render_data(message, status=status),
    }
    _optional(payload, "correlation_id", message.correlation_id)
    payload["transaction_id"] = message.transaction_id
    return payload


def example(*, event_id: str, now: datetime) -> dict[str, Any]:
    """The seed's example with a fresh ``id`` and ``time``."""
    payload = {**EXAMPLE, "id": event_id, "time": timestamps.seconds(now)}
    payload["data"] = dict(EXAMPLE["data"])
    return payload
