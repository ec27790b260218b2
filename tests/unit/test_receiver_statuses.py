"""The receiver SDK's status Literals: exactly the statuses the server renders, enforced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import get_args

import pytest

from statushooks import receiver
from statushooks.events import catalog, interact

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _wire(event_type: catalog.EventType) -> set[str]:
    """The status values an event type's payloads carry."""
    if event_type.name == receiver.INTERACT_SMS_STATUS:
        return {interact.WIRE_STATUS.get(s, s.value) for s in event_type.statuses}
    return {s.value for s in event_type.statuses}


@pytest.mark.parametrize(
    ("name", "literal"),
    [
        (receiver.INTERACT_SMS_STATUS, receiver.InteractSmsStatus),
        (receiver.YCLOUD_SMS_UPDATED, receiver.YCloudSmsStatus),
        (receiver.YCLOUD_VOICE_UPDATED, receiver.YCloudVoiceStatus),
        (receiver.YCLOUD_EMAIL_DELIVERY_UPDATED, receiver.YCloudEmailStatus),
    ],
)
def test_literals_are_the_catalog_statuses(name: str, literal: object) -> None:
    assert set(get_args(literal)) == _wire(catalog.get(name))


def _example(name: str) -> dict[str, object]:
    return catalog.example_payload(catalog.get(name), event_id="evt_" + "A" * 27, now=NOW)


def _status_holder(payload: dict[str, object]) -> dict[str, object]:
    for key in ("data", "sms", "voice", "emailDelivery"):
        if key in payload:
            holder = payload[key]
            assert isinstance(holder, dict)
            return holder
    raise AssertionError(payload)


@pytest.mark.parametrize(
    "name",
    [
        receiver.INTERACT_SMS_STATUS,
        receiver.YCLOUD_SMS_UPDATED,
        receiver.YCLOUD_VOICE_UPDATED,
        receiver.YCLOUD_EMAIL_DELIVERY_UPDATED,
    ],
)
def test_each_catalog_example_parses_and_an_unknown_status_does_not(name: str) -> None:
    payload = _example(name)
    event = receiver.parse(json.dumps(payload))
    assert type(event).TYPE == name
    _status_holder(payload)["status"] = "teleported"
    with pytest.raises(receiver.MalformedPayloadError, match="status must be one of"):
        receiver.parse(json.dumps(payload))
