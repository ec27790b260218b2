"""Idempotency-Key: the same key and body answer the first response and create nothing new."""

from __future__ import annotations

import asyncio

from acceptance_support import Server

SMS = {"to": "+447810000001", "from": "Acme", "text": "Hello"}
PARALLEL = 20


async def test_parallel_identical_requests_create_one(server: Server) -> None:
    """20 parallel identical POSTs with one key all answer the same 201; one message exists."""
    account = await server.account()
    headers = {"Idempotency-Key": "parallel-1"}
    responses = await asyncio.gather(
        *(account.client.post("/v1/sms", json=SMS, headers=headers) for _ in range(PARALLEL))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == PARALLEL - 1
    messages = (await account.client.get("/v1/messages")).json()["data"]
    assert [m["id"] for m in messages] == [responses[0].json()["id"]]
    events = (await account.client.get("/v1/events")).json()["data"]
    assert len(events) == 1


async def test_parallel_endpoint_creation(server: Server) -> None:
    """20 parallel identical endpoint creations make one endpoint with one secret."""
    account = await server.account()
    body = {"url": "http://127.0.0.1:9/hook"}
    responses = await asyncio.gather(
        *(
            account.client.post("/v1/endpoints", json=body, headers={"Idempotency-Key": "ep"})
            for _ in range(PARALLEL)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["secret"] for r in responses}) == 1
    assert len((await account.client.get("/v1/endpoints")).json()["data"]) == 1


async def test_same_key_different_body(server: Server) -> None:
    """Reusing a key with a different body answers 422 and creates nothing."""
    account = await server.account()
    headers = {"Idempotency-Key": "k1"}
    first = await account.client.post("/v1/sms", json=SMS, headers=headers)
    assert first.status_code == 201
    other = await account.client.post("/v1/sms", json={**SMS, "text": "Bye"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert len((await account.client.get("/v1/messages")).json()["data"]) == 1


async def test_key_order_and_whitespace_do_not_matter(server: Server) -> None:
    """The same JSON with other key order and spacing counts as the same body."""
    account = await server.account()
    headers = {"Idempotency-Key": "k2", "Content-Type": "application/json"}
    first = await account.client.post("/v1/sms", json=SMS, headers=headers)
    again = await account.client.post(
        "/v1/sms",
        content=b'{ "text": "Hello",  "from": "Acme", "to": "+447810000001" }',
        headers=headers,
    )
    assert again.status_code == 201
    assert again.json() == first.json()


async def test_keys_are_per_account(server: Server) -> None:
    """Two accounts using the same key each get their own message."""
    a, b = await server.account("a"), await server.account("b")
    headers = {"Idempotency-Key": "shared"}
    first = await a.client.post("/v1/sms", json=SMS, headers=headers)
    second = await b.client.post("/v1/sms", json=SMS, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_failed_request_releases_the_key(server: Server) -> None:
    """A request refused as invalid keeps no answer: the key may be used again."""
    account = await server.account()
    headers = {"Idempotency-Key": "retry-me"}
    bad = await account.client.post("/v1/sms", json={**SMS, "to": "+999"}, headers=headers)
    assert bad.status_code == 422
    good = await account.client.post("/v1/sms", json={**SMS, "to": "+999"}, headers=headers)
    assert good.status_code == 422
    fixed = await account.client.post(
        "/v1/sms", json={**SMS, "to": "+447810000002"}, headers={"Idempotency-Key": "retry-me"}
    )
    assert fixed.status_code == 201


async def test_admin_account_creation_is_idempotent(server: Server) -> None:
    """Creating an account twice with one key answers the same account and API key."""
    headers = {"Idempotency-Key": "acct-1"}
    first = await server.admin.post("/v1/accounts", json={"name": "x"}, headers=headers)
    again = await server.admin.post("/v1/accounts", json={"name": "x"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()


async def test_a_status_report_with_a_key_answers_once_and_replays(server: Server) -> None:
    """A single status report with an Idempotency-Key answers its result, and the same request
    again replays that answer without applying the report twice."""
    account = await server.account()
    created = await account.client.post("/v1/sms", json=SMS)
    message_id = created.json()["id"]
    headers = {"Idempotency-Key": "report-1"}
    path = f"/v1/messages/{message_id}/status"
    first = await account.client.post(path, json={"status": "delivered"}, headers=headers)
    again = await account.client.post(path, json={"status": "delivered"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["changed"] is True
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
