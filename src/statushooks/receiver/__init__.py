"""The statushooks receiver SDK: verify and parse webhooks — standard library only.

::

    from statushooks import receiver

    event = receiver.verify_and_parse(body, request.headers, secret)
    match event:
        case receiver.YCloudSmsUpdatedEvent(sms=sms):
            ...

Every error is a ``ReceiverError``: ``WebhookVerificationError`` when the request cannot be
trusted (answer 401 or 400), ``WebhookPayloadError`` when a verified body is not an event this
version knows.
"""

from __future__ import annotations

from statushooks.receiver._events import (
    INTERACT_INBOUND_STATUS,
    INTERACT_SMS_OPT_OUT,
    INTERACT_SMS_STATUS,
    OPERATIONAL_TYPES,
    YCLOUD_EMAIL_DELIVERY_UPDATED,
    YCLOUD_SMS_INBOUND_RECEIVED,
    YCLOUD_SMS_UPDATED,
    YCLOUD_VOICE_UPDATED,
    Event,
    InteractSmsInboundData,
    InteractSmsInboundEvent,
    InteractSmsOptOutData,
    InteractSmsOptOutEvent,
    InteractSmsStatus,
    InteractSmsStatusData,
    InteractSmsStatusEvent,
    OperationalEvent,
    YCloudEmailDelivery,
    YCloudEmailDeliveryUpdatedEvent,
    YCloudEmailStatus,
    YCloudSms,
    YCloudSmsInbound,
    YCloudSmsInboundReceivedEvent,
    YCloudSmsStatus,
    YCloudSmsUpdatedEvent,
    YCloudVoice,
    YCloudVoiceStatus,
    YCloudVoiceUpdatedEvent,
    parse,
)
from statushooks.receiver._exceptions import (
    Ed25519UnavailableError,
    InvalidHeadersError,
    InvalidSecretError,
    InvalidSignatureError,
    MalformedPayloadError,
    MissingHeadersError,
    ReceiverError,
    TimestampOutOfToleranceError,
    UnknownEventTypeError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from statushooks.receiver._verify import DEFAULT_TOLERANCE, verify, verify_and_parse

__all__ = [
    "DEFAULT_TOLERANCE",
    "INTERACT_INBOUND_STATUS",
    "INTERACT_SMS_OPT_OUT",
    "INTERACT_SMS_STATUS",
    "OPERATIONAL_TYPES",
    "YCLOUD_EMAIL_DELIVERY_UPDATED",
    "YCLOUD_SMS_INBOUND_RECEIVED",
    "YCLOUD_SMS_UPDATED",
    "YCLOUD_VOICE_UPDATED",
    "Ed25519UnavailableError",
    "Event",
    "InteractSmsInboundData",
    "InteractSmsInboundEvent",
    "InteractSmsOptOutData",
    "InteractSmsOptOutEvent",
    "InteractSmsStatus",
    "InteractSmsStatusData",
    "InteractSmsStatusEvent",
    "InvalidHeadersError",
    "InvalidSecretError",
    "InvalidSignatureError",
    "MalformedPayloadError",
    "MissingHeadersError",
    "OperationalEvent",
    "ReceiverError",
    "TimestampOutOfToleranceError",
    "UnknownEventTypeError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "YCloudEmailDelivery",
    "YCloudEmailDeliveryUpdatedEvent",
    "YCloudEmailStatus",
    "YCloudSms",
    "YCloudSmsInbound",
    "YCloudSmsInboundReceivedEvent",
    "YCloudSmsStatus",
    "YCloudSmsUpdatedEvent",
    "YCloudVoice",
    "YCloudVoiceStatus",
    "YCloudVoiceUpdatedEvent",
    "parse",
    "verify",
    "verify_and_parse",
]
