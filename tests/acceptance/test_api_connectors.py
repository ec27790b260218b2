"""Connectors over real HTTP: managed with an API key, called by the "provider" without one,
its receipts reaching a real receiver as our events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from acceptance_support import Server
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from statushooks import testing

TOKEN = "12345678901234567890123456789012"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HOOK = "/hook"


async def test_twilio_receipts_in_events_out(server: Server, sink: testing.WebhookSink) -> None:
    """Create a Twilio connector, send an SMS with its MessageSid, have Twilio's (signed)
    status callback arrive: the endpoint receives the ``delivered`` events; the same callback
    again answers 200 and sends nothing more."""
    account = await server.account()
    response = await account.client.post("/v1/endpoints", json={"url": sink.url(HOOK)})
    assert response.status_code == 201, response.text
    created = await account.client.post(
        "/v1/connectors",
        json={"provider": "twilio", "name": "Twilio", "credentials": {"auth_token": TOKEN}},
    )
    assert created.status_code == 201, created.text
    connector = created.json()
    assert set(connector) == {"id", "provider", "name", "callback_url", "created_at", "updated_at"}
    assert connector["callback_url"] == f"{server.url}/hooks/{connector['id']}"
    assert TOKEN not in created.text
    sent = await account.client.post(
        "/v1/sms",
        json={
            "to": "+447810000001",
            "from": "Acme",
            "text": "hi",
            "provider": "twilio",
            "provider_message_id": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        },
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["provider_message_id"] == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    await sink.wait_for(1, path=HOOK)  # the ``submitted`` event (Interact)

    params = {
        "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "MessageStatus": "delivered",
        "AccountSid": "AC0000",
        "To": "+447810000001",
    }
    signature = RequestValidator(TOKEN).compute_signature(connector["callback_url"], params)
    headers = {**FORM, "X-Twilio-Signature": signature}
    answer = await server.client.post(
        f"/hooks/{connector['id']}", content=urlencode(params), headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "received": 1,
        "applied": 1,
        "unchanged": 0,
        "unmatched": 0,
        "inbound": 0,
        "confirmed": False,
    }
    delivered = await sink.wait_for(3, path=HOOK)
    assert any(json.loads(r.body).get("data", {}).get("status") == "delivered" for r in delivered)
    again = await server.client.post(
        f"/hooks/{connector['id']}", content=urlencode(params), headers=headers
    )
    assert again.json()["unchanged"] == 1
    message = await account.client.get(f"/v1/messages/{sent.json()['id']}")
    assert message.json()["status"] == "delivered"
    assert message.json()["history"][-1]["detail"]["raw_status"] == "delivered"


async def test_bad_or_missing_signatures_answer_problems(server: Server) -> None:
    """Missing → 401 with a basic-auth challenge, wrong → 403, unknown connector → 404; all
    problem+json, and nothing is kept."""
    account = await server.account()
    connector = (
        await account.client.post(
            "/v1/connectors",
            json={"provider": "twilio", "name": "Twilio", "credentials": {"auth_token": TOKEN}},
        )
    ).json()
    body = urlencode({"MessageSid": "SM1", "MessageStatus": "delivered"})
    missing = await server.client.post(f"/hooks/{connector['id']}", content=body, headers=FORM)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == 'Basic realm="statushooks"'
    wrong = await server.client.post(
        f"/hooks/{connector['id']}", content=body, headers={**FORM, "X-Twilio-Signature": "eA=="}
    )
    assert wrong.status_code == 403 and wrong.json()["type"].endswith("/forbidden")
    unknown = await server.client.post(
        "/hooks/con_3MZTwq3Jx8yFvJ2B9kQp3b1yRTe", content=body, headers=FORM
    )
    assert unknown.status_code == 404
    kept = await account.client.get(f"/v1/connectors/{connector['id']}/unmatched-receipts")
    assert kept.status_code == 200 and kept.json()["data"] == []


async def test_sendgrid_batch_and_unmatched_list(server: Server) -> None:
    """A signed SendGrid batch: the known message is delivered, the unknown one is listed
    as unmatched until an email with its id is sent, which then answers ``delivered``."""
    account = await server.account()
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    connector = (
        await account.client.post(
            "/v1/connectors",
            json={
                "provider": "sendgrid",
                "name": "SendGrid",
                "credentials": {"public_key": public},
            },
        )
    ).json()
    email = {
        "to": "ada@example.com",
        "from": "receipts@acme.example",
        "subject": "Hi",
        "text": "x",
        "provider": "sendgrid",
    }
    known = await account.client.post("/v1/email", json={**email, "provider_message_id": "A1"})
    assert known.status_code == 201, known.text
    now = int(datetime.now(UTC).timestamp())
    events = [
        {
            "event": "delivered",
            "sg_message_id": f"{mid}.filterdrecv-1",
            "timestamp": now,
            "email": "ada@example.com",
        }
        for mid in ("A1", "B2")
    ]
    body = orjson.dumps(events)
    timestamp = str(now)
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    answer = await server.client.post(
        f"/hooks/{connector['id']}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["applied"], answer.json()["unmatched"]) == (1, 1)
    kept = (await account.client.get(f"/v1/connectors/{connector['id']}/unmatched-receipts")).json()
    assert [(r["provider_message_id"], r["status"]) for r in kept["data"]] == [("B2", "delivered")]
    later = await account.client.post("/v1/email", json={**email, "provider_message_id": "B2"})
    assert later.status_code == 201 and later.json()["status"] == "delivered"
    kept = (await account.client.get(f"/v1/connectors/{connector['id']}/unmatched-receipts")).json()
    assert kept["data"] == []


async def test_connector_management(server: Server) -> None:
    """List, read, rename, re-key (credentials never shown), delete; refusals are problems."""
    account = await server.account()
    bad = await account.client.post(
        "/v1/connectors", json={"provider": "nexmo", "name": "x", "credentials": {"a": "b"}}
    )
    assert bad.status_code == 422
    missing = await account.client.post(
        "/v1/connectors", json={"provider": "vonage", "name": "x", "credentials": {"a": "b"}}
    )
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {
        "credentials.signature_secret",
        "credentials.a",
    }
    created = (
        await account.client.post(
            "/v1/connectors",
            json={
                "provider": "vonage",
                "name": "Vonage",
                "credentials": {"signature_secret": "s", "signature_method": "sha256"},
            },
        )
    ).json()
    listed = (await account.client.get("/v1/connectors")).json()
    assert [c["id"] for c in listed["data"]] == [created["id"]]
    patched = await account.client.patch(
        f"/v1/connectors/{created['id']}",
        json={"name": "Vonage EU", "credentials": {"signature_secret": "t"}},
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Vonage EU"
    assert "credentials" not in patched.json()
    other = await server.account("other")
    assert (await other.client.get(f"/v1/connectors/{created['id']}")).status_code == 404
    deleted = await account.client.delete(f"/v1/connectors/{created['id']}")
    assert deleted.status_code == 204
    assert (await account.client.get(f"/v1/connectors/{created['id']}")).status_code == 404
