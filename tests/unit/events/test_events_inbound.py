"""The events of inbound texts, rendered as Interact and YCloud document them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from statushooks import exceptions, inbound
from statushooks.events import catalog, interact, ycloud
from statushooks.inbound import InboundSms, InboundStatus

NOW = datetime(2025, 6, 25, 12, 9, 33, 250000, tzinfo=UTC)
SENT = datetime(2025, 6, 25, 12, 9, 31, 5000, tzinfo=UTC)
EVENT_ID = "evt_2z01rKkdxq3oKzf013lxmn127v8"
BASE_URL = "https://api.webexinteract.com"
SMS = InboundSms(
    id="inb_2z01rKkdxq3oKzf013lxmn127v8",
    account_id="acc_1",
    sender="+447838970000",
    to="+447860000000",
    text="I'd like to SUBSCRIBE to your EVENTS newsletters",
    received_at=SENT,
    correlation_id="cid_2z01rLJP7wm5KhVPuvvUj0TfvwT",
)


def _render(name: str, sms: InboundSms = SMS) -> dict:
    return catalog.render_inbound(
        catalog.get(name), sms, event_id=EVENT_ID, now=NOW, public_base_url=BASE_URL
    )


def test_interact_inbound_is_the_reference_sample(seed, identical):
    """The inbound event is the reference's sample, key order included, without the
    ``opt_ins`` statushooks has no campaigns for; the number id is ours."""
    expected = seed(interact.INBOUND)
    del expected["data"]["opt_ins"]
    expected["data"]["inbound_number_id"] = inbound.number_id("acc_1", "+447860000000")
    identical(_render(interact.INBOUND), expected)


def test_interact_opt_out_is_the_reference_sample(seed, identical):
    """The opt-out event is the reference's sample, key order included; the suppression list
    is account-wide, so ``account_level_opt_out`` is true."""
    stop = InboundSms(**{**SMS.__dict__, "sender": "+447807127129", "to": "+447807127121",
                         "text": "STOP"})  # fmt: skip
    expected = seed(interact.OPT_OUT)
    expected.update(id=EVENT_ID, time="2025-06-25T12:09:33Z")
    expected["data"].update(
        inbound_number_id=inbound.number_id("acc_1", "+447807127121"),
        account_level_opt_out=True,
        opt_out_time="2025-06-25T12:09:33Z",
    )
    identical(_render(interact.OPT_OUT, stop), expected)


def test_ycloud_inbound_is_the_reference_shape(identical):
    """``sms.inbound.received`` carries the five ``smsInbound`` fields in the reference's
    order, times in milliseconds; ``sendTime`` is when the text was received."""
    identical(
        _render(ycloud.SMS_INBOUND),
        {
            "id": EVENT_ID,
            "type": "sms.inbound.received",
            "apiVersion": "v2",
            "createTime": "2025-06-25T12:09:33.250Z",
            "smsInbound": {
                "id": SMS.id,
                "from": SMS.sender,
                "to": SMS.to,
                "text": SMS.text,
                "sendTime": "2025-06-25T12:09:31.005Z",
            },
        },
    )


@pytest.mark.parametrize("name", [interact.INBOUND, ycloud.SMS_INBOUND, interact.OPT_OUT])
def test_rendered_inbound_payloads_fit_their_schemas(name, validate):
    """Every inbound payload validates against its type's schema, found from the payload."""
    payload = _render(name)
    assert catalog.type_of_payload(payload).name == name
    validate(payload)


def test_interact_inbound_schema_refuses_a_status_event(seed):
    """A status event is not an inbound event, nor the other way round."""
    inbound_schema = Draft202012Validator(catalog.get(interact.INBOUND).schema)
    status_schema = Draft202012Validator(catalog.get(interact.NAME).schema)
    with pytest.raises(SchemaError):
        inbound_schema.validate(seed(interact.NAME))
    with pytest.raises(SchemaError):
        status_schema.validate(seed(interact.INBOUND))


def test_inbound_types_are_emitted_on_inbound_statuses_only():
    """Inbound texts emit the two inbound types, opt-outs the opt-out type; no message
    status emits any of them."""
    assert [t.name for t in catalog.emitted_on(InboundStatus.INBOUND)] == [
        interact.INBOUND,
        ycloud.SMS_INBOUND,
    ]
    assert [t.name for t in catalog.emitted_on(InboundStatus.OPT_OUT)] == [interact.OPT_OUT]
    for event_type in catalog.emitted_on(InboundStatus.INBOUND):
        assert not event_type.statuses


def test_render_inbound_refuses_a_status_type():
    """A message status type cannot render an inbound text."""
    with pytest.raises(exceptions.ValidationError):
        _render(ycloud.SMS)
