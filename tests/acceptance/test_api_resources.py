"""Endpoint management and cursor pagination."""

from __future__ import annotations

from acceptance_support import Server


async def test_pagination_walks_every_item_once(server: Server) -> None:
    """Following next_cursor visits every message once, newest first, then stops."""
    account = await server.account()
    sms = {"to": "+447810000001", "from": "Acme", "text": "Hi"}
    made = [(await account.client.post("/v1/sms", json=sms)).json()["id"] for _ in range(5)]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    for _ in range(5):
        page = (await account.client.get("/v1/messages", params=params)).json()
        seen += [m["id"] for m in page["data"]]
        if page["next_cursor"] is None:
            break
        params["after"] = page["next_cursor"]
    assert seen == sorted(made, reverse=True)
    default = (await account.client.get("/v1/messages")).json()
    assert len(default["data"]) == 5
    assert default["next_cursor"] is None


async def test_endpoint_crud(server: Server) -> None:
    """Create, read, patch (only the given fields), and delete an endpoint."""
    account = await server.account()
    created = await account.client.post(
        "/v1/endpoints",
        json={
            "url": "http://127.0.0.1:9/hook",
            "description": "main",
            "enabled_events": ["sms.message.updated"],
            "statuses": ["delivered"],
            "rate_limit": 5,
            "metadata": {"team": "ops"},
        },
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["id"].startswith("ep_")
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "active"
    path = f"/v1/endpoints/{endpoint['id']}"
    read = (await account.client.get(path)).json()
    assert "secret" not in read
    assert read["metadata"] == {"team": "ops"}
    patched = await account.client.patch(path, json={"status": "paused", "rate_limit": None})
    assert patched.status_code == 200
    body = patched.json()
    assert (body["status"], body["rate_limit"], body["description"]) == ("paused", None, "main")
    assert (await account.client.patch(path, json={"url": None})).status_code == 422
    assert (await account.client.delete(path)).status_code == 204
    assert (await account.client.get(path)).status_code == 404
