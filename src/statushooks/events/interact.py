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

import copy
from datetime import datetime
from typing import Any

from statushooks import inbound
from statushooks.events import timestamps
from statushooks.inbound import InboundSms
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


# --- inbound SMS and opt-outs -------------------------------------------------------------------
#
# Both from Interact's reference ("Inbound SMS Events", "SMS Opt Out Received"). The inbound
# event has the status event's type with ``data.status`` ``inbound``; an opt-out has a type of
# its own. Neither has a ``transaction_id``. ``opt_ins`` (Interact's opt-in campaigns, which
# statushooks has not got) is never rendered, but the schema accepts it as documented.

INBOUND_DESCRIPTION = (
    "An SMS was received from a phone number on one of the account's numbers "
    "(data.status inbound): a CloudEvents 1.0 envelope."
)
OPT_OUT = "com.interact.messages.sms.opt.out"
OPT_OUT_DESCRIPTION = (
    "A phone number opted out with a keyword (STOP, …) and was added to the account's "
    "suppression list: a CloudEvents 1.0 envelope."
)
INBOUND_STATUS = "inbound"
OPT_OUT_STATUS = "opt_out"
#: How the number opted out: statushooks has keywords only (Interact also has web forms).
OPT_OUT_TYPE = "keyword"
CORRELATION_ID_PATTERN = r"^cid_[0-9A-Za-z]{27}$"

#: The reference's inbound example, verbatim.
INBOUND_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "com.interact.messages.sms.status",
    "source": "https://api.webexinteract.com/v1/sms",
    "id": "evt_2z01rKkdxq3oKzf013lxmn127v8",
    "time": "2025-06-25T12:09:33Z",
    "datacontenttype": "application/json",
    "data": {
        "status": "inbound",
        "channel": "sms",
        "message": "I'd like to SUBSCRIBE to your EVENTS newsletters",
        "phone_number": "+447838970000",
        "inbound_number": "+447860000000",
        "inbound_number_id": "num_2yuxhMhvveEjsqYuHm68rslycA8",
        "opt_ins": [
            {
                "opt_in": "Newsletter Signup",
                "keyword": "SUBSCRIBE",
                "target_lists": ["Monthly Newsletter", "Promotions"],
            },
            {"opt_in": "Event Alerts", "keyword": "EVENTS", "target_lists": ["Local Events"]},
        ],
    },
    "correlation_id": "cid_2z01rLJP7wm5KhVPuvvUj0TfvwT",
}

#: The reference's opt-out example, verbatim.
OPT_OUT_EXAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "type": "com.interact.messages.sms.opt.out",
    "source": "https://api.webexinteract.com/v1/sms",
    "id": "evt_36Ko1hKxBAQ7X9VrGoBxPoK7Om0",
    "time": "2025-12-03T12:20:10Z",
    "datacontenttype": "application/json",
    "data": {
        "status": "opt_out",
        "channel": "sms",
        "message": "STOP",
        "type": "keyword",
        "phone_number": "+447807127129",
        "inbound_number": "+447807127121",
        "inbound_number_id": "num_36IR2Jpl1u1wOuRBgmMmoMhawjE",
        "account_level_opt_out": False,
        "opt_out_time": "2025-12-03T12:20:10Z",
    },
}

_NUMBER_ID: dict[str, Any] = {"type": "string", "pattern": r"^num_[0-9A-Za-z]+$"}
_OPT_IN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "opt_in": _STRING,
        "keyword": _STRING,
        "target_lists": {"type": "array", "items": _STRING},
    },
    "required": ["opt_in", "keyword", "target_lists"],
    "additionalProperties": False,
}

INBOUND_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"const": INBOUND_STATUS},
        "channel": {"const": "sms"},
        "message": _STRING,
        "phone_number": _STRING,
        "inbound_number": _STRING,
        "inbound_number_id": _NUMBER_ID,
        "opt_ins": {"type": "array", "items": _OPT_IN},
    },
    "required": ["status", "channel", "message", "phone_number", "inbound_number"],
    "additionalProperties": False,
}

