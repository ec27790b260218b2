from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from statushooks import exceptions
from statushooks.events import catalog
from statushooks.messages import Channel, MessageStatus

NAMES = [
    "com.interact.messages.sms.status",
    "sms.message.updated",
    "voice.message.updated",
    "email.delivery.updated",
    "com.interact.messages.sms.inbound",
    "sms.inbound.received",
    "com.interact.messages.sms.opt.out",
]
INBOUND_NAMES = NAMES[4:]
NOW = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
EVENT_ID = "evt_2z020YIp98J0ow5egHEVQJQd2Sx"
OPERATIONAL_NAMES = [
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "endpoint.failing",
    "endpoint.recovered",
    "delivery.exhausted",
]
ALL_TYPES = catalog.all_types()
#: The types of the two specs (the others are operational: ``events.operational``).
MESSAGE_TYPES = tuple(t for t in ALL_TYPES if t.channel is not None)


def test_all_types_are_the_spec_types_then_the_operational_then_the_inbound_ones():
    """The catalog holds the four event types of the two specs, Interact first, then the
    operational ones, which no message emits, then the three types of inbound texts."""
    assert [event_type.name for event_type in ALL_TYPES] == (
        NAMES[:4] + OPERATIONAL_NAMES + INBOUND_NAMES
    )
    operational = [t for t in ALL_TYPES if t.channel is None]
    assert [t.name for t in operational] == OPERATIONAL_NAMES
    assert all(t.dialect == "operational" and not t.statuses for t in operational)
    assert all(catalog.is_operational(name) for name in OPERATIONAL_NAMES)
    assert not any(catalog.is_operational(name) for name in NAMES)


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_every_type_has_a_valid_schema_and_example(event_type):
    """Each schema is valid draft 2020-12 and the type's example validates against it."""
    Draft202012Validator.check_schema(event_type.schema)
    assert event_type.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert event_type.example["type"] == event_type.payload_type
    assert event_type.description
    Draft202012Validator(event_type.schema).validate(event_type.example)


@pytest.mark.parametrize("event_type", MESSAGE_TYPES, ids=lambda t: t.name)
def test_examples_are_the_seed_examples(event_type, seed, identical):
    """Each catalog example is the seed's example verbatim, key order included."""
    identical(dict(event_type.example), seed(event_type.name))


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_schemas_refuse_unknown_fields(event_type):
    """A field neither spec lists fails the schema, at the top level and in the object."""
    validator = Draft202012Validator(event_type.schema)
    payload = copy.deepcopy(dict(event_type.example))
    payload["surprise"] = 1
    with pytest.raises(SchemaError):
        validator.validate(payload)
    payload = copy.deepcopy(dict(event_type.example))
    next(value for value in payload.values() if isinstance(value, dict))["surprise"] = 1
    with pytest.raises(SchemaError):
        validator.validate(payload)


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_schemas_require_the_always_shown_fields(event_type):
    """Dropping any required envelope field fails the schema."""
    validator = Draft202012Validator(event_type.schema)
    for key in event_type.schema["required"]:
        payload = {k: v for k, v in event_type.example.items() if k != key}
        with pytest.raises(SchemaError):
            validator.validate(payload)


@pytest.mark.parametrize("name", NAMES)
def test_get(name):
    """get() returns the type of that name."""
    assert catalog.get(name).name == name


def test_get_unknown_is_a_validation_error():
    """An unknown name is a ValidationError listing the known ones."""
    with pytest.raises(exceptions.ValidationError) as info:
        catalog.get("sms.message.created")
    assert info.value.errors[0]["field"] == "type"
    assert "sms.message.updated" in info.value.errors[0]["message"]


