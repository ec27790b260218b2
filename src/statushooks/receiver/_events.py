"""Typed events: the JSON of each catalog event type as frozen dataclasses.

Wire names (``phone_number``, ``senderId``, ``createTime``) become snake_case attributes; times
become timezone-aware ``datetime``; prices become ``Decimal`` (parsed without a float
round-trip). Optional fields are ``None`` when absent. Every event keeps the decoded JSON in
``raw`` for fields this version does not model yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar, get_args

from statushooks.receiver import _exceptions as errors

INTERACT_SMS_STATUS = "com.interact.messages.sms.status"
YCLOUD_SMS_UPDATED = "sms.message.updated"
YCLOUD_VOICE_UPDATED = "voice.message.updated"
YCLOUD_EMAIL_DELIVERY_UPDATED = "email.delivery.updated"
#: The operational event types (what happens to the account's endpoints and deliveries).
OPERATIONAL_TYPES = (
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "endpoint.failing",
    "endpoint.recovered",
    "delivery.exhausted",
)
INTERACT_SMS_OPT_OUT = "com.interact.messages.sms.opt.out"
YCLOUD_SMS_INBOUND_RECEIVED = "sms.inbound.received"
#: ``data.status`` of an Interact inbound SMS (its ``type`` is ``INTERACT_SMS_STATUS``).
INTERACT_INBOUND_STATUS = "inbound"

JSONObject: TypeAlias = Mapping[str, Any]

#: The statuses each event type carries (an undelivered SMS is ``failed`` in Interact's).
InteractSmsStatus: TypeAlias = Literal["submitted", "delivered", "failed", "clicked"]
YCloudSmsStatus: TypeAlias = Literal["delivered", "undelivered", "failed"]
YCloudVoiceStatus: TypeAlias = Literal["delivered", "undelivered", "failed"]
YCloudEmailStatus: TypeAlias = Literal["delivered", "failed"]
INTERACT_SMS_STATUSES: tuple[InteractSmsStatus, ...] = get_args(InteractSmsStatus)
YCLOUD_SMS_STATUSES: tuple[YCloudSmsStatus, ...] = get_args(YCloudSmsStatus)
YCLOUD_VOICE_STATUSES: tuple[YCloudVoiceStatus, ...] = get_args(YCloudVoiceStatus)
YCLOUD_EMAIL_STATUSES: tuple[YCloudEmailStatus, ...] = get_args(YCloudEmailStatus)
_Status = TypeVar("_Status", bound=str)


# -- Interact (CloudEvents 1.0) ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InteractSmsStatusData:
    """``data`` of ``com.interact.messages.sms.status``."""

    status: InteractSmsStatus
    channel: str
    phone_number: str
    #: The wire name is ``from``.
    from_: str
    message_body: str
    #: As sent: a string such as ``"1"``; see ``message_parts_count``.
    message_parts: str
    scheduled_at: datetime | None = None
    list_id: str | None = None
    custom_id: str | None = None
    campaign_name: str | None = None
    campaign_id: str | None = None

    @property
    def message_parts_count(self) -> int:
        """``message_parts`` as a number."""
        return int(self.message_parts)


@dataclass(frozen=True, kw_only=True)
class InteractSmsStatusEvent:
    """An SMS status change in the Interact dialect (a CloudEvents 1.0 envelope)."""

    TYPE: ClassVar[str] = INTERACT_SMS_STATUS

    specversion: str
    type: str
    source: str
    id: str
    time: datetime
    datacontenttype: str | None = None
    data: InteractSmsStatusData
    correlation_id: str | None = None
    transaction_id: str
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class InteractSmsInboundData:
    """``data`` of an Interact inbound SMS (``data.status`` ``inbound``)."""

    status: str
    channel: str
    #: The text received.
    message: str
    #: The sender's number.
    phone_number: str
    #: The number it was sent to.
    inbound_number: str
    inbound_number_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InteractSmsInboundEvent:
    """A text received from a phone number, in the Interact dialect: ``type`` is
    ``com.interact.messages.sms.status`` with ``data.status`` ``inbound``."""

    TYPE: ClassVar[str] = INTERACT_SMS_STATUS

    specversion: str
    type: str
    source: str
    id: str
    time: datetime
    datacontenttype: str | None = None
    data: InteractSmsInboundData
    correlation_id: str | None = None
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class InteractSmsOptOutData:
    """``data`` of ``com.interact.messages.sms.opt.out``."""

    status: str
    channel: str
    #: The text received (the keyword).
    message: str
    #: ``keyword``.
    type: str
    phone_number: str
    inbound_number: str
    account_level_opt_out: bool
    opt_out_time: datetime
    inbound_number_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InteractSmsOptOutEvent:
    """A phone number opted out, in the Interact dialect."""

    TYPE: ClassVar[str] = INTERACT_SMS_OPT_OUT

    specversion: str
    type: str
    source: str
    id: str
    time: datetime
    datacontenttype: str | None = None
    data: InteractSmsOptOutData
    correlation_id: str | None = None
    raw: JSONObject = field(repr=False, compare=False)


# -- YCloud v2 -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class YCloudSms:
    """``sms`` of ``sms.message.updated``."""

    id: str
    to: str
    status: YCloudSmsStatus
    text: str | None = None
    sender_id: str | None = None
    region_code: str | None = None
    total_segments: int | None = None
    total_price: Decimal | None = None
    currency: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    external_id: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class YCloudVoice:
    """``voice`` of ``voice.message.updated``."""

    id: str
    to: str
    status: YCloudVoiceStatus
    verification_code: str | None = None
    language: str | None = None
    region_code: str | None = None
    total_price: Decimal | None = None
    currency: str | None = None
    error_code: str | None = None
    external_id: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class YCloudEmailDelivery:
    """``emailDelivery`` of ``email.delivery.updated``."""

    email_id: str
    recipient_address: str
    status: YCloudEmailStatus
    error_code: str | None = None
    error_message: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class YCloudSmsUpdatedEvent:
    """An SMS status change in the YCloud v2 dialect."""

    TYPE: ClassVar[str] = YCLOUD_SMS_UPDATED

    id: str
    type: str
    api_version: str
    create_time: datetime
    sms: YCloudSms
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class YCloudVoiceUpdatedEvent:
    """A voice message status change in the YCloud v2 dialect."""

    TYPE: ClassVar[str] = YCLOUD_VOICE_UPDATED

    id: str
    type: str
    api_version: str
    create_time: datetime
    voice: YCloudVoice
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class YCloudEmailDeliveryUpdatedEvent:
    """An email delivery status change in the YCloud v2 dialect."""

    TYPE: ClassVar[str] = YCLOUD_EMAIL_DELIVERY_UPDATED

    id: str
    type: str
    api_version: str
    create_time: datetime
    email_delivery: YCloudEmailDelivery
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class OperationalEvent:
    """An operational event (``type`` one of ``OPERATIONAL_TYPES``): ``data`` as sent, with
    the endpoint it is about in ``data["endpoint"]``."""

    id: str
    type: str
    timestamp: datetime
    endpoint_id: str
    data: JSONObject
    raw: JSONObject = field(repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class YCloudSmsInbound:
    """``smsInbound`` of ``sms.inbound.received`` (every field optional there)."""

    id: str | None = None
    #: The wire name is ``from``: the sender's number.
    from_: str | None = None
    to: str | None = None
    text: str | None = None
    send_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class YCloudSmsInboundReceivedEvent:
    """A text received from a phone number, in the YCloud v2 dialect."""

    TYPE: ClassVar[str] = YCLOUD_SMS_INBOUND_RECEIVED

    id: str
    type: str
    api_version: str
    create_time: datetime
    sms_inbound: YCloudSmsInbound
    raw: JSONObject = field(repr=False, compare=False)


Event: TypeAlias = (
    InteractSmsStatusEvent
    | InteractSmsInboundEvent
    | InteractSmsOptOutEvent
    | YCloudSmsUpdatedEvent
    | YCloudVoiceUpdatedEvent
    | YCloudEmailDeliveryUpdatedEvent
    | OperationalEvent
    | YCloudSmsInboundReceivedEvent
)


# -- parsing -------------------------------------------------------------------------------------


def parse(body: bytes | str) -> Event:
    """The typed event in a webhook body (verify it first, or use ``verify_and_parse``).

    Raises:
        MalformedPayloadError: not JSON, or a field is missing or of the wrong type.
        UnknownEventTypeError: the ``type`` is not one this SDK knows.
    """
    document = _load(body)
    event_type = _text(document, "type", "")
    parser = _PARSERS.get(event_type)
    if parser is None:
        raise errors.UnknownEventTypeError(f"unknown webhook event type {event_type!r}")
    return parser(document)


def _load(body: bytes | str) -> JSONObject:
    try:
        document = json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise errors.MalformedPayloadError("the webhook payload is not valid JSON") from exc
    if not isinstance(document, dict):
        raise errors.MalformedPayloadError("the webhook payload is not a JSON object")
    return document


def _parse_interact_sms_status(
    document: JSONObject,
) -> InteractSmsStatusEvent | InteractSmsInboundEvent:
    data = _object(document, "data", "")
    if data.get("status") == INTERACT_INBOUND_STATUS:
        return InteractSmsInboundEvent(
            **_interact_envelope(document), data=_interact_sms_inbound_data(data)
        )
    return InteractSmsStatusEvent(
        specversion=_text(document, "specversion", ""),
        type=_text(document, "type", ""),
        source=_text(document, "source", ""),
        id=_text(document, "id", ""),
        time=_time(document, "time", ""),
        datacontenttype=_optional_text(document, "datacontenttype", ""),
        data=_interact_sms_status_data(_object(document, "data", "")),
        correlation_id=_optional_text(document, "correlation_id", ""),
        transaction_id=_text(document, "transaction_id", ""),
        raw=document,
    )


def _interact_sms_status_data(data: JSONObject) -> InteractSmsStatusData:
    path = "data."
    return InteractSmsStatusData(
        status=_status(data, path, INTERACT_SMS_STATUSES),
        channel=_text(data, "channel", path),
        phone_number=_text(data, "phone_number", path),
        from_=_text(data, "from", path),
        message_body=_text(data, "message_body", path),
        message_parts=_message_parts(data, path),
        scheduled_at=_optional_time(data, "scheduled_at", path),
        list_id=_optional_text(data, "list_id", path),
        custom_id=_optional_text(data, "custom_id", path),
        campaign_name=_optional_text(data, "campaign_name", path),
        campaign_id=_optional_text(data, "campaign_id", path),
    )


def _interact_envelope(document: JSONObject) -> dict[str, Any]:
    return {
        "specversion": _text(document, "specversion", ""),
        "type": _text(document, "type", ""),
        "source": _text(document, "source", ""),
        "id": _text(document, "id", ""),
        "time": _time(document, "time", ""),
        "datacontenttype": _optional_text(document, "datacontenttype", ""),
        "correlation_id": _optional_text(document, "correlation_id", ""),
        "raw": document,
    }


def _interact_sms_inbound_data(data: JSONObject) -> InteractSmsInboundData:
    path = "data."
    return InteractSmsInboundData(
        status=_text(data, "status", path),
        channel=_text(data, "channel", path),
        message=_text(data, "message", path),
        phone_number=_text(data, "phone_number", path),
        inbound_number=_text(data, "inbound_number", path),
        inbound_number_id=_optional_text(data, "inbound_number_id", path),
    )


def _parse_interact_sms_opt_out(document: JSONObject) -> InteractSmsOptOutEvent:
    data, path = _object(document, "data", ""), "data."
    return InteractSmsOptOutEvent(
        **_interact_envelope(document),
        data=InteractSmsOptOutData(
            status=_text(data, "status", path),
            channel=_text(data, "channel", path),
            message=_text(data, "message", path),
            type=_text(data, "type", path),
            phone_number=_text(data, "phone_number", path),
            inbound_number=_text(data, "inbound_number", path),
            inbound_number_id=_optional_text(data, "inbound_number_id", path),
            account_level_opt_out=_bool(data, "account_level_opt_out", path),
            opt_out_time=_time(data, "opt_out_time", path),
        ),
    )


def _parse_ycloud_sms_inbound(document: JSONObject) -> YCloudSmsInboundReceivedEvent:
    inbound, path = _object(document, "smsInbound", ""), "smsInbound."
    return YCloudSmsInboundReceivedEvent(
        **_ycloud_envelope(document),
        sms_inbound=YCloudSmsInbound(
            id=_optional_text(inbound, "id", path),
            from_=_optional_text(inbound, "from", path),
            to=_optional_text(inbound, "to", path),
            text=_optional_text(inbound, "text", path),
            send_time=_optional_time(inbound, "sendTime", path),
        ),
    )


def _parse_ycloud_sms(document: JSONObject) -> YCloudSmsUpdatedEvent:
    sms, path = _object(document, "sms", ""), "sms."
    return YCloudSmsUpdatedEvent(
        **_ycloud_envelope(document),
        sms=YCloudSms(
            id=_text(sms, "id", path),
            to=_text(sms, "to", path),
            status=_status(sms, path, YCLOUD_SMS_STATUSES),
            text=_optional_text(sms, "text", path),
            sender_id=_optional_text(sms, "senderId", path),
            region_code=_optional_text(sms, "regionCode", path),
            total_segments=_optional_int(sms, "totalSegments", path),
            total_price=_optional_decimal(sms, "totalPrice", path),
            currency=_optional_text(sms, "currency", path),
            error_code=_optional_text(sms, "errorCode", path),
            error_message=_optional_text(sms, "errorMessage", path),
            external_id=_optional_text(sms, "externalId", path),
            create_time=_optional_time(sms, "createTime", path),
            update_time=_optional_time(sms, "updateTime", path),
        ),
    )


def _parse_ycloud_voice(document: JSONObject) -> YCloudVoiceUpdatedEvent:
    voice, path = _object(document, "voice", ""), "voice."
    return YCloudVoiceUpdatedEvent(
        **_ycloud_envelope(document),
        voice=YCloudVoice(
            id=_text(voice, "id", path),
            to=_text(voice, "to", path),
            status=_status(voice, path, YCLOUD_VOICE_STATUSES),
            verification_code=_optional_text(voice, "verificationCode", path),
            language=_optional_text(voice, "language", path),
            region_code=_optional_text(voice, "regionCode", path),
            total_price=_optional_decimal(voice, "totalPrice", path),
            currency=_optional_text(voice, "currency", path),
            error_code=_optional_text(voice, "errorCode", path),
            external_id=_optional_text(voice, "externalId", path),
            create_time=_optional_time(voice, "createTime", path),
            update_time=_optional_time(voice, "updateTime", path),
        ),
    )


def _parse_ycloud_email(document: JSONObject) -> YCloudEmailDeliveryUpdatedEvent:
    delivery, path = _object(document, "emailDelivery", ""), "emailDelivery."
    return YCloudEmailDeliveryUpdatedEvent(
        **_ycloud_envelope(document),
        email_delivery=YCloudEmailDelivery(
            email_id=_text(delivery, "emailId", path),
            recipient_address=_text(delivery, "recipientAddress", path),
            status=_status(delivery, path, YCLOUD_EMAIL_STATUSES),
            error_code=_optional_text(delivery, "errorCode", path),
            error_message=_optional_text(delivery, "errorMessage", path),
            external_id=_optional_text(delivery, "externalId", path),
        ),
    )


def _ycloud_envelope(document: JSONObject) -> dict[str, Any]:
    return {
        "id": _text(document, "id", ""),
        "type": _text(document, "type", ""),
        "api_version": _text(document, "apiVersion", ""),
        "create_time": _time(document, "createTime", ""),
        "raw": document,
    }


def _parse_operational(document: JSONObject) -> OperationalEvent:
    data = _object(document, "data", "")
    return OperationalEvent(
        id=_text(document, "id", ""),
        type=_text(document, "type", ""),
        timestamp=_time(document, "timestamp", ""),
        endpoint_id=_text(_object(data, "endpoint", "data"), "id", "data.endpoint"),
        data=data,
        raw=document,
    )


_PARSERS: dict[str, Callable[[JSONObject], Event]] = {
    INTERACT_SMS_STATUS: _parse_interact_sms_status,
    YCLOUD_SMS_UPDATED: _parse_ycloud_sms,
    YCLOUD_VOICE_UPDATED: _parse_ycloud_voice,
    YCLOUD_EMAIL_DELIVERY_UPDATED: _parse_ycloud_email,
    **dict.fromkeys(OPERATIONAL_TYPES, _parse_operational),
    INTERACT_SMS_OPT_OUT: _parse_interact_sms_opt_out,
    YCLOUD_SMS_INBOUND_RECEIVED: _parse_ycloud_sms_inbound,
}


# -- field readers -------------------------------------------------------------------------------


def _malformed(path: str, key: str, expected: str) -> errors.MalformedPayloadError:
    return errors.MalformedPayloadError(f"{path}{key} must be {expected}")


def _object(obj: JSONObject, key: str, path: str) -> JSONObject:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise _malformed(path, key, "an object")
    return value


def _text(obj: JSONObject, key: str, path: str) -> str:
    value = _optional_text(obj, key, path)
    if value is None:
        raise _malformed(path, key, "a string")
    return value


def _status(obj: JSONObject, path: str, allowed: tuple[_Status, ...]) -> _Status:
    value = _text(obj, "status", path)
    for status in allowed:
        if value == status:
            return status
    raise _malformed(path, "status", f"one of {', '.join(allowed)}")


def _optional_text(obj: JSONObject, key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _malformed(path, key, "a string")
    return value


def _bool(obj: JSONObject, key: str, path: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise _malformed(path, key, "true or false")
    return value


def _time(obj: JSONObject, key: str, path: str) -> datetime:
    value = _optional_time(obj, key, path)
    if value is None:
        raise _malformed(path, key, "an RFC 3339 time")
    return value


def _optional_time(obj: JSONObject, key: str, path: str) -> datetime | None:
    text = _optional_text(obj, key, path)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _malformed(path, key, "an RFC 3339 time") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _optional_int(obj: JSONObject, key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise _malformed(path, key, "an integer")
    return value


def _optional_decimal(obj: JSONObject, key: str, path: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _malformed(path, key, "a number")
    return Decimal(value)


def _message_parts(obj: JSONObject, path: str) -> str:
    value = obj.get("message_parts")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()):
        raise _malformed(path, "message_parts", 'a count of SMS parts, such as "1"')
    return text