OPT_OUT_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"const": OPT_OUT_STATUS},
        "channel": {"const": "sms"},
        "message": _STRING,
        "type": {"enum": ["keyword", "webform"]},
        "phone_number": _STRING,
        "inbound_number": _STRING,
        "inbound_number_id": _NUMBER_ID,
        "account_level_opt_out": {"type": "boolean"},
        "opt_out_time": _TIME,
    },
    "required": [
        "status",
        "channel",
        "message",
        "type",
        "phone_number",
        "inbound_number",
        "account_level_opt_out",
        "opt_out_time",
    ],
    "additionalProperties": False,
}


def _inbound_envelope_schema(
    name: str, title: str, data: dict[str, Any], *, correlation_required: bool
) -> dict[str, Any]:
    required = ["specversion", "type", "source", "id", "time", "datacontenttype", "data"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:statushooks:event:{title}",
        "title": title,
        "type": "object",
        "properties": {
            "specversion": {"const": SPECVERSION},
            "type": {"const": name},
            "source": {"type": "string", "format": "uri"},
            "id": {"type": "string", "pattern": EVENT_ID_PATTERN},
            "time": _TIME,
            "datacontenttype": {"const": DATACONTENTTYPE},
            "data": data,
            "correlation_id": _STRING,
        },
        "required": [*required, "correlation_id"] if correlation_required else required,
        "additionalProperties": False,
    }


#: The catalog's name of the inbound event: its CloudEvents ``type`` is ``NAME``, shared with
#: the status event, so endpoints subscribe to it by this name.
INBOUND = "com.interact.messages.sms.inbound"
INBOUND_SCHEMA = _inbound_envelope_schema(
    NAME, INBOUND, INBOUND_DATA_SCHEMA, correlation_required=True
)
OPT_OUT_SCHEMA = _inbound_envelope_schema(
    OPT_OUT, OPT_OUT, OPT_OUT_DATA_SCHEMA, correlation_required=False
)


def _inbound_head(
    name: str, *, event_id: str, now: datetime, public_base_url: str
) -> dict[str, Any]:
    return {
        "specversion": SPECVERSION,
        "type": name,
        "source": public_base_url.rstrip("/") + SOURCE_PATH,
        "id": event_id,
        "time": timestamps.seconds(now),
        "datacontenttype": DATACONTENTTYPE,
    }


def render_inbound(
    sms: InboundSms, *, event_id: str, now: datetime, public_base_url: str
) -> dict[str, Any]:
    """The inbound event of one received text, in the reference's key order."""
    payload = _inbound_head(NAME, event_id=event_id, now=now, public_base_url=public_base_url)
    payload["data"] = {
        "status": INBOUND_STATUS,
        "channel": "sms",
        "message": sms.text,
        "phone_number": sms.sender,
        "inbound_number": sms.to,
        "inbound_number_id": inbound.number_id(sms.account_id, sms.to),
    }
    payload["correlation_id"] = sms.correlation_id
    return payload


def render_opt_out(
    sms: InboundSms, *, event_id: str, now: datetime, public_base_url: str
) -> dict[str, Any]:
    """The opt-out event of a keyword text, in the reference's key order. The suppression list
    is the account's: ``account_level_opt_out`` is always true."""
    payload = _inbound_head(OPT_OUT, event_id=event_id, now=now, public_base_url=public_base_url)
    payload["data"] = {
        "status": OPT_OUT_STATUS,
        "channel": "sms",
        "message": sms.text,
        "type": OPT_OUT_TYPE,
        "phone_number": sms.sender,
        "inbound_number": sms.to,
        "inbound_number_id": inbound.number_id(sms.account_id, sms.to),
        "account_level_opt_out": True,
        "opt_out_time": timestamps.seconds(now),
    }
    return payload


def inbound_example(*, event_id: str, now: datetime) -> dict[str, Any]:
    """The reference's inbound example with a fresh ``id`` and ``time``."""
    payload = copy.deepcopy(INBOUND_EXAMPLE)
    payload.update(id=event_id, time=timestamps.seconds(now))
    return payload


def opt_out_example(*, event_id: str, now: datetime) -> dict[str, Any]:
    """The reference's opt-out example with a fresh ``id``, ``time`` and ``opt_out_time``."""
    payload = copy.deepcopy(OPT_OUT_EXAMPLE)
    payload.update(id=event_id, time=timestamps.seconds(now))
    payload["data"]["opt_out_time"] = timestamps.seconds(now)
    return payload
