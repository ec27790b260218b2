"""The seeds' example flows end to end: API → dispatcher → a real receiver, signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from acceptance_support import Account, Server
from standardwebhooks.webhooks import Webhook

from statushooks import receiver, testing

SEEDS = Path("/work/shared/seeds")
HOOK = "/hook"


def seed_000() -> dict[str, Any]:
    """The Interact failed-SMS example of seed 000 (its closing brace is missing there)."""
    text = next(SEEDS.glob("000_*.txt")).read_text()
    block = text[text.index("{") : text.index("Field Definitions")].strip()
    return dict(json.loads(block if block.endswith("}}") else block + "\n}"))


def seed_002() -> dict[str, dict[str, Any]]:
    """The YCloud examples of seed 002, by event type."""
    text = next(SEEDS.glob("002_*.txt")).read_text()
    decoder, found, at = json.JSONDecoder(), {}, 0
    while (at := text.find("{", at)) >= 0:
        try:
            obj, at = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        found[obj["type"]] = obj
    return found


async def _endpoint(account: Account, sink: testing.WebhookSink, **fields: Any) -> dict[str, Any]:
    response = await account.client.post("/v1/endpoints", json={"url": sink.url(HOOK), **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def verified(request: testing.RecordedRequest, secret: str) -> dict[str, Any]:
    """The payload, after checking its signature with statushooks.receiver and standardwebhooks."""
    receiver.verify(request.body, request.headers, secret)
    payload: dict[str, Any] = Webhook(secret).verify(request.body, dict(request.headers))
    assert payload == json.loads(request.body)
    return payload


async def _report(account: Account, message_id: str, **report: Any) -> dict[str, Any]:
    response = await account.client.post(f"/v1/messages/{message_id}/status", json=report)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["changed"] is True
    return result


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("flows")


async def test_campaign_sms_failed_matches_seed_000(
    server: Server, account: Account, sink: testing.WebhookSink
) -> None:
    """A scheduled campaign SMS reported failed reaches the receiver in seed 000's shape."""
    seed = seed_000()
    data = seed["data"]
    endpoint = await _endpoint(account, sink, enabled_events=[seed["type"]], statuses=["failed"])
    sms = {
        "to": data["phone_number"],
        "from": data["from"],
        "text": data["message_body"],
        "custom_id": data["custom_id"],
        "correlation_id": seed["correlation_id"],
        "scheduled_at": data["scheduled_at"],
        "list_id": data["list_id"],
        "campaign_id": data["campaign_id"],
        "campaign_name": data["campaign_name"],
    }
    message = (await account.client.post("/v1/sms", json=sms)).json()
    assert message["status"] == "submitted"
    assert (message["segments"], message["region_code"]) == (1, "GB")
    result = await _report(account, message["id"], status="failed")

    [request] = await sink.wait_for(1, path=HOOK)
    payload = verified(request, endpoint["secret"])
    assert set(payload) == set(seed)
    assert set(payload["data"]) == set(data)
    assert payload["data"] == {**data, "status": "failed"}
    assert payload["id"] == result["events"][0] == request.headers["webhook-id"]
    assert payload["transaction_id"] == message["transaction_id"]
    assert payload["correlation_id"] == seed["correlation_id"]
    assert payload["source"] == server.url + "/v1/sms"
    for key in ("specversion", "type", "datacontenttype"):
        assert payload[key] == seed[key]


async def test_email_failed_unsubscribes(account: Account, sink: testing.WebhookSink) -> None:
    """An email failed with 402 "Unsubscribes" arrives as email.delivery.updated."""
    seed = seed_002()["email.delivery.updated"]
    endpoint = await _endpoint(account, sink, enabled_events=["email.delivery.updated"])
    email = {
        "to": "someone@example.com",
        "from": "noreply@example.com",
        "subject": "News",
        "html": "<p>Hi</p>",
        "external_id": "ext_1234567890",
    }
    message = (await account.client.post("/v1/email", json=email)).json()
    await _report(
        account, message["id"], status="failed", error_code="402", error_message="Unsubscribes"
    )
    [request] = await sink.wait_for(1, path=HOOK)
    payload = verified(request, endpoint["secret"])
    assert set(payload) == set(seed)
    assert payload["emailDelivery"] == {
        "emailId": message["id"],
        "recipientAddress": "someone@example.com",
        "status": "failed",
        "errorCode": "402",
        "errorMessage": "Unsubscribes",
        "externalId": "ext_1234567890",
    }


