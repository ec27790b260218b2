"""Inbound SMS, opt-out keywords and the suppression list over real HTTP, with a real receiver."""

from __future__ import annotations

import json
from typing import Any

import pytest
from acceptance_support import Account, Server

from statushooks import inbound, receiver, testing
from statushooks.events import interact, ycloud

HOOK = "/hook"
CUSTOMER = "+447838970000"
OUR_NUMBER = "+447860000000"
INBOUND_TYPES = [interact.INBOUND, ycloud.SMS_INBOUND, interact.OPT_OUT]
STATUS_TYPES = [interact.NAME, ycloud.SMS]


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("inbound")


async def _endpoint(account: Account, sink: testing.WebhookSink, **fields: Any) -> dict[str, Any]:
    response = await account.client.post("/v1/endpoints", json={"url": sink.url(HOOK), **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def _inbound(account: Account, text: str, sender: str = CUSTOMER) -> dict[str, Any]:
    body = {"from": sender, "to": OUR_NUMBER, "text": text}
    response = await account.client.post("/v1/inbound-sms", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _payloads(requests: list[testing.RecordedRequest], secret: str) -> list[dict[str, Any]]:
    """Each request's payload, its signature checked."""
    found = []
    for request in requests:
        receiver.verify(request.body, request.headers, secret)
        found.append(json.loads(request.body))
    return found


async def test_an_inbound_text_reaches_the_receiver_in_both_dialects(
    account: Account, sink: testing.WebhookSink
) -> None:
    """A plain text emits Interact's inbound event and YCloud's ``sms.inbound.received``,
    delivered signed, each exactly the event stored."""
    endpoint = await _endpoint(account, sink, enabled_events=INBOUND_TYPES)
    result = await _inbound(account, "What time do you open?")
    assert result["action"] is None and result["suppressed"] is False
    assert result["from"] == CUSTOMER
    assert [event["type"] for event in result["events"]] == [interact.INBOUND, ycloud.SMS_INBOUND]
    assert {event["status"] for event in result["events"]} == {"inbound"}
    payloads = _payloads(await sink.wait_for(2, path=HOOK), endpoint["secret"])
    by_type = {payload["type"]: payload for payload in payloads}
    interact_event, ycloud_event = by_type[interact.NAME], by_type[ycloud.SMS_INBOUND]
    assert interact_event["data"] == {
        "status": "inbound",
        "channel": "sms",
        "message": "What time do you open?",
        "phone_number": CUSTOMER,
        "inbound_number": OUR_NUMBER,
        "inbound_number_id": inbound.number_id(account.id, OUR_NUMBER),
    }
    assert interact_event["correlation_id"].startswith("cid_")
    assert ycloud_event["smsInbound"]["id"] == result["id"]
    assert ycloud_event["smsInbound"]["from"] == CUSTOMER
    for event in result["events"]:
        stored = await account.client.get(f"/v1/events/{event['id']}")
        assert stored.json()["payload"] in payloads


async def test_stop_suppresses_and_a_later_sms_fails_at_once(
    account: Account, sink: testing.WebhookSink
) -> None:
    """STOP puts the sender on the suppression list and emits the opt-out event; an SMS to it
    is then recorded failed (``recipient_opted_out``) and its failed events fire; START lifts
    the suppression."""
    endpoint = await _endpoint(account, sink, enabled_events=[interact.OPT_OUT, *STATUS_TYPES])
    result = await _inbound(account, "Stop")
    assert (result["action"], result["keyword"], result["suppressed"]) == ("opt_out", "STOP", True)
    [opt_out] = _payloads(await sink.wait_for(1, path=HOOK), endpoint["secret"])
    assert opt_out["type"] == interact.OPT_OUT
    assert opt_out["data"]["phone_number"] == CUSTOMER
    assert opt_out["data"]["message"] == "Stop"
    assert opt_out["data"]["account_level_opt_out"] is True

    listed = await account.client.get("/v1/suppressions")
    assert [(s["phone_number"], s["source"], s["keyword"]) for s in listed.json()["data"]] == [
        (CUSTOMER, "keyword", "STOP")
    ]

    sent = await account.client.post(
        "/v1/sms", json={"to": CUSTOMER, "from": "Acme", "text": "Sale!"}
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert message["status"] == "failed"
    assert message["error_code"] == inbound.OPTED_OUT_CODE
    detail = (await account.client.get(f"/v1/messages/{message['id']}")).json()
    assert [entry["status"] for entry in detail["history"]] == ["submitted", "failed"]
    payloads = _payloads(await sink.wait_for(4, path=HOOK), endpoint["secret"])[1:]
    statuses = sorted(
        (p["type"], p["data"]["status"] if "data" in p else p["sms"]["status"]) for p in payloads
    )
    assert statuses == [
        (interact.NAME, "failed"),
        (interact.NAME, "submitted"),
        (ycloud.SMS, "failed"),
    ]
    failed = next(p for p in payloads if p["type"] == ycloud.SMS)["sms"]
    assert failed["errorCode"] == inbound.OPTED_OUT_CODE

    again = await _inbound(account, "STOP")
    assert again["suppressed"] is True
    assert [event["type"] for event in again["events"]] == [interact.INBOUND, ycloud.SMS_INBOUND]

    back = await _inbound(account, "unstop")
    assert (back["action"], back["suppressed"]) == ("opt_in", False)
    assert (await account.client.get("/v1/suppressions")).json()["data"] == []
    resent = await account.client.post(
        "/v1/sms", json={"to": CUSTOMER, "from": "Acme", "text": "Welcome back"}
    )
    assert resent.json()["status"] == "submitted"


async def test_suppressions_can_be_listed_added_and_removed(account: Account) -> None:
    """The suppression list through the API: add (twice is one entry), read, remove, 404."""
    first = await account.client.post("/v1/suppressions", json={"phone_number": "+14155552671"})
    assert first.status_code == 201, first.text
    assert first.json()["source"] == "api" and first.json()["keyword"] is None
    twice = await account.client.post("/v1/suppressions", json={"phone_number": "+14155552671"})
    assert twice.json() == first.json()
    await account.client.post("/v1/suppressions", json={"phone_number": "+14155552672"})
    page = await account.client.get("/v1/suppressions", params={"limit": 1})
    body = page.json()
    assert [s["phone_number"] for s in body["data"]] == ["+14155552672"]
    rest = await account.client.get("/v1/suppressions", params={"after": body["next_cursor"]})
    assert [s["phone_number"] for s in rest.json()["data"]] == ["+14155552671"]
    one = await account.client.get("/v1/suppressions/%2B14155552671")
    assert one.status_code == 200 and one.json() == first.json()
    sent = await account.client.post(
        "/v1/sms", json={"to": "+14155552671", "from": "Acme", "text": "Hi"}
    )
    assert sent.json()["status"] == "failed"
    removed = await account.client.delete("/v1/suppressions/%2B14155552671")
    assert removed.status_code == 204
    missing = await account.client.delete("/v1/suppressions/%2B14155552671")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_suppressions_belong_to_their_account(server: Server, account: Account) -> None:
    """Another account's opt-out does not suppress this account's SMS."""
    other = await server.account("other")
    await _inbound(other, "STOP")
    sent = await account.client.post("/v1/sms", json={"to": CUSTOMER, "from": "Acme", "text": "Hi"})
    assert sent.json()["status"] == "submitted"
    assert (await account.client.get("/v1/suppressions")).json()["data"] == []


async def test_an_accounts_own_keywords(account: Account) -> None:
    """PUT /v1/sms-keywords replaces the CTIA defaults; a word in both lists is refused."""
    default = await account.client.get("/v1/sms-keywords")
    assert default.json() == {
        "opt_out": list(inbound.DEFAULT_OPT_OUT_KEYWORDS),
        "opt_in": list(inbound.DEFAULT_OPT_IN_KEYWORDS),
    }
    own = await account.client.put(
        "/v1/sms-keywords", json={"opt_out": ["arret"], "opt_in": ["go"]}
    )
    assert own.json() == {"opt_out": ["ARRET"], "opt_in": ["GO"]}
    assert (await _inbound(account, "STOP"))["action"] is None
    assert (await _inbound(account, "Arrêt"))["action"] is None
    assert (await _inbound(account, "arret!"))["suppressed"] is True
    assert (await _inbound(account, "GO"))["suppressed"] is False
    both = await account.client.put("/v1/sms-keywords", json={"opt_out": ["X"], "opt_in": ["x"]})
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "opt_in"


@pytest.mark.parametrize(
    "body",
    [
        {"from": "447838970000", "to": OUR_NUMBER, "text": "hi"},
        {"from": CUSTOMER, "to": OUR_NUMBER, "text": ""},
        {"from": CUSTOMER, "text": "hi"},
        {"from": CUSTOMER, "to": OUR_NUMBER, "text": "hi", "received_at": "yesterday"},
    ],
)
async def test_invalid_inbound_texts_are_problems(account: Account, body: dict[str, Any]) -> None:
    """A malformed inbound text is a 422 problem and emits nothing."""
    response = await account.client.post("/v1/inbound-sms", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await account.client.get("/v1/events")).json()["data"] == []
