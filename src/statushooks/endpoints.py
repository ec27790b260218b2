"""Endpoints: where an account's events go, and which of them it wants — pure."""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statushooks import signing
from statushooks.events import operational
from statushooks.messages import MessageStatus

DEFAULT_MAX_IN_FLIGHT = 10
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
#: Standard Webhooks signature versions an endpoint may be signed with: ``v1`` (HMAC-SHA256,
#: a ``whsec_`` secret shared with the receiver) and ``v1a`` (Ed25519: a ``whsk_`` secret key
#: kept here, its ``whpk_`` public key given to the receiver).
HMAC = signing.SIGNATURE_VERSION
ED25519 = signing.ED25519_VERSION
SIGNATURE_VERSIONS = (HMAC, ED25519)


class EndpointState(enum.StrEnum):
    """Whether an endpoint receives deliveries."""

    #: Receives new deliveries and is dispatched to.
    ACTIVE = "active"
    #: Receives new deliveries, which wait until it is resumed.
    PAUSED = "paused"
    #: Receives no new deliveries (by hand, after 410 Gone, or after failing for days).
    DISABLED = "disabled"


@dataclass(frozen=True, kw_only=True)
class EndpointSecret:
    """A signing secret; an old one keeps signing alongside the new until it expires."""

    value: str
    expires_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    @property
    def version(self) -> str:
        """The signature version it makes: ``v1`` or ``v1a``."""
        return signing.signature_version(self.value)


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
    #: Failed attempts since the last success or suspension, and when the first was made
    #: (``statushooks.suspension``).
    failures: int = 0
    failures_since: datetime | None = None
    #: Burst suspensions in a row, and until when the current one lasts.
    suspensions: int = 0
    suspended_until: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def live_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a request sent at ``now``."""
        return tuple(secret.value for secret in self.secrets if secret.is_live(now))

    @property
    def signature_versions(self) -> tuple[str, ...]:
        """The versions its current secrets (those not expiring) sign with, ``v1`` first."""
        current = {secret.version for secret in self.secrets if secret.expires_at is None}
        return tuple(version for version in SIGNATURE_VERSIONS if version in current)

    def secrets_of(self, version: str) -> tuple[EndpointSecret, ...]:
        """Its secrets of one signature version, newest first."""
        return tuple(secret for secret in self.secrets if secret.version == version)

    def suspended_at(self, now: datetime) -> datetime | None:
        """Until when it is suspended after a burst of failures, if it is at ``now``."""
        if self.suspended_until is not None and self.suspended_until > now:
            return self.suspended_until
        return None

    def accepts(self, event_type: str, status: MessageStatus | None) -> bool:
        """Whether an event of this type and status fans out to this endpoint: an
        operational event (no status) only if the endpoint names its type."""
        if self.state is EndpointState.DISABLED:
            return False
        if status is None or operational.is_operational(event_type):
            return event_type in self.enabled_events
        if self.enabled_events and event_type not in self.enabled_events:
            return False
        return not self.statuses or status in self.statuses


def new_secret(version: str = HMAC) -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes for ``v1``, or an
    Ed25519 secret key ``whsk_`` + base64 of a 32-byte random seed for ``v1a``."""
    if version == ED25519:
        return signing.new_ed25519_secret(os.urandom(signing.ED25519_SEED_BYTES))
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()
