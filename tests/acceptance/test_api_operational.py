"""Operational events through the API: an ops endpoint hears of the account's endpoints."""

from __future__ import annotations

import json

import pytest
from acceptance_support import Account, Server

from statushooks import receiver, testing

OPERATIONAL = [
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "endpoint.failing",
    "endpoint.recovered",
    "delivery.exhausted",
]


@pytest.fixture
async def account(server: Server) -> Account:
    return await server.account("operations")


async def test_ops_endpoint_hears_of_a_new_endpoint(
    account: Account, sink: testing.WebhookSink
) -> None:
    """An endpoint naming the operational types gets endpoint.created, signed, for another
    endpoint; the event shows in GET /v1/events with a null status; the catalog lists the
    operational types."""
    response = await account.client.post(
        "/v1/endpoints", json={"url": sink.url("/ops"), "enabled_events": OPERATIONAL}
    )
    assert response.status_code == 201, response.text
    ops = response.json()
    other = (await account.client.post("/v1/endpoints", json={"url": sink.url("/hook")})).json()
    [request] = await sink.wait_for(1, path="/ops")
    event = receiver.verify_and_parse(request.body, request.headers, ops["secret"])
    assert isinstance(event, receiver.OperationalEvent)
    assert (event.type, event.endpoint_id) == ("endpoint.created", other["id"])
    assert json.loads(request.body)["data"]["endpoint"]["url"] == sink.url("/hook")
    shown = (await account.client.get(f"/v1/events/{event.id}")).json()
    assert (shown["type"], shown["status"], shown["message_id"]) == ("endpoint.created", None, None)
    kinds = (await account.client.get("/v1/event-types", params={"limit": 250})).json()["data"]
    operational = [k for k in kinds if k["dialect"] == "operational"]
    assert [k["name"] for k in operational] == OPERATIONAL
    assert all(k["channel"] is None and k["statuses"] == [] for k in operational)
    assert sink.requests_for("/hook") == []
