"""The event catalog: every event type statushooks emits, and the one way to render them.

=====================================  ========  =======  ==========================================
type                                   dialect   channel  emitted on
=====================================  ========  =======  ==========================================
``com.interact.messages.sms.status``   interact  sms      submitted, delivered, failed, undelivered,
                                                          clicked
``sms.message.updated``                ycloud    sms      delivered, undelivered, failed
``voice.message.updated``              ycloud    voice    delivered, undelivered, failed
``email.delivery.updated``             ycloud    email    delivered, failed
``endpoint.created`` … (7 types)       operational  —     what happens to the account's endpoints and
                                                          deliveries (``events.operational``); sent
                                                          only to endpoints that name them
``com.interact.messages.sms.inbound``  interact  sms      an inbound SMS (wire ``type``:
                                                          ``com.interact.messages.sms.status``)
``sms.inbound.received``               ycloud    sms      an inbound SMS
``com.interact.messages.sms.opt.out``  interact  sms      an inbound opt-out keyword
=====================================  ========  =======  ==========================================

The last three are emitted by inbound texts (``inbound.InboundSms``), not by message statuses:
their ``statuses`` are empty and their ``inbound`` says which inbound status emits them.

Rendering is pure: the event id, the clock and the public base URL are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statushooks import exceptions
from statushooks.events import interact, operational, ycloud
from statushooks.inbound import InboundSms, InboundStatus
from statushooks.messages import Channel, Message, MessageStatus

INTERACT = "interact"
YCLOUD = "ycloud"
OPERATIONAL = "operational"


@dataclass(frozen=True, kw_only=True)
class EventType:
    """One kind of webhook event: its name, dialect, channel, schema and example."""

    #: ``"com.interact.messages.sms.status"``, ``"sms.message.updated"``, …
    name: str
    #: ``"interact"``, ``"ycloud"`` or ``"operational"``.
    dialect: str
    #: The channel of the messages it is about; None for an operational event.
    channel: Channel | None
    description: str
    #: The message statuses that emit it (none for an inbound type).
    statuses: frozenset[MessageStatus]
    #: JSON Schema (draft 2020-12) of the whole payload. Do not mutate.
    schema: Mapping[str, Any] = field(hash=False, compare=False, repr=False)
    #: The spec's own example payload. Do not mutate; ``example_payload`` returns a copy.
    example: Mapping[str, Any] = field(hash=False, compare=False, repr=False)
    #: The inbound status that emits it, for a type emitted by inbound texts; else None.
    inbound: InboundStatus | None = None
    #: The ``type`` its payloads carry when that is not ``name``.
    wire_type: str | None = None

    @property
    def payload_type(self) -> str:
        """The ``type`` its payloads carry: its name, but for Interact's inbound event, whose
        payloads say ``com.interact.messages.sms.status`` (``data.status`` ``inbound``)."""
        return self.wire_type or self.name


def _ycloud_type(name: str, channel: Channel, statuses: frozenset[MessageStatus]) -> EventType:
    return EventType(
        name=name,
        dialect=YCLOUD,
        channel=channel,
        description=ycloud.DESCRIPTIONS[name],
        statuses=statuses,
        schema=ycloud.SCHEMAS[name],
        example=ycloud.EXAMPLES[name],
    )


_TYPES: tuple[EventType, ...] = (
    EventType(
        name=interact.NAME,
        dialect=INTERACT,
        channel=Channel.SMS,
        description=interact.DESCRIPTION,
        statuses=interact.STATUSES,
        schema=interact.SCHEMA,
        example=interact.EXAMPLE,
    ),
    _ycloud_type(ycloud.SMS, Channel.SMS, ycloud.SMS_STATUSES),
    _ycloud_type(ycloud.VOICE, Channel.VOICE, ycloud.VOICE_STATUSES),
    _ycloud_type(ycloud.EMAIL, Channel.EMAIL, ycloud.EMAIL_STATUSES),
    *(
        EventType(
            name=name,
            dialect=OPERATIONAL,
            channel=None,
            description=operational.DESCRIPTIONS[name],
            statuses=frozenset(),
            schema=operational.SCHEMAS[name],
            example=operational.EXAMPLES[name],
        )
        for name in operational.NAMES
    ),
    EventType(
        name=interact.INBOUND,
        dialect=INTERACT,
        channel=Channel.SMS,
        description=interact.INBOUND_DESCRIPTION,
        statuses=frozenset(),
        schema=interact.INBOUND_SCHEMA,
        example=interact.INBOUND_EXAMPLE,
        inbound=InboundStatus.INBOUND,
        wire_type=interact.NAME,
    ),
    EventType(
        name=ycloud.SMS_INBOUND,
        dialect=YCLOUD,
        channel=Channel.SMS,
        description=ycloud.SMS_INBOUND_DESCRIPTION,
        statuses=frozenset(),
        schema=ycloud.SMS_INBOUND_SCHEMA,
        example=ycloud.SMS_INBOUND_EXAMPLE,
        inbound=InboundStatus.INBOUND,
    ),
    EventType(
        name=interact.OPT_OUT,
        dialect=INTERACT,
        channel=Channel.SMS,
        description=interact.OPT_OUT_DESCRIPTION,
        statuses=frozenset(),
        schema=interact.OPT_OUT_SCHEMA,
        example=interact.OPT_OUT_EXAMPLE,
        inbound=InboundStatus.OPT_OUT,
    ),
)
_BY_NAME: dict[str, EventType] = {event_type.name: event_type for event_type in _TYPES}


def all_types() -> tuple[EventType, ...]:
    """Every event type, Interact first."""
    return _TYPES


def get(name: str) -> EventType:
    """The event type called ``name``.

    Raises:
        ValidationError: no event type has that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise exceptions.ValidationError(
            f"unknown event type {name!r}",
            errors=[{"field": "type", "message": f"must be one of: {known}"}],
        ) from None


