"""The YCloud dialect (seed 002): the v2 envelope around an ``sms``, ``voice`` or
``emailDelivery`` object.

Keys come out in the seed's order: ``id``, ``type``, ``apiVersion``, ``createTime``, then the
object. Inside it, ``errorCode`` and ``errorMessage`` appear only for a failure status
(``undelivered``, ``failed``) and only if the message has them; ``externalId`` only if the caller
gave one (``Message.custom_id``); ``language`` (voice) only if set. Fields the message does not
have (a sender id, a region, a price) are left out rather than sent as ``null``.

The seed's voice example carries an ``errorCode`` on a ``delivered`` message; it shows where the
field goes, and the schemas accept it, but statushooks renders it only for failures.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from statushooks.events import timestamps
from statushooks.inbound import InboundSms
from statushooks.messages import FAILURE_STATUSES, Message, MessageStatus

API_VERSION = "v2"
SMS = "sms.message.updated"
VOICE = "voice.message.updated"
EMAIL = "email.delivery.updated"

SMS_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED})
VOICE_STATUSES = SMS_STATUSES
EMAIL_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED})

DESCRIPTIONS = {
    SMS: "An SMS status changed to delivered, undelivered or failed.",
    VOICE: "A voice message status changed to delivered, undelivered or failed.",
    EMAIL: "An email delivery status changed to delivered or failed.",
}

#: The property holding the object, per event type.
OBJECT_KEYS = {SMS: "sms", VOICE: "voice", EMAIL: "emailDelivery"}

# --- the seed's examples, verbatim ------------------------------------------------------------

SMS_EXAMPLE: dict[str, Any] = {
    "id": "evt_djeIQXaQPQyUcRFi",
    "type": "sms.message.updated",
    "apiVersion": "v2",
    "createTime": "2022-03-01T12:00:00.000Z",
    "sms": {
        "id": "string",
        "to": "+447901614024",
        "status": "delivered",
        "text": "Your verification code is 123456.",
        "senderId": "YCloud",
        "regionCode": "GB",
        "totalSegments": 1,
        "totalPrice": 0.0085,
        "currency": "USD",
        "createTime": "2022-03-01T12:00:00.000Z",
        "updateTime": "2022-03-01T12:00:00.000Z",
    },
}

VOICE_EXAMPLE: dict[str, Any] = {
    "id": "evt_djeIQXaQPQyUcRFi",
    "type": "voice.message.updated",
    "apiVersion": "v2",
    "createTime": "2022-03-01T12:00:00.000Z",
    "voice": {
        "id": "v123456",
        "to": "+447901614024",
        "status": "delivered",
        "verificationCode": "1234",
        "language": "en",
        "regionCode": "GB",
        "totalPrice": 0.0085,
        "currency": "USD",
        "errorCode": "Error code when the message is undeliverable.",
        "createTime": "2022-03-01T12:00:00.000Z",
        "updateTime": "2022-03-01T12:00:00.000Z",
        "externalId": "ext_123456",
    },
}

EMAIL_EXAMPLE: dict[str, Any] = {
    "id": "evt_djeIQXaQPQyUcRFi",
    "type": "email.delivery.updated",
    "apiVersion": "v2",
    "createTime": "2022-03-01T12:00:00.000Z",
    "emailDelivery": {
        "emailId": "em123456",
        # The published page shows "[email protected]": its email obfuscation hid the address.
        "recipientAddress": "user@example.com",
        "status": "failed",
        "errorCode": "402",
        "errorMessage": "Unsubscribes",
        "externalId": "ext_1234567890",
    },
}

EXAMPLES = {SMS: SMS_EXAMPLE, VOICE: VOICE_EXAMPLE, EMAIL: EMAIL_EXAMPLE}

# --- schemas ----------------------------------------------------------------------------------

_STRING: dict[str, Any] = {"type": "string"}
_TIME: dict[str, Any] = {"type": "string", "pattern": timestamps.MILLIS_PATTERN}
_PRICE: dict[str, Any] = {"type": "number", "minimum": 0}
_CURRENCY: dict[str, Any] = {"type": "string", "pattern": "^[A-Z]{3}$"}
_REGION: dict[str, Any] = {"type": "string", "pattern": "^[A-Z]{2}$"}


def _status(statuses: frozenset[MessageStatus]) -> dict[str, Any]:
    return {"enum": sorted(status.value for status in statuses)}


SMS_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "to": _STRING,
        "status": _status(SMS_STATUSES),
        "text": _STRING,
        "senderId": _STRING,
        "regionCode": _REGION,
        "totalSegments": {"type": "integer", "minimum": 1},
        "totalPrice": _PRICE,
        "currency": _CURRENCY,
        "errorCode": _STRING,
        "errorMessage": _STRING,
        "createTime": _TIME,
        "updateTime": _TIME,
        "externalId": _STRING,
    },
    "required": ["id", "to", "status", "totalSegments", "createTime", "updateTime"],
    "additionalProperties": False,
}

VOICE_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "to": _STRING,
        "status": _status(VOICE_STATUSES),
        "verificationCode": _STRING,
        "language": _STRING,
        "regionCode": _REGION,
        "totalPrice": _PRICE,
        "currency": _CURRENCY,
        "errorCode": _STRING,
        "errorMessage": _STRING,
        "createTime": _TIME,
        "updateTime": _TIME,
        "externalId": _STRING,
    },
    "required": ["id", "to", "status", "createTime", "updateTime"],
    "additionalProperties": False,
}

EMAIL_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "emailId": _STRING,
        "recipientAddress": _STRING,
        "status": _status(EMAIL_STATUSES),
        "errorCode": _STRING,
        "errorMessage": _STRING,
        "externalId": _STRING,
    },
    "required": ["emailId", "recipientAddress", "status"],
    "additionalProperties": False,
}


def _envelope_schema(name: str, object_schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole v2 payload of type ``name``."""
    key = OBJECT_KEYS[name]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:statushooks:event:{name}",
        "title": name,
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^evt_[0-9A-Za-z]+$"},
            "type": {"const": name},
            "apiVersion": {"const": API_VERSION},
            "createTime": _TIME,
            key: object_schema,
        },
        "required": ["id", "type", "apiVersion", "createTime", key],
        "additionalProperties": False,
    }


