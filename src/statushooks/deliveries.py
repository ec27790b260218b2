"""Events, deliveries and attempts: the records the dispatcher works through — pure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from statushooks.messages import MessageStatus


@dataclass(frozen=True, kw_only=True)
class Event:
    """One rendered webhook event; its payload is stored once and sent as-is."""

    id: str
    account_id: str
    #: None for a test event sent from the catalog example.
    message_id: str | None
    type: str
    status: MessageStatus
    #: The exact JSON bytes every endpoint receives.
    payload: bytes
    #: Position among the message's events (1, 2, …): the per-message order.
    sequence: int
    created_at: datetime


class DeliveryState(enum.StrEnum):
    """Where one event × endpoint delivery stands."""

    #: Waiting for its next attempt (or for its endpoint to be resumed).
    PENDING = "pending"
    #: Claimed by a worker under a lease that has not expired. Derived, never stored: the
    #: queue leaves a leased delivery ``pending`` (``shown_state``, ``storage.queue``).
    LEASED = "leased"
    #: The endpoint answered 2xx.
    SUCCEEDED = "succeeded"
    #: Every attempt failed, or the endpoint was disabled: the dead letter. Recoverable.
    FAILED = "failed"


OPEN_STATES = frozenset({DeliveryState.PENDING, DeliveryState.LEASED})


def shown_state(
    stored: DeliveryState, lease_expires_at: datetime | None, now: datetime
) -> DeliveryState:
    """The state of a delivery as the API shows it: a pending one under a lease that has not
    expired is ``leased``; once its lease expires it is pending again."""
    if stored is DeliveryState.PENDING and lease_expires_at is not None and lease_expires_at > now:
        return DeliveryState.LEASED
    return stored


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event on its way to one endpoint."""

    id: str
    account_id: str
    event_id: str
    endpoint_id: str
    message_id: str | None
    event_type: str
    sequence: int
    state: DeliveryState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_id: str | None = None
    lease_expires_at: datetime | None = None
    last_response_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One HTTP request of a delivery, as recorded."""

    id: str
    delivery_id: str
    endpoint_id: str
    number: int
    started_at: datetime
    duration_ms: float
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_status: int | None = None
    #: At most 4 KiB of the response body, decoded leniently.
    response_body: str = ""
    #: None on success; else ``timeout``, ``connect``, ``status``, ``unsafe_url``, …
    error_kind: str | None = None
    error_message: str | None = None
