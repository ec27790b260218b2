"""Standard Webhooks v1a (Ed25519) end to end: API → dispatcher → a real receiver."""

from __future__ import annotations

import base64
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
from acceptance_support import Account, Server

from statushooks import receiver, testing

HOOK = "/hook"
TEST_EVENT = {"event_type": "sms.message.updated"}


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("signatures")


async def _endpoint(account: Account, sink: testing.WebhookSink, **fields: Any) -> dict[str, Any]:
    response = await account.client.post("/v1/endpoints", json={"url": sink.url(HOOK), **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def _send_test(account: Account, endpoint_id: str) -> None:
    response = await account.client.post(f"/v1/endpoints/{endpoint_id}/test", json=TEST_EVENT)
    assert response.status_code == 202, response.text


def nacl_verifies(request: testing.RecordedRequest, public_key: str) -> bool:
    """Whether libsodium accepts one of the request's v1a signatures with the public key."""
    key = nacl.signing.VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    headers = request.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(signed, base64.b64decode(encoded))
        except nacl.exceptions.BadSignatureError:
            continue
        return True
    return False


async def test_v1a_only_endpoint(account: Account, sink: testing.WebhookSink) -> None:
    """An endpoint signed with v1a only: the answer shows a whpk_ key and no secret; the
    delivery carries one v1a signature that the SDK and libsodium verify with it."""
    endpoint = await _endpoint(account, sink, signature_versions=["v1a"])
    assert endpoint["signature_versions"] == ["v1a"]
    assert endpoint["secret"] is None
    public_key = endpoint["public_key"]
    assert public_key.startswith("whpk_")
    shown = (await account.client.get(f"/v1/endpoints/{endpoint['id']}/secret")).json()
    assert shown == {
        "secret": None,
        "previous": [],
        "public_key": public_key,
        "previous_public_keys": [],
    }
    assert "whsk_" not in str(shown)
    await _send_test(account, endpoint["id"])
    [request] = await sink.wait_for(1, path=HOOK)
    assert request.headers["webhook-signature"].startswith("v1a,")
    assert len(request.headers["webhook-signature"].split()) == 1
    assert "ycloud-signature" not in request.headers  # HMAC only: no v1 secret to sign it
    receiver.verify(request.body, request.headers, public_key)
    assert nacl_verifies(request, public_key)


async def test_v1_and_v1a_side_by_side(account: Account, sink: testing.WebhookSink) -> None:
    """Signed both ways, a delivery verifies with the whsec_ secret and with the whpk_ key."""
    endpoint = await _endpoint(account, sink, signature_versions=["v1a", "v1"])
    assert endpoint["signature_versions"] == ["v1", "v1a"]
    await _send_test(account, endpoint["id"])
    [request] = await sink.wait_for(1, path=HOOK)
    versions = sorted(
        entry[: entry.index(",")] for entry in request.headers["webhook-signature"].split()
    )
    assert versions == ["v1", "v1a"]
    receiver.verify(request.body, request.headers, endpoint["secret"])
    receiver.verify(request.body, request.headers, endpoint["public_key"])
    assert "ycloud-signature" in request.headers
    receiver.verify(
        request.body,
        {"YCloud-Signature": request.headers["ycloud-signature"]},
        endpoint["secret"],
    )


async def test_v1a_rotation_signs_alongside(account: Account, sink: testing.WebhookSink) -> None:
    """After a rotation the new and the old Ed25519 keys both sign the next delivery."""
    endpoint = await _endpoint(account, sink, signature_versions=["v1a"])
    response = await account.client.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"] is None
    assert rotated["public_key"] not in (None, endpoint["public_key"])
    [previous] = rotated["previous_public_keys"]
    assert previous["public_key"] == endpoint["public_key"]
    assert previous["expires_at"] is not None
    await _send_test(account, endpoint["id"])
    [request] = await sink.wait_for(1, path=HOOK)
    assert len(request.headers["webhook-signature"].split()) == 2
    for key in (rotated["public_key"], endpoint["public_key"]):
        receiver.verify(request.body, request.headers, key)
        assert nacl_verifies(request, key)


async def test_switching_from_v1_to_v1a(account: Account, sink: testing.WebhookSink) -> None:
    """Moving an endpoint from v1 to v1a adds a key; the v1 secret keeps signing for the
    overlap, so receivers can switch without a gap."""
    endpoint = await _endpoint(account, sink)
    assert endpoint["signature_versions"] == ["v1"]
    response = await account.client.patch(
        f"/v1/endpoints/{endpoint['id']}", json={"signature_versions": ["v1a"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["signature_versions"] == ["v1a"]
    shown = (await account.client.get(f"/v1/endpoints/{endpoint['id']}/secret")).json()
    assert shown["secret"] is None
    assert [p["secret"] for p in shown["previous"]] == [endpoint["secret"]]
    await _send_test(account, endpoint["id"])
    [request] = await sink.wait_for(1, path=HOOK)
    receiver.verify(request.body, request.headers, shown["public_key"])
    receiver.verify(request.body, request.headers, endpoint["secret"])


@pytest.mark.parametrize(
    "versions", [[], ["v2"], ["v1", "v1"], None], ids=["empty", "unknown", "twice", "null"]
)
async def test_bad_signature_versions_are_problems(account: Account, versions: Any) -> None:
    """Bad signature_versions are refused with a problem+json 422 naming the field."""
    response = await account.client.post(
        "/v1/endpoints",
        json={"url": "http://127.0.0.1:9/hook", "signature_versions": versions},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signature_versions" in response.text