async def test_sms_delivered(account: Account, sink: testing.WebhookSink) -> None:
    """An SMS reported delivered arrives as sms.message.updated with the seed's fields."""
    seed = seed_002()["sms.message.updated"]
    endpoint = await _endpoint(account, sink, enabled_events=["sms.message.updated"])
    sms = {"to": "+447901614024", "from": "YCloud", "text": "Your verification code is 123456."}
    message = (await account.client.post("/v1/sms", json=sms)).json()
    await _report(account, message["id"], status="delivered")
    [request] = await sink.wait_for(1, path=HOOK)
    payload = verified(request, endpoint["secret"])
    assert payload["type"] == "sms.message.updated"
    assert set(payload["sms"]) == set(seed["sms"])
    assert payload["sms"]["status"] == "delivered"
    assert payload["sms"]["id"] == message["id"]
    assert payload["sms"]["regionCode"] == "GB"
    assert payload["sms"]["totalPrice"] == message["price"]


async def test_voice_undelivered(account: Account, sink: testing.WebhookSink) -> None:
    """A voice call reported undelivered arrives as voice.message.updated."""
    seed = seed_002()["voice.message.updated"]
    endpoint = await _endpoint(account, sink, enabled_events=["voice.message.updated"])
    voice = {
        "to": "+447901614024",
        "verification_code": "1234",
        "language": "en",
        "external_id": "ext_123456",
    }
    message = (await account.client.post("/v1/voice", json=voice)).json()
    await _report(account, message["id"], status="undelivered", error_code="no-answer")
    [request] = await sink.wait_for(1, path=HOOK)
    payload = verified(request, endpoint["secret"])
    assert set(payload["voice"]) == set(seed["voice"])
    assert payload["voice"]["status"] == "undelivered"
    assert payload["voice"]["errorCode"] == "no-answer"
    assert payload["voice"]["externalId"] == "ext_123456"


async def test_tracked_link_click(
    server: Server, account: Account, sink: testing.WebhookSink
) -> None:
    """A click on a tracked link redirects (302) and emits a signed clicked event."""
    endpoint = await _endpoint(account, sink, statuses=["clicked"])
    sms = {
        "to": "+447810000001",
        "from": "Acme",
        "text": "See https://example.com/offer?x=1 now",
        "track_links": True,
    }
    message = (await account.client.post("/v1/sms", json=sms)).json()
    tracked = message["text"].split()[1]
    assert tracked.startswith(server.url + "/l/")
    click = await server.client.get(
        tracked.removeprefix(server.url), headers={"User-Agent": "pytest-phone"}
    )
    assert click.status_code == 302
    assert click.headers["location"] == "https://example.com/offer?x=1"
    [request] = await sink.wait_for(1, path=HOOK)
    payload = verified(request, endpoint["secret"])
    assert payload["data"]["status"] == "clicked"
    detail = (await account.client.get(f"/v1/messages/{message['id']}")).json()
    assert detail["status"] == "clicked"
    assert detail["history"][-1]["detail"]["user_agent"] == "pytest-phone"
    assert [e["status"] for e in detail["events"]] == ["submitted", "clicked"]


async def test_late_and_duplicate_reports_emit_nothing(
    account: Account, sink: testing.WebhookSink
) -> None:
    """A duplicate or late report answers changed: false and sends nothing more."""
    await _endpoint(account, sink, statuses=["delivered", "sent"])
    sms = {"to": "+447810000001", "from": "Acme", "text": "Hi"}
    message = (await account.client.post("/v1/sms", json=sms)).json()
    await _report(account, message["id"], status="delivered")
    path = f"/v1/messages/{message['id']}/status"
    for status in ("delivered", "sent"):
        again = (await account.client.post(path, json={"status": status})).json()
        assert (again["changed"], again["events"]) == (False, [])
    await sink.wait_for(2, path=HOOK)
    events = await account.client.get("/v1/events", params={"message_id": message["id"]})
    assert len(events.json()["data"]) == 3