@pytest.mark.parametrize(
    ("channel", "status", "expected"),
    [
        (Channel.SMS, MessageStatus.SUBMITTED, ["com.interact.messages.sms.status"]),
        (Channel.SMS, MessageStatus.SENT, []),
        (
            Channel.SMS,
            MessageStatus.DELIVERED,
            ["com.interact.messages.sms.status", "sms.message.updated"],
        ),
        (
            Channel.SMS,
            MessageStatus.UNDELIVERED,
            ["com.interact.messages.sms.status", "sms.message.updated"],
        ),
        (
            Channel.SMS,
            MessageStatus.FAILED,
            ["com.interact.messages.sms.status", "sms.message.updated"],
        ),
        (Channel.SMS, MessageStatus.CLICKED, ["com.interact.messages.sms.status"]),
        (Channel.VOICE, MessageStatus.SUBMITTED, []),
        (Channel.VOICE, MessageStatus.SENT, []),
        (Channel.VOICE, MessageStatus.DELIVERED, ["voice.message.updated"]),
        (Channel.VOICE, MessageStatus.UNDELIVERED, ["voice.message.updated"]),
        (Channel.VOICE, MessageStatus.FAILED, ["voice.message.updated"]),
        (Channel.EMAIL, MessageStatus.SUBMITTED, []),
        (Channel.EMAIL, MessageStatus.SENT, []),
        (Channel.EMAIL, MessageStatus.DELIVERED, ["email.delivery.updated"]),
        (Channel.EMAIL, MessageStatus.FAILED, ["email.delivery.updated"]),
    ],
)
def test_emitted_by(channel, status, expected):
    """emitted_by() gives the types whose channel and statuses match."""
    assert [t.name for t in catalog.emitted_by(channel, status)] == expected


@pytest.mark.parametrize("event_type", MESSAGE_TYPES, ids=lambda t: t.name)
def test_every_emitting_status_renders_a_valid_payload(event_type, make_message, validate):
    """Every status a type is emitted on renders a payload its schema accepts."""
    message = make_message(event_type.channel, error_code="E1", error_message="Boom")
    for status in event_type.statuses:
        payload = catalog.render(
            event_type,
            message,
            status=status,
            event_id=EVENT_ID,
            now=NOW,
            public_base_url="http://localhost:8080",
        )
        validate(payload)
        json.dumps(payload)


def test_render_refuses_another_channel(make_message):
    """Rendering an SMS type for an email message is a ValidationError."""
    with pytest.raises(exceptions.ValidationError, match="email"):
        catalog.render(
            catalog.get("sms.message.updated"),
            make_message(Channel.EMAIL, to="a@example.com"),
            status=MessageStatus.DELIVERED,
            event_id=EVENT_ID,
            now=NOW,
            public_base_url="http://localhost:8080",
        )


def test_render_refuses_a_status_the_type_never_emits(make_message):
    """Rendering sms.message.updated for a submitted message is a ValidationError."""
    with pytest.raises(exceptions.ValidationError) as info:
        catalog.render(
            catalog.get("sms.message.updated"),
            make_message(),
            status=MessageStatus.SUBMITTED,
            event_id=EVENT_ID,
            now=NOW,
            public_base_url="http://localhost:8080",
        )
    assert info.value.errors[0]["field"] == "status"


def test_example_payload_interact(identical, seed):
    """The Interact test webhook is the seed example with a fresh id and time."""
    event_type = catalog.get("com.interact.messages.sms.status")
    payload = catalog.example_payload(event_type, event_id=EVENT_ID, now=NOW)
    expected = seed(event_type.name)
    expected.update(id=EVENT_ID, time="2030-01-02T03:04:05Z")
    identical(payload, expected)


@pytest.mark.parametrize("name", NAMES[1:4])
def test_example_payload_ycloud(name, identical, seed):
    """A YCloud test webhook is the seed example with a fresh id and every time set to now."""
    payload = catalog.example_payload(catalog.get(name), event_id=EVENT_ID, now=NOW)
    expected = seed(name)
    expected.update(id=EVENT_ID, createTime="2030-01-02T03:04:05.600Z")
    obj = next(value for value in expected.values() if isinstance(value, dict))
    for key in ("createTime", "updateTime"):
        if key in obj:
            obj[key] = "2030-01-02T03:04:05.600Z"
    identical(payload, expected)


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.name)
def test_example_payload_validates_and_leaves_the_catalog_alone(event_type, validate):
    """A test webhook validates, and mutating it does not change the catalog's example."""
    before = copy.deepcopy(dict(event_type.example))
    payload = catalog.example_payload(event_type, event_id=EVENT_ID, now=NOW)
    validate(payload)
    Draft202012Validator(event_type.schema).validate(payload)
    assert payload["id"] == EVENT_ID
    for value in payload.values():
        if isinstance(value, dict):
            value.clear()
    assert dict(event_type.example) == before


def test_event_types_are_hashable():
    """Event types can be set members despite their dict schema and example."""
    assert len(set(ALL_TYPES)) == len(NAMES) + len(OPERATIONAL_NAMES)
