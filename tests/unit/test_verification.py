"""Endpoint verification's pure parts, the fan-out filter for inbound events and pending
endpoints, and the origin header of deliveries — no network."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from statushooks import verification
from statushooks.delivery import request_headers
from statushooks.endpoints import (
    Endpoint,
    EndpointSecret,
    EndpointState,
    Verification,
    new_secret,
)
from statushooks.events import interact
from statushooks.inbound import InboundStatus
from statushooks.messages import MessageStatus

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ENDPOINT = Endpoint(
    id="ep_1",
    account_id="acc_1",
    url="https://hooks.example.com/in",
    secrets=(EndpointSecret(value=new_secret()),),
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 2.0), ("60", 1.0), ("1", 1 / 60), (" 30 ", 0.5), ("*", None)],
)
def test_allowed_rate_is_per_minute(value, expected):
    """``WebHook-Allowed-Rate`` is requests per minute (``*``: no limit); we keep per second."""
    assert verification.parse_allowed_rate(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "", "fast", "**"])
def test_allowed_rate_refuses_anything_else(value):
    """Only ``*`` or a positive whole number is a rate."""
    with pytest.raises(ValueError, match="WebHook-Allowed-Rate"):
        verification.parse_allowed_rate(value)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://hooks.statushooks.example", "hooks.statushooks.example"),
        ("https://API.example.com:8443/base", "api.example.com"),
        ("http://127.0.0.1:8080", "127.0.0.1"),
    ],
)
def test_origin_is_the_public_host(url, origin):
    """``WebHook-Request-Origin`` is the public base URL's host name."""
    assert verification.origin_of(url) == origin


@pytest.mark.parametrize(
    ("body", "echoed"),
    [
        (b"tok-1", True),
        (b"  tok-1\n", True),
        (b'{"challenge": "tok-1"}', True),
        (b'{"challenge": "tok-2"}', False),
        (b'{"other": "tok-1"}', False),
        (b'["tok-1"]', False),
        (b"ok", False),
        (b"", False),
        (b"\xff\xfe", False),
    ],
)
def test_echoed_challenge(body, echoed):
    """The challenge counts as echoed bare or as ``{"challenge": …}``, nothing else."""
    assert verification.echoed(body, "tok-1") is echoed


def test_needs_verification_until_verified():
    """An endpoint with a mode needs verifying until it has passed; one without never does."""
    assert not ENDPOINT.needs_verification
    pending = dataclasses.replace(ENDPOINT, verification=Verification.CHALLENGE)
    assert pending.needs_verification
    assert not dataclasses.replace(pending, verified_at=NOW).needs_verification


@pytest.mark.parametrize(
    ("state", "accepted"),
    [
        (EndpointState.ACTIVE, True),
        (EndpointState.PAUSED, True),
        (EndpointState.DISABLED, False),
        (EndpointState.PENDING, False),
    ],
)
def test_pending_endpoints_get_no_deliveries(state, accepted):
    """Like a disabled endpoint, a pending one accepts no event."""
    endpoint = dataclasses.replace(ENDPOINT, state=state)
    assert endpoint.accepts(interact.NAME, MessageStatus.DELIVERED) is accepted


def test_status_filter_leaves_inbound_events_alone():
    """``statuses`` filters message statuses; inbound events pass it, ``enabled_events``
    still applies."""
    delivered_only = dataclasses.replace(ENDPOINT, statuses=(MessageStatus.DELIVERED,))
    assert delivered_only.accepts(interact.INBOUND, InboundStatus.INBOUND)
    assert delivered_only.accepts(interact.OPT_OUT, InboundStatus.OPT_OUT)
    assert not delivered_only.accepts(interact.NAME, MessageStatus.FAILED)
    status_only = dataclasses.replace(ENDPOINT, enabled_events=(interact.NAME,))
    assert not status_only.accepts(interact.INBOUND, InboundStatus.INBOUND)


def test_deliveries_carry_the_granted_origin():
    """A delivery to an endpoint granted by the handshake carries ``WebHook-Request-Origin``;
    others do not."""
    plain = request_headers(
        event_id="evt_1", event_type=interact.NAME, endpoint=ENDPOINT, payload=b"{}", now=NOW
    )
    assert "WebHook-Request-Origin" not in plain
    granted = dataclasses.replace(
        ENDPOINT,
        verification=Verification.CLOUDEVENTS,
        verified_at=NOW,
        verified_origin="hooks.statushooks.example",
    )
    headers = request_headers(
        event_id="evt_1", event_type=interact.NAME, endpoint=granted, payload=b"{}", now=NOW
    )
    assert headers["WebHook-Request-Origin"] == "hooks.statushooks.example"
