"""Two accounts over every route: neither can read or change the other's objects."""

from __future__ import annotations

from typing import Any

import httpx
from acceptance_support import Account, Server

SMS = {"to": "+447810000001", "from": "Acme", "text": "Hello from A https://example.com/a"}


async def _seed(a: Account) -> dict[str, Any]:
    """Objects of every kind owned by account A."""
    endpoint = (
        await a.client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"})
    ).json()
    message = (await a.client.post("/v1/sms", json={**SMS, "track_links": True})).json()
    events = (await a.client.get("/v1/events", params={"message_id": message["id"]})).json()
    deliveries = (
        await a.client.get("/v1/deliveries", params={"endpoint_id": endpoint["id"]})
    ).json()
    return {
        "ep": endpoint["id"],
        "msg": message["id"],
        "evt": events["data"][0]["id"],
        "dlv": deliveries["data"][0]["id"],
        "text": message["text"],
    }


def _calls(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    ep, msg, evt, dlv = ids["ep"], ids["msg"], ids["evt"], ids["dlv"]
    return [
        ("GET", f"/v1/endpoints/{ep}", None),
        ("PATCH", f"/v1/endpoints/{ep}", {"description": "hijacked"}),
        ("GET", f"/v1/endpoints/{ep}/secret", None),
        ("POST", f"/v1/endpoints/{ep}/rotate-secret", None),
        ("GET", f"/v1/endpoints/{ep}/stats", None),
        ("POST", f"/v1/endpoints/{ep}/test", {"event_type": "sms.message.updated"}),
        ("POST", f"/v1/endpoints/{ep}/recover", {"since": "2020-01-01T00:00:00Z"}),
        ("DELETE", f"/v1/endpoints/{ep}", None),
        ("GET", f"/v1/messages/{msg}", None),
        ("POST", f"/v1/messages/{msg}/status", {"status": "delivered"}),
        ("GET", "/v1/events", {"message_id": msg}),
        ("GET", f"/v1/events/{evt}", None),
        ("GET", "/v1/deliveries", {"endpoint_id": ep}),
        ("GET", "/v1/deliveries", {"event_id": evt}),
        ("GET", f"/v1/deliveries/{dlv}", None),
        ("GET", f"/v1/deliveries/{dlv}/attempts", None),
        ("POST", f"/v1/deliveries/{dlv}/retry", None),
    ]


async def _call(client: httpx.AsyncClient, method: str, path: str, data: Any) -> httpx.Response:
    if method == "GET":
        return await client.get(path, params=data)
    return await client.request(method, path, json=data)


async def test_no_cross_account_access(server: Server) -> None:
    """Every route answers 404 for another account's ids, lists only its own, changes nothing."""
    a, b = await server.account("a"), await server.account("b")
    ids = await _seed(a)
    await b.client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/b"})
    await b.client.post("/v1/sms", json={**SMS, "text": "Hello from B"})

    for method, path, data in _calls(ids):
        response = await _call(b.client, method, path, data)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"

    bulk = await b.client.post(
        "/v1/status-reports", json={"reports": [{"message_id": ids["msg"], "status": "failed"}]}
    )
    assert bulk.status_code == 200
    assert bulk.json()["results"][0]["error"]["status"] == 404

    for path in ("/v1/endpoints", "/v1/messages", "/v1/events", "/v1/deliveries"):
        mine = {item["id"] for item in (await b.client.get(path)).json()["data"]}
        theirs = {item["id"] for item in (await a.client.get(path)).json()["data"]}
        assert mine and theirs and not mine & theirs, path

    endpoint = (await a.client.get(f"/v1/endpoints/{ids['ep']}")).json()
    assert endpoint["description"] == ""
    assert len((await a.client.get(f"/v1/endpoints/{ids['ep']}/secret")).json()["previous"]) == 0
    message = (await a.client.get(f"/v1/messages/{ids['msg']}")).json()
    assert message["status"] == "submitted"
    assert [h["status"] for h in message["history"]] == ["submitted"]


async def test_account_keys_are_not_admin(server: Server) -> None:
    """An account's API key cannot use the admin routes, nor the admin token account routes."""
    a = await server.account("a")
    assert (await a.client.post("/v1/accounts", json={"name": "x"})).status_code == 401
    assert (await a.client.post(f"/v1/accounts/{a.id}/api-keys")).status_code == 401
    assert (await server.admin.get("/v1/endpoints")).status_code == 401


async def test_api_keys_lifecycle(server: Server) -> None:
    """A second key works for the same account; a deleted key stops working at once."""
    a = await server.account("a")
    created = await server.admin.post(f"/v1/accounts/{a.id}/api-keys")
    assert created.status_code == 201
    key = created.json()
    headers = {"Authorization": f"Bearer {key['api_key']}"}
    await a.client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/a"})
    listed = await server.client.get("/v1/endpoints", headers=headers)
    assert len(listed.json()["data"]) == 1
    assert (await server.admin.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
    assert (await server.client.get("/v1/endpoints", headers=headers)).status_code == 401
    assert (await server.admin.delete(f"/v1/api-keys/{key['id']}")).status_code == 404
    missing = await server.admin.post("/v1/accounts/acc_nope/api-keys")
    assert missing.status_code == 404