SCHEMAS = {
    SMS: _envelope_schema(SMS, SMS_OBJECT_SCHEMA),
    VOICE: _envelope_schema(VOICE, VOICE_OBJECT_SCHEMA),
    EMAIL: _envelope_schema(EMAIL, EMAIL_OBJECT_SCHEMA),
}

# --- renderers --------------------------------------------------------------------------------


def _put(obj: dict[str, Any], key: str, value: object) -> None:
    """Set ``key`` unless ``value`` is None."""
    if value is not None:
        obj[key] = value


def _price(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


def _errors(obj: dict[str, Any], message: Message, status: MessageStatus) -> None:
    """``errorCode`` and ``errorMessage``: only for a failure, only if known."""
    if status in FAILURE_STATUSES:
        _put(obj, "errorCode", message.error_code)
        _put(obj, "errorMessage", message.error_message)


def _times(obj: dict[str, Any], message: Message) -> None:
    obj["createTime"] = timestamps.millis(message.created_at)
    obj["updateTime"] = timestamps.millis(message.updated_at)


def render_sms(message: Message, status: MessageStatus) -> dict[str, Any]:
    """The ``sms`` object, in the seed's key order."""
    obj: dict[str, Any] = {"id": message.id, "to": message.to, "status": status.value}
    _put(obj, "text", message.text)
    _put(obj, "senderId", message.sender)
    _put(obj, "regionCode", message.region_code)
    obj["totalSegments"] = message.segments
    _put(obj, "totalPrice", _price(message.price))
    _put(obj, "currency", message.currency)
    _errors(obj, message, status)
    _times(obj, message)
    _put(obj, "externalId", message.custom_id)
    return obj


def render_voice(message: Message, status: MessageStatus) -> dict[str, Any]:
    """The ``voice`` object, in the seed's key order."""
    obj: dict[str, Any] = {"id": message.id, "to": message.to, "status": status.value}
    _put(obj, "verificationCode", message.verification_code)
    _put(obj, "language", message.language)
    _put(obj, "regionCode", message.region_code)
    _put(obj, "totalPrice", _price(message.price))
    _put(obj, "currency", message.currency)
    _errors(obj, message, status)
    _times(obj, message)
    _put(obj, "externalId", message.custom_id)
    return obj


def render_email(message: Message, status: MessageStatus) -> dict[str, Any]:
    """The ``emailDelivery`` object, in the seed's key order."""
    obj: dict[str, Any] = {
        "emailId": message.id,
        "recipientAddress": message.recipient_address,
        "status": status.value,
    }
    _errors(obj, message, status)
    _put(obj, "externalId", message.custom_id)
    return obj


ObjectRenderer = Callable[[Message, MessageStatus], dict[str, Any]]
OBJECT_RENDERERS: dict[str, ObjectRenderer] = {
    SMS: render_sms,
    VOICE: render_voice,
    EMAIL: render_email,
}


def render(
    name: str, message: Message, *, status: MessageStatus, event_id: str, now: datetime
) -> dict[str, Any]:
    """The whole v2 payload of event type ``name``, in the seed's key order."""
    return {
        "id": event_id,
        "type": name,
        "apiVersion": API_VERSION,
        "createTime": timestamps.millis(now),
        OBJECT_KEYS[name]: OBJECT_RENDERERS[name](message, status),
    }


def example(name: str, *, event_id: str, now: datetime) -> dict[str, Any]:
    """The seed's example of ``name`` with a fresh ``id`` and every time set to ``now``."""
    payload = copy.deepcopy(EXAMPLES[name])
    stamp = timestamps.millis(now)
    payload["id"] = event_id
    payload["createTime"] = stamp
    obj = payload[OBJECT_KEYS[name]]
    for key in ("createTime", "updateTime"):
        if key in obj:
            obj[key] = stamp
    return payload


# --- inbound SMS ------------------------------------------------------------------------------
#
# From YCloud's reference (``sms.inbound.received``, the ``SmsInbound`` object): every field of
# ``smsInbound`` is optional there; statushooks always sends all five. ``sendTime`` is when the
# sender's handset sent it, as far as anyone knows: the ``received_at`` the text came in with.

SMS_INBOUND = "sms.inbound.received"
SMS_INBOUND_DESCRIPTION = (
    "An SMS was received from a phone number on one of the account's numbers "
    "(a user replied to your message)."
)
SMS_INBOUND_KEY = "smsInbound"

#: The shape of the reference's example, with its placeholders filled in.
SMS_INBOUND_EXAMPLE: dict[str, Any] = {
    "id": "evt_djeIQXaQPQyUcRFi",
    "type": "sms.inbound.received",
    "apiVersion": "v2",
    "createTime": "2022-06-01T12:00:00.000Z",
    "smsInbound": {
        "id": "inb_2z01rKkdxq3oKzf013lxmn127v8",
        "from": "+447901614024",
        "to": "+447860000000",
        "text": "Yes, see you then.",
        "sendTime": "2022-06-01T12:00:00.000Z",
    },
}

SMS_INBOUND_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": _STRING,
        "from": _STRING,
        "to": _STRING,
        "text": _STRING,
        "sendTime": _TIME,
    },
    "required": ["id", "from", "to", "text", "sendTime"],
    "additionalProperties": False,
}