async def test_bulk_status_reports(account: Account, sink: testing.WebhookSink) -> None:
    """A bulk report gives one result per item, in order, and delivers each change."""
    await _endpoint(account, sink, enabled_events=["sms.message.updated"])
    sms = {"to": "+447810000001", "from": "Acme", "text": "Hi"}
    ids = [(await account.client.post("/v1/sms", json=sms)).json()["id"] for _ in range(3)]
    reports = [
        {"message_id": ids[0], "status": "delivered"},
        {"message_id": "msg_unknown", "status": "delivered"},
        {"message_id": ids[1], "status": "failed", "error_code": "x"},
        {"message_id": ids[2], "status": "submitted"},
    ]
    response = await account.client.post("/v1/status-reports", json={"reports": reports})
    results = response.json()["results"]
    assert [(r["ok"], r["changed"]) for r in results] == [
        (True, True),
        (False, False),
        (True, True),
        (True, False),
    ]
    assert results[1]["error"]["status"] == 404
    await sink.wait_for(2, path=HOOK)


async def test_endpoint_test_retry_stats_and_metrics(
    server: Server, account: Account, sink: testing.WebhookSink
) -> None:
    """A test event is delivered signed; retry and recover re-queue; stats and metrics count it."""
    endpoint = await _endpoint(account, sink)
    test = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "voice.message.updated"}
    )
    assert test.status_code == 202
    delivery = test.json()
    [request] = await sink.wait_for(1, path=HOOK)
    assert verified(request, endpoint["secret"])["type"] == "voice.message.updated"

    async def succeeded() -> bool:
        got = await account.client.get(f"/v1/deliveries/{delivery['id']}")
        return bool(got.json()["state"] == "succeeded")

    await testing.wait_until(succeeded)
    attempts = (await account.client.get(f"/v1/deliveries/{delivery['id']}/attempts")).json()
    assert [a["response_status"] for a in attempts["data"]] == [200]
    retry = await account.client.post(f"/v1/deliveries/{delivery['id']}/retry")
    assert retry.status_code == 202
    await sink.wait_for(2, path=HOOK)
    await testing.wait_until(succeeded)

    stats = (await account.client.get(f"/v1/endpoints/{endpoint['id']}/stats")).json()
    assert stats["attempts"] == 2
    assert stats["success_rate"] == 1.0
    assert stats["latency"]["p50_ms"] is not None
    assert stats["backlog"] == 0
    recover = await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/recover", json={"since": "2020-01-01T00:00:00Z"}
    )
    assert recover.json() == {"endpoint_id": endpoint["id"], "requeued": 0}
    metrics = (await server.admin.get("/metrics")).text
    assert 'statushooks_deliveries{state="pending"} 0' in metrics
    assert 'statushooks_attempts_recent{outcome="success"} 2' in metrics
    assert 'statushooks_attempt_duration_recent_seconds{quantile="0.5"} NaN' not in metrics


async def test_rotated_secret_signs_alongside(account: Account, sink: testing.WebhookSink) -> None:
    """After a rotation both the new and the old secret verify the next delivery."""
    endpoint = await _endpoint(account, sink)
    rotated = (await account.client.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret")).json()
    assert rotated["secret"] != endpoint["secret"]
    assert [p["secret"] for p in rotated["previous"]] == [endpoint["secret"]]
    await account.client.post(
        f"/v1/endpoints/{endpoint['id']}/test", json={"event_type": "sms.message.updated"}
    )
    [request] = await sink.wait_for(1, path=HOOK)
    verified(request, rotated["secret"])
    verified(request, endpoint["secret"])


async def test_event_types_catalog(account: Account) -> None:
    """The catalog lists every type with dialect, statuses, schema and example."""
    page = (await account.client.get("/v1/event-types")).json()
    names = [t["name"] for t in page["data"]]
    assert names[0] == "com.interact.messages.sms.status"
    assert {"sms.message.updated", "voice.message.updated", "email.delivery.updated"} <= set(names)
    first = page["data"][0]
    assert {"name", "dialect", "description", "statuses", "schema", "example"} <= set(first)
    assert first["example"]["type"] == first["name"]
    two = (await account.client.get("/v1/event-types", params={"limit": 2})).json()
    rest = await account.client.get("/v1/event-types", params={"after": two["next_cursor"]})
    assert [t["name"] for t in two["data"] + rest.json()["data"]] == names
