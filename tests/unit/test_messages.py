"""The status machine: monotonic, late and duplicate reports change nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from statushooks import exceptions, messages
from statushooks.messages import Channel, MessageStatus

NOW = datetime(2025, 6, 25, 12, 10, 47, tzinfo=UTC)
S = MessageStatus


def make(channel: Channel = Channel.SMS, status: MessageStatus = S.SUBMITTED) -> messages.Message:
    message = messages.new_message(account_id="acc_x", channel=channel, to="+447810000001", now=NOW)
    return (
        messages.apply_status(message, status, now=NOW).after if status != S.SUBMITTED else message
    )


@pytest.mark.parametrize(
    ("current", "reported", "changed"),
    [
        (S.SUBMITTED, S.SUBMITTED, False),
        (S.SUBMITTED, S.SENT, True),
        (S.SUBMITTED, S.DELIVERED, True),
        (S.SENT, S.SENT, False),
        (S.SENT, S.SUBMITTED, False),
        (S.SENT, S.UNDELIVERED, True),
        (S.DELIVERED, S.SENT, False),
        (S.DELIVERED, S.DELIVERED, False),
        (S.DELIVERED, S.FAILED, False),
        (S.UNDELIVERED, S.DELIVERED, False),
        (S.FAILED, S.UNDELIVERED, False),
        (S.DELIVERED, S.CLICKED, True),
        (S.SUBMITTED, S.CLICKED, True),
        (S.CLICKED, S.CLICKED, False),
        (S.CLICKED, S.DELIVERED, False),
        (S.FAILED, S.CLICKED, False),
        (S.UNDELIVERED, S.CLICKED, False),
    ],
)
def test_transitions(current: MessageStatus, reported: MessageStatus, changed: bool) -> None:
    """Each (current, reported) pair moves forward or changes nothing, per the rank table."""
    change = messages.apply_status(make(status=current), reported, now=NOW + timedelta(seconds=1))
    assert change.changed is changed
    assert change.after.status is (reported if changed else current)


def test_unchanged_report_returns_the_same_message() -> None:
    """A late report leaves the message exactly as it was (updated_at included)."""
    message = make(status=S.DELIVERED)
    change = messages.apply_status(message, S.SENT, now=NOW + timedelta(hours=1))
    assert change.after is message


def test_failure_records_error_and_update_time() -> None:
    """A failure keeps its error code and message and moves updated_at to the injected clock."""
    later = NOW + timedelta(minutes=3)
    change = messages.apply_status(
        make(), S.FAILED, now=later, error_code="402", error_message="Unsubscribes"
    )
    assert (change.after.error_code, change.after.error_message) == ("402", "Unsubscribes")
    assert change.after.updated_at == later
    assert change.occurred_at == later


def test_success_ignores_error_fields() -> None:
    """Error fields given with a success status are not stored."""
    change = messages.apply_status(make(), S.DELIVERED, now=NOW, error_code="1")
    assert change.after.error_code is None


def test_occurred_at_is_kept() -> None:
    """The carrier's own time of the event is reported back, not the time we learnt of it."""
    when = NOW - timedelta(minutes=5)
    assert messages.apply_status(make(), S.SENT, now=NOW, occurred_at=when).occurred_at == when


@pytest.mark.parametrize(
    ("channel", "status"),
    [(Channel.EMAIL, S.CLICKED), (Channel.EMAIL, S.UNDELIVERED), (Channel.VOICE, S.CLICKED)],
)
def test_status_not_valid_for_channel(channel: Channel, status: MessageStatus) -> None:
    """Statuses a channel cannot have are a validation error naming the field."""
    with pytest.raises(exceptions.ValidationError) as info:
        messages.apply_status(make(channel), status, now=NOW)
    assert info.value.errors[0]["field"] == "status"


def test_new_message_ids_and_correlation() -> None:
    """New messages get msg_/tid_ ids; only campaign messages get a generated correlation id."""
    plain = messages.new_message(account_id="a", channel=Channel.SMS, to="+1", now=NOW)
    campaign = messages.new_message(
        account_id="a", channel=Channel.SMS, to="+1", now=NOW, campaign_id="cmp_1"
    )
    given = messages.new_message(
        account_id="a", channel=Channel.SMS, to="+1", now=NOW, correlation_id="ref"
    )
    assert plain.id.startswith("msg_") and plain.transaction_id.startswith("tid_")
    assert len(plain.transaction_id) == len("tid_") + 27
    assert plain.correlation_id is None
    assert campaign.correlation_id is not None
    assert given.correlation_id == "ref"
    assert plain.status is S.SUBMITTED and plain.created_at == plain.updated_at == NOW


def test_evolve_makes_what_replace_makes_and_leaves_the_original() -> None:
    message = make()
    evolved = messages.evolve(message, status=S.SENT, last_sequence=4)
    assert evolved == dataclasses.replace(message, status=S.SENT, last_sequence=4)
    assert (message.status, message.last_sequence) == (S.SUBMITTED, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        evolved.status = S.FAILED  # type: ignore[misc]


def test_evolve_refuses_a_field_the_message_does_not_have() -> None:
    with pytest.raises(TypeError, match="no field colour"):
        messages.evolve(make(), colour="red")


def test_restore_needs_every_field_and_nothing_else() -> None:
    message = make(status=S.DELIVERED)
    fields = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
    assert messages.restore(dict(fields)) == message
    del fields["status"]
    with pytest.raises(TypeError, match="status"):
        messages.restore(fields)
    with pytest.raises(TypeError, match="colour"):
        messages.restore({**fields, "status": S.SENT, "colour": "red"})