def is_operational(name: str) -> bool:
    """Whether ``name`` is an operational event type (``events.operational``)."""
    return name in operational.DESCRIPTIONS


def type_of_payload(payload: Mapping[str, Any]) -> EventType:
    """The event type of a rendered payload: by its ``type``, and for Interact's status type
    by ``data.status`` too (``inbound`` is the inbound event).

    Raises:
        ValidationError: no event type renders payloads of that ``type``.
    """
    name = str(payload.get("type"))
    data = payload.get("data")
    status = data.get("status") if isinstance(data, Mapping) else None
    if name == interact.NAME and status == interact.INBOUND_STATUS:
        return _BY_NAME[interact.INBOUND]
    return get(name)


def emitted_by(channel: Channel, status: MessageStatus) -> tuple[EventType, ...]:
    """The event types a message of ``channel`` emits when it reaches ``status``."""
    return tuple(t for t in _TYPES if t.channel is channel and status in t.statuses)


def emitted_on(status: InboundStatus) -> tuple[EventType, ...]:
    """The event types an inbound text emits for ``status``."""
    return tuple(t for t in _TYPES if t.inbound is status)


_INBOUND_RENDERERS = {
    interact.INBOUND: interact.render_inbound,
    interact.OPT_OUT: interact.render_opt_out,
}
_INBOUND_EXAMPLES = {
    interact.INBOUND: interact.inbound_example,
    interact.OPT_OUT: interact.opt_out_example,
    ycloud.SMS_INBOUND: ycloud.inbound_example,
}


def render_inbound(
    event_type: EventType, sms: InboundSms, *, event_id: str, now: datetime, public_base_url: str
) -> dict[str, Any]:
    """The payload of one event of an inbound text.

    Raises:
        ValidationError: ``event_type`` is not emitted by inbound texts.
    """
    if event_type.name == ycloud.SMS_INBOUND:
        return ycloud.render_inbound(sms, event_id=event_id, now=now)
    renderer = _INBOUND_RENDERERS.get(event_type.name)
    if renderer is None:
        raise exceptions.ValidationError(f"{event_type.name} is not emitted by inbound texts")
    return renderer(sms, event_id=event_id, now=now, public_base_url=public_base_url)


def _check_emits(event_type: EventType, message: Message, status: MessageStatus) -> None:
    """Refuse to render an event the type never emits for this message and status."""
    if event_type.channel is None or message.channel is not event_type.channel:
        expected = event_type.channel.value if event_type.channel else "an operational event"
        raise exceptions.ValidationError(
            f"{event_type.name} is not emitted for {message.channel.value} messages",
            errors=[{"field": "channel", "message": f"must be {expected}"}],
        )
    if status not in event_type.statuses:
        allowed = ", ".join(sorted(event_type.statuses))
        raise exceptions.ValidationError(
            f"{event_type.name} is not emitted on {status.value}",
            errors=[{"field": "status", "message": f"must be one of: {allowed}"}],
        )


def render(
    event_type: EventType,
    message: Message,
    *,
    status: MessageStatus,
    event_id: str,
    now: datetime,
    public_base_url: str,
) -> dict[str, Any]:
    """The payload of one event: ``message`` as it was when it reached ``status``.

    ``message.status`` may already be later than ``status``; the payload always says
    ``status``.

    Raises:
        ValidationError: ``event_type`` is not emitted for this channel and status.
    """
    _check_emits(event_type, message, status)
    if event_type.dialect == INTERACT:
        return interact.render(
            message, status=status, event_id=event_id, now=now, public_base_url=public_base_url
        )
    return ycloud.render(event_type.name, message, status=status, event_id=event_id, now=now)


def example_payload(event_type: EventType, *, event_id: str, now: datetime) -> dict[str, Any]:
    """The spec's example of ``event_type`` with a fresh id and times (the test webhook)."""
    if event_type.dialect == OPERATIONAL:
        return operational.example(event_type.name, event_id=event_id, now=now)
    if event_type.inbound is not None:
        return _INBOUND_EXAMPLES[event_type.name](event_id=event_id, now=now)
    if event_type.dialect == INTERACT:
        return interact.example(event_id=event_id, now=now)
    return ycloud.example(event_type.name, event_id=event_id, now=now)
