from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from statushooks.messages import Channel, MessageStatus, new_message

NAME = "com.interact.messages.sms.status"
NOW = datetime(2025, 6, 25, 12, 10, 47, tzinfo=UTC)
SCHEDULED = datetime(2025, 6, 30, 12, 8, 43, tzinfo=UTC)


@pytest.fixture
def seed_message(make_message):
    """The message behind seed 000's example: a scheduled campaign SMS to a list."""
    return make_message(
        to="+447810000001",
        sender="Name",
        text="This is your message",
        segments=1,
        scheduled_at=SCHEDULED,
        list_id="18920476",
        custom_id="123",
        campaign_name="Some campaign",
        campaign_id="cmp_214r8u4981u498",
        correlation_id="anexternallyassignedreference",
    )


def test_renders_the_seed_example(seed_message, render, seed, identical, validate):
    """The seed's message, failed, renders exactly the seed payload, key order included."""
    payload = render(NAME, seed_message, MessageStatus.FAILED)
    identical(payload, seed(NAME))
    validate(payload)


@pytest.mark.parametrize(
    ("status", "wire"),
    [
        (MessageStatus.SUBMITTED, "submitted"),
        (MessageStatus.DELIVERED, "delivered"),
        (MessageStatus.FAILED, "failed"),
        (MessageStatus.UNDELIVERED, "failed"),
        (MessageStatus.CLICKED, "clicked"),
    ],
)
def test_status_on_the_wire(seed_message, render, validate, status, wire):
    """Each emitting status renders as Interact's status; undelivered is reported as failed."""
    payload = render(NAME, seed_message, status)
    assert payload["data"]["status"] == wire
    validate(payload)


def test_renders_the_status_argument_not_the_message_status(seed_message, render):
    """A message already clicked still renders its earlier delivered event as delivered."""
    clicked = dataclasses.replace(seed_message, status=MessageStatus.CLICKED)
    assert render(NAME, clicked, MessageStatus.DELIVERED)["data"]["status"] == "delivered"


def test_minimal_message(make_message, render, identical, validate):
    """A plain API SMS shows only the always-shown fields, in the seed's order."""
    message = make_message(to="+447810000001", sender="Name", text="Hi", segments=2)
    payload = render(NAME, message, MessageStatus.DELIVERED, public_base_url="https://h.test/")
    identical(
        payload,
        {
            "specversion": "1.0",
            "type": NAME,
            "source": "https://h.test/v1/sms",
            "id": "evt_2z020YIp98J0ow5egHEVQJQd2Sx",
            "time": "2025-06-25T12:10:47Z",
            "datacontenttype": "application/json",
            "data": {
                "status": "delivered",
                "channel": "sms",
                "phone_number": "+447810000001",
                "from": "Name",
                "message_body": "Hi",
                "message_parts": "2",
            },
            "transaction_id": "tid_35T5b3cQmfqTu6jcedrdVcSmNHr",
        },
    )
    validate(payload)


def test_time_is_utc_whole_seconds(make_message, render):
    """``time`` is RFC 3339 in UTC with seconds and Z, without a fraction."""
    now = datetime(2025, 6, 25, 14, 10, 47, 987654, tzinfo=timezone(timedelta(hours=2)))
    assert render(NAME, make_message(), MessageStatus.SUBMITTED, now=now)["time"] == (
        "2025-06-25T12:10:47Z"
    )


@pytest.mark.parametrize(
    ("fields", "key", "expected"),
    [
        ({"scheduled_at": None}, "scheduled_at", None),
        ({"scheduled_at": SCHEDULED}, "scheduled_at", "2025-06-30T12:08:43Z"),
        ({"list_id": None}, "list_id", None),
        ({"list_id": "18920476"}, "list_id", "18920476"),
        ({"custom_id": None}, "custom_id", None),
        ({"custom_id": "123"}, "custom_id", "123"),
    ],
)
def test_shown_only_if_given(make_message, render, validate, fields, key, expected):
    """scheduled_at, list_id and custom_id are shown only if the message has them."""
    payload = render(NAME, make_message(**fields), MessageStatus.SUBMITTED)
    assert payload["data"].get(key) == expected
    assert (key in payload["data"]) is (expected is not None)
    validate(payload)


def test_campaign_fields_shown_for_campaigns(make_message, render, validate):
    """A campaign message shows campaign_name and campaign_id."""
    message = make_message(campaign_id="cmp_1", campaign_name="Spring", correlation_id="c")
    data = render(NAME, message, MessageStatus.SUBMITTED)["data"]
    assert (data["campaign_name"], data["campaign_id"]) == ("Spring", "cmp_1")
    validate(render(NAME, message, MessageStatus.SUBMITTED))


def test_campaign_fields_hidden_outside_campaigns(make_message, render):
    """Without a campaign id neither campaign field is shown, even if a name was stored."""
    data = render(NAME, make_message(campaign_name="Spring"), MessageStatus.SUBMITTED)["data"]
    assert "campaign_name" not in data
    assert "campaign_id" not in data


def test_campaign_name_hidden_when_unset(make_message, render):
    """A campaign without a name shows campaign_id alone."""
    data = render(NAME, make_message(campaign_id="cmp_1"), MessageStatus.SUBMITTED)["data"]
    assert "campaign_name" not in data
    assert data["campaign_id"] == "cmp_1"


def test_correlation_id_hidden_when_not_given(make_message, render, validate):
    """An API SMS without a correlation id has no correlation_id key."""
    payload = render(NAME, make_message(), MessageStatus.SUBMITTED)
    assert "correlation_id" not in payload
    validate(payload)


def test_correlation_id_shown_when_given(make_message, render):
    """An API SMS with a correlation id shows it, just before transaction_id."""
    payload = render(NAME, make_message(correlation_id="ref-9"), MessageStatus.SUBMITTED)
    assert payload["correlation_id"] == "ref-9"
    assert list(payload)[-2:] == ["correlation_id", "transaction_id"]


def test_correlation_id_always_shown_for_campaigns(render, validate):
    """A campaign message made by new_message gets a generated correlation_id."""
    message = new_message(
        account_id="acc_1",
        channel=Channel.SMS,
        to="+447810000001",
        now=NOW,
        sender="Name",
        text="Hi",
        campaign_id="cmp_1",
    )
    payload = render(NAME, message, MessageStatus.SUBMITTED)
    assert payload["correlation_id"].startswith("cor_")
    assert payload["transaction_id"] == message.transaction_id
    validate(payload)


def test_transaction_id_always_shown(make_message, render):
    """transaction_id is the last key of every payload."""
    assert list(render(NAME, make_message(), MessageStatus.SUBMITTED))[-1] == "transaction_id"
