from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from statushooks.messages import Channel, MessageStatus

SMS = "sms.message.updated"
VOICE = "voice.message.updated"
EMAIL = "email.delivery.updated"
SEED_TIME = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)
SEED_EVENT_ID = "evt_djeIQXaQPQyUcRFi"


@pytest.fixture
def sms_message(make_message):
    """The message behind seed 002's sms.message.updated example."""
    return make_message(
        Channel.SMS,
        id="string",
        to="+447901614024",
        status=MessageStatus.DELIVERED,
        text="Your verification code is 123456.",
        sender="YCloud",
        region_code="GB",
        segments=1,
        price=Decimal("0.0085"),
        currency="USD",
        created_at=SEED_TIME,
        updated_at=SEED_TIME,
    )


@pytest.fixture
def voice_message(make_message):
    """The message behind seed 002's voice.message.updated example."""
    return make_message(
        Channel.VOICE,
        id="v123456",
        to="+447901614024",
        sender=None,
        text=None,
        verification_code="1234",
        language="en",
        region_code="GB",
        price=Decimal("0.0085"),
        currency="USD",
        error_code="Error code when the message is undeliverable.",
        custom_id="ext_123456",
        created_at=SEED_TIME,
        updated_at=SEED_TIME,
    )


@pytest.fixture
def email_message(make_message):
    """The message behind seed 002's email.delivery.updated example."""
    return make_message(
        Channel.EMAIL,
        id="em123456",
        to="user@example.com",
        sender="noreply@example.com",
        status=MessageStatus.FAILED,
        error_code="402",
        error_message="Unsubscribes",
        custom_id="ext_1234567890",
    )


def render_seed(render, name, message, status):
    """Render with the seed's event id and clock."""
    return render(name, message, status, event_id=SEED_EVENT_ID, now=SEED_TIME)


def test_sms_renders_the_seed_example(sms_message, render, seed, identical, validate):
    """The seed's SMS, delivered, renders exactly the seed payload, key order included."""
    payload = render_seed(render, SMS, sms_message, MessageStatus.DELIVERED)
    identical(payload, seed(SMS))
    validate(payload)


def test_email_renders_the_seed_example(email_message, render, seed, identical, validate):
    """The seed's email, failed, renders exactly the seed payload, key order included."""
    payload = render_seed(render, EMAIL, email_message, MessageStatus.FAILED)
    identical(payload, seed(EMAIL))
    validate(payload)


def test_voice_undelivered_renders_the_seed_example(
    voice_message, render, seed, identical, validate
):
    """An undelivered voice call renders the seed payload's keys in order, status aside."""
    payload = render_seed(render, VOICE, voice_message, MessageStatus.UNDELIVERED)
    expected = seed(VOICE)
    expected["voice"]["status"] = "undelivered"
    identical(payload, expected)
    validate(payload)


def test_voice_delivered_leaves_out_the_error_code(
    voice_message, render, seed, identical, validate
):
    """The seed shows errorCode on a delivered call; statushooks shows it only on failure."""
    payload = render_seed(render, VOICE, voice_message, MessageStatus.DELIVERED)
    expected = seed(VOICE)
    del expected["voice"]["errorCode"]
    identical(payload, expected)
    validate(payload)


def test_envelope_times_have_milliseconds(sms_message, render):
    """createTime, and the object's times, are RFC 3339 UTC with milliseconds."""
    now = datetime(2025, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)
    message = dataclasses.replace(sms_message, updated_at=now)
    payload = render(SMS, message, MessageStatus.DELIVERED, now=now)
    assert payload["createTime"] == "2025-01-02T03:04:05.678Z"
    assert payload["sms"]["createTime"] == "2022-03-01T12:00:00.000Z"
    assert payload["sms"]["updateTime"] == "2025-01-02T03:04:05.678Z"


def test_renders_the_status_argument_not_the_message_status(sms_message, render):
    """A message already failed still renders an earlier event with that event's status."""
    failed = dataclasses.replace(sms_message, status=MessageStatus.FAILED, error_code="30003")
    payload = render(SMS, failed, MessageStatus.DELIVERED)
    assert payload["sms"]["status"] == "delivered"
    assert "errorCode" not in payload["sms"]


