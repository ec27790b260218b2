"""Endpoints: where an account's events go, and which of them it wants — pure."""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statushooks.inbound import EventStatus
from statushooks.messages import MessageStatus

DEFAULT_MAX_IN_FLIGHT = 10
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


class EndpointState(enum.StrEnum):
    """Whether an endpoint receives deliveries."""

    #: Receives new deliveries and is dispatched to.
    ACTIVE = "active"
    #: Receives new deliveries, which wait until it is resumed.
    PAUSED = "paused"
    #: Receives no new deliveries (by hand, after 410 Gone, or after failing for days).
    DISABLED = "disabled"
    #: Receives nothing (no delivery is created for it) until its verification succeeds.
    PENDING = "pending"


#: The states in which no delivery is created for an endpoint.
REFUSING_STATES = frozenset({EndpointState.DISABLED, EndpointState.PENDING})


class Verification(enum.StrEnum):
    """How an endpoint proves it wants our requests before it receives any."""

    #: Not verified: active from the start.
    NONE = "none"
    #: The CloudEvents HTTP webhook abuse-protection handshake (``OPTIONS`` with
    #: ``WebHook-Request-Origin``): ``verification.handshake``.
    CLOUDEVENTS = "cloudevents"
    #: The endpoint echoes a random challenge sent as a signed test event.
    CHALLENGE = "challenge"


@dataclass(frozen=True, kw_only=True)
class EndpointSecret:
    """A signing secret; an old one keeps signing alongside the new until it expires."""

    value: str
    expires_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A receiver URL of one account."""

    id: str
    account_id: str
    url: str
    description: str = ""
    #: Event type names it subscribes to; empty means all.
    enabled_events: tuple[str, ...] = ()
    #: Message statuses it wants; empty means all.
    statuses: tuple[MessageStatus, ...] = ()
    state: EndpointState = EndpointState.ACTIVE
    disabled_reason: str | None = None
    #: Newest first.
    secrets: tuple[EndpointSecret, ...]
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    #: Requests per second, or None for no limit.
    rate_limit: float | None = None
    #: Deliver each message's events in order (the default).
    ordered: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: When the current unbroken run of failed attempts began (auto-disable clock).
    failing_since: datetime | None = None
    verification: Verification = Verification.NONE
    #: When its verification last succeeded.
    verified_at: datetime | None = None
    #: Why its last verification failed (None once one succeeds).
    verification_error: str | None = None
    #: ``cloudevents``: the ``WebHook-Request-Origin`` the endpoint granted; every delivery
    #: to it carries that header.
    verified_origin: str | None = None

    @property
    def needs_verification(self) -> bool:
        """Whether it must pass its verification before it may receive anything."""
        return self.verification is not Verification.NONE and self.verified_at is None

    created_at: datetime
    updated_at: datetime

    def live_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a request sent at ``now``."""
        return tuple(secret.value for secret in self.secrets if secret.is_live(now))

    def accepts(self, event_type: str, status: EventStatus) -> bool:
        """Whether an event of this type and status fans out to this endpoint. The
        ``statuses`` filter is about message statuses: the events of inbound texts pass it."""
        if self.state in REFUSING_STATES:
            return False
        if self.enabled_events and event_type not in self.enabled_events:
            return False
        if not isinstance(status, MessageStatus):
            return True
        return not self.statuses or status in self.statuses


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()
