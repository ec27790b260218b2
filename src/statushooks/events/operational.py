"""Operational events: what happens to an account's endpoints and deliveries — pure.

An account receives them at the endpoints that name them in ``enabled_events`` (an endpoint
that lists no event types gets every message event, but no operational one). They are signed
and queued like every other event, and never go to the endpoint they are about, so a failing
endpoint is not told it is failing through itself. The delivery of an operational event that
is exhausted emits no ``delivery.exhausted``: one dead operational endpoint cannot feed events
to another without end.

Every payload is the Standard Webhooks shape::

    {"id": "evt_…", "type": "endpoint.disabled", "timestamp": "2026-12-07T02:15:00.000Z",
     "data": {…}}

===========================  ==================================================================
type                         data
===========================  ==================================================================
``endpoint.created``         ``endpoint``: the endpoint as the API shows it (no secret)
``endpoint.updated``         ``endpoint``: as it is now
``endpoint.deleted``         ``endpoint``: as it was
``endpoint.disabled``        ``endpoint``, ``reason``: why (410 Gone, the receiver's
                             ``webhook-delivery: disable``, failing for days, by hand)
``endpoint.failing``         ``endpoint``, ``failing_since``, ``last_attempt``: the first
                             failure after a success, and its answer
``endpoint.recovered``       ``endpoint``, ``recovered_at``: a success after failures
``delivery.exhausted``       ``endpoint``, ``delivery``: an event gave up after its last attempt
                             (or the receiver's ``webhook-delivery: abort-message``)
===========================  ==================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statushooks.events import timestamps

ENDPOINT_CREATED = "endpoint.created"
ENDPOINT_UPDATED = "endpoint.updated"
ENDPOINT_DELETED = "endpoint.deleted"
ENDPOINT_DISABLED = "endpoint.disabled"
ENDPOINT_FAILING = "endpoint.failing"
ENDPOINT_RECOVERED = "endpoint.recovered"
DELIVERY_EXHAUSTED = "delivery.exhausted"

DESCRIPTIONS = {
    ENDPOINT_CREATED: "An endpoint of the account was created.",
    ENDPOINT_UPDATED: "An endpoint of the account was changed.",
    ENDPOINT_DELETED: "An endpoint of the account was deleted.",
    ENDPOINT_DISABLED: "An endpoint was disabled: by hand, on 410 Gone, at the receiver's "
    "request (webhook-delivery: disable), or after failing for days.",
    ENDPOINT_FAILING: "An endpoint's attempt failed after a success (the first failure of a run).",
    ENDPOINT_RECOVERED: "An endpoint's attempt succeeded after a run of failures.",
    DELIVERY_EXHAUSTED: "A delivery gave up: its last attempt failed, or the receiver asked "
    "to stop retrying it.",
}
NAMES = tuple(DESCRIPTIONS)

_TIME = {"type": "string", "pattern": timestamps.MILLIS_PATTERN}
_NULLABLE_TIME = {"anyOf": [_TIME, {"type": "null"}]}
_ENDPOINT = {
    "type": "object",
    "description": "The endpoint as GET /v1/endpoints/{id} shows it",
    "properties": {
        "id": {"type": "string", "pattern": "^ep_[0-9A-Za-z]+$"},
        "url": {"type": "string"},
        "status": {"enum": ["active", "paused", "disabled"]},
        "disabled_reason": {"type": ["string", "null"]},
        "enabled_events": {"type": "array", "items": {"type": "string"}},
        "failing_since": _NULLABLE_TIME,
    },
    "required": ["id", "url", "status"],
}
_LAST_ATTEMPT = {
    "type": "object",
    "properties": {
        "started_at": _TIME,
        "response_status": {"type": ["integer", "null"]},
        "error_kind": {"type": ["string", "null"]},
        "error_message": {"type": ["string", "null"]},
    },
    "required": ["started_at", "response_status", "error_kind", "error_message"],
    "additionalProperties": False,
}
_DELIVERY = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^dlv_[0-9A-Za-z]+$"},
        "event_id": {"type": "string", "pattern": "^evt_[0-9A-Za-z]+$"},
        "event_type": {"type": "string"},
        "message_id": {"type": ["string", "null"]},
        "attempts": {"type": "integer", "minimum": 1},
        "last_attempt": _LAST_ATTEMPT,
    },
    "required": ["id", "event_id", "event_type", "message_id", "attempts", "last_attempt"],
    "additionalProperties": False,
}
_DATA: dict[str, dict[str, Any]] = {
    ENDPOINT_CREATED: {"endpoint": _ENDPOINT},
    ENDPOINT_UPDATED: {"endpoint": _ENDPOINT},
    ENDPOINT_DELETED: {"endpoint": _ENDPOINT},
    ENDPOINT_DISABLED: {"endpoint": _ENDPOINT, "reason": {"type": "string"}},
    ENDPOINT_FAILING: {
        "endpoint": _ENDPOINT,
        "failing_since": _TIME,
        "last_attempt": _LAST_ATTEMPT,
    },
    ENDPOINT_RECOVERED: {"endpoint": _ENDPOINT, "recovered_at": _TIME},
    DELIVERY_EXHAUSTED: {"endpoint": _ENDPOINT, "delivery": _DELIVERY},
}


def _schema(name: str) -> dict[str, Any]:
    data = _DATA[name]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:statushooks:event:{name}",
        "title": name,
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^evt_[0-9A-Za-z]+$"},
            "type": {"const": name},
            "timestamp": _TIME,
            "data": {
                "type": "object",
                "properties": data,
                "required": list(data),
                "additionalProperties": False,
            },
        },
        "required": ["id", "type", "timestamp", "data"],
        "additionalProperties": False,
    }


SCHEMAS = {name: _schema(name) for name in NAMES}

_EXAMPLE_TIME = "2026-12-07T02:15:00.000Z"
_EXAMPLE_ENDPOINT = {
    "id": "ep_3MZTxugPcdmPbcivBIlbecVDxXh",
    "url": "https://example.com/webhooks/statushooks",
    "status": "active",
    "disabled_reason": None,
    "enabled_events": ["sms.message.updated"],
    "failing_since": None,
}
_EXAMPLE_ATTEMPT = {
    "started_at": _EXAMPLE_TIME,
    "response_status": 503,
    "error_kind": "status",
    "error_message": "the endpoint answered HTTP 503",
}
_EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    ENDPOINT_CREATED: {"endpoint": _EXAMPLE_ENDPOINT},
    ENDPOINT_UPDATED: {"endpoint": {**_EXAMPLE_ENDPOINT, "status": "paused"}},
    ENDPOINT_DELETED: {"endpoint": _EXAMPLE_ENDPOINT},
    ENDPOINT_DISABLED: {
        "endpoint": {
            **_EXAMPLE_ENDPOINT,
            "status": "disabled",
            "disabled_reason": f"the endpoint answered 410 Gone at {_EXAMPLE_TIME}",
        },
        "reason": f"the endpoint answered 410 Gone at {_EXAMPLE_TIME}",
    },
    ENDPOINT_FAILING: {
        "endpoint": {**_EXAMPLE_ENDPOINT, "failing_since": _EXAMPLE_TIME},
        "failing_since": _EXAMPLE_TIME,
        "last_attempt": _EXAMPLE_ATTEMPT,
    },
    ENDPOINT_RECOVERED: {"endpoint": _EXAMPLE_ENDPOINT, "recovered_at": _EXAMPLE_TIME},
    DELIVERY_EXHAUSTED: {
        "endpoint": {**_EXAMPLE_ENDPOINT, "failing_since": _EXAMPLE_TIME},
        "delivery": {
            "id": "dlv_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
            "event_id": "evt_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
            "event_type": "sms.message.updated",
            "message_id": "msg_3MZTyNNAcpHePtv2GpzvO9vZ2zz",
            "attempts": 8,
            "last_attempt": _EXAMPLE_ATTEMPT,
        },
    },
}
EXAMPLES = {
    name: {
        "id": "evt_3MZTzPcA6Wl1oYhBHt0l0s3e4Gx",
        "type": name,
        "timestamp": _EXAMPLE_TIME,
        "data": _EXAMPLE_DATA[name],
    }
    for name in NAMES
}


def is_operational(name: str) -> bool:
    """Whether ``name`` is an operational event type."""
    return name in DESCRIPTIONS


def time(moment: datetime | None) -> str | None:
    """A payload time: RFC 3339 UTC with milliseconds, or None."""
    return None if moment is None else timestamps.millis(moment)


def render(name: str, data: Mapping[str, Any], *, event_id: str, now: datetime) -> dict[str, Any]:
    """The payload of one operational event (``data`` already in its JSON shape)."""
    return {"id": event_id, "type": name, "timestamp": timestamps.millis(now), "data": dict(data)}


def example(name: str, *, event_id: str, now: datetime) -> dict[str, Any]:
    """The example of ``name`` with a fresh id and time (the test webhook)."""
    payload = copy.deepcopy(EXAMPLES[name])
    payload["id"] = event_id
    payload["timestamp"] = timestamps.millis(now)
    return payload
