from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from seed_payloads import (
    INTERACT_INBOUND,
    INTERACT_OPT_OUT,
    SEED_000_FAILED,
    SEED_002_EMAIL,
    SEED_002_SMS,
    SEED_002_VOICE,
    YCLOUD_SMS_INBOUND,
)
from statushooks.events import catalog
from statushooks.messages import Channel, Message, MessageStatus

# The page shows "[email protected]" (its email obfuscation hid the address).


SEEDS: dict[str, str] = {
    "com.interact.messages.sms.status": SEED_000_FAILED,
    "sms.message.updated": SEED_002_SMS,
    "voice.message.updated": SEED_002_VOICE,
    "email.delivery.updated": SEED_002_EMAIL,
    "com.interact.messages.sms.inbound": INTERACT_INBOUND,
    "sms.inbound.received": YCLOUD_SMS_INBOUND,
    "com.interact.messages.sms.opt.out": INTERACT_OPT_OUT,
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
        schema = catalog.type_of_payload(payload).schema
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