@pytest.mark.parametrize(
    ("name", "status", "shown"),
    [
        (SMS, MessageStatus.DELIVERED, False),
        (SMS, MessageStatus.UNDELIVERED, True),
        (SMS, MessageStatus.FAILED, True),
        (VOICE, MessageStatus.DELIVERED, False),
        (VOICE, MessageStatus.UNDELIVERED, True),
        (VOICE, MessageStatus.FAILED, True),
        (EMAIL, MessageStatus.DELIVERED, False),
        (EMAIL, MessageStatus.FAILED, True),
    ],
)
def test_error_fields_only_on_failure(make_message, render, validate, name, status, shown):
    """errorCode and errorMessage appear only for undelivered and failed."""
    channel = {SMS: Channel.SMS, VOICE: Channel.VOICE, EMAIL: Channel.EMAIL}[name]
    message = make_message(channel, error_code="E1", error_message="Boom")
    payload = render(name, message, status)
    obj = next(value for value in payload.values() if isinstance(value, dict))
    assert ("errorCode" in obj, "errorMessage" in obj) == (shown, shown)
    if shown:
        assert (obj["errorCode"], obj["errorMessage"]) == ("E1", "Boom")
    validate(payload)


def test_error_fields_only_if_set(make_message, render, validate):
    """A failure without a code or message shows neither."""
    payload = render(SMS, make_message(Channel.SMS), MessageStatus.FAILED)
    assert "errorCode" not in payload["sms"]
    assert "errorMessage" not in payload["sms"]
    validate(payload)


def test_error_message_alone(make_message, render):
    """A failure with only a message shows errorMessage without errorCode."""
    payload = render(SMS, make_message(error_message="Boom"), MessageStatus.FAILED)
    assert payload["sms"]["errorMessage"] == "Boom"
    assert "errorCode" not in payload["sms"]


@pytest.mark.parametrize(
    ("name", "channel", "status"),
    [
        (SMS, Channel.SMS, MessageStatus.DELIVERED),
        (VOICE, Channel.VOICE, MessageStatus.DELIVERED),
        (EMAIL, Channel.EMAIL, MessageStatus.DELIVERED),
    ],
)
@pytest.mark.parametrize("custom_id", [None, "ext_1"])
def test_external_id_only_if_given(
    make_message, render, validate, name, channel, status, custom_id
):
    """externalId is shown only if the caller gave one, and then last."""
    payload = render(name, make_message(channel, custom_id=custom_id), status)
    obj = next(value for value in payload.values() if isinstance(value, dict))
    assert obj.get("externalId") == custom_id
    if custom_id is not None:
        assert list(obj)[-1] == "externalId"
    validate(payload)


def test_voice_language_only_if_set(make_message, render, validate):
    """language is left out of a voice object when the message has none."""
    payload = render(
        VOICE, make_message(Channel.VOICE, verification_code="1"), MessageStatus.DELIVERED
    )
    assert "language" not in payload["voice"]
    validate(payload)


def test_sms_price_is_a_json_number(sms_message, render):
    """totalPrice is a float and totalSegments an int, as in the seed."""
    message = dataclasses.replace(sms_message, segments=3, price=Decimal("0.0255"))
    obj = render(SMS, message, MessageStatus.DELIVERED)["sms"]
    assert obj["totalPrice"] == 0.0255
    assert isinstance(obj["totalPrice"], float)
    assert obj["totalSegments"] == 3


def test_sms_leaves_out_unknown_fields(make_message, render, validate):
    """An SMS without sender, region or price leaves those keys out instead of sending null."""
    message = make_message(sender=None, region_code=None, price=None, currency=None)
    obj = render(SMS, message, MessageStatus.DELIVERED)["sms"]
    assert not {"senderId", "regionCode", "totalPrice", "currency"} & set(obj)
    assert None not in obj.values()
    validate(render(SMS, message, MessageStatus.DELIVERED))
