"""One attempt (``delivery``) with a twin HTTP client, and the HTTP seam's guards — no network."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from statushooks import dispatcher, exceptions, http, signing
from statushooks.deliveries import Delivery, DeliveryState
from statushooks.delivery import attempt, request_headers
from statushooks.endpoints import Endpoint, EndpointSecret, new_secret
from statushooks.events import interact, ycloud

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PAYLOAD = b'{"hello":"world"}'
NEW_SECRET = new_secret()
OLD_SECRET = new_secret()


def make_endpoint(*secrets: EndpointSecret) -> Endpoint:
    return Endpoint(
        id="ep_1",
        account_id="acc_1",
        url="https://hooks.example.com/in",
        secrets=secrets or (EndpointSecret(value=NEW_SECRET),),
        created_at=NOW,
        updated_at=NOW,
    )


def make_delivery(event_type: str = interact.NAME, attempts: int = 0) -> Delivery:
    return Delivery(
        id="dlv_1",
        account_id="acc_1",
        event_id="evt_1",
        endpoint_id="ep_1",
        message_id="msg_1",
        event_type=event_type,
        sequence=1,
        state=DeliveryState.LEASED,
        attempts=attempts,
        created_at=NOW,
        updated_at=NOW,
    )


class TwinClient:
    """Answers with a fixed response or raises a fixed error; records what it was sent."""

    def __init__(
        self, response: http.Response | None = None, error: Exception | None = None
    ) -> None:
        self.response = response or http.Response(status=200, body=b"ok")
        self.error = error
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> http.Response:
        self.sent.append((url, body, headers))
        if self.error is not None:
            raise self.error
        return self.response


def test_standard_webhooks_headers_are_signed_with_every_live_secret():
    """webhook-id is the event id, the timestamp is now, and each live secret verifies."""
    endpoint = make_endpoint(
        EndpointSecret(value=NEW_SECRET),
        EndpointSecret(value=OLD_SECRET, expires_at=NOW + timedelta(hours=1)),
    )
    headers = request_headers(
        event_id="evt_1", event_type=interact.NAME, endpoint=endpoint, payload=PAYLOAD, now=NOW
    )
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == http.USER_AGENT
    for secret in (NEW_SECRET, OLD_SECRET):
        assert signing.verify(
            msg_id="evt_1",
            timestamp=int(NOW.timestamp()),
            body=PAYLOAD,
            signature_header=headers["webhook-signature"],
            secrets=[secret],
        )
    assert signing.YCLOUD_HEADER_SIGNATURE not in headers


def test_expired_secret_no_longer_signs():
    """A secret past its rotation overlap is not used."""
    endpoint = make_endpoint(
        EndpointSecret(value=NEW_SECRET),
        EndpointSecret(value=OLD_SECRET, expires_at=NOW - timedelta(seconds=1)),
    )
    headers = request_headers(
        event_id="evt_1", event_type=interact.NAME, endpoint=endpoint, payload=PAYLOAD, now=NOW
    )
    assert len(headers["webhook-signature"].split()) == 1
    assert not signing.verify(
        msg_id="evt_1",
        timestamp=int(NOW.timestamp()),
        body=PAYLOAD,
        signature_header=headers["webhook-signature"],
        secrets=[OLD_SECRET],
    )


def test_ycloud_events_add_the_dialect_headers():
    """A YCloud event also gets YCloud-Signature (newest secret) and X-Webhook-Endpoint-ID."""
    headers = request_headers(
        event_id="evt_1", event_type=ycloud.SMS, endpoint=make_endpoint(), payload=PAYLOAD, now=NOW
    )
    assert headers[signing.YCLOUD_HEADER_ENDPOINT_ID] == "ep_1"
    assert signing.verify_ycloud(
        header=headers[signing.YCLOUD_HEADER_SIGNATURE], body=PAYLOAD, secrets=[NEW_SECRET]
    )
    assert "webhook-signature" in headers


async def test_attempt_posts_the_stored_payload_and_records_it():
    """The payload bytes go out unchanged; the attempt record has number, headers and body."""
    client = TwinClient(http.Response(status=204, body=b"done"))
    result = await attempt(
        client, make_delivery(attempts=2), make_endpoint(), PAYLOAD, clock=lambda: NOW
    )
    [(url, body, headers)] = client.sent
    assert url == "https://hooks.example.com/in" and body == PAYLOAD
    record = result.attempt
    assert record.number == 3 and record.started_at == NOW and record.duration_ms >= 0
    assert record.request_headers == headers
    assert record.response_status == 204 and record.response_body == "done"
    assert record.error_kind is None and result.outcome.status_code == 204


@pytest.mark.parametrize(
    ("client", "status", "kind", "retry_after"),
    [
        (TwinClient(http.Response(status=200)), 200, None, None),
        (TwinClient(http.Response(status=500)), 500, "status", None),
        (TwinClient(http.Response(status=302, headers={"location": "/x"})), 302, "status", None),
        (TwinClient(http.Response(status=410)), 410, "status", None),
        (TwinClient(http.Response(status=429, headers={"retry-after": "7"})), 429, "status", 7.0),
        (TwinClient(error=exceptions.DeliveryTimeoutError()), None, "timeout", None),
        (TwinClient(error=exceptions.EndpointConnectError()), None, "connect", None),
        (TwinClient(error=http.connect_error("no such host", "dns")), None, "dns", None),
        (
            TwinClient(error=http.connect_error("head too long", http.HEADERS_TOO_LARGE)),
            None,
            "headers_too_large",
            None,
        ),
        (TwinClient(error=exceptions.UnsafeURLError("refused")), None, "unsafe_url", None),
    ],
)
async def test_outcomes_are_classified(client, status, kind, retry_after):
    """Each answer or error becomes the outcome and error kind the retry policy expects."""
    result = await attempt(client, make_delivery(), make_endpoint(), PAYLOAD, clock=lambda: NOW)
    assert result.outcome.status_code == status
    assert result.attempt.error_kind == kind
    # The outcome names an error kind only when there was no answer at all.
    assert result.outcome.error_kind == (kind if status is None else None)
    assert result.outcome.retry_after == retry_after
    assert (result.attempt.error_message is None) == (kind is None)


async def test_response_body_is_capped_and_decoded_leniently():
    """At most 4 KiB of the body is kept, invalid UTF-8 replaced."""
    client = TwinClient(http.Response(status=200, body=b"\xff" + b"a" * 10_000))
    result = await attempt(client, make_delivery(), make_endpoint(), PAYLOAD, clock=lambda: NOW)
    body = result.attempt.response_body
    assert body.startswith("\ufffd") and len(body) == http.BODY_LIMIT


async def test_a_nul_in_the_response_body_is_recorded_as_u_fffd():
    """NUL, which PostgreSQL cannot store, is recorded as U+FFFD (as bytes that are not UTF-8
    are): the same text on every database."""
    client = TwinClient(http.Response(status=200, body=b"a\x00b\xff"))
    result = await attempt(client, make_delivery(), make_endpoint(), PAYLOAD, clock=lambda: NOW)
    assert result.attempt.response_body == "a\ufffdb\ufffd"
    assert result.outcome.status_code == 200 and result.attempt.error_kind is None


def test_token_bucket_refills_at_its_rate():
    """A bucket of 2/s starts full, empties, and refills two requests per second."""
    bucket = dispatcher.TokenBucket(2.0, now=100.0)
    assert bucket.available(100.0) == 2
    bucket.take(2)
    assert bucket.available(100.0) == 0
    assert bucket.available(100.5) == 1
    assert bucket.available(110.0) == 2  # never above its capacity