SMS_INBOUND_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"urn:statushooks:event:{SMS_INBOUND}",
    "title": SMS_INBOUND,
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^evt_[0-9A-Za-z]+$"},
        "type": {"const": SMS_INBOUND},
        "apiVersion": {"const": API_VERSION},
        "createTime": _TIME,
        SMS_INBOUND_KEY: SMS_INBOUND_OBJECT_SCHEMA,
    },
    "required": ["id", "type", "apiVersion", "createTime", SMS_INBOUND_KEY],
    "additionalProperties": False,
}


def render_inbound(sms: InboundSms, *, event_id: str, now: datetime) -> dict[str, Any]:
    """The whole ``sms.inbound.received`` payload of one received text, in the reference's
    key order."""
    return {
        "id": event_id,
        "type": SMS_INBOUND,
        "apiVersion": API_VERSION,
        "createTime": timestamps.millis(now),
        SMS_INBOUND_KEY: {
            "id": sms.id,
            "from": sms.sender,
            "to": sms.to,
            "text": sms.text,
            "sendTime": timestamps.millis(sms.received_at),
        },
    }


def inbound_example(*, event_id: str, now: datetime) -> dict[str, Any]:
    """The example with a fresh ``id`` and every time set to ``now``."""
    payload = copy.deepcopy(SMS_INBOUND_EXAMPLE)
    stamp = timestamps.millis(now)
    payload.update(id=event_id, createTime=stamp)
    payload[SMS_INBOUND_KEY]["sendTime"] = stamp
    return payload
