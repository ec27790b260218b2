from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from statushooks.events import catalog
from statushooks.messages import Channel, Message, MessageStatus

# The seeds' example payloads, copied verbatim from /work/shared/seeds/000_* and 002_*.
SEED_000_FAILED = """
{
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
"campaign_id": "cmp_214r8u4981u498"
},
"correlation_id": "anexternallyassignedreference",
"transaction_id": "tid_35T5b3cQmfqTu6jcedrdVcSmNHr"
}
"""

# The page shows "[email protected]" (its email obfuscation hid the address).
SEED_002_EMAIL = """
{
"id": "evt_djeIQXaQPQyUcRFi",
"type": "email.delivery.updated",
"apiVersion": "v2",
"createTime": "2022-03-01T12:00:00.000Z",
"emailDelivery": {
"emailId": "em123456",
"recipientAddress": "user@example.com",
"status": "failed",
"errorCode": "402",
"errorMessage": "Unsubscribes",
"externalId": "ext_1234567890"
}
}
"""

SEED_002_SMS = """
{
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
"updateTime": "2022-03-01T12:00:00.000Z"
}
}
"""

SEED_002_VOICE = """
{
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
"externalId": "ext_123456"
}
}
"""

SEEDS: dict[str, str] = {
    "com.interact.messages.sms.status": SEED_000_FAILED,
    "sms.message.updated": SEED_002_SMS,
    "voice.message.updated": SEED_002_VOICE,
    "email.delivery.updated": SEED_002_EMAIL,
}

NOW = datetime(2025, 6, 25, 12, 10, 47, tzinfo=UTC)
EVENT_ID = "evt_2z020YIp98J0ow5egHEVQJQd2Sx"
TRANSACTION_ID = "tid_35T5b3cQmfqTu6jcedrdVcSmNHr"
BASE_URL = "https://api.webexinteract.com"


@pytest.fixture
def seed() -> Callable[[str], dict[str, Any]]:
    """The seed's example payload of an event type, parsed in its key order."""

    def load(name: str) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(SEEDS[name])
        return payload

    return load


@pytest.fixture
def make_message() -> Callable[..., Message]:
    """A factory of submitted messages with plain defaults; keyword arguments override."""

    def make(channel: Channel = Channel.SMS, **fields: Any) -> Message:
        defaults: dict[str, Any] = {
            "id": "msg_1",
            "account_id": "acc_1",
            "channel": channel,
            "status": MessageStatus.SUBMITTED,
            "to": "+447901614024",
            "sender": "Acme",
            "text": "Hello",
            "transaction_id": TRANSACTION_ID,
            "created_at": NOW,
            "updated_at": NOW,
        }
        return Message(**{**defaults, **fields})

    return make


@pytest.fixture
def render() -> Callable[..., dict[str, Any]]:
    """Render a message as an event type, with the fixed event id, clock and base URL."""

    def do(name: str, message: Message, status: MessageStatus, **kwargs: Any) -> dict[str, Any]:
        options: dict[str, Any] = {"event_id": EVENT_ID, "now": NOW, "public_base_url": BASE_URL}
        options.update(kwargs)
        return catalog.render(catalog.get(name), message, status=status, **options)

    return do


@pytest.fixture
def validate() -> Callable[[dict[str, Any]], None]:
    """Assert a payload is valid against its event type's schema."""

    def check(payload: dict[str, Any]) -> None:
        schema = catalog.get(payload["type"]).schema
        Draft202012Validator.check_schema(schema)
        Draft202012Validator(schema).validate(payload)

    return check


def assert_identical(actual: object, expected: object) -> None:
    """Equal values with keys in the same order at every level."""
    assert actual == expected
    assert json.dumps(actual) == json.dumps(expected)


@pytest.fixture
def identical() -> Callable[[object, object], None]:
    """Assert two payloads are equal, key order included."""
    return assert_identical
