"""Operational events of an account (``events.operational``), built from what happened — pure.

A ``Notice`` is an operational event and the endpoint it is about: the store fans it out to
the account's endpoints that name its type, never to that endpoint itself
(``Transaction.emit_notices``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from statushooks import ids
from statushooks.deliveries import Attempt, Event
from statushooks.endpoints import Endpoint
from statushooks.events import operational


@dataclass(frozen=True, kw_only=True)
class Notice:
    """An operational event, and the endpoint it is about (which never receives it)."""

    event: Event
    about: str


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint in an operational payload (no secret)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "status": endpoint.state.value,
        "disabled_reason": endpoint.disabled_reason,
        "enabled_events": list(endpoint.enabled_events),
        "failing_since": operational.time(endpoint.failing_since),
    }


def attempt_view(attempt: Attempt) -> dict[str, Any]:
    """An attempt's answer in an operational payload."""
    return {
        "started_at": operational.time(attempt.started_at),
        "response_status": attempt.response_status,
        "error_kind": attempt.error_kind,
        "error_message": attempt.error_message,
    }


def notice(name: str, endpoint: Endpoint, now: datetime, **data: Any) -> Notice:
    """The operational event ``name`` about ``endpoint``, its data the endpoint and ``data``."""
    event_id = ids.new_id("evt", now.timestamp())
    body = operational.render(
        name, {"endpoint": endpoint_view(endpoint), **data}, event_id=event_id, now=now
    )
    event = Event(
        id=event_id,
        account_id=endpoint.account_id,
        message_id=None,
        type=name,
        status=None,
        payload=orjson.dumps(body),
        sequence=0,
        created_at=now,
    )
    return Notice(event=event, about=endpoint.id)


def disabled(endpoint: Endpoint, reason: str, now: datetime) -> Notice:
    return notice(operational.ENDPOINT_DISABLED, endpoint, now, reason=reason)


def failing(endpoint: Endpoint, last: Attempt, now: datetime) -> Notice:
    return notice(
        operational.ENDPOINT_FAILING,
        endpoint,
        now,
        failing_since=operational.time(endpoint.failing_since or last.started_at),
        last_attempt=attempt_view(last),
    )


def recovered(endpoint: Endpoint, recovered_at: datetime, now: datetime) -> Notice:
    return notice(
        operational.ENDPOINT_RECOVERED,
        endpoint,
        now,
        recovered_at=operational.time(recovered_at),
    )


def exhausted(
    endpoint: Endpoint,
    *,
    event_id: str,
    event_type: str,
    message_id: str | None,
    last: Attempt,
    now: datetime,
) -> Notice:
    delivery = {
        "id": last.delivery_id,
        "event_id": event_id,
        "event_type": event_type,
        "message_id": message_id,
        "attempts": last.number,
        "last_attempt": attempt_view(last),
    }
    return notice(operational.DELIVERY_EXHAUSTED, endpoint, now, delivery=delivery)
