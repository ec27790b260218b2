"""The receiver SDK parses the events of inbound texts: the providers' samples and what
statushooks renders."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from seed_payloads import INTERACT_INBOUND, INTERACT_OPT_OUT, YCLOUD_SMS_INBOUND
from statushooks import inbound, receiver
from statushooks.events import catalog

NOW = datetime(2026, 12, 7, 2, 0, 1, tzinfo=UTC)


def test_parse_interact_inbound_sample():
    """Interact's inbound sample (``type`` status, ``data.status`` inbound) is an inbound
    event, not a status event."""
    event = receiver.parse(INTERACT_INBOUND)
    assert isinstance(event, receiver.InteractSmsInboundEvent)
    assert event.TYPE == event.type == receiver.INTERACT_SMS_STATUS
    assert event.data.status == receiver.INTERACT_INBOUND_STATUS
    assert event.data.message == "I'd like to SUBSCRIBE to your EVENTS newsletters"
    assert (event.data.phone_number, event.data.inbound_number) == (
        "+447838970000",
        "+447860000000",
    )
    assert event.data.inbound_number_id == "num_2yuxhMhvveEjsqYuHm68rslycA8"
    assert event.correlation_id == "cid_2z01rLJP7wm5KhVPuvvUj0TfvwT"
    assert event.raw["data"]["opt_ins"][0]["keyword"] == "SUBSCRIBE"


def test_parse_interact_opt_out_sample():
    """Interact's opt-out sample parses with its boolean and its time."""
    event = receiver.parse(INTERACT_OPT_OUT)
    assert isinstance(event, receiver.InteractSmsOptOutEvent)
    assert event.TYPE == event.type
    assert (event.data.message, event.data.type) == ("STOP", "keyword")
    assert event.data.account_level_opt_out is False
    assert event.data.opt_out_time == datetime(2025, 12, 3, 12, 20, 10, tzinfo=UTC)
    assert event.correlation_id is None


def test_parse_ycloud_inbound_sample():
    """YCloud's ``sms.inbound.received`` parses into ``sms_inbound``."""
    event = receiver.parse(YCLOUD_SMS_INBOUND)
    assert isinstance(event, receiver.YCloudSmsInboundReceivedEvent)
    assert event.TYPE == event.type
    assert event.sms_inbound.from_ == "+447901614024"
    assert event.sms_inbound.send_time == datetime(2022, 6, 1, 12, tzinfo=UTC)


def test_every_field_of_sms_inbound_is_optional():
    """YCloud marks every ``smsInbound`` field optional: an empty object parses."""
    document = json.loads(YCLOUD_SMS_INBOUND)
    document["smsInbound"] = {}
    event = receiver.parse(json.dumps(document))
    assert isinstance(event, receiver.YCloudSmsInboundReceivedEvent)
    assert event.sms_inbound == receiver.YCloudSmsInbound()


@pytest.mark.parametrize(
    "body",
    [
        INTERACT_OPT_OUT.replace('"account_level_opt_out": false', '"account_level_opt_out": 0'),
        INTERACT_OPT_OUT.replace('"opt_out_time": "2025-12-03T12:20:10Z"', '"opt_out_time": 1'),
        INTERACT_INBOUND.replace('"message": "I\'d', '"text": "I\'d'),
        YCLOUD_SMS_INBOUND.replace('"text": "Yes, see you then."', '"text": 5'),
    ],
)
def test_malformed_inbound_events(body):
    """A wrong type or a missing required field is a MalformedPayloadError."""
    with pytest.raises(receiver.MalformedPayloadError):
        receiver.parse(body)


@pytest.mark.parametrize("status", list(inbound.InboundStatus))
def test_the_sdk_parses_what_statushooks_renders(status):
    """Every inbound event statushooks renders parses into its typed event."""
    sms = inbound.new_inbound_sms(
        account_id="acc_1", sender="+447838970000", to="+447860000000", text="STOP",
        received_at=NOW, now=NOW,
    )  # fmt: skip
    for event_type in catalog.emitted_on(status):
        payload = catalog.render_inbound(
            event_type, sms, event_id="evt_1", now=NOW, public_base_url="https://x.example"
        )
        event = receiver.parse(json.dumps(payload))
        assert event.raw == payload
        assert not isinstance(event, receiver.InteractSmsStatusEvent)
