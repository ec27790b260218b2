"""Messages and their status machine — pure: no I/O, the clock is injected.

The canonical status vocabulary covers both specs:

==============  =======================================================  =====
status          meaning                                                  rank
==============  =======================================================  =====
``submitted``   accepted by the platform                                 0
``sent``        handed to the carrier / mail server                      1
``delivered``   the carrier or mail server confirmed delivery            2
``undelivered`` the carrier said no (SMS, voice)                         2
``failed``      the platform could not send it                           2
``clicked``     the recipient clicked a tracked link (SMS only)          3
==============  =======================================================  =====

Transitions are monotonic: a report whose rank is not above the current one changes nothing
and emits nothing (late or duplicate). The three rank-2 outcomes are final: the first one
reported wins. ``clicked`` may follow ``submitted``, ``sent`` or ``delivered``, never
``undelivered`` or ``failed``; only a message's first click is a change (a later click changes
nothing and emits nothing), so every ``clicked`` event a receiver gets is a first click.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from statushooks import exceptions, ids


class Channel(enum.StrEnum):
    """How a message reaches its recipient."""

    #: A text message to a phone number.
    SMS = "sms"
    #: An email to an address.
    EMAIL = "email"
    #: A voice call reading a verification code.
    VOICE = "voice"


class MessageStatus(enum.StrEnum):
    """Where a message is on its way to the recipient."""

    #: Accepted by the platform.
    SUBMITTED = "submitted"
    #: Handed to the carrier or mail server.
    SENT = "sent"
    #: Delivery confirmed.
    DELIVERED = "delivered"
    #: The carrier refused or could not deliver it.
    UNDELIVERED = "undelivered"
    #: The platform could not send it.
    FAILED = "failed"
    #: The recipient clicked a tracked link (SMS only).
    CLICKED = "clicked"


RANK: dict[MessageStatus, int] = {
    MessageStatus.SUBMITTED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.UNDELIVERED: 2,
    MessageStatus.FAILED: 2,
    MessageStatus.CLICKED: 3,
}

FAILURE_STATUSES = frozenset({MessageStatus.UNDELIVERED, MessageStatus.FAILED})
FINAL_STATUSES = frozenset({MessageStatus.DELIVERED, *FAILURE_STATUSES})

#: The statuses a channel can report.
CHANNEL_STATUSES: dict[Channel, frozenset[MessageStatus]] = {
    Channel.SMS: frozenset(MessageStatus),
    Channel.EMAIL: frozenset(MessageStatus) - {MessageStatus.UNDELIVERED, MessageStatus.CLICKED},
    Channel.VOICE: frozenset(MessageStatus) - {MessageStatus.CLICKED},
}


@dataclass(frozen=True, kw_only=True)
class Message:
    """One SMS, email or voice message, with every field either spec renders."""

    id: str
    account_id: str
    channel: Channel
    status: MessageStatus
    #: Recipient: E.164 phone number (sms, voice) or email address (email).
    to: str
    #: Sender name / sender id (sms), from address (email); None for voice.
    sender: str | None = None
    #: SMS text, email plain text.
    text: str | None = None
    html: str | None = None
    subject: str | None = None
    verification_code: str | None = None
    language: str | None = None
    #: ``custom_id`` (Interact) / ``externalId`` (YCloud): the caller's own reference.
    custom_id: str | None = None
    #: Present only if given; always for campaign messages (generated).
    correlation_id: str | None = None
    transaction_id: str
    scheduled_at: datetime | None = None
    list_id: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    segments: int = 1
    region_code: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    #: The provider that carries the message (``twilio``, ``sendgrid``, …) and its id there:
    #: a connector finds the message by the pair (``statushooks.connectors``).
    provider: str | None = None
    provider_message_id: str | None = None
    #: How many events this message has emitted; orders them per message.
    last_sequence: int = 0
    created_at: datetime
    updated_at: datetime

    @property
    def recipient_address(self) -> str:
        """``recipientAddress`` of an email (the ``to`` field)."""
        return self.to


_MESSAGE_FIELDS = frozenset(field.name for field in dataclasses.fields(Message))


@dataclass(frozen=True, kw_only=True)
class StatusChange:
    """The answer of the status machine to one report."""

    before: Message
    after: Message
    #: The reported status.
    status: MessageStatus
    #: False for a late or duplicate report: nothing is stored and nothing is emitted.
    changed: bool
    occurred_at: datetime


def new_message(
    *,
    account_id: str,
    channel: Channel,
    to: str,
    now: datetime,
    campaign_id: str | None = None,
    correlation_id: str | None = None,
    **fields: object,
) -> Message:
    """A freshly submitted message with its ids; campaign messages always get a correlation id."""
    if campaign_id is not None and correlation_id is None:
        correlation_id = ids.new_id("cor", now.timestamp())
    return Message(
        id=ids.new_id("msg", now.timestamp()),
        account_id=account_id,
        channel=channel,
        status=MessageStatus.SUBMITTED,
        to=to,
        campaign_id=campaign_id,
        correlation_id=correlation_id,
        transaction_id=ids.new_id("tid", now.timestamp()),
        created_at=now,
        updated_at=now,
        **fields,  # type: ignore[arg-type]
    )


def check_status_allowed(channel: Channel, status: MessageStatus) -> None:
    """Refuse a status the channel cannot have (``clicked`` on an email, say)."""
    if status not in CHANNEL_STATUSES[channel]:
        allowed = ", ".join(sorted(CHANNEL_STATUSES[channel]))
        raise exceptions.ValidationError(
            f"status {status.value!r} is not valid for {channel.value} messages",
            errors=[{"field": "status", "message": f"must be one of: {allowed}"}],
        )


def is_advance(current: MessageStatus, reported: MessageStatus) -> bool:
    """Whether ``reported`` moves a message at ``current`` forward."""
    if reported is MessageStatus.CLICKED:
        return current not in FAILURE_STATUSES and current is not MessageStatus.CLICKED
    return RANK[reported] > RANK[current]


def restore(fields: dict[str, Any]) -> Message:
    """A ``Message`` from every one of its fields (as stored, already converted), made like
    ``evolve`` makes one: a bulk report reads each of its messages."""
    if fields.keys() != _MESSAGE_FIELDS:
        raise TypeError(f"Message fields differ: {sorted(fields.keys() ^ _MESSAGE_FIELDS)}")
    message = object.__new__(Message)
    message.__dict__.update(fields)
    return message


def evolve(message: Message, **changes: Any) -> Message:
    """``message`` with ``changes``, as ``dataclasses.replace`` makes it but without running
    ``__init__`` over every field again (a frozen dataclass sets each one through
    ``object.__setattr__``): a bulk report evolves each of its messages twice."""
    unknown = changes.keys() - _MESSAGE_FIELDS
    if unknown:
        raise TypeError(f"Message has no field {', '.join(sorted(unknown))}")
    evolved = object.__new__(Message)
    evolved.__dict__.update(message.__dict__, **changes)
    return evolved


def apply_status(
    message: Message,
    status: MessageStatus,
    *,
    now: datetime,
    occurred_at: datetime | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> StatusChange:
    """Apply one status report; the change says whether anything moved.

    Raises:
        ValidationError: the status is not one the message's channel can have.
    """
    check_status_allowed(message.channel, status)
    when = occurred_at or now
    if not is_advance(message.status, status):
        return StatusChange(
            before=message, after=message, status=status, changed=False, occurred_at=when
        )
    failure = status in FAILURE_STATUSES
    after = evolve(
        message,
        status=status,
        error_code=error_code if failure else message.error_code,
        error_message=error_message if failure else message.error_message,
        updated_at=now,
    )
    return StatusChange(before=message, after=after, status=status, changed=True, occurred_at=when)
